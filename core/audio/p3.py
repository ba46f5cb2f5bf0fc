"""The Xiaozhi `.p3` record format: concatenated `[type u8=0][reserved u8=0][len u16 BE][len bytes Opus]`.

No file header; each record is one 60 ms Opus packet (16 kHz mono in files made by the firmware tools). A record is
byte-identical to a protocol-v3 binary frame, so records can be forwarded as-is. The transcode-once cache stores its
entries in this format too (at whatever rate the pipeline encodes).
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["P3_SAMPLE_RATE", "P3FormatError", "P3Parser", "pack_record", "pack_records", "iter_records", "read_p3"]

P3_SAMPLE_RATE = 16000
_HEADER = struct.Struct(">BBH")
_MAX_PAYLOAD = 0xFFFF


class P3FormatError(ValueError):
    """The bytes are not a well-formed p3 stream (bad type byte or a truncated record)."""


def pack_record(packet: bytes) -> bytes:
    if len(packet) > _MAX_PAYLOAD:
        raise P3FormatError(f"Opus packet of {len(packet)} bytes does not fit a p3 record")
    return _HEADER.pack(0, 0, len(packet)) + packet


def pack_records(packets: Iterable[bytes]) -> bytes:
    return b"".join(pack_record(p) for p in packets)


class P3Parser:
    """Incremental parser: feed arbitrary byte chunks, get whole Opus packets back."""

    __slots__ = ("_buf", "records")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.records = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        buf += chunk
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            kind, _reserved, size = _HEADER.unpack_from(buf, pos)
            if kind != 0:
                raise P3FormatError(f"record {self.records + len(out)}: type byte {kind} is not 0 (not a p3 stream)")
            if n - pos - 4 < size:
                break
            out.append(bytes(buf[pos + 4:pos + 4 + size]))
            pos += 4 + size
        del buf[:pos]
        self.records += len(out)
        return out

    def finish(self) -> None:
        """Call at end of input: leftover bytes mean the stream was cut inside a record."""
        if self._buf:
            raise P3FormatError(f"truncated p3 stream: {len(self._buf)} bytes after record {self.records}")


def iter_records(data: bytes) -> Iterator[bytes]:
    parser = P3Parser()
    yield from parser.feed(data)
    parser.finish()


def read_p3(path: str | Path) -> list[bytes]:
    return list(iter_records(Path(path).read_bytes()))

