"""LLM intent provider: an OpenAI-compatible `/chat/completions` with function calling.

The model sees the plugin functions' tool schemas (play_music, play_story, controls) plus the device's MCP tools,
and answers with one tool call, which becomes an `Intent` for the same plugin path as the rule-based
recogniser. A reply without a tool call is a friendly line for non-requests. Any error (timeout, HTTP
error, malformed answer, unknown tool) hands the utterance to the rule-based fallback.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from loguru import logger

from core.config import IntentConfig
from core.lang import registry
from core.lang.request import Request
from core.lang.script import language_or
from core.utils import safejson

from .base import Intent, IntentContext, IntentProvider

__all__ = ["LLMIntentProvider", "system_prompt"]

_PROMPT = (
    "You are Cheeko, a friendly smart speaker for young children. You can play songs and rhymes, tell stories, "
    "and control playback (pause, resume, stop, next, previous, play again, repeat and shuffle modes, queueing, a "
    "sleep timer, favourites, volume). The child's words come from speech recognition and may be misspelled; titles "
    "may be {languages} written in English letters. 'Wait' or 'hold on' is a pause, not a stop. When "
    "the child asks for something you can do, call exactly one tool, passing the child's request words unchanged "
    "as user_request (for enqueue, only the title words). Otherwise reply with one short, warm sentence (under 20 "
    "words) in the child's language, saying what you can do."
)


def system_prompt() -> str:
    """The system prompt, naming the registry's languages besides English ("Hindi, Telugu or Kannada")."""
    others = [lang.label for lang in registry.languages() if lang.code != registry.DEFAULT]
    named = ", ".join(others[:-1]) + f" or {others[-1]}" if len(others) > 1 else "".join(others) or "English"
    return _PROMPT.format(languages=named)
_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]")


def _mcp_tools(mcp_tools: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Device MCP tools (name -> {description, inputSchema}) as OpenAI tools; names made API-safe."""
    tools: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for name, spec in mcp_tools.items():
        spec = spec if isinstance(spec, Mapping) else {}
        safe = _NAME_OK.sub("_", str(name))[:64]
        names[safe] = str(name)
        params = spec.get("inputSchema") or spec.get("parameters") or {"type": "object", "properties": {}}
        tools.append({"type": "function", "function": {
            "name": safe, "description": str(spec.get("description", ""))[:500], "parameters": params}})
    return tools, names


class LLMIntentProvider:
    name = "llm"

    def __init__(self, cfg: IntentConfig, tools: Sequence[Mapping[str, Any]], fallback: IntentProvider) -> None:
        """`tools`: the plugin functions in OpenAI tools format; a tool call naming anything else is refused."""
        self._cfg = cfg
        self._tools = [dict(t) for t in tools]
        self._known = {str(t.get("function", {}).get("name")) for t in self._tools}
        self._fallback = fallback
        self._url = cfg.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s))
        return self._session

    async def recognize(self, request: Request, context: IntentContext) -> Intent:
        try:
            return await self._ask(request.text, context)
        except Exception as exc:  # noqa: BLE001 - any failure: the rule-based recogniser still answers
            logger.warning("LLM intent failed ({}: {}); using the rule-based recogniser", type(exc).__name__,
                           str(exc)[:160])
            return await self._fallback.recognize(request, context)

    async def _ask(self, text: str, context: IntentContext) -> Intent:
        mcp_schemas, mcp_names = _mcp_tools(context.device_tools)
        tools = [*self._tools, *mcp_schemas]
        now = context.now_playing
        system = system_prompt() + (f" Now playing: {now}." if now else "")
        body: dict[str, Any] = {"model": self._cfg.model, "max_tokens": self._cfg.max_tokens, "temperature": 0,
                                "messages": [{"role": "system", "content": system},
                                             {"role": "user", "content": text}]}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        headers = {"Authorization": f"Bearer {self._cfg.api_key}"} if self._cfg.api_key else {}
        async with self._client().post(self._url, json=body, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"chat endpoint returned HTTP {resp.status}")
            answer = await resp.json(content_type=None)
        message = answer["choices"][0]["message"]
        language = language_or(text)
        calls = message.get("tool_calls") or []
        if calls:
            fn = calls[0]["function"]
            name = str(fn["name"])
            raw = fn.get("arguments") or "{}"
            args = safejson.loads(raw, max_chars=16384) if isinstance(raw, str) else dict(raw)
            if not isinstance(args, dict):
                raise ValueError("tool arguments are not a JSON object")
            if name in mcp_names:
                name = mcp_names[name]
            elif name not in self._known:
                raise ValueError(f"model called unknown tool {name!r}")
            logger.debug("LLM intent: {}({})", name, sorted(args))
            return Intent(name=name, arguments=args, language=language)
        content = (message.get("content") or "").strip()
        if not content:
            raise ValueError("model answered with neither a tool call nor text")
        return Intent(name="", arguments={}, language=language, reply=content[:300])

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
