"""What is running: the server's version, the commit it was built from and the Python running it (for /metrics'
`xiaozhi_build_info` and the start-up log).

The commit comes from `XIAOZHI_COMMIT` (the image sets it from its `COMMIT` build argument: the build context has no
.git), else from git in a checkout, else "unknown".
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import NamedTuple

__all__ = ["VERSION", "BuildInfo", "build_info"]

VERSION = "1.0"
_ROOT = Path(__file__).resolve().parents[1]


class BuildInfo(NamedTuple):
    version: str
    commit: str
    python: str


def _commit() -> str:
    given = os.environ.get("XIAOZHI_COMMIT", "").strip()
    if given:
        return "".join(c for c in given[:40] if c.isalnum()) or "unknown"
    try:
        done = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=_ROOT, capture_output=True, text=True,
                              timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    out = done.stdout.strip()
    return out if done.returncode == 0 and out.isalnum() else "unknown"


@functools.cache
def build_info() -> BuildInfo:
    """Read once per process (git is asked at most once)."""
    return BuildInfo(VERSION, _commit(), platform.python_version())
