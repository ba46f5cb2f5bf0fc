"""Build the intent provider named by `voice.intent.provider`."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.config import IntentConfig

from .base import IntentProvider
from .llm import LLMIntentProvider
from .rules import RuleIntentRecognizer, RulesIntentProvider

__all__ = ["build_intent"]


def build_intent(cfg: IntentConfig, tools: Sequence[Mapping[str, Any]], *, wake_words: Iterable[str] = ()
                 ) -> IntentProvider:
    """rules: the offline recogniser; llm: the chat model with `tools`, falling back to the rules on any error."""
    rules = RulesIntentProvider(RuleIntentRecognizer(wake_words=wake_words))
    if cfg.provider == "llm":
        return LLMIntentProvider(cfg, tools, rules)
    return rules
