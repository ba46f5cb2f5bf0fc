"""A catalog refresh swaps in a new matcher and tells listeners (the ASR vocabulary) about new titles."""
from __future__ import annotations

import json
import os
import shutil

from core.config import config_from_dict
from core.content.service import ContentService
from tests.conftest import write_tone


async def test_refresh_rebuilds_matcher_and_notifies(tmp_path) -> None:
    english = tmp_path / "music" / "English"
    english.mkdir(parents=True)
    write_tone(english / "a.mp3", 440.0, 0.3)
    shutil.copy(english / "a.mp3", english / "b.mp3")
    meta = english / "metadata.json"
    meta.write_text(json.dumps({"Row Row Row Your Boat": {"filename": "a.mp3"}}), encoding="utf-8")
    cfg = config_from_dict({"content": {"content_dir": str(tmp_path), "generate_demo": False,
                                        "refresh_time_s": 0, "watch_s": 0}})   # refreshed by the test alone
    svc = ContentService.from_config(cfg)
    await svc.start()
    seen: list[list[str]] = []
    svc.on_change(lambda: seen.append(sorted(t.title for t in svc.tracks())))
    old = svc.matcher
    assert old.find_content_match("play humpty dumpty").track is None
    meta.write_text(json.dumps({"Row Row Row Your Boat": {"filename": "a.mp3"},
                                "Humpty Dumpty": {"filename": "b.mp3"}}), encoding="utf-8")
    os.utime(meta, ns=(10**18, 10**18))
    assert await svc.refresh() is True
    assert seen == [["Humpty Dumpty", "Row Row Row Your Boat"]]
    assert svc.matcher is not old
    assert svc.matcher.find_content_match("play humpty dumpty").track.title == "Humpty Dumpty"
    assert await svc.refresh() is False and len(seen) == 1
    await svc.close()
