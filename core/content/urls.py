"""URLs the audio pipeline streams from: public, CDN, presigned (SigV4) or auto-detected.

Keys are encoded with ``quote(key, safe="/~")`` of the untrimmed key, so spaces, ``&``, ``+``, diacritics, native
scripts and trailing spaces survive. Presigned URLs carry credentials in their query string: they are cached per key
and never logged (log the key instead).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from loguru import logger

if TYPE_CHECKING:
    from core.config import S3Config

__all__ = ["UrlBuilder", "encode_key", "MAX_PRESIGN_S"]

MAX_PRESIGN_S = 604800          # SigV4 presigned URLs cannot live longer than 7 days
_PRESIGN_CACHE_MAX = 4096


def encode_key(key: str) -> str:
    return quote(key, safe="/~")


class UrlBuilder:
    """Builds streaming URLs for object keys according to `url_mode` (public | cdn | presigned | auto)."""

    def __init__(self, cfg: S3Config, client: Any, *, probe_timeout_s: float = 3.0) -> None:
        self.cfg = cfg
        self.bucket = cfg.bucket
        self.client = client
        self.expires_s = max(1, min(cfg.presign_expires_s, MAX_PRESIGN_S))
        # Re-sign when less than this is left, so a URL never expires in the middle of a long story.
        self.margin_s = min(max(60.0, self.expires_s * 0.2), self.expires_s / 2)
        self.probe_timeout_s = probe_timeout_s
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._auto: Literal["public", "presigned"] | None = None

    # ------------------------------------------------------------------ keys and modes

    def object_key(self, prefix: str, collection: str, filename: str) -> str:
        return "/".join(p for p in (prefix.strip("/"), collection, filename) if p)

    def music_key(self, language: str, filename: str) -> str:
        return self.object_key(self.cfg.prefix_music, language, filename)

    def story_key(self, category: str, filename: str) -> str:
        return self.object_key(self.cfg.prefix_stories, category, filename)

    @property
    def effective_mode(self) -> Literal["public", "cdn", "presigned"] | None:
        """The mode URLs are built in; None while `auto` has not probed the bucket yet."""
        if self.cfg.url_mode == "auto":
            return self._auto
        return self.cfg.url_mode

    @property
    def signs(self) -> bool:
        return self.effective_mode == "presigned"

    # ------------------------------------------------------------------ builders

    def public_url(self, key: str) -> str:
        k = encode_key(key)
        if self.cfg.endpoint_url:
            return f"{self.cfg.endpoint_url.rstrip('/')}/{self.bucket}/{k}"
        region = self.cfg.region or "us-east-1"
        if "." in self.bucket:
            # Dotted bucket names break the *.s3 TLS wildcard: use the path-style regional host.
            host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
            return f"https://{host}/{self.bucket}/{k}"
        if region == "us-east-1":
            return f"https://{self.bucket}.s3.amazonaws.com/{k}"
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/{k}"

    def cdn_url(self, key: str) -> str:
        return f"{self.cfg.cdn_base_url.rstrip('/')}/{encode_key(key)}"

    def presigned_url(self, key: str, *, fresh: bool = False) -> str:
        """A SigV4 GET URL, reused until `margin_s` before it expires. Blocking only if credentials must refresh."""
        now = time.time()
        with self._lock:
            hit = self._cache.get(key)
            if hit and not fresh and hit[1] - self.margin_s > now:
                self._cache.move_to_end(key)
                return hit[0]
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_s)
        with self._lock:
            self._cache[key] = (url, now + self.expires_s)
            self._cache.move_to_end(key)
            while len(self._cache) > _PRESIGN_CACHE_MAX:
                self._cache.popitem(last=False)
        logger.debug("presigned a GET for s3://{}/{} ({} s)", self.bucket, key, self.expires_s)
        return url

    def url_for_key(self, key: str, *, fresh: bool = False) -> str:
        mode = self.effective_mode
        if mode is None:
            mode = self.detect(key)
        if mode == "public":
            return self.public_url(key)
        if mode == "cdn":
            return self.cdn_url(key)
        return self.presigned_url(key, fresh=fresh)

    # ------------------------------------------------------------------ auto detection

    def detect(self, probe_key: str) -> Literal["public", "presigned"]:
        """`auto`: one anonymous read of a known object. 200/206 -> public, otherwise presigned; remembered.

        A network failure is not remembered (presigned is used meanwhile and the probe runs again next time).
        """
        if self._auto is not None:
            return self._auto
        import requests

        try:
            # A one-byte ranged GET rather than HEAD: S3 authorises both with s3:GetObject, but some
            # S3-compatible servers evaluate HEAD against a separate action and would misreport a public bucket.
            with requests.get(self.public_url(probe_key), headers={"Range": "bytes=0-0"}, stream=True,
                              timeout=self.probe_timeout_s, allow_redirects=False) as resp:
                status = resp.status_code
        except requests.RequestException as exc:
            logger.warning("url mode auto: anonymous probe of s3://{}/{} failed ({}); using presigned URLs for now",
                           self.bucket, probe_key, type(exc).__name__)
            return "presigned"
        self._auto = "public" if status in (200, 206) else "presigned"
        logger.info("url mode auto: anonymous read of s3://{}/{} -> {}; using {} URLs", self.bucket, probe_key,
                    status, self._auto)
        return self._auto
