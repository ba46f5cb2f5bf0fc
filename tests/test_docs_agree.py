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


# --------------------------------------------------------------------------- links, sections, cited paths

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "metadata" / "README.md"]
CODE = [ROOT / "app.py", ROOT / "config.yaml", ROOT / "Makefile", ROOT / "Dockerfile",
        *sorted((ROOT / "deploy").rglob("*.y*ml")),
        *(p for d in ("core", "plugins_func", "bench", "tests", "web") for p in sorted((ROOT / d).rglob("*"))
          if p.suffix in (".py", ".js", ".html", ".css") and p != Path(__file__).resolve())]
SECTION_REF = re.compile(r'(README(?:\.md)?|docs/[\w-]+\.md)\s*(?:,|\(|section)?\s*\(?"([^"]{3,80})"')


def _prose(path: Path) -> str:
    """A Markdown file without its fenced code blocks (shell comments there are not headings or links)."""
    return re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def _headings(path: Path) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*$", _prose(path), re.M)]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters of any script kept), spaces as '-'."""
    return re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")


def test_every_relative_link_and_anchor_in_the_docs_resolves() -> None:
    broken = []
    links = 0
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc)):
            if re.match(r"[a-z]+:", target):
                continue                                   # http(s), mailto: not checked offline
            links += 1
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in {_anchor(h) for h in _headings(file)}:
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert links >= 15 and not broken, broken


def test_every_section_a_doc_or_a_comment_names_exists() -> None:
    """'README, "Configuration"', 'docs/deploy.md ("Sizing table")': the named heading is there."""
    missing = []
    named = 0
    for source in [*DOCS, *CODE]:
        for ref, title in SECTION_REF.findall(source.read_text(encoding="utf-8", errors="replace")):
            target = ROOT / ("README.md" if ref.startswith("README") else ref)
            if not target.exists():
                continue                                   # the path test below reports it
            named += 1
            title = " ".join(title.split())                  # a name wrapped over two lines
            if not any(title.lower() in h.lower() for h in _headings(target)):
                missing.append(f"{source.relative_to(ROOT)}: {ref}, {title!r}")
    assert named >= 3 and not missing, missing


def test_every_doc_path_cited_in_code_and_docs_exists() -> None:
    cited = {(src.relative_to(ROOT), m) for src in [*CODE, *DOCS]
             for m in re.findall(r"(?<![\w/])(docs/[\w./-]*\w)", src.read_text(encoding="utf-8", errors="replace"))}
    assert len(cited) >= 10
    missing = sorted(f"{src}: {path}" for src, path in cited if not (ROOT / path).exists())
    assert not missing, missing


# --------------------------------------------------------------------------- make bench and docs/benchmarks.md


def _bench_tables() -> tuple[set[str], set[str]]:
    """(scripts docs/benchmarks.md says `make bench` runs, scripts it lists as tools beside them)."""
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    runs = text.split("\n## What `make bench` runs\n", 1)[1].split("\n## ", 1)[0]
    tools = text.split("\n## Tools beside the benchmarks", 1)[1].split("\n## ", 1)[0]
    row = re.compile(r"^\| `(bench/[\w.]+\.py)`", re.M)
    return set(row.findall(runs)), set(row.findall(tools))


def test_make_bench_runs_exactly_the_benchmarks_the_docs_list() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None
    made = set(re.findall(r"\b(bench/[\w.]+\.py)", recipe.group(1)))
    listed, tools = _bench_tables()
    assert made == listed, f"make bench only: {sorted(made - listed)}; docs only: {sorted(listed - made)}"
    scripts = {f"bench/{p.name}" for p in (ROOT / "bench").glob("*.py")
               if not p.name.startswith("_") and "_eval_set" not in p.name}
    assert scripts == listed | tools, f"not in docs/benchmarks.md: {sorted(scripts - listed - tools)}"
    assert not listed & tools


def test_the_readme_map_links_every_doc() -> None:
    """A doc nobody links is a doc nobody reads (docs/player-phrases.md was one)."""
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ", 1)[0]    # above the first section
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", head))
    on_disk = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert on_disk <= linked, f"not on the README's map: {sorted(on_disk - linked)}"


def test_the_configuration_table_lists_every_environment_variable() -> None:
    from core.config import ENV_OVERRIDES
    table = _section("Configuration").split("\n\n| variable | key |", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert set(ENV_OVERRIDES) <= listed, sorted(set(ENV_OVERRIDES) - listed)


def test_metadata_readme_names_every_folder_the_shipped_config_writes_under_metadata() -> None:
    config = (ROOT / "config.yaml").read_text(encoding="utf-8")
    written = {m.split("/", 2)[1] for m in re.findall(r"metadata/[\w.-]+(?:/[\w.-]+)?", config)}
    table = (ROOT / "metadata" / "README.md").read_text(encoding="utf-8")
    assert written and all(f"`{name}" in table for name in written), sorted(written)
