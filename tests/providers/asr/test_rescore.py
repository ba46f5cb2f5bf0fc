"""Candidate judging (voice.asr.rescore, issue 19 part 6) on real speech and the real whisper-base model.

espeak-ng speaks the requests (voices not used by the benchmark's sets), whisper-base encodes them once, and the
judge scores a short list of catalog titles against that encoding minus non-speech. Checked: the right title wins
by a clear gain, non-speech gives no title, control phrases are never judged onto a title, the transcript gets the
judged title written in, and the one-pass decode hears what faster-whisper's own `transcribe` hears.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.config import ConfigError, config_from_dict
from core.providers.asr.catalog import Candidate
from core.providers.asr.rescore import title_form
from core.providers.asr.whisper import Heard, WhisperASR, cut_loop, periodic_tail
from tests.voice_fixtures import espeak_16k, noise, silence

ROOT = Path(__file__).resolve().parents[3]
TITLES = ["Baa Baa Black Sheep", "Twinkle Twinkle Little Star", "Jack and Jill", "हनुमान चालीसा", "बंदर मामा",
          "मछली जल की रानी है", "చందమామ రావే", "చిట్టి చిలకమ్మ", "ಆನೆ ಬಂತೊಂದು ಆನೆ", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ",
          "The Water Cycle"]


def audio_of(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def asr() -> WhisperASR:
    cfg = config_from_dict({"voice": {"asr": {"model_dir": str(ROOT / "metadata" / "models" / "whisper-base"),
                                              "rescore": True}}})
    engine = WhisperASR(cfg.voice.asr)
    engine.set_vocabulary(TITLES)
    engine.load()
    return engine


def test_titles_are_judged_in_the_form_whisper_writes() -> None:
    assert title_form("बंदर मामा") == "Bandar Mama"
    assert title_form("ಆನೆ ಬಂತೊಂದು ಆನೆ") == "Aane Bantondu Aane"
    assert title_form("  Jack and   Jill ") == "Jack and Jill"


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("text", "voice", "title"), [
    ("बंदर मामा सुनाओ", "hi+m1", "बंदर मामा"),
    ("ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ ಕಥೆ", "kn+f1", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ"),
    ("చిట్టి చిలకమ్మ పాట", "te+m8", "చిట్టి చిలకమ్మ"),
])
def test_the_spoken_title_gains_most_from_the_audio(asr: WhisperASR, text: str, voice: str, title: str) -> None:
    heard = asr.listen(audio_of(silence(0.3) + espeak_16k(text, voice) + silence(0.3)))
    short_list = [Candidate(t, 60.0, 0, 0) for t in (title, "Twinkle Twinkle Little Star", "हनुमान चालीसा",
                                                     "ಆನೆ ಬಂತೊಂದು ಆನೆ")]
    verdict = asr.judge().judge(heard.encoder_output, heard.frames, "", short_list)
    gains = {s.candidate.title: round(s.gain, 1) for s in verdict.scored}
    assert verdict.chosen is not None and verdict.chosen.title == title, gains
    assert verdict.scored[0].gain >= asr.judge().min_gain + 5, gains
    # the famous English rhyme the language model likes does not win on Indic speech
    assert gains["Twinkle Twinkle Little Star"] < gains[title] - 5, gains


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pcm", [silence(2.0), noise(2.0, rms=600, seed=5), noise(1.5, rms=3000, seed=6)],
                         ids=["silence", "quiet-noise", "loud-noise"])
def test_non_speech_gives_no_title(asr: WhisperASR, pcm: bytes) -> None:
    heard = asr.listen(audio_of(pcm))
    verdict = asr.judge().judge(heard.encoder_output, heard.frames, "", [Candidate(t, 60.0, 0, 0) for t in TITLES])
    assert verdict.chosen is None, [(s.candidate.title, round(s.gain, 1)) for s in verdict.scored]


@pytest.mark.timeout(120)
def test_a_near_miss_transcript_gets_the_judged_title_written_in(asr: WhisperASR) -> None:
    """A transcript too far from the title to snap by spelling (as whisper heard a hi+f2 voice in the benchmark);
    the audio decides."""
    heard = asr.listen(audio_of(silence(0.3) + espeak_16k("बंदर मामा वाला गाना बजाओ", "hi+f2") + silence(0.3)))
    near_miss = Heard("Wondrum Mama Mama Chow", heard.encoder_output, heard.frames)
    assert asr.snap(near_miss.text) == near_miss.text                   # spelling alone is not enough
    text, how = asr.understand(near_miss)
    assert (text, how) == ("बंदर मामा", "judged")
    off = WhisperASR(config_from_dict({"voice": {"asr": {"rescore": False}}}).voice.asr, model=asr.load())
    off.set_vocabulary(TITLES)
    assert off.understand(near_miss) == ("Wondrum Mama Mama Chow", "as heard")


def test_a_loop_is_cut_at_its_second_repeat_and_real_doubles_stay() -> None:
    loop = "Aane Bantondu Aane Bantondu Aane Bantondu Aane Bantondu Aane"
    assert cut_loop(loop) == "Aane Bantondu Aane Bantondu Aane"
    assert cut_loop("Indu Mangalavara Rokha Rokha Rokha Rokha Rokha") == "Indu Mangalavara Rokha Rokha"
    assert cut_loop("I'm good mom, mom, mom, mom, mom,") == "I'm good mom, mom,"
    assert cut_loop("Baa Baa Black Sheep") == "Baa Baa Black Sheep"
    assert cut_loop("Twinkle Twinkle Little Star") == "Twinkle Twinkle Little Star"


@pytest.mark.timeout(120)
def test_a_loop_counts_only_when_the_audio_holds_the_title(asr: WhisperASR) -> None:
    """whisper loops on some voices ("Aane Bantondu Aane Bantondu ..."): the loop is no transcript, but the judge
    may find the title it starts with in the audio; a loop over noise gives nothing."""
    speech = asr.listen(audio_of(silence(0.3) + espeak_16k("ಆನೆ ಬಂತೊಂದು ಆನೆ ಹಾಡು ಹಾಕು", "kn+m1") + silence(0.3)))
    loop = "Aane Bantondu Aane Bantondu Aane"
    assert asr.understand(Heard("", speech.encoder_output, speech.frames, loop_hint=loop)) == \
        ("ಆನೆ ಬಂತೊಂದು ಆನೆ", "judged from a loop")
    quiet = asr.listen(audio_of(noise(2.0, rms=600, seed=9)))
    assert asr.understand(Heard("", quiet.encoder_output, quiet.frames, loop_hint=loop)) == ("", "loop")


@pytest.mark.timeout(120)
def test_non_speech_scores_are_computed_once_per_catalog_load(asr: WhisperASR) -> None:
    judge = asr.judge()
    assert judge.prepare(TITLES) == len(TITLES)
    assert len(judge._null_cache) == len(TITLES)
    judge.prepare(TITLES)                                   # cached: nothing new
    assert len(judge._null_cache) == len(TITLES)
    asr.set_vocabulary(TITLES[:3])                          # a catalog load: a new judge, a new cache
    try:
        assert asr.judge() is not judge
    finally:
        asr.set_vocabulary(TITLES)


@pytest.mark.parametrize("text", ["next", "volume up", "play a song", "stop", "tell me a bedtime story",
                                  "play the next song please"])
def test_requests_made_of_request_words_are_never_judged(asr: WhisperASR, text: str) -> None:
    assert asr.candidates(text) == []


@pytest.mark.timeout(120)
def test_the_one_pass_decode_hears_what_faster_whisper_hears(asr: WhisperASR) -> None:
    model = asr.load()
    long_request = ("can you please play the song about the wheels on the bus that go round and round all through "
                    "the town and after that play twinkle twinkle little star for my sister")
    for text, voice in (("play jack and jill", "en-us+m2"), ("हनुमान चालीसा सुनाओ", "hi+m1"), (long_request, "en-us")):
        audio = audio_of(silence(0.3) + espeak_16k(text, voice) + silence(0.3))
        segments, _ = model.transcribe(
            audio, language="en", beam_size=1, best_of=1, temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, initial_prompt=asr._prompt, max_new_tokens=96, vad_filter=False,
            no_speech_threshold=0.6, log_prob_threshold=-1.0, compression_ratio_threshold=2.4)
        assert asr.listen(audio).text == " ".join(s.text for s in segments).strip()


@pytest.mark.parametrize(("key", "value"), [("rescore_candidates", 0), ("rescore_candidates", 40),
                                            ("rescore_min_snap", 120), ("rescore_min_gain", -1),
                                            ("rescore_margin", -2)])
def test_rescore_settings_out_of_range_name_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"voice.asr.{key}"):
        config_from_dict({"voice": {"asr": {key: value}}})


def test_a_token_loop_is_told_from_a_real_repeat() -> None:
    assert periodic_tail([5, 1, 2, 1, 2, 1, 2])                     # "Aane Bantondu" x3
    assert periodic_tail([9, 7, 7, 7])                              # "Trom-Trom-Trom"
    assert periodic_tail([1, 2, 3, 4, 5, 6, 7, 8] * 3)
    assert not periodic_tail([1, 2, 3, 4, 5, 6, 7, 8, 9] * 2)
    assert not periodic_tail([4, 4, 5, 6])                          # "Baa Baa Black Sheep"
    assert not periodic_tail([1, 2, 1, 2, 3])
    assert not periodic_tail([])


class _CountingDecoder:
    """The real ctranslate2 model, with the length of every answer it generates recorded."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.answers: list[int] = []

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        results = self._inner.generate(*args, **kwargs)
        self.answers.append(len(results[0].sequences_ids[0]))
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.timeout(180)
def test_a_decode_stuck_in_a_loop_stops_at_the_first_check(asr: WhisperASR) -> None:
    """A Kannada voice sends whisper into a loop ("Tobi Mattu Maa Le Tanu Haa No Haa No ..."): the decode stops
    after the first stage of tokens instead of running to max_new_tokens, and the loop is handed on as a hint,
    as a full-length decode's loop is; a long request that is no loop is decoded to its end in two stages."""
    model = copy.copy(asr.load())                     # shares the weights; only the decoder handle is wrapped
    counting = _CountingDecoder(model.model)
    model.model = counting
    spy = WhisperASR(asr._cfg, model=model)
    spy.set_vocabulary(TITLES)
    looping = audio_of(silence(0.3) + espeak_16k("ಕೋತಿ ಮತ್ತು ಬಾಳೆ ಹಣ್ಣು ಹಾಡು ಹಾಕು", "kn+f4", wpm=200) + silence(0.3))
    heard = spy.listen(looping)
    assert heard.text == "" and heard.loop_hint, heard
    assert counting.answers == [25], counting.answers         # one stage (24 tokens + its start), not 96
    full = asr.load().transcribe(looping, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                 condition_on_previous_text=False, initial_prompt=spy._prompt, max_new_tokens=96,
                                 vad_filter=False, compression_ratio_threshold=None, log_prob_threshold=None,
                                 no_speech_threshold=None)[0]
    assert [s.compression_ratio > 2.4 for s in full] == [True]  # a full-length decode calls it a loop too
    counting.answers.clear()
    long_request = audio_of(silence(0.3) + espeak_16k(
        "can you please play the song about the wheels on the bus that go round and round all through the town "
        "and after that play twinkle twinkle little star for my sister", "en-us") + silence(0.3))
    assert "little star" in spy.listen(long_request).text.lower()
    assert len(counting.answers) == 2 and counting.answers[0] == 25 and counting.answers[1] > 25, counting.answers


