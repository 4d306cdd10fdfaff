"""Batches without the padding: the same outputs for fewer FLOPs.

Features are padded to `--max_seq_length` (128 for GLUE, 384/512 for SQuAD), but most
GLUE sentences are far shorter (SST-2 dev: 25 tokens on average). A padded position
changes nothing for the real tokens: its key gets a -1e9 attention bias, so its
attention weight is exactly 0, and the heads read [CLS] or mask padding out. So:

- `trim`: cuts a batch's token features to its longest example. Training uses it on
  every batch, in the shuffled order the data already had, so the examples, their order
  and the maths are unchanged (dropout draws the same rate over fewer positions). Each
  new length costs one compile of the XLA-fused element-wise kernels, less than rounding
  lengths up (to multiples of 8) costs in extra tokens on SST-2 batches, so lengths are
  not rounded (both timed in benchmarks/RESULTS.md).
- `length_order`: prediction runs the examples sorted by length, so each batch is
  trimmed to about its own examples' length; `predict` returns the outputs in the
  original order.

Values differ from the untrimmed run by float rounding only (the matmuls sum over
shorter rows): tests/test_finetune_model.py checks both.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

TOKEN_FEATURES = ("token_ids", "segment_ids", "padding_mask")  # the backbone's inputs


def trim(batch: dict, min_length: int = 1) -> dict:
    """A batch dict with its token features cut to its longest example (padding is at
    the end of each example, where featurization puts it), and to no fewer than
    `min_length` positions (the SQuAD head's beam needs `beam_size`); other features
    untouched."""
    mask = batch["padding_mask"]
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
    length = tf.minimum(tf.shape(mask)[1], tf.maximum(longest, min_length))
    return {k: v[:, :length] if k in TOKEN_FEATURES else v for k, v in batch.items()}


def length_order(features: dict[str, np.ndarray]) -> np.ndarray:
    """Indices of the examples, shortest first (stable, so equal lengths keep order)."""
    return np.argsort(features["padding_mask"].sum(axis=1), kind="stable")
