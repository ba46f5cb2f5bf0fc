"""One module per language, each defining `LANGUAGE` (a `core.lang.registry.Language`); the registry loads the
codes in `registry.BUILT_IN`."""