@pytest.mark.timeout(180)
def test_a_prompt_line_copied_for_other_speech_counts_as_nothing_heard(asr: WhisperASR) -> None:
    """With the catalog in its prompt, whisper answers speech it cannot read by copying a prompt line. Those words
    are not in the audio: the transcript (or the title snapped from it) gains little, and nothing is heard."""
    humpty = asr.listen(audio_of(silence(0.3) + espeak_16k("play humpty dumpty", "en-gb+m3") + silence(0.3)))
    copied = Heard("Play Bandar Mama.", humpty.encoder_output, humpty.frames)
    assert asr.snap(copied.text) == "Play बंदर मामा"                   # spelling alone would play it
    assert asr.understand(copied)[0] == "", asr.understand(copied)
    hindi = asr.listen(audio_of(silence(0.3) + espeak_16k("जादुई पेड़ की कहानी सुनाओ", "hi+m4") + silence(0.3)))
    assert asr.understand(Heard("Play the song.", hindi.encoder_output, hindi.frames)) == ("", "not in the audio")
    # the same words really said are kept
    for text, said, voice in (("Play Bandar Mama.", "play bandar mama", "en-us"),
                              ("Play the song.", "play a song", "en-gb+m3"),
                              ("Stop.", "stop", "en-gb+m3")):
        heard = asr.listen(audio_of(silence(0.3) + espeak_16k(said, voice) + silence(0.3)))
        kept = asr.understand(Heard(text, heard.encoder_output, heard.frames))
        assert kept[0] != "", (text, kept)
    off = WhisperASR(config_from_dict({"voice": {"asr": {"verify_min_gain": 0}}}).voice.asr, model=asr.load())
    off.set_vocabulary(TITLES)
    assert off.understand(copied) == ("Play बंदर मामा", "snapped")


@pytest.mark.timeout(180)
def test_words_misheard_before_a_snapped_title_are_not_held_against_it(asr: WhisperASR) -> None:
    """मुझे heard as "Okay, then, I'll go": the title after it is what the audio is checked for, and those words,
    no request, are dropped (the matcher missed the title with them in front)."""
    mujhe = asr.listen(audio_of(silence(0.3) + espeak_16k("मुझे हनुमान चालीसा सुनना है", "hi+m2") + silence(0.3)))
    heard = Heard("Okay, then, I'll go Hanuman Chalisa Song Haadu.", mujhe.encoder_output, mujhe.frames)
    assert asr.understand(heard) == ("हनुमान चालीसा Song Haadu.", "snapped")


def test_the_verification_threshold_is_checked() -> None:
    with pytest.raises(ConfigError, match="voice.asr.verify_min_gain"):
        config_from_dict({"voice": {"asr": {"verify_min_gain": -1}}})
