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
    internal = {"system-deps", "venv", "venv-test"}           # steps of deps / test-deps, not entry points
    assert helped <= listed and listed <= targets
    assert targets - internal == listed, sorted(targets - internal ^ listed)


# --------------------------------------------------------------------------- requests quoted in the README

PLAY_INTENTS = {"play_music", "play_story"}


def readme_requests() -> list[str]:
    """Every quoted request in README.md: "play …", "tell me …" (any case) and Hindi "… सुनाओ"; placeholders
    ("play <title>") are not requests."""
    flat = re.sub(r"\s*\n\s*", " ", (ROOT / "README.md").read_text(encoding="utf-8"))
    found = re.findall(r'"((?:[Pp]lay|[Tt]ell me)\b[^"]*|[^" ]*(?: [^" ]+)* सुनाओ)"', flat)
    return sorted({u for u in found if "<" not in u})


def understand_on_demo(utterances: list[str], tmp_path: Path) -> list[dict]:
    """`app.py match` over the demo library's own metadata.json files (the audio does not matter to matching)."""
    import asyncio
    import io
    import json

    from core.cli.match import _run
    from core.content.demo import _metadata

    for folder, entries in _metadata().items():
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "metadata.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    args = argparse.Namespace(content_dir=str(tmp_path), config=None)
    assert asyncio.run(_run(args, utterances, out)) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_request_the_readme_quotes_is_understood_against_the_demo_library(tmp_path: Path) -> None:
    """A reader who tries an example on `make run`'s demo library hears what the README promises: a title or a
    group of the demo (never a miss or a random pick standing in for a title), or the player control it names."""
    requests = readme_requests()
    assert "play baa baa black sheep" in requests and "हनुमान चालीसा सुनाओ" in requests     # the extraction works
    assert len(requests) >= 15
    wrong = []
    for row in understand_on_demo(requests, tmp_path):
        said, intent, asked = row["utterance"], row["intent"], row["request"]
        if intent in PLAY_INTENTS:
            named = asked["title_words"] or asked["categories"] or asked["moods"] or asked["named_language"]
            if row["title"] is None or row["match_type"] == "none":
                wrong.append(f"{said!r}: not in the demo library")
            elif row["match_type"] == "random" and named:
                wrong.append(f"{said!r}: a random pick, not the {named!r} asked for")
        elif not intent:
            wrong.append(f"{said!r}: not understood")
    assert not wrong, wrong
