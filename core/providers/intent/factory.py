"""Build the intent provider named by `voice.intent.provider`."""
from __future__ import annotations

from core.config import IntentConfig
from plugins_func.registry import PluginRegistry

from .base import IntentProvider
from .llm import LLMIntentProvider

__all__ = ["build_intent"]


def build_intent(cfg: IntentConfig, registry: PluginRegistry, fallback: IntentProvider) -> IntentProvider:
    """rules: `fallback` itself (the rule-based provider); llm: the chat model, falling back to it on errors."""
    if cfg.provider == "llm":
        return LLMIntentProvider(cfg, registry, fallback)
    return fallback
