"""Sentence(-pair) examples -> [CLS] A [SEP] (B [SEP]) id arrays, as the original."""
from __future__ import annotations

import numpy as np

from electra_tf.data import packing
from electra_tf.tokenization import WordPieceTokenizer


def truncate_pair(a: list, b: list, max_length: int) -> None:
    """In place: pop from the end of the longer sequence (b on ties) until they fit."""
    while len(a) + len(b) > max_length:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()


def pack(a: list[int], b: list[int] | None, max_seq_length: int, cls: int, sep: int):
    """(token_ids, padding_mask, segment_ids) padded with 0 to max_seq_length.

    As the original's featurize (`if tokens_b:`): a second text that tokenizes to
    nothing gives the single-segment layout [CLS] A [SEP], truncated to max - 2."""
    a, b = list(a), list(b or [])
    if b:
        truncate_pair(a, b, max_seq_length - 3)
    else:
        a = a[:max_seq_length - 2]
    f = packing.to_features(a, b, max_seq_length, cls, sep)
    return f["input_ids"], f["input_mask"], f["segment_ids"]


def featurize(examples, tokenizer: WordPieceTokenizer, max_seq_length: int,
              regression: bool = False) -> dict[str, np.ndarray]:
    """Features of GLUE examples: token_ids/segment_ids/padding_mask [N, L] int32 (the
    backbone's input names) and
    label [N] (int32 class ids, float32 for regression; 0 for unlabelled test rows)."""
    tok_a = tokenizer.tokenize_lines([e.text_a for e in examples])
    has_b = [e.text_b is not None for e in examples]
    tok_b_list = tokenizer.tokenize_lines([e.text_b for e in examples if e.text_b is not None])
    tok_b = iter(tok_b_list)
    cls, sep = tokenizer.special.cls, tokenizer.special.sep
    n = len(examples)
    ids = np.zeros((n, max_seq_length), np.int32)
    mask = np.zeros((n, max_seq_length), np.int32)
    seg = np.zeros((n, max_seq_length), np.int32)
    for i, a in enumerate(tok_a):
        b = next(tok_b) if has_b[i] else None
        ids[i], mask[i], seg[i] = pack(a, b, max_seq_length, cls, sep)
    labels = np.array([0 if e.label is None else e.label for e in examples],
                      np.float32 if regression else np.int32)
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask, "label": labels}
