"""Logging setup (loguru) with a last-line-of-defence scrubber for secrets.

Code never logs secrets on purpose; this also masks anything that looks like a presigned query string, a bearer
token or an AWS secret that slips into a message (e.g. inside a library's exception text).
"""
from __future__ import annotations

import ast
import json
import logging
import re
import sys
from typing import Any

from loguru import logger

from core.config import LogConfig

__all__ = ["setup_logging", "scrub", "json_line", "request_fields"]

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


# The session's one line per request: request '<utterance>' intent=<name> match=<type score uid | type | -> outcome=..
_REQUEST = re.compile(r"^request (?P<utterance>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") intent=(?P<intent>\S+) "
                      r"match=(?P<match>.*?) outcome=(?P<outcome>\S+)(?: first_frame=(?P<ms>\d+)ms)?$")


def request_fields(message: str) -> dict[str, Any]:
    """Structured fields of a request line (utterance, intent, match {type, score, item}, outcome, latency_ms);
    {} for any other line."""
    m = _REQUEST.match(message)
    if m is None:
        return {}
    try:
        utterance = ast.literal_eval(m.group("utterance"))
    except (ValueError, SyntaxError):
        utterance = m.group("utterance")[1:-1]
    parts = m.group("match").split(" ", 2)
    match: dict[str, Any] | None = None
    if parts[0] != "-":
        match = {"type": parts[0]}
        if len(parts) == 3:
            try:
                match["score"] = float(parts[1])
            except ValueError:
                match["score"] = None
            match["item"] = parts[2]
    out: dict[str, Any] = {"utterance": utterance, "intent": None if m.group("intent") == "-" else m.group("intent"),
                           "match": match, "outcome": m.group("outcome")}
    if m.group("ms") is not None:
        out["latency_ms"] = int(m.group("ms"))
    return out


def json_line(record: Any) -> str:
    """One log record as one JSON object: time, level, message, where it came from, the bound context (device,
    session, peer, ...) and, for a request line, its fields. The whole line is scrubbed."""
    doc: dict[str, Any] = {"time": record["time"].isoformat(), "level": record["level"].name,
                           "message": record["message"], "logger": record["name"]}
    for k, v in record["extra"].items():
        if k == "device" and v == "-":
            continue
        doc[k] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
    doc.update(request_fields(record["message"]))
    if record["exception"] is not None:
        import traceback
        e = record["exception"]
        doc["exception"] = "".join(traceback.format_exception(e.type, e.value, e.traceback, chain=False))[-4000:]
    return scrub(json.dumps(doc, ensure_ascii=False, default=str)) + "\n"


def _json_sink(message: Any) -> None:
    sys.stderr.write(json_line(message.record))


def setup_logging(cfg: LogConfig) -> None:
    logger.remove()
    logger.configure(patcher=_patch)
    fmt = ("<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
           "<cyan>{extra[device]}</cyan> {message}")
    logger.configure(extra={"device": "-"})
    # The sink scrubs the fully formatted line, tracebacks included: an exception's text can carry a signed URL
    # even when its args are not strings (aiohttp errors hold request info).
    logger.add(_json_sink if cfg.json else _scrubbing_sink, level=cfg.level,
               format=fmt if not cfg.json else "{message}", colorize=False, backtrace=False,
               diagnose=False)   # diagnose=False: never print local variables (may hold secrets)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
