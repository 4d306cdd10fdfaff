"""Learns a WordPiece vocabulary from a corpus (keras-hub / tf-text vocabulary tools)."""
from __future__ import annotations

import os

from electra_tf.tokenization import SPECIAL_TOKENS

# BERT's layout of the special tokens: [PAD] first, then [UNK] [CLS] [SEP] [MASK].
RESERVED = list(SPECIAL_TOKENS)


def build_vocab(files: list[str], size: int, output_file: str, lower_case: bool = True,
                strip_accents: bool = True, encoding_errors: str = "auto") -> str:
    """Learns `size` WordPieces from the non-blank lines of `files`, decoded as the records
    are (prep's encoding policy: a few stray non-UTF-8 bytes are replaced, more are an
    error), and writes them to `output_file`."""
    import keras_hub
    import tensorflow as tf

    from electra_tf.data import prep

    if size <= len(RESERVED) + 100:
        raise ValueError(f"--build_vocab={size} is too small: use a few thousand or more")

    units = [prep.Unit(path, 0, os.path.getsize(path)) for path in files]
    for unit in units:  # here, so that a bad file is a DataError, not an error inside tf.data
        prep._read_lines(unit, encoding_errors)

    checked = "ignore" if encoding_errors == "ignore" else "replace"  # as decoded above

    def read():
        for unit in units:
            yield from (line for line in prep._read_lines(unit, checked) if line)
    lines = tf.data.Dataset.from_generator(read, output_signature=tf.TensorSpec((), tf.string))
    keras_hub.tokenizers.compute_word_piece_vocabulary(
        lines.batch(1024), vocabulary_size=size, vocabulary_output_file=output_file,
        lowercase=lower_case, strip_accents=strip_accents, reserved_tokens=RESERVED)
    if not os.path.isfile(output_file):
        raise RuntimeError(f"vocabulary learning wrote no {output_file}")
    return output_file
