"""Candidate judging: the recogniser itself says which of a few catalog titles the audio holds.

Whisper-base hears synthetic and children's Hindi or Kannada as a run of similar syllables ("Wondrum Mama Mama
Chow") that is often too far from the title to snap by spelling (core/providers/asr/catalog.py). The audio is
closer than the spelling: forcing each candidate title through whisper's decoder against the utterance's encoder
output (computed once for the free transcript and reused) gives the likelihood of that title's tokens.

A raw likelihood favours what whisper's language model likes anyway (a famous English rhyme outscores a Kannada
title heard clearly), so each title's likelihood against non-speech (the encoder output of a quiet room, computed
once per model, scored once per catalog load and cached) is subtracted: the gain is what the audio adds. The best
title is chosen when its gain reaches `voice.asr.rescore_min_gain` and beats the next title by a margin; otherwise
nothing is written in and the transcript stays as heard (the matcher then says honestly that it has no such title).

Bounded: a short list (`voice.asr.rescore_candidates` titles by spelling), one short forced decode each.

The same measure checks what the free decode wrote (`heard_gain`, `title_gain`): with the catalog in its prompt,
whisper answers speech it cannot read by copying a prompt line ("Play Bandar Mama." for "play humpty dumpty",
"Play the song." for a Hindi request). Scored without the prompt, a copied line gets little from the audio (-5 to
+3 nats on the calibration sets) where words really said get 7 or more.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .catalog import Candidate, readable, words_of

__all__ = ["CandidateJudge", "Judgement", "Scored", "title_form"]

_NULL_CACHE_MAX = 8192          # titles' non-speech scores remembered per catalog load
_HEARD_CACHE_MAX = 512          # transcripts' non-speech scores ("Stop.", "Next." recur)


class _Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Scored:
    candidate: Candidate
    gain: float                 # log-likelihood of the title's tokens given the audio minus given non-speech (nats)


@dataclass(frozen=True, slots=True)
class Judgement:
    chosen: Candidate | None    # the title the audio holds, or None for an honest miss
    scored: tuple[Scored, ...]  # every candidate judged, best gain first


def title_form(title: str) -> str:
    """How whisper (decoding English) would write the title: ASCII titles as they are, others romanized."""
    t = " ".join(title.split())
    return t if t.isascii() else readable(t)


class CandidateJudge:
    """One per catalog load (the non-speech scores it caches belong to that catalog); thread-safe."""

    def __init__(self, whisper: Any, tokenizer: _Tokenizer, start: Sequence[int], null_output: Any, *,
                 min_gain: float, margin: float) -> None:
        self._whisper = whisper           # ctranslate2.models.Whisper
        self._tok = tokenizer
        self._start = list(start)         # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
        self._null = null_output          # encoder output of non-speech, [1, 1500, d_model]
        self.min_gain = min_gain
        self.margin = margin
        self._null_cache: dict[tuple[int, ...], float] = {}     # title tokens -> log-likelihood on non-speech
        self._heard_null: dict[tuple[int, ...], float] = {}     # transcripts' tokens -> the same
        self._lock = threading.Lock()

    def _title_logprob(self, encoder_output: Any, num_frames: int, prefix: list[int], title: list[int]) -> float:
        """Sum of log P(title token | audio, prefix, earlier title tokens) from one forced decode."""
        result = self._whisper.align(encoder_output, self._start, [prefix + title], [num_frames])[0]
        probs = np.asarray(result.text_token_probs[len(prefix):len(prefix) + len(title)], dtype=np.float64)
        return float(np.log(np.maximum(probs, 1e-12)).sum())

    def _null_logprob(self, tokens: list[int], cache: dict[tuple[int, ...], float] | None = None,
                      limit: int = _NULL_CACHE_MAX) -> float:
        """The tokens' log-likelihood on non-speech, with no words before them, remembered in `cache` (the titles'
        by default: once per title per catalog load)."""
        cache = self._null_cache if cache is None else cache
        key = tuple(tokens)
        with self._lock:
            hit = cache.get(key)
        if hit is not None:
            return hit
        value = self._title_logprob(self._null, 3000, [], tokens)
        with self._lock:
            if len(cache) >= limit:
                cache.clear()
            cache[key] = value
        return value

    def heard_gain(self, encoder_output: Any, num_frames: int, transcript: str) -> float:
        """What the audio adds to the whole transcript as whisper wrote it (scored without the prompt)."""
        tokens = self._tok.encode(" " + transcript.strip())
        if not tokens:
            return 0.0
        # kept apart from the titles' scores: "Stop." recurs, most transcripts do not
        null = self._null_logprob(tokens, self._heard_null, _HEARD_CACHE_MAX)
        return self._title_logprob(encoder_output, num_frames, [], tokens) - null

    def title_gain(self, encoder_output: Any, num_frames: int, transcript: str, candidate: Candidate) -> float:
        """What the audio adds to `candidate`'s title after the words heard before it."""
        scored = self.score(encoder_output, num_frames, transcript, [candidate])
        return scored[0].gain if scored else 0.0

    def prepare(self, titles: Sequence[str], limit: int = 300) -> int:
        """Score up to `limit` titles on non-speech now (start-up), so no child waits for it; returns how many."""
        done = 0
        for title in list(titles)[:limit]:
            tokens = self._tok.encode(" " + title_form(title))
            if tokens:
                self._null_logprob(tokens)
                done += 1
        return done

    def tokens(self, transcript: str, candidate: Candidate) -> tuple[list[int], list[int]]:
        """(prefix, title) token ids: the words heard before the title's span, then the title as whisper writes it."""
        before = " ".join(words_of(transcript)[:candidate.start])
        prefix = self._tok.encode(" " + before) if before else []
        return prefix, self._tok.encode(" " + title_form(candidate.title))

    def score(self, encoder_output: Any, num_frames: int, transcript: str,
              candidates: Sequence[Candidate]) -> list[Scored]:
        out: list[Scored] = []
        for c in candidates:
            prefix, title = self.tokens(transcript, c)
            if not title:
                continue
            gain = self._title_logprob(encoder_output, num_frames, prefix, title) - self._null_logprob(title)
            out.append(Scored(c, gain))
        out.sort(key=lambda s: -s.gain)
        return out

    def judge(self, encoder_output: Any, num_frames: int, transcript: str,
              candidates: Sequence[Candidate]) -> Judgement:
        scored = tuple(self.score(encoder_output, num_frames, transcript, candidates))
        if not scored:
            return Judgement(None, ())
        best = scored[0]
        runner = scored[1].gain if len(scored) > 1 else float("-inf")
        chosen = best.candidate if best.gain >= self.min_gain and best.gain - runner >= self.margin else None
        return Judgement(chosen, scored)
