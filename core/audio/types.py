"""Audio value types shared by every stage (fetch -> decode -> encode -> pace)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["AudioParams", "AudioSource", "AudioError", "AudioBusy"]


@dataclass(frozen=True, slots=True)
class AudioParams:
    """The downlink format we advertise in our hello and encode at."""
    sample_rate: int = 16000
    channels: int = 1
    frame_ms: int = 60

    @property
    def frame_samples(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def frame_bytes(self) -> int:
        """Bytes of 16-bit PCM in one frame."""
        return self.frame_samples * 2 * self.channels

    @property
    def frame_s(self) -> float:
        return self.frame_ms / 1000.0


@dataclass(frozen=True, slots=True)
class AudioSource:
    """Where a playable item's bytes come from.

    `uri` is an http(s) URL (public, CDN or presigned) or a local file path. `cache_key` + `etag` identify the
    object's version for the transcode-once cache (None = do not cache). `refresh_url` re-signs an expired
    presigned URL so a fetch can resume. `name` is for logs and never contains a query string.
    `start_ms` starts playback that far into the item (a resume); a position at or past the end gives an empty
    stream, not an error.
    """
    uri: str
    name: str
    cache_key: str | None = None
    etag: str | None = None
    size: int | None = None
    refresh_url: Callable[[], Awaitable[str]] | None = None
    start_ms: int = 0                  # play from this position (a resume); 0 = from the start

    @property
    def is_url(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def extension(self) -> str:
        path = self.uri.split("?", 1)[0] if self.is_url else self.uri
        dot = path.rfind(".")
        return path[dot:].lower() if dot > path.rfind("/") else ""


class AudioError(Exception):
    """A playable item could not be played (missing, forbidden, corrupt, not audio). Message is log-safe."""


class AudioBusy(AudioError):
    """Every decoder is taken and none freed within `audio.decoder_wait_ms`: the node is past its capacity.
    Raised before the first packet; the caller answers with a short "busy, try again" phrase."""
