"""`python app.py catalog {validate,scan,upload,list}`: build, check and publish metadata.json catalogs."""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core.cli import USAGE_ERROR, folder_problem
from core.content.layout import APP

__all__ = ["register", "run", "romanize", "scan_dir", "scan_entry"]


def register(sub: Any) -> None:
    p = sub.add_parser("catalog", help="validate, scan, upload or list metadata.json catalogs",
                       description="Tools for the content catalog: <prefix>/<Collection>/metadata.json files.")
    p.add_argument("--config", default=None, help="config file (default: config.yaml next to app.py if present, "
                                                  "else built-in defaults; env overrides apply)")
    catsub = p.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", required=True)
    # --config is accepted before or after the subcommand; SUPPRESS keeps a subcommand from erasing it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="config.yaml to read")

    v = catsub.add_parser("validate", parents=[common], help="report catalog problems; exit status 1 on errors")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--content-dir", metavar="DIR", help="check a local folder laid out like the bucket")
    src.add_argument("--s3", action="store_true", help="check the configured bucket (S3_BUCKET)")
    v.add_argument("--no-probe", action="store_true",
                   help="do not open the audio files (by default each one's first second is decoded with ffmpeg)")
    v.add_argument("--json", action="store_true", help="print the report as one JSON object (for scripts)")
    v.set_defaults(func=run)

    s = catsub.add_parser("scan", parents=[common],
                          help="create or update each folder's metadata.json from its audio files")
    s.add_argument("dir", metavar="DIR", help="a library (the folder holding music/ and stories/), or its music/ or "
                                              "stories/ folder, or one collection folder")
    s.add_argument("--no-duration", action="store_true", help="do not probe durations with ffprobe")
    s.add_argument("--no-probe", action="store_true",
                   help="do not open the audio files (by default the start of each new file is decoded, and a "
                        "file that does not play is not added)")
    s.add_argument("--prune", action="store_true", help="remove entries whose audio file is gone")
    s.set_defaults(func=run)

    u = catsub.add_parser("upload", parents=[common],
                          help="sync a local catalog folder to the bucket, skipping unchanged objects")
    u.add_argument("dir", metavar="DIR", help="local folder with music/ and stories/")
    u.add_argument("--bucket", help="bucket name (default: S3_BUCKET / content.s3.bucket)")
    u.add_argument("--create-bucket", action="store_true", help="create the bucket if it does not exist")
    u.add_argument("--public", action="store_true",
                   help="bucket policy: anonymous GetObject on the music and stories prefixes only")
    u.add_argument("--delete", action="store_true",
                   help="also delete objects under the music/stories prefixes that the folder no longer has "
                        "(the bucket mirrors the folder)")
    u.add_argument("--dry-run", action="store_true",
                   help="show what would be uploaded (and deleted); works before the bucket exists")
    u.add_argument("--no-progress", action="store_true", help="no progress bar")
    u.set_defaults(func=run)

    ls = catsub.add_parser("list", parents=[common], help="show collections and entry counts")
    src = ls.add_mutually_exclusive_group()
    src.add_argument("--content-dir", metavar="DIR", help="a local folder (default: the configured source)")
    src.add_argument("--s3", action="store_true", help="the configured bucket")
    ls.set_defaults(func=run)

    try:
        from core.cli import transcode
        transcode.add_parser(catsub)
    except ImportError:
        pass
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.cli import load_cli_config, setup_command_logging
    from core.config import ConfigError
    from core.content.storage import StorageError

    try:
        cfg = load_cli_config(args.config)
        setup_command_logging(cfg)          # the server's log format and level, for every catalog command
        cmd = args.catalog_command
        if cmd == "scan":
            return _scan(args, cfg)
        if cmd == "upload":
            return _upload(args, cfg)
        return asyncio.run(_inspect(args, cfg, validate=cmd == "validate"))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"storage error: {exc}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------- validate / list


