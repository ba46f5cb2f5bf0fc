"""Scripted devices that connect exactly as the firmware does, for tests, benches and `app.py client`."""
