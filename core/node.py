"""One server node: the runtime, the device WebSocket server and the HTTP API, started and stopped together."""
from __future__ import annotations

from dataclasses import dataclass

from core.config import Config
from core.http_api import HttpApi, build_http_app
from core.runtime import Runtime
from core.server import DeviceServer

__all__ = ["Node"]


@dataclass(slots=True)
class Node:
    rt: Runtime
    ws: DeviceServer
    http: HttpApi
    ws_port: int = 0
    http_port: int = 0

    @classmethod
    async def start(cls, cfg: Config, *, reuse_port: bool = False) -> Node:
        rt = await Runtime.create(cfg)
        ws = DeviceServer(rt)
        node = cls(rt, ws, HttpApi(build_http_app(rt, ws_port=lambda: node.ws_port,
                                                  session_count=lambda: len(ws.sessions))))
        try:
            node.ws_port = await ws.start(cfg.server.host, cfg.server.port, reuse_port=reuse_port)
            node.http_port = await node.http.start(cfg.server.host, cfg.server.http_port, reuse_port=reuse_port)
        except BaseException:
            await node.close()
            raise
        return node

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()
        await self.rt.close()