def _service(args: argparse.Namespace, cfg: Any) -> Any:
    import dataclasses

    from core.content.service import ContentService
    from core.content.storage import LocalStorage, S3Storage
    from core.content.urls import UrlBuilder

    c = cfg.content
    if getattr(args, "s3", False) or (c.s3.bucket and not getattr(args, "content_dir", None)):
        if not c.s3.bucket:
            raise SystemExit("--s3 needs a bucket: set S3_BUCKET (content.s3.bucket)")
        s3 = S3Storage(c.s3)
        # A report of what the bucket holds now, not of the server's disk cache.
        return ContentService(s3, dataclasses.replace(c, cache_dir=""), cfg.matching, urls=UrlBuilder(c.s3, s3.client))
    root = Path(args.content_dir or c.content_dir)
    problem = folder_problem(root, "--content-dir" if args.content_dir else "content.content_dir (or --content-dir)")
    if problem:
        print(problem, file=sys.stderr)
        raise SystemExit(USAGE_ERROR)
    return ContentService(LocalStorage(root), c, cfg.matching)


async def _inspect(args: argparse.Namespace, cfg: Any, *, validate: bool) -> int:
    from core.content.types import Kind

    svc = _service(args, cfg)
    try:
        await svc.catalog.load()
        report = svc.validation_report()
        if not validate:
            for kind in Kind:
                for name in svc.collections(kind):
                    n = sum(1 for t in svc.tracks(kind) if t.collection == name)
                    print(f"{kind.value:6} {name:20} {n:5} entries")
            print(f"{report.collections} collections, {report.entries} entries in {svc.storage.description}")
            return 0 if report.collections else 1
        issues = list(report.issues) + await _library_issues(svc, probe=not getattr(args, "no_probe", False))
        if not getattr(args, "no_probe", False):
            from core.content.audiocheck import check_audio_files
            issues += await check_audio_files(svc)
        return _report(args, svc.storage.description, report.collections, report.entries, issues,
                       _layout_hint(svc, args, cfg) if not report.collections else None)
    finally:
        await svc.storage.close()


def _layout_hint(svc: Any, args: argparse.Namespace, cfg: Any) -> str | None:
    """For a local folder with no catalog at all: why (flat audio, the music/ folder itself, a library one level
    down, ...) and the exact command; None when it is simply not scanned yet (the default hint says so)."""
    from core.content.layout import empty_library_hint
    from core.content.storage import LocalStorage

    if not isinstance(svc.storage, LocalStorage) or svc.catalog.bare_folders() or svc.layout_warnings():
        return None
    root = Path(getattr(args, "content_dir", None) or cfg.content.content_dir)
    return f"no metadata.json found: {empty_library_hint(root, svc.prefix_folders(), cfg.content.extensions)}"


async def _library_issues(svc: Any, *, probe: bool = False) -> list[Any]:
    """What the server would silently ignore: audio no entry names, folders of audio without a metadata.json,
    audio directly in music/ or stories/ (not in a collection folder)."""
    from core.content.catalog import Issue
    from core.content.storage import LocalStorage, StorageError

    cat = svc.catalog
    exts = tuple(e.lower() for e in cat.extensions)
    out: list[Issue] = [Issue("warning", folder, message) for folder, message in svc.layout_issues()]
    local = isinstance(svc.storage, LocalStorage)
    for key, files in sorted(cat.unlisted_files().items()):
        for f in files:
            why = None
            if probe and local:          # scan leaves out what does not play: say so, not "run scan"
                from core.content.audiocheck import local_file_problem
                path = svc.storage.path_for(f"{key.rsplit('/', 1)[0]}/{f}")
                why = await asyncio.to_thread(local_file_problem, path, path.parent)
            if why is not None:
                out.append(Issue("warning", key, f"{why}; it is not in metadata.json (replace the file, or remove "
                                                 "it)"))
            elif "/" in f:
                out.append(Issue("warning", key, f"audio file {f!r} is in a sub-folder, which `catalog scan` does "
                                                 "not catalog: move it into the collection folder, then scan"))
            else:
                out.append(Issue("warning", key, f"audio file {f!r} is not in metadata.json (run `catalog scan` to "
                                                 "add it)"))
    for folder in cat.bare_folders():
        try:
            objects = await svc.storage.list_objects(folder)
        except StorageError as exc:
            out.append(Issue("warning", folder, f"cannot list it: {exc}"))
            continue
        audio = [k for k in objects if k.lower().endswith(exts)]
        if audio:
            out.append(Issue("warning", folder, f"{len(audio)} audio file(s) but no metadata.json; nothing in this "
                                                "folder is served (run `catalog scan`)"))
    return out


