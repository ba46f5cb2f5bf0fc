"""The README's command and make-target reference agrees with what the commands and the Makefile really take."""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

from app import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _commands(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    opts: set[str] = set()
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                out |= _commands(sub, (*path, name))
        elif a.option_strings and "--help" not in a.option_strings:
            opts.add(next(o for o in a.option_strings if o.startswith("--")))
    if path:
        out[" ".join(path)] = opts
    return out


def test_the_command_table_lists_every_command_and_exactly_its_options() -> None:
    rows = {m.group(1): set(re.findall(r"`(--[a-z0-9-]+)", m.group(2)))
            for m in re.finditer(r"^\| `app\.py ([a-z ]+)` \|[^|]*\|([^|]*)\|$", _section("Commands and make targets"),
                                 re.M)}
    real = _commands(build_parser())
    assert rows.keys() == real.keys()
    for command, options in real.items():
        assert rows[command] == options, f"app.py {command}: README {sorted(rows[command])}, parser {sorted(options)}"


def test_the_make_table_lists_every_target_make_help_names() -> None:
    listed = set(re.findall(r"`make ([a-z0-9-]+)`", _section("Commands and make targets")))
    helped = set(re.findall(r"^make ([a-z0-9-]+)", subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True,
                                                                text=True, check=True).stdout, re.M))
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    # steps of deps / test-deps / run-s3 / run-fleet, not entry points
    internal = {"system-deps", "venv", "venv-test", "venv-moto", "fleet-deps"}
    assert helped <= listed and listed <= targets
    assert targets - internal == listed, sorted(targets - internal ^ listed)
