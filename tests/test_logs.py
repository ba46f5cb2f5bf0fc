"""Secrets never reach the log, even inside exception text whose args are not plain strings."""
from __future__ import annotations

import io
import sys

from loguru import logger

from core.config import LogConfig
from core.logs import scrub, setup_logging


def test_scrub_patterns() -> None:
    assert scrub("GET https://b.s3.amazonaws.com/a%20b.mp3?X-Amz-Algorithm=AWS4&X-Amz-Signature=abc done") == \
        "GET https://b.s3.amazonaws.com/a%20b.mp3?<signed-query> done"
    assert scrub("Authorization: Bearer tok.123") == "Authorization: Bearer ***"
    assert "SECRETVALUE" not in scrub("aws_secret_access_key = SECRETVALUE")


def test_traceback_with_signed_url_in_non_string_args_is_scrubbed(monkeypatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    setup_logging(LogConfig(level="INFO"))
    try:
        raise RuntimeError(("request-info", "url='https://x.s3.amazonaws.com/k.mp3?X-Amz-Signature=deadbeef'"))
    except RuntimeError:
        logger.exception("fetch failed")
    logger.info("token Bearer s3cr3t-token in a message")
    out = buf.getvalue()
    assert "fetch failed" in out and "RuntimeError" in out and "<signed-query>" in out
    assert "deadbeef" not in out and "s3cr3t-token" not in out
