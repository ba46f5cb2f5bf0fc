"""ContentService: the catalog, its periodic refresh, the matcher and playable sources, built from a Config."""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from core.audio.types import AudioError, AudioSource
from core.content.catalog import Catalog, ValidationReport
from core.content.matcher import MultilingualMatcher
from core.content.storage import LocalStorage, ObjectInfo, S3Storage, Storage, StorageError
from core.content.types import Kind, Track
from core.content.urls import UrlBuilder

if TYPE_CHECKING:
    from core.config import Config, ContentConfig, MatchingConfig

__all__ = ["ContentService"]


class ContentService:
    """Owns one storage backend, its catalog and (for S3) the URL builder; shared by every session."""

    def __init__(self, storage: Storage, content_cfg: ContentConfig, matching_cfg: MatchingConfig | None = None,
                 *, urls: UrlBuilder | None = None) -> None:
        self.storage = storage
        self.cfg = content_cfg
        self.matching_cfg = matching_cfg
        self.urls = urls
        # The catalog's S3 client (None for a local folder): the audio and phrase caches share entries through it.
        self.s3_client = storage.client if isinstance(storage, S3Storage) else None
        is_s3 = isinstance(storage, S3Storage)
        self.catalog = Catalog(
            storage,
            prefixes={Kind.MUSIC: content_cfg.s3.prefix_music, Kind.STORY: content_cfg.s3.prefix_stories},
            extensions=content_cfg.extensions,
            # A local folder is its own last good copy; only a remote store needs the disk cache.
            cache_dir=content_cfg.cache_dir if is_s3 and content_cfg.cache_dir else None,
        )
        self._matcher: MultilingualMatcher | None = None
        self._matcher_version = -1
        self._task: asyncio.Task[None] | None = None
        self._refresh_lock = asyncio.Lock()
        self._on_change: list[Callable[[], None]] = []
        self._layout_warned: list[str] = []

    @classmethod
    def from_config(cls, cfg: Config) -> ContentService:
        c = cfg.content
        if c.s3.bucket:
            s3 = S3Storage(c.s3)
            return cls(s3, c, cfg.matching, urls=UrlBuilder(c.s3, s3.client))
        root = Path(c.content_dir)
        from core.config import ContentConfig
        # Only the default folder gets the demo library: a mistyped folder must not quietly fill with demo songs.
        default = Path(ContentConfig().content_dir).resolve()
        if c.generate_demo and root.resolve() == default and (not root.is_dir() or not any(root.iterdir())):
            from core.content.demo import generate_demo

            logger.info("content folder {} is empty: generating the demo library", root)
            generate_demo(root)
        svc = cls(LocalStorage(root), c, cfg.matching)
        svc.check_local_files()
        return svc

    def check_local_files(self) -> None:
        """Open every entry's local file at load (and new or changed ones at each refresh) and skip those that do
        not play, as `catalog validate` would reject them: a child never hears "Now playing" for a broken file.
        Only for a local folder: a bucket's files would each cost a fetch."""
        storage = self.storage
        if not isinstance(storage, LocalStorage):
            return
        from core.content.audiocheck import local_file_problem

        def check(folder: str, key: str) -> str | None:
            return local_file_problem(storage.path_for(key), storage.path_for(folder))
        self.catalog.file_check = check

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        watching = isinstance(self.storage, LocalStorage) and self.cfg.watch_s > 0
        seen = await asyncio.to_thread(self._fingerprint) if watching else None
        await self.catalog.load()
        self._log_summary()
        self._warn_layout()
        if self.urls is not None and self.cfg.s3.url_mode == "auto":
            probe = self._probe_key()
            if probe:
                await asyncio.to_thread(self.urls.detect, probe)
        await self._rebuild_matcher_off_loop()
        if watching and self._task is None:
            self._task = asyncio.create_task(self._watch_loop(seen), name="catalog-watch")
        elif self.cfg.refresh_time_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._refresh_loop(), name="catalog-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.storage.close()

    async def refresh(self) -> bool:
        """Re-read changed catalogs now. Returns True when the tracks changed (the matcher is then rebuilt)."""
        async with self._refresh_lock:
            changed = await self.catalog.refresh()
        if changed:
            await self._rebuild_matcher_off_loop()
            self._log_summary()
            for callback in self._on_change:
                callback()
        return changed

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every refresh that changed the tracks (e.g. to update the ASR vocabulary)."""
        self._on_change.append(callback)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.refresh_time_s)
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - the loop must survive anything; the next period retries
                self.catalog.refresh_failures["error"] += 1
                logger.exception("catalog refresh failed; will retry in {} s", self.cfg.refresh_time_s)

    async def _watch_loop(self, seen: int | None) -> None:
        """A local folder: every `watch_s`, one stat per file of the collection folders; a change refreshes at once
        (a full refresh still runs every `refresh_time_s`)."""
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(self.cfg.watch_s)
            try:
                now = await asyncio.to_thread(self._fingerprint)
                due = self.cfg.refresh_time_s > 0 and time.monotonic() - last_refresh >= self.cfg.refresh_time_s
                if now != seen or due:
                    seen, last_refresh = now, time.monotonic()
                    await self.refresh()
                    self._warn_layout()
            except Exception:  # noqa: BLE001 - the loop must survive anything; the next period retries
                logger.exception("watching {} failed; will retry in {} s", self.storage.description, self.cfg.watch_s)

    def _fingerprint(self) -> int:
        """A hash of (name, mtime, size) of every file in the prefix folders and their collection folders."""
        assert isinstance(self.storage, LocalStorage)
        items: list[tuple[str, str, int, int]] = []
        for prefix in self.prefix_folders():
            for folder, entries in _stat_tree(self.storage.root / prefix, depth=1):
                items.extend((folder, name, mtime, size) for name, mtime, size in entries)
        return hash(tuple(sorted(items)))

    def prefix_folders(self) -> tuple[str, ...]:
        return tuple(self.catalog.prefixes[k] for k in Kind)

    def _shown_root(self) -> Path:
        """The folder as the operator named it (``demo-content``), else its absolute path."""
        assert isinstance(self.storage, LocalStorage)
        given = Path(self.cfg.content_dir)
        return given if given.resolve() == self.storage.root else self.storage.root

    def layout_issues(self) -> list[tuple[str, str]]:
        """(prefix folder, warning with the fix) for audio a local library holds where nothing serves it
        (``music/Lullaby.mp3``: not in a collection folder)."""
        if not isinstance(self.storage, LocalStorage):
            return []
        from core.content.layout import misplaced_audio
        root = self._shown_root()
        return [(m.folder, m.message(root))
                for m in misplaced_audio(self.storage.root, self.prefix_folders(), self.cfg.extensions)]

    def layout_warnings(self) -> list[str]:
        return [message for _folder, message in self.layout_issues()]

    def _warn_layout(self) -> None:
        warnings = self.layout_warnings()
        if warnings != self._layout_warned:          # once per change, not at every refresh
            self._layout_warned = warnings
            for w in warnings:
                logger.warning("{}", w)

    def empty_hint(self) -> str | None:
        """None when something can be played; else what is missing and the command that fixes it."""
        if self.tracks():
            return None
        from core.content.layout import APP, LAYOUT, empty_library_hint
        if not isinstance(self.storage, LocalStorage):
            return (f"catalog empty: no {LAYOUT.replace('*.mp3', 'metadata.json')} in {self.storage.description}; "
                    f"upload a library with `{APP} catalog upload DIR`")
        root = self._shown_root()
        if self.catalog.metadata_keys():
            return (f"catalog empty: no entry of {root} plays (files missing or not playable); see "
                    f"`{APP} catalog validate --content-dir {root}`")
        warnings = self.layout_warnings()
        why = warnings[0] if warnings else empty_library_hint(root, self.prefix_folders(), self.cfg.extensions)
        return f"catalog empty: {why}"

    def _log_summary(self) -> None:
        counts = {k.value: len(self.catalog.tracks(k)) for k in Kind}
        hint = self.empty_hint()
        if hint is not None:
            # audio outside collection folders has a warning of its own (_warn_layout): not said twice
            misplaced = bool(self.layout_warnings()) and not self.catalog.metadata_keys()
            logger.warning("catalog {} v{}: {}", self.storage.description, self.version,
                           "catalog empty: no collection folder holds audio" if misplaced else hint)
            return
        logger.info("catalog {} v{}: {} songs in {}, {} stories in {}", self.storage.description, self.version,
                    counts["music"], self.collections(Kind.MUSIC), counts["story"], self.collections(Kind.STORY))

    # ------------------------------------------------------------------ catalog queries

    @property
    def version(self) -> int:
        return self.catalog.version

    @property
    def from_cache(self) -> bool:
        return self.catalog.from_cache

    def tracks(self, kind: Kind | None = None) -> list[Track]:
        return self.catalog.tracks(kind)

    def collections(self, kind: Kind) -> list[str]:
        return self.catalog.collections(kind)

    def validation_report(self) -> ValidationReport:
        return self.catalog.report()

    @property
    def matcher(self) -> MultilingualMatcher:
        """A MultilingualMatcher over the current tracks. After a catalog change the previous matcher keeps
        answering until the new one is built (off the event loop), so a refresh never pauses requests."""
        if self._matcher is None:
            self._rebuild_matcher(strict=True)
        assert self._matcher is not None, "a strict rebuild raises or builds one"
        return self._matcher

    async def _rebuild_matcher_off_loop(self) -> None:
        # Indexing 100,000 entries takes seconds (transliteration); sessions keep using the old index meanwhile.
        await asyncio.to_thread(self._rebuild_matcher)

    def _rebuild_matcher(self, *, strict: bool = False) -> None:
        from core.config import MatchingConfig

        try:
            self._matcher = MultilingualMatcher(self.tracks(), self.matching_cfg or MatchingConfig())
        except Exception:
            if strict:
                raise
            # Keep the previous matcher: a bad rebuild must not take the catalog (or the server) down.
            logger.exception("rebuilding the matcher for catalog v{} failed; keeping the previous one", self.version)
            return
        self._matcher_version = self.version

    # ------------------------------------------------------------------ URLs and sources

    def object_key(self, track: Track) -> str:
        return self.catalog.object_key(track)

    def _probe_key(self) -> str | None:
        for t in self.tracks():
            key = self.object_key(t)
            if self.catalog.object_info(key) is not None:
                return key
        return next(iter(self.catalog.metadata_keys()), None)   # any metadata.json will do

    def _url_or_path(self, key: str) -> str:
        if self.urls is not None:
            return self.urls.url_for_key(key)
        assert isinstance(self.storage, LocalStorage)
        return str(self.storage.path_for(key))

    def url_of(self, prefix: str, folder: str, filename: str) -> str:
        """The streaming URL (or local path) of `prefix/folder/filename`; may block on the first `auto` probe."""
        return self._url_or_path("/".join(p for p in (prefix.strip("/"), folder, filename) if p))

    async def audio_source(self, track: Track) -> AudioSource:
        """Where to stream `track` from. Raises AudioError (log-safe) when the object is missing or unusable."""
        key = self.object_key(track)
        # S3: the last listing already holds the object's size and ETag, so a play needs no request before the
        # stream (a cached song even plays through an S3 outage). An object replaced since that listing plays
        # its old transcode until the next refresh; one deleted since answers 404 at fetch time. Local files
        # are stat-ed (microseconds), so an edit shows at once.
        info = self.catalog.object_info(key) if self.urls is not None else None
        if info is None:
            info = await self._head(track, key)
        refresh = None
        if self.urls is not None:
            urls = self.urls
            uri = await asyncio.to_thread(urls.url_for_key, key)
            if urls.signs:
                async def refresh_url() -> str:
                    return await asyncio.to_thread(urls.presigned_url, key, fresh=True)
                refresh = refresh_url
        else:
            uri = await asyncio.to_thread(self._url_or_path, key)
        return AudioSource(uri=uri, name=key, cache_key=self.storage.cache_key(key),
                           etag=info.etag if info else None, size=info.size if info else None, refresh_url=refresh)

    async def _head(self, track: Track, key: str) -> ObjectInfo | None:
        try:
            return await self.storage.head(key)
        except StorageError as exc:
            if exc.not_found or exc.code == "traversal":
                raise AudioError(f"{track.display_title!r} is in the catalog but its file is missing: {exc}") from None
            # Our credentials may not allow HEAD on a public object, or the store is flaky: use what the listing said.
            logger.warning("cannot HEAD {} ({}); streaming it anyway", key, exc)
            return self.catalog.object_info(key)


def _stat_tree(folder: Path, *, depth: int) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """(folder, [(file name, mtime_ns, size)]) for `folder` and its sub-folders `depth` levels down."""
    files: list[tuple[str, int, int]] = []
    subs: list[Path] = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                try:
                    if e.is_dir():
                        subs.append(Path(e.path))
                    else:
                        st = e.stat()
                        files.append((e.name, st.st_mtime_ns, st.st_size))
                except OSError:           # removed meanwhile, or a dangling symlink
                    continue
    except OSError:
        return []
    out = [(str(folder), files)]
    if depth > 0:
        for sub in subs:
            out.extend(_stat_tree(sub, depth=depth - 1))
    return out
