"""Debian's Chromium driven by Playwright, shared by the browser tests: the `browser` fixture (tests/web/conftest.py)
opens pages in fresh profiles, on a desktop viewport or a phone's; `shot` keeps a screenshot (docs/img when
SCREENSHOT_DIR says so)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"]
SHOTS = os.environ.get("SCREENSHOT_DIR", "")          # set to docs/img to refresh the README's screenshots
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


async def shot(page: Any, name: str, tmp_path: Path, *, full_page: bool = True) -> None:
    path = Path(SHOTS) / name if SHOTS else tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
