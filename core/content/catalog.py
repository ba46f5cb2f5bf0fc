"""metadata.json catalogs: discovery by listing, parsing, validation, disk cache and conditional refresh.

Layout: ``<prefix>/<Collection>/metadata.json`` with entries ``title -> {romanized, filename, alternatives}`` plus the
optional ``tags``, ``language`` and ``duration``. Titles and filenames are kept exactly (trailing spaces, diacritics,
native script) because they build object keys. A bad entry is reported and skipped; a bad file keeps the last good
copy of that collection; an unreachable store keeps everything (or starts from the disk cache).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import posixpath
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loguru import logger

from core.content.layout import APP
from core.content.storage import ObjectInfo, Storage, StorageError
from core.content.types import Kind, Track
from core.utils import safejson

__all__ = ["Issue", "ValidationReport", "CatalogFormatError", "parse_metadata", "unsafe_filename", "Catalog",
           "type_name", "METADATA_NAME", "REFRESH_FAILURES"]

METADATA_NAME = "metadata.json"
# Why a refresh failed: the store could not be listed; a catalog could not be read (kept from the last good copy);
# a catalog's new body is not valid (counted once per body); an unexpected error (contained to its collection, or
# the whole refresh in the service's loop).
REFRESH_FAILURES = ("list", "read", "unusable", "error")
_FETCH_CONCURRENCY = 8
MAX_CATALOG_CHARS = 32 * 1024 * 1024   # a metadata.json this big is a mistake, not a catalog
MAX_CATALOG_DEPTH = 16                 # title -> entry -> alternatives is 3 deep; the rest is room for extra fields
_BROKEN = "; entry skipped"   # after a file_check message ("audio file 'x.mp3' is not a playable ...")
_SURROGATE = re.compile("[\ud800-\udfff]")   # "\ud800" is a valid JSON escape but no valid text or file name


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Literal["error", "warning"]
    source: str                    # the metadata.json key (or the store, for listing failures)
    message: str
    title: str = ""

    def __str__(self) -> str:
        entry = f" [{self.title!r}]" if self.title else ""
        return f"{self.severity.upper():7} {self.source}{entry}: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    issues: tuple[Issue, ...] = ()
    collections: int = 0
    entries: int = 0

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors


class CatalogFormatError(ValueError):
    """A whole metadata.json is unusable (not UTF-8, not JSON, not an object)."""


def unsafe_filename(filename: str) -> str | None:
    """Why `filename` may not be used inside its collection folder, or None when it is safe."""
    if "\x00" in filename or any(ord(c) < 32 for c in filename):
        return "contains control characters"
    if _SURROGATE.search(filename):
        return "contains an unpaired surrogate escape (not valid Unicode)"
    if "\\" in filename:
        return "contains a backslash (path separator on Windows)"
    if filename.startswith("/") or (len(filename) > 1 and filename[1] == ":"):
        return "is an absolute path"
    parts = filename.split("/")
    if any(p in ("..", ".") for p in parts):
        return "tries to leave its folder ('..')"
    if filename.endswith("/") or "" in parts:
        return "is not a file name"
    return None


def type_name(value: Any) -> str:
    """How a JSON value reads in a message: '42 (a number)', 'true (a boolean)', 'an object'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"{str(value)[:40]!r}"


