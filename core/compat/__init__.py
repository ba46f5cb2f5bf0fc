"""The customer's seed API (docs: ../seed-design.md), kept for plugins and tools written against it. The server
itself never calls it: it streams (core/audio/pipeline.py)."""