def _report(args: argparse.Namespace, where: str, collections: int, entries: int, issues: list[Any],
            layout_hint: str | None = None) -> int:
    """A table of issues and a summary on stdout (logs stay on stderr), or one JSON object with --json."""
    errors = sum(1 for i in issues if i.severity == "error")
    none = collections == 0
    target = getattr(args, "content_dir", None) or "DIR"
    hint = f"no metadata.json found; run `{APP} catalog scan {target}` to create them" if none else ""
    hint = layout_hint or hint
    code = 0 if not errors and not none else 1
    if getattr(args, "json", False):
        print(json.dumps({"source": where, "collections": collections, "entries": entries, "errors": errors,
                          "warnings": len(issues) - errors, "ok": code == 0, "hint": hint or None,
                          "issues": [{"severity": i.severity, "source": i.source, "title": i.title or None,
                                      "message": i.message} for i in issues]}, ensure_ascii=False))
        return code
    for issue in issues:
        print(issue)
    print(f"{where}: {collections} collections, {entries} entries, {errors} errors, {len(issues) - errors} warnings")
    if hint:
        print(hint)
    return code


# --------------------------------------------------------------------------- scan

_ROMAN_FIX = str.maketrans({"M": "n", "~": "", ".": "", "^": "", "_": ""})


def romanize(text: str) -> str:
    """A readable Latin form of a native-script title ("हनुमान चालीसा" -> "Hanuman Chalisa")."""
    if text.isascii():
        return text.strip()
    try:
        from indic_transliteration import sanscript
        from indic_transliteration.detect import detect

        scheme = detect(text)
        if scheme in (sanscript.DEVANAGARI, sanscript.TELUGU, sanscript.KANNADA, sanscript.TAMIL, sanscript.BENGALI,
                      sanscript.GUJARATI, sanscript.GURMUKHI, sanscript.MALAYALAM, sanscript.ORIYA):
            out = sanscript.transliterate(text, scheme, sanscript.OPTITRANS)
            if scheme == sanscript.DEVANAGARI:
                # Hindi drops a word-final short inherent vowel ("hanumAna" -> "hanumAn"), keeps long ones ("chAlIsA").
                out = re.sub(r"(?<=[^aAeEiIuUoO\s])a\b", "", out)
            out = out.translate(_ROMAN_FIX).lower()
            from anyascii import anyascii
            return " ".join(w.capitalize() for w in anyascii(out).split())
    except Exception:  # noqa: BLE001 - fall back to plain transliteration below
        pass
    from anyascii import anyascii
    return " ".join(w.capitalize() if not w[:1].isupper() else w for w in anyascii(text).split())


def _duration(path: Path) -> float | None:
    try:
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                              str(path)], capture_output=True, text=True, timeout=30, check=False)
        return round(float(out.stdout.strip()), 2)
    except (ValueError, OSError, subprocess.TimeoutExpired):
        return None


def scan_entry(path: Path, collection: str, series: Collection[str] = ()) -> tuple[str, dict[str, Any]]:
    """A new entry for one audio file: the title is the file name without its track number (words joined by "_"
    are spaced: it is said aloud); `romanized` and `alternatives` are derived (short forms without parentheticals,
    subtitles or a series prefix; `series` holds the heads other files of the folder share)."""
    from core.content.titles import strip_track_number, title_variants

    title = strip_track_number(path.stem)
    if "_" in title and " " not in title.strip():
        title = " ".join(title.replace("_", " ").split())
    alternatives = title_variants(title, collection, series)
    roman = romanize(title)
    if roman != title:
        alternatives += [r for r in (romanize(v) for v in alternatives) if r not in alternatives]
    return title, {"romanized": roman, "filename": path.name, "alternatives": alternatives}


