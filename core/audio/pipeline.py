"""`AudioPipeline.frames(source)`: any playable source -> 60 ms Opus packets, streamed.

Stages and their bounds (memory per stream does not grow with track length):
  fetch -Queue(4 chunks)-> ffmpeg stdin | ffmpeg | stdout pipe (8 KiB) -> framer + Opus -> Flight -> listeners
A flight (core/audio/flight.py) is one decode shared by every concurrent first play of the same object (same cache
key): it runs at most `decode_ahead_s` ahead of its fastest listener and appends every frame to the transcode
cache's temp file, where late or slower listeners read them. When consumers stop pulling, the flight stops reading
stdout, ffmpeg blocks on its full pipe, stops reading stdin, and the fetcher stops reading the socket. When the last
consumer leaves (aclose(), task cancellation, an exception), the flight kills and reaps ffmpeg, releases the HTTP
response and discards the half-written cache entry, all before `aclose()` returns.

Decoders are capped node-wide (`audio.max_decoders`, core/audio/slots.py): a play that finds every slot taken
queues for at most `audio.decoder_wait_ms`, then gets `AudioBusy`. Below that hard cap, admission is by CPU budget
(core/audio/budget.py): a new cold stream that would not fit in `audio.cold_cpu_share` of the cores at the measured
transcode cost gets `AudioBusy` at once. Cached plays, joins of a shared decode and p3 passthrough take no slot.

Decode and encode steps run earliest-deadline-first on the budget's worker threads (core/audio/work.py), so a
newcomer's decode-ahead never delays a playing stream's next frames.

Starting at an offset (`AudioSource.start_ms`): a cache hit skips records by their headers; an uncached source is
decoded by ffmpeg from `-ss` on its input (ffmpeg reads the local file or the URL itself, seeking by Range); a
shared flight that already passed the position is joined instead. Such a play is never cached as if complete; it
starts a bounded background flight that transcodes the whole item into the cache, so the next resume is a cache
hit. A position at or past the end gives an empty stream (no frames, no error).

Cached sources (object key + ETag) are read back from the transcode-once cache with no decoding at all; `.p3`
sources at 16 kHz are passed through record by record (re-encoded only when the output rate differs).

Encoding: one 60 ms frame costs 0.1-0.4 ms at complexity 5. Single frames are encoded on the event loop (a thread
hop costs more than the encode); batches of >= `_THREAD_BATCH` frames go to a worker thread in one call, because
libopus runs without the GIL there and the loop stays free for other streams.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
from collections.abc import AsyncGenerator, AsyncIterator, Hashable
from typing import Any

import opuslib_next
from loguru import logger

from core.audio.budget import FALLBACK_COST_S, ColdBudget, measure_transcode_cost, near_full
from core.audio.cache import FrameCache, S3Share
from core.audio.decode import SEEKING_EXTENSIONS, FfmpegDecoder, WarmPool
from core.audio.decode_av import AvDecoder
from core.audio.encode import OpusEncoder, PcmFramer
from core.audio.fetch import ByteStream, FetchCounts, Fetcher, check_local
from core.audio.flight import Flight
from core.audio.p3 import P3_SAMPLE_RATE, P3FormatError, P3Parser
from core.audio.resample import Resampler
from core.audio.slots import DecoderSlots, Slot
from core.audio.types import AudioBusy, AudioError, AudioParams, AudioSource
from core.audio.work import DeadlineWork
from core.config import AudioConfig

__all__ = ["AudioPipeline", "decoder_cap"]

_THREAD_BATCH = 4
READ_FRAMES = 8                  # frames of PCM read from the decoder at a time (a flight may overshoot by these)
_PIPE_BYTES = 8192
_MEASURED: dict[tuple[AudioParams, int, int], float] = {}    # transcode cost measured in this process
_FILL_SPEED = 8.0            # background cache fills run at most this many times real time


def decoder_cap(cfg: AudioConfig, cores: int | None = None) -> int:
    """`audio.max_decoders`, or when 0 the default sized to this machine's cores."""
    if cfg.max_decoders > 0:
        return cfg.max_decoders
    return cfg.decoders_per_core * max(1, cores or os.cpu_count() or 1)


