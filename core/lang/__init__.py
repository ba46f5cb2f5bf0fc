"""Language knowledge shared by the matcher, the intent recognisers and the speech side.

`registry` (one record per language: what every other part reads about a language; `languages/` holds the
records), `request` (one Request per utterance, read once), `vocab` (request words per language), `text`
(normalisation, phonetic folding, request analysis), `script` (the one script/language detector), `replies`
(spoken lines per language), `wake` (wake-word handling). Standard library and transliteration libraries only:
everything above may import it, it imports nothing of the project's but itself.
"""
