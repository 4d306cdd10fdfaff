"""Learns a WordPiece vocabulary from a corpus (keras-hub / tf-text vocabulary tools)."""
from __future__ import annotations

import os

from electra_tf.tokenization import SPECIAL_TOKENS

# BERT's layout of the special tokens: [PAD] first, then [UNK] [CLS] [SEP] [MASK].
RESERVED = list(SPECIAL_TOKENS)


def build_vocab(files: list[str], size: int, output_file: str, lower_case: bool = True,
                strip_accents: bool = True) -> str:
    import keras_hub
    import tensorflow as tf

    if size <= len(RESERVED) + 100:
        raise ValueError(f"--build_vocab={size} is too small: use a few thousand or more")
    lines = tf.data.TextLineDataset(files).filter(lambda s: tf.strings.length(s) > 0)
    keras_hub.tokenizers.compute_word_piece_vocabulary(
        lines.batch(1024), vocabulary_size=size, vocabulary_output_file=output_file,
        lowercase=lower_case, strip_accents=strip_accents, reserved_tokens=RESERVED)
    if not os.path.isfile(output_file):
        raise RuntimeError(f"vocabulary learning wrote no {output_file}")
    return output_file
