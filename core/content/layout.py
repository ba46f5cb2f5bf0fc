"""How a local library must be laid out, and what to say when it is not.

The server reads ``<root>/music/<Collection>/metadata.json`` and ``<root>/stories/<Collection>/metadata.json`` only
(the prefixes are configurable). Audio anywhere else is served by nothing, so `catalog scan`, `catalog validate` and
the server name the misplaced files and the command that fixes them, instead of an empty catalog with no reason.
Only local folders are looked at here: every check is a few directory listings.
"""
from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Misplaced", "misplaced_audio", "empty_library_hint", "library_root_of", "LAYOUT", "APP"]



def _app_command() -> str:
    """How the hints write a command: with the project's .venv when this process runs from it (Debian has no plain
    `python`, and a system python lacks the packages), else `python app.py` (a container, an activated env)."""
    venv = Path(__file__).resolve().parents[2] / ".venv"
    try:
        if Path(sys.prefix).resolve() == venv.resolve():
            return ".venv/bin/python app.py"
    except OSError:
        pass
    return "python app.py"


APP = _app_command()
LAYOUT = "music/<Collection>/*.mp3 and stories/<Collection>/*.mp3"
_DEPTH = 4           # how deep to look for a library a folder holds one or two levels down


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _audio_in(folder: Path, exts: tuple[str, ...]) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.name.lower().endswith(exts)
                          and e.is_file())
    except OSError:
        return []


def _subdirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(Path(e.path) for e in it if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return []


@dataclass(frozen=True, slots=True)
class Misplaced:
    """Audio files directly in a prefix folder (``music/Lullaby.mp3``): not in a collection, so never served."""
    folder: str                 # the prefix folder, relative to the root ("music")
    files: tuple[str, ...]      # file names in it

    def message(self, root: Path) -> str:
        first = f"{self.folder}/{self.files[0]}"
        more = f" (nor {_n(len(self.files) - 1, 'more audio file')} there)" if len(self.files) > 1 else ""
        example = f"{self.folder}/Songs" if self.folder.rsplit("/", 1)[-1] == "music" else f"{self.folder}/Stories"
        return (f"{first} is not in a collection folder; it will not be served{more}. Move it into "
                f"{self.folder}/<Collection>/ (e.g. `mkdir -p {_q(root / example)} && mv {_q(root / first)} "
                f"{_q(root / example)}/`), then run `{APP} catalog scan {_q(root)}`")


def misplaced_audio(root: Path, prefixes: tuple[str, ...], extensions: tuple[str, ...]) -> list[Misplaced]:
    """Audio files directly in `root/<prefix>/` (a collection is one folder below the prefix)."""
    exts = tuple(e.lower() for e in extensions)
    out = []
    for prefix in prefixes:
        files = _audio_in(root / prefix, exts) if prefix else []
        if files:
            out.append(Misplaced(prefix, tuple(files)))
    return out


def _strip(folder: Path, prefix: str) -> Path | None:
    parts = Path(prefix).parts
    if parts and folder.parts[-len(parts):] == parts and len(folder.parts) > len(parts):
        return Path(*folder.parts[:-len(parts)])
    return None


def library_root_of(folder: Path, prefixes: tuple[str, ...]) -> Path | None:
    """The library root when `folder` is one of its prefix folders (``library/music``) or one of its collection
    folders (``library/music/Rhymes``); None otherwise."""
    for prefix in (p for p in prefixes if p):
        lib = _strip(folder, prefix)
        if lib is None:
            lib = _strip(folder.parent, prefix)
        if lib is not None:
            return lib
    return None


def _libraries_below(root: Path, prefixes: tuple[str, ...]) -> list[Path]:
    """Folders under `root` (not `root` itself) that hold `<prefix>/<Collection>/metadata.json`."""
    found: list[Path] = []
    for dirpath, dirs, files in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < _DEPTH else []
        if "metadata.json" in files:
            here = Path(dirpath)
            lib = next((r for p in prefixes if p and (r := _strip(here.parent, p)) is not None), None)
            if lib is not None and lib != root and lib not in found and (root in lib.parents):
                found.append(lib)
    return found


def empty_library_hint(root: Path, prefixes: tuple[str, ...], extensions: tuple[str, ...], *,
                       scanning: bool = False) -> str:
    """Why `root` serves nothing and the exact command that fixes it (for a library with no collection); when
    `scanning`, the command is a scan of the right folder rather than a `--content-dir`."""

    def use(lib: Path) -> str:
        return f"run `{APP} catalog scan {_q(lib)}`" if scanning else f"pass `--content-dir {_q(lib)}`"

    exts = tuple(e.lower() for e in extensions)
    names = [p for p in prefixes if p]
    music = names[0] if names else "music"
    lib = library_root_of(root, tuple(names))
    if lib is not None and any(_strip(root, p) == lib for p in names):
        return (f"{root} is the {root.name}/ folder of a library, not the library: {use(lib)} "
                f"(the server reads {LAYOUT} under it)")
    if lib is not None and (_audio_in(root, exts) or (root / "metadata.json").exists()):
        return (f"{root} is one collection of a library: {use(lib)} "
                f"(the server reads {LAYOUT} under it)")
    below = _libraries_below(root, tuple(names))
    if below:
        return f"no {LAYOUT} directly under {root}, but {below[0]} has them: {use(below[0])}"
    flat = _audio_in(root, exts)
    has_prefix = any((root / p).is_dir() for p in names)
    if flat or (root / "metadata.json").exists():
        what = f"{_n(len(flat), 'audio file')} directly in {root}" if flat else f"{root / 'metadata.json'}"
        return (f"{what}: the server reads only {LAYOUT}. Put them in a collection folder: "
                f"`mkdir -p {_q(root / music / 'Songs')} && mv {_q(root)}/*.mp3 {_q(root / music / 'Songs')}/ "
                f"&& {APP} catalog scan {_q(root)}`")
    folders = [d for d in _subdirs(root) if d.name not in names and _audio_in(d, exts)]
    if folders and not has_prefix:
        shown = ", ".join(d.name for d in folders[:3]) + (" ..." if len(folders) > 3 else "")
        return (f"{root} has folders of audio ({shown}) but no {music}/ or stories/ folder: the server reads only "
                f"{LAYOUT}. Move them: `mkdir -p {_q(root / music)} && mv {_q(folders[0])} {_q(root / music)}/` "
                f"(and the others), then `{APP} catalog scan {_q(root)}`")
    return (f"no {music}/<Collection>/metadata.json under {root}; put audio in {root}/{music}/<Collection>/ (or "
            f"stories/<Collection>/) and run `{APP} catalog scan {_q(root)}`")
