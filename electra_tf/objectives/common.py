"""Pieces shared by the objectives: the sigmoid cross-entropy, AUC histograms, metric
sums and their summary; the softmax cross-entropy and Gumbel-max sampling are kernels
(electra_tf/kernels/cross_entropy.py), re-exported here."""
from __future__ import annotations

import keras
from keras import ops

from electra_tf import random_ops
from electra_tf.kernels.cross_entropy import argmax, sample_tokens, softmax_xent  # noqa: F401

AUC_BINS = 200


def sigmoid_xent(logits, labels):
    """Numerically stable sigmoid cross-entropy (tf.nn.sigmoid_cross_entropy_with_logits)."""
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


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
