"""Pre-training objectives. Each is a pluggable object the trainer calls in two phases:

1. `prepare(batch, seed)`: random corruption that needs no model (masking), for
   the whole local batch, so the loss denominators of the global batch can be
   known (all-reduced) before any micro-batch's forward pass.
2. `loss_terms(model, prepared, seed, training)`: forward passes, returning
   {term: (weight, numerator, denominator)} and metric sums. The trainer's loss
   is sum(weight * numerator / global_denominator): the global-batch loss of
   the original however the batch is split across replicas and micro-batches.

Later objectives (BERT MLM, ELECTRA 15%, Replace MLM, All-Tokens MLM, ...)
register here under their flag value.
"""
from __future__ import annotations

from keras import ops

from electra_tf import masking, random_ops

AUC_BINS = 200


def sigmoid_xent(logits, labels):
    """Numerically stable sigmoid cross-entropy (tf.nn.sigmoid_cross_entropy_with_logits)."""
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def softmax_xent(logits, labels):
    """-log softmax(logits)[labels]; logits [..., V], labels [...]."""
    log_probs = ops.log_softmax(logits, axis=-1)
    return -ops.squeeze(ops.take_along_axis(log_probs, labels[..., None], axis=-1), -1)


def sample_tokens(logits, seeds, temperature=1.0, disallow=None):
    """Gumbel-max samples from softmax(logits / T), under stop-gradient.

    disallow: optional [B, N] ids that get logit -1000 (the original's disallow_correct).
    """
    logits = ops.stop_gradient(logits) / temperature
    if disallow is not None:
        logits = logits - 1000.0 * ops.one_hot(disallow, logits.shape[-1], dtype=logits.dtype)
    noise = random_ops.gumbel_noise(random_ops.per_example_uniform(seeds, logits.shape[1:]))
    return ops.cast(ops.argmax(logits + noise, axis=-1), "int32")


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


class ElectraObjective:
    """Replaced token detection: loss = gen_weight * MLM + disc_weight * RTD."""

    name = "electra"

    def __init__(self, config, special):
        self.config = config
        self.special = special

    def prepare(self, batch, seed):
        prepared = masking.mask_batch(batch, self.config, self.special, seed)
        return prepared

    def denominators(self, prepared):
        return {"mlm": ops.sum(prepared.mlm_weights),
                "disc": ops.sum(ops.cast(prepared.input_mask, "float32"))}

    def corrupt(self, model, p, seed, training):
        """Generator forward, MLM loss and sampled replacements -> (fake ids, labels, ...)."""
        logits = model.generator_logits(p.input_ids, p.segment_ids, p.input_mask, p.positions,
                                        training=training)
        xent = softmax_xent(logits, p.mlm_ids)
        seeds = random_ops.example_seeds(seed, p.example_index, random_ops.GUMBEL)
        sampled = sample_tokens(logits, seeds, self.config.temperature,
                                p.mlm_ids if self.config.disallow_correct else None)
        # One sample per distinct position (the original floor-averages the samples of
        # duplicate slots, producing an unrelated token id; we keep the first slot's).
        fake_ids, updated = masking.scatter_tokens(p.original_ids, p.positions, sampled,
                                                   p.slot_first)
        labels = updated * ops.cast(ops.not_equal(fake_ids, p.original_ids), "int32")
        return logits, xent, sampled, fake_ids, labels

    def loss_terms(self, model, p, seed, training=True):
        cfg = self.config
        w = p.mlm_weights
        logits, xent, sampled, fake_ids, labels = self.corrupt(model, p, seed, training)
        disc_logits = model.discriminator_logits(fake_ids, p.segment_ids, p.input_mask,
                                                 training=training)
        mask = ops.cast(p.input_mask, "float32")
        labels_f = ops.cast(labels, "float32")
        disc_xent = sigmoid_xent(disc_logits, labels_f)
        terms = {"mlm": (cfg.gen_weight, ops.sum(w * xent), None),
                 "disc": (cfg.disc_weight, ops.sum(mask * disc_xent), None)}
        probs = ops.sigmoid(disc_logits)
        preds = ops.cast(disc_logits > 0, "float32")
        pos_hist, neg_hist = auc_histograms(probs, labels_f, mask)
        mlm_preds = ops.cast(ops.argmax(logits, axis=-1), "int32")
        sums = {
            "mlm_loss": ops.sum(w * xent),
            "mlm_count": ops.sum(w),
            "mlm_correct": ops.sum(w * ops.cast(ops.equal(mlm_preds, p.mlm_ids), "float32")),
            "sampled_correct": ops.sum(w * ops.cast(ops.equal(sampled, p.mlm_ids), "float32")),
            "disc_loss": ops.sum(mask * disc_xent),
            "disc_count": ops.sum(mask),
            "disc_correct": ops.sum(mask * ops.cast(ops.equal(preds, labels_f), "float32")),
            "disc_true_pos": ops.sum(mask * preds * labels_f),
            "disc_pred_pos": ops.sum(mask * preds),
            "disc_label_pos": ops.sum(mask * labels_f),
            "disc_auc_pos": pos_hist,
            "disc_auc_neg": neg_hist,
        }
        return terms, sums, {"fake_ids": fake_ids, "labels": labels}

    @staticmethod
    def summarize(sums) -> dict[str, float]:
        """Metric sums (numpy) over a window -> the original's metrics."""
        def ratio(a, b):
            return float(sums[a]) / float(sums[b]) if float(sums[b]) > 0 else float("nan")

        return {
            "mlm_loss": ratio("mlm_loss", "mlm_count"),
            "mlm_accuracy": ratio("mlm_correct", "mlm_count"),
            "sampled_mlm_accuracy": ratio("sampled_correct", "mlm_count"),
            "disc_loss": ratio("disc_loss", "disc_count"),
            "disc_accuracy": ratio("disc_correct", "disc_count"),
            "disc_precision": ratio("disc_true_pos", "disc_pred_pos"),
            "disc_recall": ratio("disc_true_pos", "disc_label_pos"),
            "replaced_fraction": ratio("disc_label_pos", "disc_count"),
            "disc_auc": auc_from_histograms(sums["disc_auc_pos"], sums["disc_auc_neg"]),
        }


OBJECTIVES = {"electra": ElectraObjective}


def get_objective(config, special):
    return OBJECTIVES[config.objective](config, special)
