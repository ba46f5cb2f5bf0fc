"""play_story: find a story (by title, category such as bedtime/fantasy, mood or language) and answer honestly."""
from __future__ import annotations

from typing import Any

from core.content.types import Kind
from plugins_func.functions.play_music import language_preference_schema, request_of, respond
from plugins_func.registry import PluginContext, PluginResult, register_function

__all__ = ["play_story"]


def _story_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "user_request": {"type": "string",
                             "description": "The user's words, e.g. 'tell me a bedtime story' or 'ಕಥೆ ಹೇಳು'"},
            "story_type": {"type": "string", "enum": ["specific", "random", "category", "mood", "language_specific"],
                           "description": "specific: a named story; category: bedtime/fantasy/...; random"},
            "category_preference": {"type": "string",
                                    "description": "e.g. bedtime, fantasy, adventure, educational"},
            "language_preference": language_preference_schema(),
        },
        "required": ["user_request", "story_type"],
    }


@register_function(
    "play_story",
    "Tell a story to a child: a named story, a category (bedtime, fantasy, adventure, educational), a mood, "
    "or any story.",
    _story_schema,
)
def play_story(ctx: PluginContext, user_request: str, story_type: str = "specific",
               category_preference: str | None = None, language_preference: str | None = None) -> PluginResult:
    request = request_of(ctx, user_request)
    if story_type != "specific" and isinstance(category_preference, str) and category_preference.strip() and \
            not request.analysis.story_categories:
        # An LLM may give the category only as a slot: the words with it are a request of their own.
        request = request_of(ctx, f"{request.text} {category_preference}".strip())
    return respond(ctx, Kind.STORY, request, language_preference)