def scan_dir(root: Path, extensions: tuple[str, ...], *, durations: bool = True, prune: bool = False,
             probe: bool = False, skip: Callable[[Path], str | None] | None = None) -> list[str]:
    """Update metadata.json in every folder under `root` that holds audio files: new files get entries (existing
    entries are never rewritten); with `prune`, entries whose file is gone are removed; with `probe`, a new file
    that does not play (catalog validate's rule) is not added. `skip(folder)` gives why a folder is left alone
    (e.g. it is not a collection folder). Returns summary lines ("WARNING ..." for what needs the user)."""
    exts = tuple(e.lower() for e in extensions)
    lines: list[str] = []
    folders = sorted({p.parent for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts
                      and not p.name.startswith(".")})
    if prune:       # a folder whose audio is all gone still has a catalog to prune
        folders = sorted(set(folders) | {m.parent for m in root.rglob("metadata.json")})
    for folder in folders:
        why_skip = skip(folder) if skip is not None else None
        if why_skip is not None:
            lines.append(f"WARNING {why_skip}")
            continue
        meta_path = folder / "metadata.json"
        data: dict[str, Any] = {}
        if meta_path.exists():
            try:
                from core.content.catalog import MAX_CATALOG_CHARS, MAX_CATALOG_DEPTH
                from core.utils import safejson
                data = safejson.loads(meta_path.read_bytes(), max_chars=MAX_CATALOG_CHARS, max_depth=MAX_CATALOG_DEPTH)
            except (ValueError, OSError) as exc:
                lines.append(f"SKIPPED {meta_path}: cannot read it ({exc}); fix or remove it, then scan again")
                continue
            if not isinstance(data, dict):
                lines.append(f"SKIPPED {meta_path}: the top level is not an object")
                continue
        known = {e.get("filename") for e in data.values() if isinstance(e, dict)}
        audio = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts
                       and not p.name.startswith("."))
        new = [p for p in audio if p.name not in known]
        from core.content.titles import series_heads
        heads = series_heads(p.stem for p in audio)          # "Jataka Tales - ...", "CoComelon - ..."
        need_dur = [p for p in new] if durations else []
        with ThreadPoolExecutor(max_workers=4) as pool:
            durs = dict(zip(need_dur, pool.map(_duration, need_dur), strict=True))
            broken = dict(zip(new, pool.map(_unplayable, new), strict=True)) if probe else {}
        rel = folder.relative_to(root) if folder != root else Path(".")
        for p, why in sorted((p, w) for p, w in broken.items() if w):
            lines.append(f"WARNING {rel / p.name}{why}; not added (replace the file, or remove it)")
        new = [p for p in new if not broken.get(p)]
        for p in new:
            title, entry = scan_entry(p, folder.name, heads)
            base, n = title, 2
            while title in data:
                title, n = f"{base} ({n})", n + 1
            if durs.get(p) is not None:
                entry["duration"] = durs[p]
            data[title] = entry
        gone = sorted(t for t, e in data.items() if isinstance(e, dict) and isinstance(e.get("filename"), str)
                      and not (folder / e["filename"]).exists())
        if prune:
            for t in gone:
                del data[t]
        if new or (prune and gone) or not meta_path.exists():
            tmp = meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            tmp.replace(meta_path)
        names = ", ".join(repr(data.get(t, {}).get("filename") if not prune else t) for t in gone[:5]) \
            + (" ..." if len(gone) > 5 else "")
        line = f"{rel}: {len(new)} added, {len(data) - len(new)} kept"
        if gone and prune:
            line += f", {len(gone)} removed (file gone): {names}"
        elif gone:
            line += f", {len(gone)} entries whose file is missing: {names} (scan --prune removes them)"
        lines.append(line)
    if not folders:
        lines.append(f"no audio files ({', '.join(exts)}) under {root}")
    return lines


def _unplayable(path: Path) -> str | None:
    """Why a new file is left out of its catalog ("is not a playable audio file (...)"), or None."""
    from core.content.audiocheck import local_file_problem
    why = local_file_problem(path, path.parent)
    return None if why is None else why.removeprefix(f"audio file {path.name!r}")


