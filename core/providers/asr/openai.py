"""Hosted ASR: an OpenAI-compatible `POST {base_url}/audio/transcriptions` (multipart WAV upload).

Covers Hindi, Telugu and Kannada when the operator's service handles them (language "" lets it detect).
The API key is sent only in the Authorization header and never logged.
"""
from __future__ import annotations

import io
import wave

import aiohttp
from loguru import logger

from core.config import ASRConfig

from .base import ASRError

__all__ = ["OpenAIASR", "pcm_to_wav"]


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm[: len(pcm) // 2 * 2])
    return buf.getvalue()


class OpenAIASR:
    name = "openai"

    def __init__(self, cfg: ASRConfig) -> None:
        if not cfg.base_url:
            raise ASRError("voice.asr.base_url is empty; set it to the service's /v1 URL")
        self._cfg = cfg
        self._url = cfg.base_url.rstrip("/") + "/audio/transcriptions"
        self._session: aiohttp.ClientSession | None = None
        self._prompt = ""

    def set_vocabulary(self, phrases: list[str]) -> None:
        # The OpenAI API takes a free-text `prompt` (<= 224 tokens for whisper-1); keep it short.
        self._prompt = ", ".join(dict.fromkeys(p.strip() for p in phrases if p.strip()))[:600]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s))
        return self._session

    async def transcribe(self, pcm: bytes, sample_rate: int = 16000, *, device: str = "") -> str:
        if len(pcm) < 2:
            return ""
        form = aiohttp.FormData()
        form.add_field("file", pcm_to_wav(pcm, sample_rate), filename="utterance.wav", content_type="audio/wav")
        form.add_field("model", self._cfg.model)
        form.add_field("response_format", "json")
        if self._cfg.language:
            form.add_field("language", self._cfg.language)
        if self._prompt:
            form.add_field("prompt", self._prompt)
        headers = {"Authorization": f"Bearer {self._cfg.api_key}"} if self._cfg.api_key else {}
        try:
            async with self._client().post(self._url, data=form, headers=headers) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:200].replace("\n", " ")
                    raise ASRError(f"hosted ASR returned HTTP {resp.status}: {detail}",
                                   busy=resp.status in (429, 503))     # rate-limited / overloaded: say busy
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    raise ASRError("hosted ASR answered with something other than JSON") from None
        except TimeoutError:
            raise ASRError(f"hosted ASR timed out after {self._cfg.timeout_s:.0f} s (voice.asr.timeout_s)") from None
        except aiohttp.ClientError as exc:
            raise ASRError(f"hosted ASR unreachable: {type(exc).__name__}") from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise ASRError("hosted ASR response has no 'text' field")
        logger.debug("hosted ASR: {:.2f} s audio -> {!r}", len(pcm) / 2 / sample_rate, text)
        return text.strip()

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
