"""Pieces shared by the objectives: cross-entropies, Gumbel sampling, AUC histograms,
metric sums and their summary."""
from __future__ import annotations

import keras
from keras import ops

from electra_tf import random_ops
from electra_tf.model.fusion import xla_fused

AUC_BINS = 200


def sigmoid_xent(logits, labels):
    """Numerically stable sigmoid cross-entropy (tf.nn.sigmoid_cross_entropy_with_logits)."""
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def argmax(x):
    """int32 index of the largest value on the last axis (the first on ties).

    Under TensorFlow, tf.argmax itself: keras.ops.argmax first rewrites -0.0 as -tiny
    (four more passes over x) to match numpy where hardware flushes denormals, which no
    score here needs. Those passes ran over the generator's [32, 19, 30522] logits twice
    a step; they overlapped other work, so the step moved by noise only (RESULTS.md)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.math.argmax(x, axis=-1, output_type=tf.int32)
    return ops.cast(ops.argmax(x, axis=-1), "int32")


@xla_fused
def _xent_forward(logits, top, labels):
    """[M, V] float32 logits, their [M] row maxima, [M] labels -> ([M] logsumexp(logits)
    - logits[label], [M] logsumexp(logits), kept for the backward). The maxima come from
    TF's reduction, not this kernel: XLA's max over a row runs several times slower than
    its sum on CPU (benchmarks/RESULTS.md)."""
    lse = ops.log(ops.sum(ops.exp(logits - top[:, None]), axis=-1)) + top
    return lse - ops.take_along_axis(logits, labels[:, None], axis=-1)[:, 0], lse


@xla_fused
def _xent_backward(logits, lse, labels, dy):
    """dy * (softmax(logits) - one_hot(labels)), the softmax exp(logits - logsumexp)
    recomputed in the same single pass (not stored: [M, V] floats)."""
    probs = ops.exp(logits - lse[:, None])
    return dy[:, None] * (probs - ops.one_hot(labels, ops.shape(logits)[-1], dtype=probs.dtype))


def softmax_xent(logits, labels):
    """-log softmax(logits)[labels]; logits [..., V], labels [...] in [0, V); in float32.

    A hand-written gradient, forward and backward each one XLA kernel (model/fusion.py),
    the backward reusing the forward's logsumexp: faster than TF's fused sparse-softmax
    op at the generator's logits (benchmarks/RESULTS.md). (Picking the label's log-prob
    with take_along_axis under automatic differentiation is much worse: TF's gradient
    scatters into a dense [B*N*V] buffer.)"""
    labels = ops.convert_to_tensor(labels)
    shape = ops.shape(labels)
    flat_labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    flat = ops.reshape(ops.cast(logits, "float32"), (-1, logits.shape[-1]))

    @ops.custom_gradient
    def xent(x):
        loss, lse = _xent_forward(x, ops.max(x, axis=-1), flat_labels)

        def grad(*args, upstream=None):
            return _xent_backward(x, lse, flat_labels, args[0] if upstream is None else upstream)

        return loss, grad

    return ops.reshape(xent(flat), shape)


@xla_fused
def _gumbel_scores(logits, key0, key1, temperature):
    """logits / T + Gumbel noise for [B, N, V] logits, the noise of row b from the keys
    (key0[b], key1[b]), in one kernel, in place of TF's Philox draw and five element-wise
    passes over [B, N, V]. The argmax stays TF's: XLA's is slower alone and far slower
    fused with the noise (timings: benchmarks/RESULTS.md)."""
    shape = ops.shape(logits)
    counter = ops.reshape(ops.cast(ops.arange(shape[1] * shape[2], dtype="int32"), "uint32"),
                          (1, shape[1], shape[2]))
    counter = ops.broadcast_to(counter, shape)  # the same counters in every row
    u = random_ops.hash_uniform(counter, key0[:, None, None], key1[:, None, None])
    return logits / temperature + random_ops.gumbel_noise(u)


def sample_tokens(logits, seeds, temperature=1.0, disallow=None):
    """Gumbel-max samples from softmax(logits / T), under stop-gradient; the draws of
    row b are a function of seeds[b] only (random_ops.hash_bits over its N x V values).

    disallow: optional [B, N] ids that get logit -1000 (the original's disallow_correct).
    """
    logits = ops.stop_gradient(logits)
    if disallow is not None:
        logits = logits - (1000.0 * temperature) * ops.one_hot(disallow, logits.shape[-1],
                                                                dtype=logits.dtype)
    key0, key1 = random_ops.hash_keys(seeds)
    scores = _gumbel_scores(logits, key0, key1, float(temperature))
    return argmax(scores)


def auc_histograms(probs, labels, weights, bins=AUC_BINS):
    """Weighted histograms of probs for positive and negative labels; additive, so AUC
    can be computed over any window of steps/replicas (like tf.metrics.auc's bins)."""
    idx = ops.cast(ops.minimum(ops.floor(probs * bins), bins - 1), "int32")
    onehot = ops.one_hot(ops.reshape(idx, (-1,)), bins, dtype="float32")
    w = ops.reshape(weights, (-1, 1))
    lab = ops.reshape(labels, (-1, 1))
    return ops.sum(onehot * w * lab, axis=0), ops.sum(onehot * w * (1.0 - lab), axis=0)


def auc_from_histograms(pos, neg):
    """P(score_pos > score_neg) + 0.5 P(tie within a bin), from histograms (numpy)."""
    import numpy as np

    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    if pos.sum() == 0 or neg.sum() == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def ratio(sums, a, b) -> float:
    if a not in sums or b not in sums or float(sums[b]) <= 0:
        return float("nan")
    return float(sums[a]) / float(sums[b])


def mlm_sums(prefix, logits, labels, weights, xent, sampled=None) -> dict:
    """Metric sums of an MLM prediction at weighted slots."""
    preds = argmax(logits)
    out = {f"{prefix}_loss": ops.sum(weights * xent), f"{prefix}_count": ops.sum(weights),
           f"{prefix}_correct": ops.sum(weights * ops.cast(ops.equal(preds, labels), "float32"))}
    if sampled is not None:
        out["sampled_correct"] = ops.sum(weights * ops.cast(ops.equal(sampled, labels),
                                                            "float32"))
    return out


def rtd_sums(disc_logits, labels_f, weights, disc_xent) -> dict:
    """Metric sums of replaced-token detection over weighted positions."""
    probs = ops.sigmoid(disc_logits)
    preds = ops.cast(disc_logits > 0, "float32")
    pos_hist, neg_hist = auc_histograms(probs, labels_f, weights)
    return {
        "disc_loss": ops.sum(weights * disc_xent),
        "disc_count": ops.sum(weights),
        "disc_correct": ops.sum(weights * ops.cast(ops.equal(preds, labels_f), "float32")),
        "disc_true_pos": ops.sum(weights * preds * labels_f),
        "disc_pred_pos": ops.sum(weights * preds),
        "disc_label_pos": ops.sum(weights * labels_f),
        "disc_auc_pos": pos_hist,
        "disc_auc_neg": neg_hist,
    }


def summarize(sums) -> dict[str, float]:
    """Metric sums (numpy) over a window -> the original's metrics (NaN when absent)."""
    out = {
        "mlm_loss": ratio(sums, "mlm_loss", "mlm_count"),
        "mlm_accuracy": ratio(sums, "mlm_correct", "mlm_count"),
        "sampled_mlm_accuracy": ratio(sums, "sampled_correct", "mlm_count"),
        "disc_loss": ratio(sums, "disc_loss", "disc_count"),
        "disc_accuracy": ratio(sums, "disc_correct", "disc_count"),
        "disc_precision": ratio(sums, "disc_true_pos", "disc_pred_pos"),
        "disc_recall": ratio(sums, "disc_true_pos", "disc_label_pos"),
        "replaced_fraction": ratio(sums, "disc_label_pos", "disc_count"),
        "disc_auc": (auc_from_histograms(sums["disc_auc_pos"], sums["disc_auc_neg"])
                     if "disc_auc_pos" in sums else float("nan")),
    }
    for prefix in ("main_mlm", "all_tokens", "sentence", "adversarial"):
        if f"{prefix}_count" in sums:
            out[f"{prefix}_loss"] = ratio(sums, f"{prefix}_loss", f"{prefix}_count")
        if f"{prefix}_correct" in sums:
            out[f"{prefix}_accuracy"] = ratio(sums, f"{prefix}_correct", f"{prefix}_count")
    return out


def sample_from_distribution(log_probs, seeds, shape):
    """[B, *shape] ids drawn from a fixed [V] distribution (inverse CDF), per example."""
    cdf = ops.cumsum(ops.exp(log_probs - ops.logsumexp(log_probs)))
    u = random_ops.per_example_uniform(seeds, shape) * cdf[-1]
    ids = ops.searchsorted(cdf, ops.reshape(u, (-1,)), side="right")
    ids = ops.minimum(ids, ops.shape(cdf)[0] - 1)
    return ops.cast(ops.reshape(ids, ops.shape(u)), "int32")
