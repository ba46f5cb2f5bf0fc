"""One device connection: the sans-I/O session core (`core.py`, `events.py`) and the asyncio shell around it
(`connection.py`)."""
from core.session.connection import Connection, SessionDeps
from core.session.core import SessionCore, SessionSettings
from core.session.events import SessionState

__all__ = ["Connection", "SessionDeps", "SessionCore", "SessionSettings", "SessionState"]