def _strings(value: Any, what: str, title: str, source: str, issues: list[Issue]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        issues.append(Issue("warning", source, f"'{what}' must be a list of strings, not {type_name(value)}; "
                            "ignored", title))
        return ()
    good = [_SURROGATE.sub("\ufffd", v) for v in value if isinstance(v, str) and v.strip()]
    if len(good) != len(value):
        issues.append(Issue("warning", source, f"'{what}' has empty or non-text items; they were dropped", title))
    return tuple(dict.fromkeys(good))


def parse_metadata(raw: bytes, *, kind: Kind, collection: str, source: str,
                   extensions: tuple[str, ...] = ()) -> tuple[list[Track], list[Issue]]:
    """Parse one metadata.json. Raises CatalogFormatError (only) for an unusable file; bad entries become issues.
    Size and nesting are checked before parsing: a file nested 100,000 deep is refused, it cannot recurse."""
    if len(raw) > MAX_CATALOG_CHARS:
        raise CatalogFormatError(f"too large ({len(raw)} bytes; the limit is {MAX_CATALOG_CHARS}); split the folder")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogFormatError(f"not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    issues: list[Issue] = []
    dupes: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                dupes.append(k)
            out[k] = v
        return out

    try:
        data = safejson.loads(text, max_chars=MAX_CATALOG_CHARS, max_depth=MAX_CATALOG_DEPTH, object_pairs_hook=pairs)
    except safejson.JsonLimitError as exc:
        raise CatalogFormatError(str(exc)) from None
    if not isinstance(data, dict):
        raise CatalogFormatError("the top level must be an object of title -> entry")
    for d in dict.fromkeys(dupes):
        issues.append(Issue("warning", source, "title appears more than once; the last entry wins", d))

    exts = tuple(e.lower() for e in extensions)
    tracks: list[Track] = []
    filenames: dict[str, str] = {}
    for title, entry in data.items():
        if _SURROGATE.search(title):
            issues.append(Issue("error", source, "title contains an unpaired surrogate escape; skipped",
                                _SURROGATE.sub("\ufffd", title)))
            continue
        if not isinstance(entry, dict):
            issues.append(Issue("error", source, "entry must be an object with at least 'filename', not "
                                f"{type_name(entry)}; skipped", title))
            continue
        filename = entry.get("filename")
        if "filename" in entry and not isinstance(filename, str):
            issues.append(Issue("error", source, f"'filename' must be text, not {type_name(filename)}; skipped",
                                title))
            continue
        if not isinstance(filename, str) or not filename.strip():
            issues.append(Issue("error", source, "missing 'filename'; skipped", title))
            continue
        why = unsafe_filename(filename)
        if why:
            issues.append(Issue("error", source, f"filename {filename!r} {why}; rejected", title))
            continue
        if exts and not filename.lower().endswith(exts):
            issues.append(Issue("warning", source, f"filename {filename!r} has an unsupported extension "
                                f"(supported: {', '.join(exts)})", title))
        romanized = entry.get("romanized", "")
        if not isinstance(romanized, str):
            issues.append(Issue("warning", source, f"'romanized' must be text, not {type_name(romanized)}; ignored",
                                title))
            romanized = ""
        romanized = _SURROGATE.sub("\ufffd", romanized)
        shown = title
        if not title.strip():
            shown = romanized.strip() or posixpath.splitext(posixpath.basename(filename))[0].strip()
            issues.append(Issue("warning", source, f"empty title; using {shown!r}", title))
        language = entry.get("language")
        if language is not None and not (isinstance(language, str) and language.strip()
                                         and not _SURROGATE.search(language)):
            issues.append(Issue("warning", source, f"'language' must be non-empty text, not {type_name(language)}; "
                                "ignored", title))
            language = None
        duration = entry.get("duration")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not math.isfinite(duration) or duration < 0):
            issues.append(Issue("warning", source, f"'duration' must be a number of seconds, not "
                                f"{type_name(duration)}; ignored", title))
            duration = None
        if filename in filenames:
            issues.append(Issue("warning", source, f"filename {filename!r} is also used by {filenames[filename]!r}",
                                title))
        filenames.setdefault(filename, title)
        tracks.append(Track(
            kind=kind, collection=collection, title=shown, filename=filename, romanized=romanized,
            alternatives=_strings(entry.get("alternatives"), "alternatives", title, source, issues),
            tags=tuple(t.strip().lower() for t in _strings(entry.get("tags"), "tags", title, source, issues)),
            language=language.strip() if isinstance(language, str) else None,
            duration=float(duration) if duration is not None else None,
        ))
    return tracks, issues


def _alias_issues(tracks: list[Track], source_of: dict[str, str]) -> list[Issue]:
    """Aliases shared by several entries make requests ambiguous: warn once per alias."""
    owners: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        names = {a.strip().casefold() for a in t.alternatives} | {t.title.strip().casefold()}
        for n in names:
            owners[n].append(t)
    out: list[Issue] = []
    for name, ts in owners.items():
        if len(ts) > 1 and name:
            who = ", ".join(f"{t.collection}/{t.title.strip()}" for t in ts[:5]) + (" ..." if len(ts) > 5 else "")
            out.append(Issue("warning", source_of[ts[0].uid], f"alias {name!r} is shared by {len(ts)} entries: {who}; "
                             "asking for it plays one of them, picked at random (fine for a group name; for one "
                             "title, keep the alias on that entry only)"))
    return out


@dataclass(slots=True)
class _Collection:
    kind: Kind
    name: str
    key: str
    etag: str | None                         # etag of the good copy we use
    tracks: list[Track]                      # the entries we serve: parsed, and their audio file exists
    issues: list[Issue]
    objects: dict[str, ObjectInfo] | None    # objects in the folder at last parse (None: unknown, e.g. from cache)
    seen_etag: str | None = None             # etag of the latest fetched body, even when it was unusable
    bad: Issue | None = None                 # why the latest body was rejected
    parsed: list[Track] | None = None        # every good entry of the body (tracks minus missing files)
    missing: frozenset[str] = frozenset()    # filenames not in the store: those entries are skipped
    broken: frozenset[str] = frozenset()     # filenames whose file is empty or does not play: skipped too

    def __post_init__(self) -> None:
        if self.parsed is None:
            self.parsed = list(self.tracks)


@dataclass(slots=True)
class _State:
    collections: dict[str, _Collection] = field(default_factory=dict)
    store_issue: Issue | None = None


class Catalog:
    """Every collection's tracks, refreshed with conditional reads and backed by a disk cache."""

    def __init__(self, storage: Storage, *, prefixes: dict[Kind, str], extensions: tuple[str, ...] = (),
                 cache_dir: str | Path | None = None) -> None:
        self.storage = storage
        self.prefixes = {k: v.strip("/") for k, v in prefixes.items()}
        self.extensions = extensions
        # Entries whose audio file is missing are not served (never matched or announced). Off only for tools that
        # judge the metadata itself, e.g. `app.py match` over a catalog without its audio.
        self.skip_missing = True
        # (collection folder key, file key) -> why that entry's file must not be served, or None. Set for a local
        # folder, where opening a file costs milliseconds: an entry `catalog validate` rejects for its audio is then
        # never matched or announced. Results are kept per ETag, so a refresh only opens new or changed files.
        self.file_check: Callable[[str, str], str | None] | None = None
        self._checked: dict[str, tuple[str, str | None]] = {}
        slug = hashlib.sha256(storage.description.encode()).hexdigest()[:12]
        self.cache_dir = Path(cache_dir) / slug if cache_dir else None
        self._state = _State()
        self._failed: dict[str, str] = {}       # key -> last unexpected failure logged (one line per change)
        self._tracks: list[Track] = []
        self._bare: dict[str, tuple[Kind, str]] = {}   # folder -> (kind, name): a folder without a metadata.json
        self.version = 0
        self.from_cache = False
        # Health, read by /metrics from another thread: `entry_counts` is replaced whole, `refresh_failures` only
        # has its values incremented (its keys are fixed), so a reader never sees a half-made value.
        self.entry_counts: tuple[tuple[Kind, str, int, int], ...] = ()   # (kind, collection, served, skipped)
        self.refreshed_at: float | None = None   # wall clock of the last refresh that listed and read every catalog
        self.refresh_seconds = 0.0               # how long the last refresh took
        self.refresh_failures = dict.fromkeys(REFRESH_FAILURES, 0)

    # ------------------------------------------------------------------ queries

    def tracks(self, kind: Kind | None = None) -> list[Track]:
        return [t for t in self._tracks if kind is None or t.kind == kind]

    def collections(self, kind: Kind) -> list[str]:
        return sorted(c.name for c in self._state.collections.values() if c.kind == kind and c.etag is not None)

    def metadata_keys(self) -> list[str]:
        return sorted(self._state.collections)

    def object_info(self, key: str) -> ObjectInfo | None:
        for c in self._state.collections.values():
            if c.objects and key in c.objects:
                return c.objects[key]
        return None

    def bare_folders(self) -> list[str]:
        """Folders under the prefixes that have no metadata.json (their audio is served by nothing)."""
        return sorted(self._bare)

    def unlisted_files(self) -> dict[str, list[str]]:
        """metadata.json key -> audio files in its folder that no entry names (needs a load that listed files)."""
        exts = tuple(e.lower() for e in self.extensions)
        out: dict[str, list[str]] = {}
        for c in self._state.collections.values():
            if not c.objects:
                continue
            folder = c.key.rsplit("/", 1)[0] + "/"
            named = {t.filename for t in c.parsed or ()}
            rel = [k[len(folder):] for k in c.objects if k.startswith(folder)]
            extra = sorted(r for r in rel if r not in named and r.lower().endswith(exts or (".",))
                           and not r.rsplit("/", 1)[-1].startswith(".") and r != METADATA_NAME)
            if extra:
                out[c.key] = extra
        return out

    def object_key(self, track: Track) -> str:
        return "/".join(p for p in (self.prefixes[track.kind], track.collection, track.filename) if p)

    def report(self) -> ValidationReport:
        issues: list[Issue] = []
        if self._state.store_issue:
            issues.append(self._state.store_issue)
        source_of: dict[str, str] = {}
        for c in sorted(self._state.collections.values(), key=lambda c: c.key):
            issues.extend(c.issues)
            if c.bad:
                issues.append(c.bad)
            for t in c.tracks:
                source_of[t.uid] = c.key
        for kind in Kind:
            issues.extend(_alias_issues(self.tracks(kind), source_of))
        return ValidationReport(tuple(issues), len(self._state.collections), len(self._tracks))

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        """First load: from storage (conditional on the cached ETags), else from the disk cache."""
        cached = self._read_cache()
        for c in cached:
            self._state.collections[c.key] = c
        ok = await self.refresh(initial=True)
        if not ok and self._state.store_issue and cached:
            self.from_cache = True
            logger.warning("catalog store {} unavailable ({}); serving the last good copy of {} catalogs from {}",
                           self.storage.description, self._state.store_issue.message, len(cached), self.cache_dir)
        self._rebuild()

    async def refresh(self, *, initial: bool = False) -> bool:
        """Re-read changed catalogs. Returns True when the set of tracks changed (or, initially, when it loaded)."""
        started = time.monotonic()
        try:
            found: dict[str, tuple[Kind, str]] = {}
            for kind, prefix in self.prefixes.items():
                for name in await self.storage.list_folders(prefix):
                    key = "/".join(p for p in (prefix, name, METADATA_NAME) if p)
                    found[key] = (kind, name)
        except StorageError as exc:
            self.refresh_failures["list"] += 1
            self._state.store_issue = Issue("error", self.storage.description, f"cannot list catalogs: {exc}")
            logger.error("catalog refresh: cannot list {}: {}; keeping {} collections", self.storage.description,
                         exc, len(self._state.collections))
            return False
        self._state.store_issue = None
        failed_before = self.refresh_failures["read"] + self.refresh_failures["error"]
        sem = asyncio.Semaphore(_FETCH_CONCURRENCY)

        async def one(key: str, kind: Kind, name: str) -> bool:
            async with sem:
                try:
                    changed = await self._refresh_one(key, kind, name)
                except Exception as exc:  # noqa: BLE001 - one collection's failure never stops the others
                    self._contain(key, kind, name, exc)
                    return False
                if self._failed.pop(key, None) is not None:
                    col = self._state.collections.get(key)
                    if col is not None and col.bad is not None and col.bad.message.startswith("refresh failed"):
                        col.bad = None
                return changed

        results = await asyncio.gather(*(one(k, kind, name) for k, (kind, name) in found.items()))
        changed = any(results)
        for folder in [f for f in self._bare if f"{f}/{METADATA_NAME}" not in found]:
            self._bare.pop(folder)
        for key in [k for k in self._state.collections if k not in found]:
            logger.info("catalog {} disappeared from {}; dropping it", key, self.storage.description)
            self._state.collections.pop(key)
            self._drop_cache(key)
            changed = True
        if changed or initial:
            self._rebuild()
        self.refresh_seconds = time.monotonic() - started
        if self.refresh_failures["read"] + self.refresh_failures["error"] == failed_before:
            self.refreshed_at = time.time()
        logger.debug("catalog refresh of {} collections took {:.0f} ms (changed: {})", len(found),
                     (time.monotonic() - started) * 1000, changed)
        return changed or initial

    async def _refresh_one(self, key: str, kind: Kind, name: str) -> bool:
        cur = self._state.collections.get(key)
        etag = cur.seen_etag if cur and cur.seen_etag else (cur.etag if cur else None)
        try:
            fetched = await self.storage.fetch(key, etag)
        except StorageError as exc:
            if exc.not_found:       # a folder without a catalog: nothing to serve from it
                self._bare[key.rsplit("/", 1)[0]] = (kind, name)
                if cur is None:
                    logger.debug("{} has no {}", key.rsplit("/", 1)[0], METADATA_NAME)
                    return False
                self._state.collections.pop(key)
                self._drop_cache(key)
                return True
            self.refresh_failures["read"] += 1
            logger.error("catalog {}: {}; keeping {}", key, exc, "the last good copy" if cur else "nothing from it")
            bad = Issue("error", key, f"could not be read: {exc}")
            if cur:
                cur.bad = bad
            else:
                self._state.collections[key] = _Collection(kind, name, key, None, [], [], None, None, bad)
            return False
        self._bare.pop(key.rsplit("/", 1)[0], None)
        if fetched.not_modified:
            if cur and cur.etag is not None and cur.bad is None and (
                    cur.objects is None or cur.missing or self.file_check is not None):
                # Loaded from the disk cache (validate against the store once), or waiting for audio files that
                # were missing: they may have been uploaded after the catalog; or a local folder, whose files are
                # checked again (only new or changed ones are opened).
                before = list(cur.tracks)
                await self._check_files(cur)
                return cur.tracks != before
            return False
        assert fetched.body is not None
        try:
            # Off the event loop: a large catalog takes hundreds of ms to parse, which would stall playback pacing.
            tracks, issues = await asyncio.to_thread(parse_metadata, fetched.body, kind=kind, collection=name,
                                                     source=key, extensions=self.extensions)
        except Exception as exc:  # noqa: BLE001 - CatalogFormatError, or a parser bug: either way skip this file
            why = str(exc) if isinstance(exc, CatalogFormatError) else f"could not be parsed ({type(exc).__name__})"
            where = f"{self.storage.description}/{key}"
            self.refresh_failures["unusable"] += 1
            logger.error("catalog {} is unusable: {}; keeping {}", where, why,
                         f"the last good copy ({len(cur.tracks)} entries)" if cur else "nothing from it")
            bad = Issue("error", key, why)
            if cur:
                cur.seen_etag, cur.bad = fetched.etag, bad
            else:
                self._state.collections[key] = _Collection(kind, name, key, None, [], [], None, fetched.etag, bad)
            return False
        col = _Collection(kind, name, key, fetched.etag, tracks, issues, None, fetched.etag)
        if cur is not None:
            col.missing, col.broken = cur.missing, cur.broken   # so a skip that has not changed is not logged again
        await self._check_files(col)
        self._state.collections[key] = col
        await asyncio.to_thread(self._write_cache, col, fetched.body)
        for i in issues:
            if i.severity == "error":
                logger.warning("catalog {}{}: {}", i.source, f" [{i.title!r}]" if i.title else "", i.message)
        logger.info("catalog {}: {} entries ({} issues)", key, len(tracks), len(col.issues))
        return cur is None or cur.tracks != tracks

    async def _check_files(self, col: _Collection) -> None:
        folder = col.key.rsplit("/", 1)[0]
        try:
            col.objects = await self.storage.list_objects(folder)
        except StorageError as exc:
            logger.warning("cannot list {} to check its files: {}", folder, exc)
            return
        col.issues = [i for i in col.issues if not i.message.startswith("file not found")
                      and not (i.message.startswith("audio file ") and i.message.endswith(_BROKEN))]
        assert col.parsed is not None
        problems = await self._file_problems(folder, col)
        present: list[Track] = []
        missing: set[str] = set()
        broken: dict[str, str] = {}
        for t in col.parsed:
            key = f"{folder}/{t.filename}"
            if key not in col.objects:
                missing.add(t.filename)
                col.issues.append(Issue("error", col.key, f"file not found in storage: {t.filename!r}; entry skipped",
                                        t.title))
            elif problems.get(key):
                broken[t.filename] = problems[key] or ""
                col.issues.append(Issue("error", col.key, f"{problems[key]}{_BROKEN}", t.title))
            else:
                present.append(t)
        col.tracks = present if self.skip_missing else list(col.parsed)
        if missing != col.missing and self.skip_missing:   # logged once per change, not on every refresh
            if missing:
                names = ", ".join(repr(f) for f in sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
                logger.warning("catalog {}: skipping {} entries whose audio file is missing: {}", col.key,
                               len(missing), names)
            else:
                logger.info("catalog {}: every audio file is present now", col.key)
            col.missing = frozenset(missing)
        if set(broken) != col.broken and self.skip_missing:
            if broken:
                shown = "; ".join(broken[f] for f in sorted(broken)[:5]) + (" ..." if len(broken) > 5 else "")
                logger.warning("catalog {}: skipping {} entries whose audio file does not play: {}; replace or "
                               f"remove the files (`{APP} catalog validate` lists them)", col.key, len(broken),
                               shown)
            elif col.broken:
                logger.info("catalog {}: every audio file plays now", col.key)
            col.broken = frozenset(broken)

    async def _file_problems(self, folder: str, col: _Collection) -> dict[str, str | None]:
        """file key -> why the entry's present file must not be served (None: it plays): an empty object for any
        store, and what `file_check` says (new or changed files opened) where one is set."""
        check = self.file_check
        if col.objects is None or col.parsed is None:
            return {}
        keys = {f"{folder}/{t.filename}" for t in col.parsed} & col.objects.keys()
        # validate's one rule that needs no fetch holds for a bucket too: the listing gives each object's size
        empty: dict[str, str | None] = {k: f"audio file {k[len(folder) + 1:]!r} is empty (0 bytes)"
                                        for k in keys if col.objects[k].size == 0}
        if check is None:
            return empty
        todo = [k for k in keys if k not in empty and self._checked.get(k, ("", None))[0] != col.objects[k].etag]

        def run() -> list[tuple[str, str | None]]:
            out = []
            for k in sorted(todo):
                try:
                    out.append((k, check(folder, k)))
                except Exception as exc:  # noqa: BLE001 - a checker bug must not drop the collection; serve it
                    logger.warning("cannot check {}: {}", k, exc)
                    out.append((k, None))
            return out

        if todo:
            for k, why in await asyncio.to_thread(run):
                self._checked[k] = (col.objects[k].etag, why)
        for k in [k for k in self._checked if k.startswith(folder + "/") and k not in keys]:
            del self._checked[k]
        return {**{k: self._checked[k][1] for k in keys if k in self._checked}, **empty}

    def _contain(self, key: str, kind: Kind, name: str, exc: Exception) -> None:
        """An unexpected failure refreshing one collection: keep what it served, say so once per distinct error."""
        why = f"refresh failed ({type(exc).__name__}: {str(exc)[:200]})"
        self.refresh_failures["error"] += 1
        if self._failed.get(key) != why:
            self._failed[key] = why
            logger.opt(exception=exc).error("catalog {}: {}; keeping {}", key, why,
                                            "the last good copy" if key in self._state.collections else "nothing")
        cur = self._state.collections.get(key)
        if cur is not None:
            cur.bad = Issue("error", key, why)
        else:
            self._state.collections[key] = _Collection(kind, name, key, None, [], [], None, None,
                                                       Issue("error", key, why))

    def _rebuild(self) -> None:
        ordered = sorted(self._state.collections.values(), key=lambda c: c.key)
        tracks = [t for c in ordered for t in c.tracks]
        self.entry_counts = tuple((c.kind, c.name, len(c.tracks), len(c.missing))
                                  for c in ordered if c.etag is not None)
        if tracks != self._tracks or self.version == 0:
            self._tracks = tracks
            self.version += 1

    # ------------------------------------------------------------------ disk cache

    def _cache_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")

    def _write_cache(self, col: _Collection, body: bytes) -> None:
        path = self._cache_path(col.key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            doc = {"key": col.key, "kind": col.kind.value, "collection": col.name, "etag": col.etag,
                   "saved_at": time.time(), "body": body.decode("utf-8-sig")}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            logger.warning("cannot write the catalog cache {}: {}", path, exc.strerror)

    def _drop_cache(self, key: str) -> None:
        path = self._cache_path(key)
        if path is not None:
            path.unlink(missing_ok=True)

    def _read_cache(self) -> list[_Collection]:
        if self.cache_dir is None or not self.cache_dir.is_dir():
            return []
        out: list[_Collection] = []
        for path in sorted(self.cache_dir.glob("*.json")):
            try:
                doc = safejson.loads(path.read_bytes(), max_chars=2 * MAX_CATALOG_CHARS + 4096, max_depth=4)
                kind = Kind(doc["kind"])
                tracks, issues = parse_metadata(doc["body"].encode(), kind=kind, collection=doc["collection"],
                                                source=doc["key"], extensions=self.extensions)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                logger.warning("ignoring the unreadable catalog cache file {}: {}", path, exc)
                continue
            if self.prefixes.get(kind) is None or not doc["key"].startswith(self.prefixes[kind]):
                continue   # a cache entry written under other prefixes
            out.append(_Collection(kind, doc["collection"], doc["key"], doc.get("etag"), tracks, issues, None))
        return out
