"""Per-device state that outlives a connection: what is playing and where, the queue, modes, timer, history,
favourites (`state`), where it is kept (`store`: SQLite by default, Redis for a fleet), and which connection owns a
device right now (`directory`)."""
