"""Hosted TTS: an OpenAI-compatible `POST {base_url}/audio/speech`.

`response_format` "pcm" is raw s16le at `pcm_sample_rate` (24 kHz for OpenAI) and is streamed as it
arrives; "wav" is parsed from its header (servers that ignore the requested format and send WAV anyway are
recognised by the RIFF magic). The key is sent only in the Authorization header and never logged.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from core.audio.resample import Resampler, parse_wav
from core.config import TTSConfig

from .base import TTSError

__all__ = ["OpenAITTS"]

_CHUNK = 8192


class OpenAITTS:
    name = "openai"

    def __init__(self, cfg: TTSConfig) -> None:
        if not cfg.base_url:
            raise TTSError("voice.tts.base_url is empty; set it to the service's /v1 URL")
        self._cfg = cfg
        self._url = cfg.base_url.rstrip("/") + "/audio/speech"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            t = self._cfg.timeout_s
            # No total cap: a long story streams for longer than the timeout; stalls are caught per read.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=t, sock_read=t))
        return self._session

    async def warm_up(self) -> None:
        return None

    concurrency = 8                          # requests in flight at once: the service does the work

    fallbacks = 0

    def voice_id(self, text: str, language: str) -> str:
        return f"openai:{urlsplit(self._url).netloc}:{self._cfg.model}:{self._cfg.voice}"

    async def synthesize(self, text: str, language: str, sample_rate: int) -> AsyncIterator[bytes]:
        text = text.strip()
        if not text:
            return
        body = {"model": self._cfg.model, "input": text, "voice": self._cfg.voice,
                "response_format": self._cfg.response_format}
        headers = {"Authorization": f"Bearer {self._cfg.api_key}"} if self._cfg.api_key else {}
        try:
            async with self._client().post(self._url, json=body, headers=headers) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:200].replace("\n", " ")
                    raise TTSError(f"hosted TTS returned HTTP {resp.status}: {detail}")
                ctype = resp.headers.get("Content-Type", "")
                head = await resp.content.read(12)
                is_wav = head[:4] == b"RIFF" or "wav" in ctype
                if is_wav:
                    data = head + await resp.content.read()
                    try:
                        pcm, rate = parse_wav(data)
                    except ValueError as exc:
                        raise TTSError(f"hosted TTS sent an unreadable WAV: {exc}") from None
                    r = Resampler(rate, sample_rate)
                    out = r.process(pcm) + r.flush()
                    if out:
                        yield out
                    return
                r = Resampler(self._cfg.pcm_sample_rate, sample_rate)
                out = r.process(head)
                if out:
                    yield out
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    out = r.process(chunk)
                    if out:
                        yield out
                tail = r.flush()
                if tail:
                    yield tail
        except TimeoutError:
            raise TTSError(f"hosted TTS timed out after {self._cfg.timeout_s:.0f} s (voice.tts.timeout_s)") from None
        except aiohttp.ClientError as exc:
            raise TTSError(f"hosted TTS unreachable: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
