"""The web console's pages: / (a test device in the browser), /parents, /operator, and their files under /web/.
They hold no data; every response carries a strict Content-Security-Policy (no inline script)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from core.web.errors import ApiError

__all__ = ["Pages", "WEB_ROOT"]

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
PAGES = {"/": "index.html", "/parents": "parents.html", "/operator": "operator.html"}
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png",
          ".svg": "image/svg+xml", ".txt": "text/plain"}
_TEXT = (".html", ".js", ".css", ".txt")


class Pages:
    def __init__(self, *, enabled: bool, root: Path = WEB_ROOT) -> None:
        self.enabled = enabled
        self.files: dict[str, Path] = {}
        if root.is_dir():
            self.files = {p.name: p for p in root.glob("*") if p.is_file() and p.suffix in _TYPES}
            self.files.update({f"img/{p.name}": p for p in (root / "img").glob("*") if p.suffix in _TYPES})

    async def page(self, request: web.Request) -> web.Response:
        if not self.enabled:
            raise ApiError(404, "the web console is off; set web.enabled: true in config.yaml")
        path = self.files.get(PAGES.get(request.path) or request.match_info.get("name", ""))
        if path is None:
            raise ApiError(404, "no such page")
        return web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix],
                            charset="utf-8" if path.suffix in _TEXT else None)
