"""The browser tests' fixture (tests/web/chromium.py has the rest)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.web.chromium import CHROMIUM, DESKTOP, FLAGS, have_chromium

Browser = Callable[..., Awaitable[Any]]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """open(*extra_flags, screen=DESKTOP, timezone="UTC") -> a page in a fresh Chromium profile (screen: PHONE for
    390 x 844 with touch); everything is closed after the test."""
    if not have_chromium():
        pytest.skip("Chromium is not installed (make test installs Debian's chromium)")
    async_playwright = pytest.importorskip("playwright.async_api").async_playwright
    pw = await async_playwright().start()
    contexts: list[Any] = []

    async def open_page(*extra: str, screen: dict[str, Any] = DESKTOP, timezone: str = "UTC") -> Any:
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"), executable_path=CHROMIUM, headless=True,
            args=FLAGS + list(extra), timezone_id=timezone, **screen)
        contexts.append(ctx)
        page = ctx.pages[0] if ctx.pages else await ctx.new_page()
        page.set_default_timeout(20_000)
        return page
    try:
        yield open_page
    finally:
        for ctx in contexts:
            await ctx.close()
        await pw.stop()
