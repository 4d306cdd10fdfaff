"""How varied a network's token vectors are: effective rank and mean token-pair cosine.

Early pre-training can collapse the discriminator's output so that every token maps to
nearly the same vector (effective rank ~1, cosine ~1); features like that fine-tune worse
than random ones. `--probe_data` logs both measures on a fixed held-out batch during
pre-training (TensorBoard `effective_rank`, `token_cosine`), and
benchmarks/learning_curve.py tabulates them at every saved point.
"""
from __future__ import annotations

import numpy as np

PROBE_EXAMPLES = 32  # the held-out batch: the first 32 examples of the probe file(s)


def effective_rank(vectors: np.ndarray) -> float:
    """exp(entropy of the normalised squared singular values) of [N, H] vectors (not
    centred): H for N >= H orthogonal vectors of equal norm, 1 for N copies of one."""
    s2 = np.linalg.svd(np.asarray(vectors, np.float64), compute_uv=False) ** 2
    p = s2 / s2.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def mean_token_cosine(vectors: np.ndarray) -> float:
    """Mean cosine similarity over all pairs of distinct rows of [N, H] (N >= 2)."""
    v = np.asarray(vectors, np.float64)
    u = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    n = len(u)
    total = np.square(u.sum(axis=0)).sum()  # sum over all (i, j) pairs of u_i . u_j
    return float((total - n) / (n * (n - 1)))  # without the n diagonal 1s


def token_vectors(hidden: np.ndarray, input_mask: np.ndarray) -> np.ndarray:
    """[B, L, H] hidden states -> [T, H] vectors of the T non-pad tokens."""
    return np.asarray(hidden)[np.asarray(input_mask).astype(bool)]


def measures(hidden, input_mask) -> dict[str, float]:
    v = token_vectors(hidden, input_mask)
    return {"effective_rank": effective_rank(v), "token_cosine": mean_token_cosine(v)}


def probe_batch(data: str, max_seq_length: int) -> dict[str, np.ndarray]:
    """The first PROBE_EXAMPLES examples of `data` (a build_tfrecords output or glob),
    in file order: the same batch at every log step and in every run."""
    import tensorflow as tf

    from electra_tf.data import input_pipeline, records

    files, _ = records.resolve_data_files(data)
    features = input_pipeline.feature_spec(max_seq_length)
    ds = tf.data.TFRecordDataset(files).take(PROBE_EXAMPLES).batch(PROBE_EXAMPLES)
    try:
        serialized = next(iter(ds), None)
        if serialized is None:
            raise records.DataError(f"--probe_data={data} holds no examples")
        batch = tf.io.parse_example(serialized, features)
    except tf.errors.OpError as e:
        raise records.DataError(f"--probe_data={data}: cannot read {PROBE_EXAMPLES} examples "
                                f"of length {max_seq_length} "
                                f"({str(e.message).strip().splitlines()[0]}): give "
                                f"build_tfrecords output of the training data's length") \
            from None
    return {k: batch[k].numpy().astype(np.int32) for k in records.FEATURES}