class AudioPipeline:
    """Shared by all sessions of a process. `cache=None` builds a local `FrameCache` from `cfg.cache_dir` (empty
    string: no cache); `from_config` also wires S3 sharing of cache entries."""

    def __init__(self, cfg: AudioConfig, params: AudioParams, *, cache: FrameCache | None = None) -> None:
        if params.frame_ms != 60 or params.channels != 1:
            raise ValueError("the pipeline produces 60 ms mono frames")
        self.cfg = cfg
        self.params = params
        if cache is None and cfg.cache_dir:
            cache = FrameCache(cfg.cache_dir, cfg.cache_max_mb * 1024 * 1024)
        self.cache = cache
        # an explicit audio.max_decoders queues its overflow; the per-core default is a backstop above the budget
        self.slots = DecoderSlots(decoder_cap(cfg), cfg.decoder_wait_ms / 1000.0, queue_at_cap=cfg.max_decoders > 0)
        self.cores = max(1, os.cpu_count() or 1)
        self.budget = ColdBudget(cfg.transcode_cost or FALLBACK_COST_S, self.cores, cfg.cold_cpu_share)
        self.cost_measured = False
        self._set_budget(self.budget)
        # One decode/encode worker per core (at least two): libav and libopus run without the GIL, so the steps can
        # use every core; a single worker gets a small share of a machine shared with other processes, and once the
        # earliest-deadline-first queue falls behind, every stream is late at once. More would only queue in the OS
        # instead of by deadline.
        self._work = DeadlineWork(max(2, self.cores))
        self._session: Any = None
        self._fetcher: Fetcher | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._warm: WarmPool | None = None  # created on the first piped decode, so cached-only use spawns nothing
        self._flights: dict[str, Flight] = {}    # shared transcodes in progress, by cache key
        self._fills = 0                          # background cache fills in progress
        self.max_fills = max(1, (os.cpu_count() or 2) // 2)
        # Counters for health output, the benchmark and tests.
        self.decoders_started = 0
        self.cache_hits = 0
        self.active_streams = 0
        self.shared_joins = 0                    # plays served by a flight another play started
        self.fetch_counts = FetchCounts()

    @property
    def overloaded(self) -> bool:
        """True while plays queue for a decoder past capacity (for /ready and routing). Cheap."""
        return self.slots.overloaded

    def _set_budget(self, budget: ColdBudget) -> None:
        self.budget = budget
        self.slots.budget = budget.streams
        # near full is the budget's notion; under a lower explicit cap, overload is the queue behind it (slots.py)
        if budget.streams < self.slots.max or not self.slots.queue_at_cap:
            self.slots.near_full = near_full(self.slots.limit)
        else:
            self.slots.near_full = None

    @property
    def audio_load(self) -> float:
        """Share of the cold-stream capacity in use (1.0 = full: new cold streams hear "busy"), for routing."""
        return self.slots.in_use / self.slots.limit

    def stats(self) -> dict[str, int | bool | float]:
        """Counters for /health, the load benchmark and tests (cheap: no I/O)."""
        return {"decoders_in_use": self.slots.in_use, "decoders_max": self.slots.max,
                "cold_streams_max": self.slots.limit, "transcode_cost": round(self.budget.cost_s, 5),
                "audio_load": round(self.audio_load, 3), "work_queued": self._work.queued,
                "waiting": self.slots.waiting, "overloaded": self.overloaded, "busy": self.slots.busy_count,
                "shared_decodes": len(self._flights), "decoders_started": self.decoders_started,
                "shared_joins": self.shared_joins, "cache_hits": self.cache_hits,
                "active_streams": self.active_streams,
                "upstream_retries": self.fetch_counts.retries, "upstream_errors": self.fetch_counts.errors}

    @classmethod
    def from_config(cls, config: Any, params: AudioParams | None = None, *, s3_client: Any = None) -> AudioPipeline:
        """Build from the whole `Config`: the cache shares entries in S3 when `audio.cache_s3_prefix` is set
        (through `s3_client`, the content storage's client)."""
        acfg: AudioConfig = config.audio
        params = params or AudioParams(sample_rate=acfg.sample_rate)
        cache = None
        if acfg.cache_dir:
            share = None
            s3 = config.content.s3
            if acfg.cache_s3_prefix and s3.bucket and s3_client is not None:
                share = S3Share(s3_client, s3.bucket, acfg.cache_s3_prefix)
            cache = FrameCache(acfg.cache_dir, acfg.cache_max_mb * 1024 * 1024, share)
        return cls(acfg, params, cache=cache)

    async def start(self) -> None:
        if self._session is None:
            self._session = Fetcher.make_session(self.cfg)
            self._fetcher = Fetcher(self._session, self.cfg, self.fetch_counts)
            if shutil.which("ffmpeg") is None:      # said once at start, not as a failed play per child
                logger.error("ffmpeg is not installed (not on PATH): audio from S3 or a URL, resumes at a position "
                             "and loudness normalisation cannot play; install it with `make deps` or "
                             "`apt-get install ffmpeg`")
        if not self.cfg.transcode_cost and not self.cost_measured:
            await self._measure()

    async def _measure(self) -> None:
        key = (self.params, self.cfg.opus_bitrate, self.cfg.opus_complexity)
        cost = _MEASURED.get(key)
        if cost is None:      # once per process: the cost is the machine's, not the pipeline's
            cost = _MEASURED[key] = await asyncio.to_thread(measure_transcode_cost, *key)
        self._set_budget(ColdBudget(cost, self.cores, self.cfg.cold_cpu_share))
        self.cost_measured = True
        logger.info("audio budget: a cold stream costs {:.4f} CPU-s per second of audio; {} cold streams fit in "
                    "{:.0%} of {} cores (audio.cold_cpu_share){}", cost, self.budget.streams,
                    self.cfg.cold_cpu_share, self.cores,
                    f", capped at {self.slots.max} by audio.max_decoders" if self.slots.max < self.budget.streams
                    else "")

    async def close(self) -> None:
        for flight in list(self._flights.values()):
            await flight.stop()
        if self._warm is not None:
            await self._warm.close()
            self._warm = None
        if self._background:
            await asyncio.wait(self._background, timeout=30)
            for t in self._background:
                t.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = self._fetcher = None
        self._work.close()

    def cache_key(self, source: AudioSource) -> str | None:
        if self.cache is None:
            return None
        return FrameCache.key_for(source, self.params, self.cfg.opus_bitrate, self.cfg.opus_complexity,
                                  self.cfg.normalize_loudness)

    def _encoder(self) -> OpusEncoder:
        return OpusEncoder(self.params, self.cfg.opus_bitrate, self.cfg.opus_complexity)

    # ------------------------------------------------------------------ public streams

    async def frames(self, source: AudioSource, *, holder: Hashable | None = None) -> AsyncIterator[bytes]:
        """Raw Opus packets, one per 60 ms, from `source.start_ms` on. Raises AudioError (log-safe) before the
        first packet when the source cannot be opened, `AudioBusy` when no decoder freed in time, or AudioError
        later when it fails past its resumes. A start at or past the end yields nothing. `holder` names who plays
        (e.g. the device session): a holder's second concurrent decode (the next item, opened before the current
        one ends) never queues behind the cap. Consume it as
        `async with contextlib.aclosing(pipeline.frames(src)) as frames:` so a cancelled consumer stops every stage
        at once (without aclosing, the loop's async-generator finaliser does it a moment later)."""
        if self._fetcher is None:
            raise RuntimeError("AudioPipeline.start() must be awaited before frames()")
        start_frame = max(0, source.start_ms) // self.params.frame_ms
        self.active_streams += 1
        try:
            key = self.cache_key(source)
            path = await self.cache.lookup(key) if key and self.cache else None
            if path is not None:
                self.cache_hits += 1
                inner = self.cache.read(path, start_frame=start_frame)  # type: ignore[union-attr]  # path implies cache
            elif source.extension == ".p3":
                inner = self._p3_frames(source, start_frame)
            else:
                inner = self._decoded(source, key, start_frame, holder)
            async with contextlib.aclosing(inner):
                async for packet in inner:
                    yield packet
        finally:
            self.active_streams -= 1

    async def encode_pcm(self, chunks: AsyncIterator[bytes], sample_rate: int) -> AsyncIterator[bytes]:
        """TTS: s16le mono PCM at any rate, any chunk size -> 60 ms Opus packets at our rate (last one padded)."""
        resampler = Resampler(sample_rate, self.params.sample_rate)
        framer = PcmFramer(self.params.frame_bytes)
        enc = self._encoder()
        try:
            async for chunk in chunks:
                for frame in framer.push(resampler.process(chunk)):
                    yield enc.encode(frame)
            for frame in framer.push(resampler.flush()):
                yield enc.encode(frame)
            if (last := framer.flush()) is not None:
                yield enc.encode(last)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    # ------------------------------------------------------------------ decode path

    def _decoded(self, source: AudioSource, key: str | None, start_frame: int,
                 holder: Hashable | None) -> AsyncGenerator[bytes, None]:
        flight = self._flights.get(key) if key else None
        if flight is not None and (start_frame == 0 or start_frame < flight.produced):
            self.shared_joins += 1
            return flight.listen(start_frame)
        self.slots.check(holder)     # over the budget: "busy" now, before any work is set up
        if start_frame == 0 and key:
            flight = self._new_flight(source, key, background=False, holder=holder)
        else:
            # A resume of an uncached item: ffmpeg seeks; the whole item is transcoded into the cache separately.
            flight = Flight(source.name, ahead=self._ahead(), writer=None, frame_s=self.params.frame_s)
            flight.start(lambda f: self._transcode(f, source, start_frame * self.params.frame_ms, holder))
            if key and start_frame > 0:
                self._start_fill(source, key)
        return flight.listen(0)

    @property
    def ahead_frames(self) -> int:
        """How many frames a decode runs ahead of its fastest listener (`audio.decode_ahead_s` less the pipes)."""
        return self._ahead()

    def decoded_frames(self, source: AudioSource) -> int | None:
        """Frames decoded so far of `source` while it is being decoded (None when it is not): diagnostics, tests."""
        key = self.cache_key(source)
        flight = self._flights.get(key) if key is not None else None
        return flight.produced if flight is not None else None

    def _ahead(self) -> int:
        ahead = max(2, round(self.cfg.decode_ahead_s / self.params.frame_s))
        pipe_frames = (3 * _PIPE_BYTES) // self.params.frame_bytes  # OS pipe + reader buffer (paused at 2x limit)
        return max(4, ahead - pipe_frames)

    def _new_flight(self, source: AudioSource, key: str, *, background: bool,
                    holder: Hashable | None, slot: Slot | None = None) -> Flight:
        assert self.cache is not None

        def ended(f: Flight) -> None:
            if self._flights.get(key) is f:
                del self._flights[key]

        flight = Flight(source.name, ahead=self._ahead(), writer=self.cache.writer(key), background=background,
                        speed=_FILL_SPEED if background else 0.0, frame_s=self.params.frame_s, on_end=ended)
        self._flights[key] = flight
        flight.start(lambda f: self._transcode(f, source, 0, holder, slot=slot))
        return flight

    async def wait_background(self) -> None:
        """Wait until the background cache fills in progress have finished (shutdown, tests, the CLI)."""
        tasks = [f.task for f in self._flights.values() if f.background and f.task is not None]
        if tasks:
            await asyncio.wait(tasks)

    def _start_fill(self, source: AudioSource, key: str) -> None:
        """Transcode the whole item into the cache in the background (one per key, a bounded number at once)."""
        if key in self._flights or self._fills >= self.max_fills:
            return
        slot = self.slots.try_acquire()      # optional work: only on a decoder that is free right now
        if slot is None:
            return
        self._fills += 1
        flight = self._new_flight(dataclasses.replace(source, start_ms=0), key, background=True, holder=None,
                                  slot=slot)
        assert flight.task is not None

        def done(_: object) -> None:
            slot.release()                   # idempotent; covers a fill cancelled before it ever ran
            self._fills -= 1
            if flight.error is not None and not isinstance(flight.error, AudioBusy):
                logger.info("audio cache: background transcode of {} stopped: {}", source.name, flight.error)

        flight.task.add_done_callback(done)

    async def _transcode(self, flight: Flight, source: AudioSource, start_ms: int, holder: Hashable | None, *,
                         slot: Slot | None = None) -> None:
        """The producer of one flight: take a decoder slot (unless given one), decode, encode, publish batches."""
        assert self._fetcher is not None
        if slot is None:
            slot = await self.slots.acquire(holder)
        stream: ByteStream | None = None
        dec: FfmpegDecoder | AvDecoder | None = None
        feed_task: asyncio.Task[None] | None = None
        try:
            dec, stream = await self._open_decoder(source, start_ms, flight)
            flight.on_stop(dec.kill_now)
            if stream is not None:
                flight.on_stop(stream.release)
            self.decoders_started += 1
            if stream is not None and isinstance(dec, FfmpegDecoder):     # ffmpeg reads fetched bytes from a pipe
                feed_task = asyncio.create_task(dec.feed(stream.chunks()))
            count = await self._encode_into(flight, source, dec)
            rc = await dec.wait()
            if feed_task is not None:
                await feed_task  # a fetch that failed after its resumes raises its AudioError here
            if rc != 0:
                why = dec.error_text() or f"ffmpeg exit status {rc}"
                if count == 0:
                    raise AudioError(f"{source.name}: cannot decode ({why})")
                raise AudioError(f"{source.name}: decoding failed after {count * self.params.frame_s:.1f} s ({why})")
            if count == 0 and start_ms == 0:
                raise AudioError(f"{source.name}: no audio in the file")
            if dec.url_input and dec.error_text():
                # ffmpeg reading a URL itself exits 0 after a failed reconnect: what we have is a truncated track.
                raise AudioError(f"{source.name}: stream ended early after {count * self.params.frame_s:.1f} s "
                                 f"({dec.error_text()})")
            if flight.writer is not None:
                await flight.commit()
                if self.cache is not None and self.cache.s3 is not None and flight.writer.closed:
                    task = asyncio.create_task(self.cache.publish(flight.writer.key))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            flight.finish()
        finally:
            # Synchronous part first: even if this cleanup is itself cancelled, the child is dead and the socket
            # released (the flight removes the temp file of anything not committed).
            if feed_task is not None:
                feed_task.cancel()
            if dec is not None:
                dec.kill_now()
            if stream is not None:
                stream.release()
            slot.release()
            if feed_task is not None:
                await asyncio.gather(feed_task, return_exceptions=True)
            if dec is not None:
                await dec.kill()  # reap
            if stream is not None:
                await stream.aclose()

    async def _open_decoder(self, source: AudioSource, start_ms: int,
                            flight: Flight) -> tuple[FfmpegDecoder | AvDecoder, ByteStream | None]:
        assert self._fetcher is not None
        loudnorm = self.cfg.normalize_loudness
        rate = self.params.sample_rate
        stream: ByteStream | None = None
        if not source.is_url and start_ms == 0 and not loudnorm and self.cfg.decoder == "pyav":
            await asyncio.to_thread(check_local, source)
            av_dec = AvDecoder(os.path.abspath(source.uri), rate,
                               runner=lambda fn, *args: self._work.run(flight.deadline(), fn, *args))
            await av_dec.start()
            return av_dec, None
        if source.is_url and (source.extension in SEEKING_EXTENSIONS or start_ms > 0):
            # Index at the end (moov) cannot be read from a pipe, and a seek must not fetch what it skips: ffmpeg
            # fetches the URL itself, seeking with Range. It cannot re-sign a URL that expires mid-item, so a
            # signed source is handed over freshly signed (its whole lifetime, not what a reused URL has left).
            uri = source.uri
            if source.refresh_url is not None:
                try:
                    uri = await source.refresh_url()
                except Exception as exc:   # noqa: BLE001 - the signer's text may hold the URL: keep the type
                    logger.warning("re-signing {} failed ({}); using the URL it had", source.name, type(exc).__name__)
            dec = FfmpegDecoder(rate, input_spec=uri, loudnorm=loudnorm, url_input=True,
                                pipe_bytes=_PIPE_BYTES, start_ms=start_ms)
        elif not source.is_url:
            await asyncio.to_thread(check_local, source)
            dec = FfmpegDecoder(rate, input_spec="file:" + os.path.abspath(source.uri), loudnorm=loudnorm,
                                pipe_bytes=_PIPE_BYTES, start_ms=start_ms)
        else:
            stream = await self._fetcher.open(source)  # HTTP errors, HTML and empty bodies fail here
            dec = None
        try:
            if dec is None:
                dec = await self._warm_pool().take()
            else:
                await dec.start()
        except OSError as exc:   # ffmpeg missing, or out of processes / file descriptors
            if stream is not None:
                await stream.aclose()
            raise AudioError(f"{source.name}: cannot start the decoder ({exc.strerror or exc})") from None
        return dec, stream

    async def _encode_into(self, flight: Flight, source: AudioSource, dec: FfmpegDecoder | AvDecoder) -> int:
        fb = self.params.frame_bytes
        framer = PcmFramer(fb)
        enc = self._encoder()
        max_frames = int(self.cfg.max_track_s / self.params.frame_s)
        count = 0
        eof = False
        while not eof:
            await flight.wait_for_demand()
            data = await dec.read(fb * READ_FRAMES)
            if data:
                pcm = framer.push(data)
            else:
                eof = True
                tail = framer.flush()
                pcm = [tail] if tail is not None else []
            if not pcm:
                continue
            if len(pcm) >= _THREAD_BATCH:
                packets = await self._work.run(flight.deadline(), enc.encode_many, pcm)
            else:
                packets = [enc.encode(f) for f in pcm]
            count += len(packets)
            if count > max_frames:
                raise AudioError(f"{source.name}: longer than audio.max_track_s ({self.cfg.max_track_s:.0f} s); "
                                 "stopped")
            await flight.add(packets)
        return count

    def _warm_pool(self) -> WarmPool:
        if self._warm is None:
            self._warm = WarmPool(self.params.sample_rate, loudnorm=self.cfg.normalize_loudness,
                                  size=self.cfg.warm_decoders, pipe_bytes=_PIPE_BYTES)
        return self._warm

    # ------------------------------------------------------------------ p3 path

    async def _p3_frames(self, source: AudioSource, start_frame: int = 0) -> AsyncGenerator[bytes, None]:
        """p3 records are 16 kHz Opus: pass them through byte-exact at 16 kHz, else decode at our rate and re-encode.
        Records before `start_frame` are dropped undecoded."""
        assert self._fetcher is not None
        stream = await self._fetcher.open(source)
        parser = P3Parser()
        passthrough = self.params.sample_rate == P3_SAMPLE_RATE
        decoder = None if passthrough else opuslib_next.Decoder(self.params.sample_rate, 1)
        framer = PcmFramer(self.params.frame_bytes)
        enc = None if passthrough else self._encoder()
        max_samples = self.params.sample_rate * 120 // 1000  # largest Opus packet duration
        count = 0
        try:
            async for chunk in stream.chunks():
                for packet in parser.feed(chunk):
                    count += 1
                    if count <= start_frame:
                        continue
                    if decoder is None:
                        yield packet
                        continue
                    assert enc is not None
                    try:
                        pcm = decoder.decode(packet, max_samples)
                    except opuslib_next.OpusError:
                        raise AudioError(f"{source.name}: record {count} is not valid Opus") from None
                    for frame in framer.push(pcm):
                        yield enc.encode(frame)
            parser.finish()
            if enc is not None and (last := framer.flush()) is not None:
                yield enc.encode(last)
            if count == 0:
                raise AudioError(f"{source.name}: no p3 records")
            if count <= start_frame:
                return
        except P3FormatError as exc:
            raise AudioError(f"{source.name}: {exc}") from None
        finally:
            await stream.aclose()
