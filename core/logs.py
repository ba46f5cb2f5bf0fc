"""Logging setup (loguru) with a last-line-of-defence scrubber for secrets.

Code never logs secrets on purpose; this also masks anything that looks like a presigned query string, a bearer
token or an AWS secret that slips into a message (e.g. inside a library's exception text).
"""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

from loguru import logger

from core.config import LogConfig

__all__ = ["setup_logging", "scrub"]

_PATTERNS = [
    (re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*(X-Amz-|Signature=|AWSAccessKeyId=)[^\s'\"]*"), r"\1?<signed-query>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(aws_secret_access_key|secret_access_key|x-amz-security-token)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
     r"\1\2***"),
]


def scrub(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _patch(record: Any) -> None:
    record["message"] = scrub(record["message"])
    if record["exception"] is not None:
        exc = record["exception"].value
        if exc is not None and exc.args:
            try:
                exc.args = tuple(scrub(a) if isinstance(a, str) else a for a in exc.args)
            except (AttributeError, TypeError):
                pass


class _InterceptHandler(logging.Handler):
    """Route stdlib logging (websockets, aiohttp, botocore) through loguru and its scrubber."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def _scrubbing_sink(message: str) -> None:
    sys.stderr.write(scrub(str(message)))


def setup_logging(cfg: LogConfig) -> None:
    logger.remove()
    logger.configure(patcher=_patch)
    fmt = ("<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
           "<cyan>{extra[device]}</cyan> {message}")
    logger.configure(extra={"device": "-"})
    # The sink scrubs the fully formatted line, tracebacks included: an exception's text can carry a signed URL
    # even when its args are not strings (aiohttp errors hold request info).
    logger.add(_scrubbing_sink, level=cfg.level, format=fmt if not cfg.json else "{message}",
               serialize=cfg.json, colorize=False, backtrace=False,
               diagnose=False)   # diagnose=False: never print local variables (may hold secrets)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
