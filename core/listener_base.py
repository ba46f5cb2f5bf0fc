"""Per-connection voice input interface (uplink Opus -> VAD -> ASR -> text), and the no-op default.

The session owns one VoiceInput per connection. It forwards `listen` state changes and every uplink Opus
packet; the VoiceInput calls back when an utterance has been transcribed or when the child starts talking
over playback (realtime mode barge-in).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from core.protocol.messages import ListenMode, ListenState

__all__ = ["VoiceCallbacks", "VoiceInput", "VoiceInputFactory", "NullVoiceInput", "NullVoiceInputFactory"]


@dataclass(frozen=True, slots=True)
class VoiceCallbacks:
    on_utterance: Callable[[str], Awaitable[None]]   # transcribed text ("" = heard speech but understood nothing)
    on_barge_in: Callable[[], Awaitable[None]]       # speech detected while the device is playing (realtime mode)
    is_speaking: Callable[[], bool]                  # True while a turn is playing on the device
    # The recogniser had no time for this utterance (other devices' speech queued ahead): say busy, not "pardon".
    on_busy: Callable[[], Awaitable[None]] | None = None


class VoiceInput(Protocol):
    def listen(self, state: ListenState, mode: ListenMode | None) -> None:
        """`listen` message: state start/stop/detect, mode auto/manual/realtime."""

    def feed(self, opus_packet: bytes) -> None:
        """One uplink Opus packet (header already stripped). Must return quickly; never raises."""

    async def aclose(self) -> None: ...


class VoiceInputFactory(Protocol):
    def open(self, callbacks: VoiceCallbacks, *, device_id: str) -> VoiceInput: ...


class NullVoiceInput:
    """Ignores audio: text requests only."""

    def listen(self, state: ListenState, mode: ListenMode | None) -> None:
        return None

    def feed(self, opus_packet: bytes) -> None:
        return None

    async def aclose(self) -> None:
        return None


class NullVoiceInputFactory:
    def open(self, callbacks: VoiceCallbacks, *, device_id: str) -> VoiceInput:
        return NullVoiceInput()
