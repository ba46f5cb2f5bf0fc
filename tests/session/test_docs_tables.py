"""docs/architecture.md prints the three machines' transition tables: they must be the code's, row for row."""
from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from core.session import conversation, house, playback

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def doc_rows(title: str) -> set[tuple[str, str, str]]:
    """The rows of the table under `#### <title> (...)`, a comma list in the first column expanded."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"^#### {title} \(.*?\)\n\n((?:\|.*\n)+)", text, re.M)
    assert m, f"no table for {title} in {DOC.name}"
    rows: set[tuple[str, str, str]] = set()
    for line in m.group(1).splitlines()[2:]:
        first, second, third = (c.strip() for c in line.strip("|").split("|"))
        rows |= {(a.strip(), second, third) for a in first.split(",")}
    return rows


def code_rows(table: dict[tuple[StrEnum, StrEnum], StrEnum]) -> set[tuple[str, str, str]]:
    return {(a.value, b.value, c.value) for (a, b), c in table.items()}


@pytest.mark.parametrize(("title", "table"), [("Conversation", conversation.TRANSITIONS),
                                              ("PlaybackControl", playback.TRANSITIONS),
                                              ("HouseRules", house.TRANSITIONS)])
def test_the_documented_table_is_the_code_table(title: str, table: dict[tuple[StrEnum, StrEnum], StrEnum]) -> None:
    assert doc_rows(title) == code_rows(table)
