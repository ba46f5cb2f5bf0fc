"""`AudioPipeline.frames(source)`: any playable source -> 60 ms Opus packets, streamed.

Stages and their bounds (memory per stream does not grow with track length):
  fetch -Queue(4 chunks)-> ffmpeg stdin | ffmpeg | stdout pipe (8 KiB) -> framer + Opus -Queue(decode_ahead_s)-> consumer
The consumer pulls; when it stops pulling, the frame queue fills, the producer stops reading stdout, ffmpeg blocks on
its full pipe, stops reading stdin, and the fetcher stops reading the socket. When the consumer leaves (aclose(),
task cancellation, an exception), the `finally` below cancels both tasks, kills and reaps ffmpeg, releases the HTTP
response and discards a half-written cache entry, all before `aclose()` returns.

Cached sources (object key + ETag) are read back from the transcode-once cache with no decoding at all; `.p3`
sources at 16 kHz are passed through record by record (re-encoded only when the output rate differs).

Encoding: one 60 ms frame costs 0.1-0.4 ms at complexity 5. Single frames are encoded on the event loop (a thread
hop costs more than the encode); bursts of >= `_THREAD_BATCH` frames (the decode-ahead fill at stream start) go to
a worker thread in one call, because libopus runs without the GIL there and the loop stays free for other streams.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import opuslib_next
from loguru import logger

from core.audio.cache import CacheWriter, FrameCache, S3Share
from core.audio.decode import SEEKING_EXTENSIONS, FfmpegDecoder, WarmPool
from core.audio.encode import OpusEncoder, PcmFramer
from core.audio.resample import Resampler
from core.audio.fetch import ByteStream, Fetcher, check_local
from core.audio.p3 import P3_SAMPLE_RATE, P3FormatError, P3Parser
from core.audio.types import AudioError, AudioParams, AudioSource
from core.config import AudioConfig

__all__ = ["AudioPipeline"]

_END = object()
_THREAD_BATCH = 4
_PIPE_BYTES = 8192


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
        self._session: Any = None
        self._fetcher: Fetcher | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._warm: WarmPool | None = None  # created on the first piped decode, so cached-only use spawns nothing
        # Counters for health output, the benchmark and tests.
        self.decoders_started = 0
        self.cache_hits = 0
        self.active_streams = 0

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
            self._fetcher = Fetcher(self._session, self.cfg)

    async def close(self) -> None:
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

    def cache_key(self, source: AudioSource) -> str | None:
        if self.cache is None:
            return None
        return FrameCache.key_for(source, self.params, self.cfg.opus_bitrate, self.cfg.opus_complexity,
                                  self.cfg.normalize_loudness)

    def _encoder(self) -> OpusEncoder:
        return OpusEncoder(self.params, self.cfg.opus_bitrate, self.cfg.opus_complexity)

    # ------------------------------------------------------------------ public streams

    async def frames(self, source: AudioSource) -> AsyncIterator[bytes]:
        """Raw Opus packets, one per 60 ms. Raises AudioError (log-safe) before the first packet when the source
        cannot be opened, or later when it fails past its resumes. Consume it as
        `async with contextlib.aclosing(pipeline.frames(src)) as frames:` so a cancelled consumer stops every stage
        at once (without aclosing, the loop's async-generator finaliser does it a moment later)."""
        if self._fetcher is None:
            raise RuntimeError("AudioPipeline.start() must be awaited before frames()")
        self.active_streams += 1
        try:
            key = self.cache_key(source)
            path = await self.cache.lookup(key) if key and self.cache else None
            if path is not None:
                self.cache_hits += 1
                inner = self.cache.read(path)  # type: ignore[union-attr]
            elif source.extension == ".p3":
                inner = self._p3_frames(source)
            else:
                inner = self._decoded_frames(source, key)
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

    async def _decoded_frames(self, source: AudioSource, key: str | None) -> AsyncIterator[bytes]:
        assert self._fetcher is not None
        ext = source.extension
        loudnorm = self.cfg.normalize_loudness
        rate = self.params.sample_rate
        stream: ByteStream | None = None
        dec: FfmpegDecoder | None
        if source.is_url and ext in SEEKING_EXTENSIONS:
            # Index at the end (moov) cannot be read from a pipe: ffmpeg fetches the URL itself, seeking with Range.
            dec = FfmpegDecoder(rate, input_spec=source.uri, loudnorm=loudnorm, url_input=True, pipe_bytes=_PIPE_BYTES)
        elif not source.is_url:
            await asyncio.to_thread(check_local, source)
            dec = FfmpegDecoder(rate, input_spec="file:" + os.path.abspath(source.uri), loudnorm=loudnorm,
                                pipe_bytes=_PIPE_BYTES)
        else:
            stream = await self._fetcher.open(source)  # HTTP errors, HTML and empty bodies fail here
            dec = None
        ahead = max(2, round(self.cfg.decode_ahead_s / self.params.frame_s))
        pipe_frames = (3 * _PIPE_BYTES) // self.params.frame_bytes  # OS pipe + reader buffer (paused at 2x limit)
        queue: asyncio.Queue[Any] = asyncio.Queue(max(4, ahead - pipe_frames))
        writer = self.cache.writer(key) if key and self.cache else None
        feed_task: asyncio.Task[None] | None = None
        produce_task: asyncio.Task[None] | None = None
        try:
            try:
                if dec is None:
                    dec = await self._warm_pool().take()
                else:
                    await dec.start()
            except OSError as exc:   # ffmpeg missing, or out of processes / file descriptors
                raise AudioError(f"{source.name}: cannot start the decoder ({exc.strerror or exc})") from None
            self.decoders_started += 1
            if stream is not None:
                feed_task = asyncio.create_task(dec.feed(stream.chunks()))
            produce_task = asyncio.create_task(self._produce(source, dec, feed_task, queue, writer))
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Synchronous part first: even if this cleanup is itself cancelled, the child is dead, the socket is
            # released and no partial cache entry remains.
            tasks = [t for t in (produce_task, feed_task) if t is not None]
            for task in tasks:
                task.cancel()
            if dec is not None:
                dec.kill_now()
            if stream is not None:
                stream.release()
            if writer is not None and not writer.closed:
                writer.discard_sync()
            await asyncio.gather(*tasks, return_exceptions=True)
            if dec is not None:
                await dec.kill()  # reap
            if stream is not None:
                await stream.aclose()

    def _warm_pool(self) -> WarmPool:
        if self._warm is None:
            self._warm = WarmPool(self.params.sample_rate, loudnorm=self.cfg.normalize_loudness,
                                  size=self.cfg.warm_decoders, pipe_bytes=_PIPE_BYTES)
        return self._warm

    async def _produce(self, source: AudioSource, dec: FfmpegDecoder, feed_task: asyncio.Task[None] | None,
                       queue: asyncio.Queue[Any], writer: CacheWriter | None) -> None:
        fb = self.params.frame_bytes
        framer = PcmFramer(fb)
        enc = self._encoder()
        max_frames = int(self.cfg.max_track_s / self.params.frame_s)
        count = 0
        try:
            eof = False
            while not eof:
                data = await dec.read(fb * 8)
                if data:
                    pcm = framer.push(data)
                else:
                    eof = True
                    tail = framer.flush()
                    pcm = [tail] if tail is not None else []
                if not pcm:
                    continue
                if len(pcm) >= _THREAD_BATCH:
                    packets = await asyncio.to_thread(enc.encode_many, pcm)
                else:
                    packets = [enc.encode(f) for f in pcm]
                count += len(packets)
                if count > max_frames:
                    raise AudioError(f"{source.name}: longer than audio.max_track_s ({self.cfg.max_track_s:.0f} s); "
                                     "stopped")
                if writer is not None:
                    writer = await self._cache_add(writer, packets)
                for p in packets:
                    await queue.put(p)
            rc = await dec.wait()
            if feed_task is not None:
                await feed_task  # a fetch that failed after its resumes raises its AudioError here
            if rc != 0:
                why = dec.error_text() or f"ffmpeg exit status {rc}"
                if count == 0:
                    raise AudioError(f"{source.name}: cannot decode ({why})")
                raise AudioError(f"{source.name}: decoding failed after {count * self.params.frame_s:.1f} s ({why})")
            if count == 0:
                raise AudioError(f"{source.name}: no audio in the file")
            if dec.url_input and dec.error_text():
                # ffmpeg reading a URL itself exits 0 after a failed reconnect: what we have is a truncated track.
                raise AudioError(f"{source.name}: stream ended early after {count * self.params.frame_s:.1f} s "
                                 f"({dec.error_text()})")
            if writer is not None:
                await self._cache_commit(writer, source)
            await queue.put(_END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if writer is not None and not writer.closed:
                await writer.discard()
            if not isinstance(exc, AudioError):
                logger.exception("audio pipeline failure on {}", source.name)
                exc = AudioError(f"{source.name}: internal audio error ({type(exc).__name__})")
            await queue.put(exc)

    async def _cache_add(self, writer: CacheWriter, packets: list[bytes]) -> CacheWriter | None:
        try:
            await writer.add(packets)
            return writer
        except OSError as exc:  # a full or read-only disk costs only the caching, never the playback
            logger.warning("audio cache: write failed ({}); playing without caching", exc.strerror)
            await writer.discard()
            return None

    async def _cache_commit(self, writer: CacheWriter, source: AudioSource) -> None:
        try:
            await writer.commit()
        except OSError as exc:
            logger.warning("audio cache: commit of {} failed ({})", source.name, exc.strerror)
            await writer.discard()
            return
        logger.debug("audio cache: stored {} ({} frames)", source.name, writer.frames)
        if self.cache is not None and self.cache.s3 is not None:
            task = asyncio.create_task(self.cache.publish(writer.key))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ p3 path

    async def _p3_frames(self, source: AudioSource) -> AsyncIterator[bytes]:
        """p3 records are 16 kHz Opus: pass them through byte-exact at 16 kHz, else decode at our rate and re-encode."""
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
        except P3FormatError as exc:
            raise AudioError(f"{source.name}: {exc}") from None
        finally:
            await stream.aclose()