def _scan(args: argparse.Namespace, cfg: Any) -> int:
    from core.content.layout import LAYOUT, empty_library_hint, library_root_of, misplaced_audio

    root = Path(args.dir)
    problem = folder_problem(root, "DIR", scan_hint=False)
    if problem:
        print(problem, file=sys.stderr)
        return USAGE_ERROR
    exts = cfg.content.extensions
    prefixes = tuple(p.strip("/") for p in (cfg.content.s3.prefix_music, cfg.content.s3.prefix_stories)
                     if p.strip("/"))
    # Catalogs are written only where a server reads them: <library>/<prefix>/<Collection>/metadata.json.
    library = root if any((root / p).is_dir() for p in prefixes) else library_root_of(root, prefixes)
    if library is None:
        hint = empty_library_hint(root, prefixes, exts, scanning=True)
        print(f"{root} is not a library (nothing written): {hint}\n"
              f"A library is a folder holding {LAYOUT}; scan that folder.", file=sys.stderr)
        return 1
    collections = {(library / p).resolve() for p in prefixes}
    lib_abs = library.resolve()
    misplaced = {(library / m.folder).resolve(): m.message(library) for m in misplaced_audio(library, prefixes, exts)}

    def skip(folder: Path) -> str | None:
        f = folder.resolve()
        if f in misplaced:
            return misplaced[f]
        if f.parent in collections:
            return None
        if f == lib_abs:
            return (f"audio directly in {library} is not served: move it into {library}/{prefixes[0]}/<Collection>/"
                    f", then scan again")
        kinds = " or ".join(f"{p}/<Collection>/" for p in prefixes)
        return (f"{folder} is not a collection folder ({kinds}, directly); its audio will not be served: move the "
                "files into a collection folder and scan again")

    lines = scan_dir(root, exts, durations=not args.no_duration, prune=args.prune, probe=not args.no_probe,
                     skip=skip)
    print("\n".join(lines))
    if library != root:
        print(f"scanned {root}, a part of the library at {library}: "
              f"next `{APP} catalog validate --content-dir {library}`")
    return 1 if any(line.startswith("SKIPPED") for line in lines) else 0


# --------------------------------------------------------------------------- upload


def _upload(args: argparse.Namespace, cfg: Any) -> int:
    import dataclasses

    from core.content.storage import StorageError, make_s3_client
    from core.content.upload import ensure_bucket, make_public, sync_dir

    s3 = cfg.content.s3
    if args.bucket:
        s3 = dataclasses.replace(s3, bucket=args.bucket)
    if not s3.bucket:
        print("upload needs a bucket: pass --bucket or set S3_BUCKET", file=sys.stderr)
        return 2
    root = Path(args.dir)
    problem = folder_problem(root, "DIR")
    if problem:
        print(problem, file=sys.stderr)
        return USAGE_ERROR
    client = make_s3_client(s3)
    if args.create_bucket and not args.dry_run:
        ensure_bucket(client, s3.bucket, s3.region)
    if args.public and not args.dry_run:
        make_public(client, s3.bucket, (s3.prefix_music, s3.prefix_stories))
    try:
        summary = sync_dir(client, s3.bucket, root, {"music": s3.prefix_music, "stories": s3.prefix_stories},
                           progress=not args.no_progress and sys.stderr.isatty(), dry_run=args.dry_run,
                           delete=args.delete)
    except StorageError as exc:
        if exc.code == "NoSuchBucket":
            print(f"storage error: {exc}; pass --create-bucket to create it", file=sys.stderr)
            return 1
        raise
    where = s3.endpoint_url or s3.region
    if summary.bucket_missing:
        print(f"s3://{s3.bucket} does not exist yet; "
              + ("--create-bucket would create it" if args.create_bucket else "pass --create-bucket to create it"))
    print(f"s3://{s3.bucket} ({where}): {'would have ' if args.dry_run else ''}{summary}")
    for line in summary.failed:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if summary.failed else 0
