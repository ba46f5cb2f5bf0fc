"""One device session: three sans-I/O machines (conversation.py, playback.py, house.py) joined by the core
(core.py, events.py, answer.py, tools.py), and the asyncio shell around them (connection.py, link.py)."""
