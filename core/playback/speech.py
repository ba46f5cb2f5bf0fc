"""Spoken replies as Opus frames, rendered apart from playback and shared between devices.

A reply is rendered by a background job: the text is cut into short units (a sentence, or a clause of a long one),
each unit waits for a slot of the engine pool (`FairLimiter`: per device in turn, a reply's first unit before the
later units of replies already playing, background pre-rendering last), is synthesised, the slot is released, and
its PCM is encoded to 60 ms Opus frames into the job. Callers read the job's frames as they appear and pace them
however they like: pacing never holds an engine, and a device's long replies delay another device's reply by at
most the one unit in progress.

Single flight: identical (text, language) requests in flight share one job. Short phrases (<= `max_cached_chars`)
are kept in a memory LRU and, with a `PhraseCache`, on disk and in S3, so "Now playing <title>." is synthesised once
per voice for the whole fleet. A reply is bounded to `max_reply_chars`.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from loguru import logger

from core.lang.script import native_language
from core.playback.phrase_cache import PhraseCache, phrase_key
from core.providers.tts.base import TTSError, TTSProvider
from core.providers.tts.text import clip_reply, split_sentences
from core.utils.fair import FairLimiter, Waiter

__all__ = ["SpeechRenderer", "UNIT_CHARS"]

EncodePcm = Callable[[AsyncIterator[bytes], int], AsyncIterator[bytes]]

# Scheduling unit: piper renders ~80 characters in 0.2-0.6 s here, which bounds how long another device waits.
UNIT_CHARS = 80
FRAME_S = 0.06


class _Job:
    """One reply being rendered; readers follow `frames` until `done`."""

    def __init__(self, key: tuple[str, str], device: str, low: bool, keep: bool) -> None:
        self.key = key
        self.device = device
        self.low = low
        self.keep = keep                  # finish even if every reader leaves (it will be cached)
        self.frames: list[bytes] = []
        self.done = asyncio.Event()
        self.more = asyncio.Event()
        self.readers = 0
        self.pending: list[Waiter] = []   # its unit waiting for a slot, for promotion
        self.task: asyncio.Task[None] | None = None
        self.ok = False
        self.first_at: float | None = None

    def deadline(self) -> float | None:
        """When the next unit is needed: now before the first frame, else when the audio so far has played out
        (the reader started pacing at the first frame)."""
        if self.first_at is None:
            return None
        return self.first_at + len(self.frames) * FRAME_S

    def push(self, frame: bytes) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.frames.append(frame)
        more, self.more = self.more, asyncio.Event()
        more.set()

    def finish(self) -> None:
        self.done.set()
        self.more.set()


class SpeechRenderer:
    def __init__(self, tts: TTSProvider, encode_pcm: EncodePcm, sample_rate: int, *, cache_phrases: int = 256,
                 max_cached_chars: int = 160, max_reply_chars: int = 400, workers: int | None = None,
                 phrase_cache: PhraseCache | None = None, output_key: str = "",
                 announce_budget_s: float = 0.3, on_latency: Callable[[float], None] | None = None) -> None:
        self._tts = tts
        self._on_latency = on_latency      # metrics: seconds from a synthesis's start to its first audio
        self._encode = encode_pcm
        self._rate = sample_rate
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, ...]] = OrderedDict()
        self._cache_size = cache_phrases
        self._max_chars = max_cached_chars
        self._max_reply = max_reply_chars
        self._disk = phrase_cache
        self._output = output_key or f"{sample_rate}"
        self.announce_budget_s = announce_budget_s
        slots = workers if workers is not None else tts.concurrency
        self.limiter = FairLimiter(max(1, slots))
        self._jobs: dict[tuple[str, str], _Job] = {}
        # Counters for tests, the benchmark and health output.
        self.synth_count = 0              # replies that went to the engine
        self.units = 0                    # engine calls (a reply is one or more units)
        self.joined = 0                   # requests that shared a job already in flight

    @classmethod
    def from_config(cls, config: Any, tts: TTSProvider, pipeline: Any, *, s3_client: Any = None,
                    on_latency: Callable[[float], None] | None = None) -> SpeechRenderer:
        """Built as the server runs it: the engine's own concurrency (piper: `voice.tts.workers` processes), the reply
        bound and the phrase cache (shared in S3 under
        `<audio.cache_s3_prefix>/phrases` when that is set and `s3_client` is the content storage's client)."""
        from core.audio.cache import S3Share
        tcfg = config.voice.tts
        acfg = config.audio
        disk = None
        if tcfg.phrase_cache_dir:
            share = None
            bucket = config.content.s3.bucket
            if acfg.cache_s3_prefix and bucket and s3_client is not None:
                share = S3Share(s3_client, bucket, acfg.cache_s3_prefix.strip("/") + "/phrases")
            try:
                disk = PhraseCache(tcfg.phrase_cache_dir, tcfg.phrase_cache_mb * 1024 * 1024, share)
            except OSError as exc:     # unwritable directory: speak from memory only rather than not start
                logger.warning("voice.tts.phrase_cache_dir {}: {}; phrases are cached in memory only "
                               "(fix the path or permissions)", tcfg.phrase_cache_dir, exc.strerror or exc)
        p = pipeline.params
        output = f"{p.sample_rate}/{p.frame_ms}/{acfg.opus_bitrate}/{acfg.opus_complexity}"
        return cls(tts, pipeline.encode_pcm, p.sample_rate, cache_phrases=tcfg.cache_phrases,
                   max_reply_chars=tcfg.max_reply_chars, phrase_cache=disk,
                   output_key=output, announce_budget_s=tcfg.announce_budget_ms / 1000, on_latency=on_latency)

    # ------------------------------------------------------------------ public API

    def bound(self, text: str) -> str:
        """The text as it will be spoken: whitespace folded, cut to `max_reply_chars`."""
        return clip_reply(text, self._max_reply)

    async def frames(self, text: str, language: str, *, device: str = "") -> AsyncIterator[bytes]:
        """The reply's frames as they are rendered (all at once when cached). Leaving early does not stop a render
        that others share or that will be cached."""
        key = (self.bound(text), language)
        if not key[0]:
            return
        cached = self._memory(key)
        if cached is not None:
            for frame in cached:
                yield frame
            return
        job = self._job(key, device, low=False)
        job.readers += 1
        try:
            i = 0
            while True:
                while i < len(job.frames):
                    yield job.frames[i]
                    i += 1
                if job.done.is_set():
                    return
                await job.more.wait()
        finally:
            self._leave(job)

    async def render(self, text: str, language: str, *, device: str = "") -> tuple[bytes, ...]:
        """The whole reply (single flight, cached like `frames`); () when it cannot be spoken."""
        key = (self.bound(text), language)
        if not key[0]:
            return ()
        cached = self._memory(key)
        if cached is not None:
            return cached
        job = self._job(key, device, low=False)
        job.readers += 1
        try:
            await job.done.wait()
        finally:
            self._leave(job)
        return tuple(job.frames)

    async def announcement(self, text: str, language: str, *, budget_s: float | None = None,
                           device: str = "") -> tuple[bytes, ...] | None:
        """The frames if they are ready within the budget (memory, disk or a fast render), else None while the
        render goes on in the background and lands in the cache for next time."""
        key = (self.bound(text), language)
        if not key[0]:
            return None
        cached = self._memory(key)
        if cached is not None:
            return cached
        budget = self.announce_budget_s if budget_s is None else budget_s
        job = self._job(key, device, low=False)
        job.readers += 1
        try:
            await asyncio.wait_for(job.done.wait(), budget)
        except TimeoutError:
            return None
        finally:
            self._leave(job)
            if job.readers <= 0 and job.keep and not job.done.is_set() and not job.low:
                # skipped: the render only fills the cache now, behind every reply a device waits for
                job.low = True
                for w in list(job.pending):
                    self.limiter.demote(w)
        return tuple(job.frames) if job.ok and job.frames else None

    async def prerender(self, text: str, language: str) -> bool:
        """Render into the cache at low priority (the announcement warmer). True when it is now cached."""
        key = (self.bound(text), language)
        if not key[0] or not self._cacheable(key[0]):
            return False
        if self._memory(key, touch=False) is not None:
            return True
        if self._disk is not None and key not in self._jobs and await self._disk.has(self._disk_key(key)):
            return True
        job = self._job(key, "", low=True)
        await job.done.wait()              # job.keep: cancelling this waiter does not stop the render
        return job.ok

    def cached(self, text: str, language: str) -> bool:
        return self._memory((self.bound(text), language), touch=False) is not None

    async def wait_idle(self) -> None:
        """Until every job in flight has finished, cache writes included (tests, the benchmark, shutdown)."""
        while self._jobs:
            await asyncio.wait([j.task for j in self._jobs.values() if j.task is not None])

    async def aclose(self) -> None:
        """Stop rendering; phrases already rendered still finish their (short) write to the phrase cache."""
        jobs = [j for j in self._jobs.values() if j.task is not None]
        for j in jobs:
            if not j.done.is_set():
                j.task.cancel()  # type: ignore[union-attr]  # jobs without a task are filtered out above
        tasks = [j.task for j in jobs if j.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._disk is not None:
            await self._disk.aclose()

    # ------------------------------------------------------------------ jobs

    def _cacheable(self, text: str) -> bool:
        return len(text) <= self._max_chars and (self._cache_size > 0 or self._disk is not None)

    def _memory(self, key: tuple[str, str], *, touch: bool = True) -> tuple[bytes, ...] | None:
        hit = self._cache.get(key)
        if hit is not None and touch:
            self._cache.move_to_end(key)
        return hit

    def _remember(self, key: tuple[str, str], frames: tuple[bytes, ...]) -> None:
        if self._cache_size > 0:
            self._cache[key] = frames
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _disk_key(self, key: tuple[str, str]) -> str:
        text, language = key
        voice = self._tts.voice_id(text, _route_language(text, language))
        return phrase_key(text, language, voice, self._output)

    def _job(self, key: tuple[str, str], device: str, *, low: bool) -> _Job:
        job = self._jobs.get(key)
        if job is not None:
            self.joined += 1
            if job.low and not low:       # a device now waits for what the warmer started
                job.low = False
                job.device = device
                for w in list(job.pending):
                    self.limiter.promote(w, device)
            return job
        job = _Job(key, device, low, keep=self._cacheable(key[0]))
        self._jobs[key] = job
        job.task = asyncio.create_task(self._run(job), name=f"speech-{len(key[0])}c")
        return job

    def _leave(self, job: _Job) -> None:
        job.readers -= 1
        if job.readers <= 0 and not job.keep and not job.done.is_set() and job.task is not None:
            job.task.cancel()             # nobody will hear it and it will not be cached: free the engine

    async def _run(self, job: _Job) -> None:
        text, language = job.key
        try:
            disk_key = self._disk_key(job.key) if self._disk is not None and job.keep else None
            if disk_key is not None:
                assert self._disk is not None
                stored = await self._disk.get(disk_key)
                if stored is not None:
                    for frame in stored:
                        job.push(frame)
                    job.ok = True
                    self._remember(job.key, stored)
                    return
            self.synth_count += 1
            before = self._tts.fallbacks
            await self._synthesise(job, text, language)
            job.ok = bool(job.frames)
            if job.ok and job.keep and self._tts.fallbacks == before:
                frames = tuple(job.frames)
                self._remember(job.key, frames)
                job.finish()              # readers go on; the disk write below only delays the job's cleanup
                if disk_key is not None:
                    assert self._disk is not None
                    await self._disk.put(disk_key, frames)
        except asyncio.CancelledError:
            raise
        except TTSError as exc:
            logger.warning("speech for a {}-char {} reply failed: {}", len(text), language, exc)
        except Exception:   # noqa: BLE001 - a background job: contained to this one reply
            logger.exception("speech rendering failed for a {}-char {} reply", len(text), language)
        finally:
            job.finish()
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]

    async def _synthesise(self, job: _Job, text: str, language: str) -> None:
        lang = _route_language(text, language)
        started = time.perf_counter()

        async def pcm() -> AsyncIterator[bytes]:
            first = True
            for unit in split_sentences(text, UNIT_CHARS):
                async with self.limiter.slot(job.device, low=job.low, deadline=job.deadline(), waiter=job.pending):
                    self.units += 1
                    chunks = [c async for c in self._tts.synthesize(unit, lang, self._rate)]
                if first and chunks and self._on_latency is not None:
                    self._on_latency(time.perf_counter() - started)     # queueing for an engine slot included
                first = False
                for chunk in chunks:      # the slot is free before this unit is encoded
                    yield chunk

        opus = self._encode(pcm(), self._rate)
        async with contextlib.aclosing(opus):  # type: ignore[type-var]  # the encoder is an async generator (aclose)
            async for frame in opus:
                job.push(frame)


def _route_language(text: str, language: str) -> str:
    """The reply's language decided once for the whole text (the script wins over the label), so every unit of
    a reply is spoken by the same engine and voice."""
    return native_language(text) or (language or "en")
