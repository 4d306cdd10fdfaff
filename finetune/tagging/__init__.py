"""Token classification (named entities and other per-word tags) on CoNLL-style files."""
