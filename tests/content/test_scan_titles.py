"""Titles as files are named: track numbers, parentheticals, subtitles, series prefixes; what `catalog scan` writes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from core.cli import catalog as catalog_cli
from core.content.titles import match_text, series_heads, spoken_form, strip_track_number, title_variants
from core.lang.text import Lexicon, analyze
from tests.match_fixtures import make_ctx, run_request


@pytest.mark.parametrize(("stem", "title"), [
    ("01 - Twinkle Twinkle Little Star", "Twinkle Twinkle Little Star"),
    ("01. The Thirsty Crow", "The Thirsty Crow"),
    ("Track 03 - Humpty Dumpty", "Humpty Dumpty"),
    ("07 Row Row Row Your Boat", "Row Row Row Your Boat"),
    ("5 Little Ducks", "5 Little Ducks"),                  # a number that is part of the title stays
    ("12 Days of Christmas", "12 Days of Christmas"),
    ("1990", "1990"),
])
def test_track_numbers(stem: str, title: str) -> None:
    assert strip_track_number(stem) == title


@pytest.mark.parametrize(("title", "collection", "variants"), [
    ("Goldilocks (and the 3 Bears)", "Fairy Tales", ["Goldilocks"]),
    ("Let It Go - From Frozen", "Kids Songs", ["Let It Go"]),
    ("Baa Baa Black Sheep - Remastered", "Rhymes", ["Baa Baa Black Sheep"]),
    ("Panchatantra - The Blue Jackal", "Panchatantra", ["The Blue Jackal"]),
    ("Akbar and Birbal - Who Is the Biggest Fool", "Akbar Birbal", ["Who Is the Biggest Fool"]),
    ("The Alphabet Song (ABC)", "Rhymes", ["The Alphabet Song", "ABC"]),
    ("Baby Shark (Official Audio)", "Kids Songs", ["Baby Shark"]),
    ("Humpty Dumpty", "Rhymes", []),
    # a series noun before the dash: the item is after it
    ("Mahabharata Stories - Eklavya and Dronacharya", "Mythology", ["Eklavya and Dronacharya"]),
    ("Chandamama Kathalu - Vikramarka Bethala", "Telugu Kathalu", ["Vikramarka Bethala"]),
    # a descriptor is never a name, before or after the dash, or in brackets
    ("Cinderella - A Fairy Tale", "Fairy Tales", ["Cinderella"]),
    ("Pyasa Kauwa - Hindi Kahani", "Hindi Kahaniyan", ["Pyasa Kauwa"]),
    ("Sri Venkateswara Suprabhatam (Telugu)", "Devotional", ["Sri Venkateswara Suprabhatam"]),
    ("Kids Story - The Greedy Dog (English Moral Story)", "Moral Stories",
     ["Kids Story - The Greedy Dog", "The Greedy Dog"]),
    # an episode: its own name, and the series with its number
    ("The Jungle Book - Chapter 01 - Mowgli's Brothers", "Classics",
     ["Mowgli's Brothers", "The Jungle Book Chapter 01"]),
    ("Alice in Wonderland - Ch 7 - A Mad Tea Party", "Classics", ["A Mad Tea Party", "Alice in Wonderland Ch 7"]),
    # the folder's name written into the file name without a dash
    ("Tenali_Raman_The_Wrestler", "Tenali Raman", ["The Wrestler"]),
    ("Telugu_Rhymes_Pilli_Pilli_Ekkada_Unnav", "Telugu Rhymes", ["Pilli Pilli Ekkada Unnav"]),
])
def test_title_variants(title: str, collection: str, variants: list[str]) -> None:
    assert title_variants(title, collection) == variants


def test_a_head_other_files_share_is_a_series_and_a_lone_one_names_the_item() -> None:
    heads = series_heads(["CoComelon - Bath Song", "CoComelon - Yes Yes Vegetables", "Tangled - I See the Light"])
    assert heads == {"cocomelon"}
    assert title_variants("CoComelon - Bath Song", "English Rhymes", heads) == ["Bath Song"]
    assert title_variants("Tangled - I See the Light", "Disney Songs", heads) == ["Tangled"]


def test_match_text_spells_numbers_and_drops_possessives() -> None:
    assert match_text("The Owl & the Pussycat's Voyage") == "The Owl and the Pussycat Voyage"
    assert match_text("Goldilocks and the 3 Bears") == "Goldilocks and the three Bears"
    assert match_text("Count to 100") == "Count to one hundred"
    assert match_text("Apollo 2024 v1.5") == "Apollo 2024 v1.5"


def _scan(*argv: str) -> int:
    p = argparse.ArgumentParser()
    catalog_cli.register(p.add_subparsers(dest="command"))
    args = p.parse_args(["catalog", "scan", *argv])
    return args.func(args)


def test_scan_derives_entries_and_keeps_hand_written_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "stories" / "Fairy Tales"
    folder.mkdir(parents=True)
    for name in ("Goldilocks (and the 3 Bears).mp3", "02 - Rapunzel.mp3", "Hansel & Gretel.mp3"):
        (folder / name).write_bytes(b"")
    hand = {"Hansel and Gretel": {"filename": "Hansel & Gretel.mp3", "romanized": "", "alternatives": ["candy house"]}}
    (folder / "metadata.json").write_text(json.dumps(hand), encoding="utf-8")
    assert _scan(str(tmp_path), "--no-duration", "--no-probe") == 0
    assert "2 added, 1 kept" in capsys.readouterr().out
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["Hansel and Gretel"] == hand["Hansel and Gretel"]            # never rewritten
    assert meta["Goldilocks (and the 3 Bears)"]["alternatives"] == ["Goldilocks"]
    assert meta["Rapunzel"]["filename"] == "02 - Rapunzel.mp3"               # title without the track number


def test_scan_spaces_underscored_names_and_knows_the_folder_series(tmp_path: Path) -> None:
    folder = tmp_path / "music" / "English Rhymes"
    folder.mkdir(parents=True)
    for name in ("03_Bingo_Was_His_Name_O.mp3", "CoComelon - Bath Song.mp3", "CoComelon - Yes Yes Vegetables.mp3"):
        (folder / name).write_bytes(b"")
    assert _scan(str(tmp_path), "--no-duration", "--no-probe") == 0
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["Bingo Was His Name O"]["filename"] == "03_Bingo_Was_His_Name_O.mp3"     # said aloud, so spaced
    assert meta["CoComelon - Bath Song"]["alternatives"] == ["Bath Song"]


def test_scan_prune_removes_entries_whose_file_is_gone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "music" / "Rhymes"
    folder.mkdir(parents=True)
    for name in ("a.mp3", "b.mp3"):
        (folder / name).write_bytes(b"")
    assert _scan(str(tmp_path), "--no-duration", "--no-probe") == 0
    (folder / "b.mp3").unlink()
    capsys.readouterr()
    assert _scan(str(tmp_path), "--no-duration", "--no-probe") == 0
    out = capsys.readouterr().out
    assert "1 entries whose file is missing: 'b.mp3' (scan --prune removes them)" in out
    assert set(json.loads((folder / "metadata.json").read_text())) == {"a", "b"}
    assert _scan(str(tmp_path), "--no-duration", "--no-probe", "--prune") == 0
    assert "1 removed (file gone): 'b'" in capsys.readouterr().out
    assert set(json.loads((folder / "metadata.json").read_text())) == {"a"}


@pytest.mark.parametrize(("utterance", "lang"), [
    ("play penguin absolute path", "en"),       # 'path' and the Telugu cue 'paata' fold alike
    ("tell me about the kate story", "en"),
    ("telugu paata pettu", "te"),
    ("hindi gaana sunao", "hi"),
    ("play karo hindi gaana", "hi"),
])
def test_reply_language_of_romanized_requests(utterance: str, lang: str) -> None:
    assert analyze(utterance, Lexicon.build()).utterance_language == lang


def test_english_request_gets_an_english_reply() -> None:
    intent, result = run_request("play penguin absolute path", make_ctx())
    assert result.language == "en", result
    assert intent.language == "en"


@pytest.mark.parametrize(("title", "spoken"), [
    ("The 3 Little Pigs - Full Story", "The 3 Little Pigs"),
    ("The Gruffalo (Full Audiobook)", "The Gruffalo"),
    ("WHEELS ON THE BUS", "Wheels on the Bus"),
    ("01 - Baby Shark (Official Audio)", "Baby Shark"),
    ("Let It Go - From Frozen", "Let It Go"),
    ("Hindi Kahani - Bandar Mama", "Bandar Mama"),
    ("Twinkle Twinkle Little Star - Bedtime Lullaby for Kids", "Twinkle Twinkle Little Star"),
    # names stay: a series, a bracket that names, an episode, a short capital name, a native script title
    ("Panchatantra - The Blue Jackal", "Panchatantra - The Blue Jackal"),
    ("The Alphabet Song (ABC)", "The Alphabet Song (ABC)"),
    ("The Jungle Book - Chapter 01 - Mowgli's Brothers", "The Jungle Book - Chapter 01 - Mowgli's Brothers"),
    ("ABC", "ABC"),
    ("Old MacDonald Had a Farm", "Old MacDonald Had a Farm"),
    ("हनुमान चालीसा", "हनुमान चालीसा"),
    ("Bedtime Story", "Bedtime Story"),                     # only descriptor words: kept whole, not emptied
])
def test_spoken_form_drops_what_describes_the_file(title: str, spoken: str) -> None:
    assert spoken_form(title) == spoken
