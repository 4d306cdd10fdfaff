"""Pre-training objectives. Each is a pluggable object the trainer calls in two phases:

1. `prepare(batch, seed)`: random corruption that needs no model (masking), for
   the whole local batch, so the loss denominators of the global batch can be
   known (all-reduced) before any micro-batch's forward pass (`denominators`).
2. `loss_terms(model, prepared, seed, training, phase)`: forward passes, returning
   {term: (weight, numerator, None)}, metric sums and auxiliary tensors. The trainer's
   loss is sum(weight * numerator / global_denominator[term]): the global-batch loss of
   the original however the batch is split across replicas and micro-batches.

`--objective` selects one: electra (default), electra_15, bert, replace_mlm,
all_tokens_mlm (paper Table 5); further variants are config options (docs/pretraining.md).
"""
import numpy as np

from electra_tf.objectives.common import (auc_from_histograms, auc_histograms,  # noqa: F401
                                          sample_tokens, sigmoid_xent, softmax_xent, summarize)
from electra_tf.objectives.electra import Electra15Objective, ElectraObjective
from electra_tf.objectives.mlm import AllTokensMLMObjective, BertObjective, ReplaceMLMObjective

OBJECTIVES = {cls.name: cls for cls in (ElectraObjective, Electra15Objective, BertObjective,
                                        ReplaceMLMObjective, AllTokensMLMObjective)}


def get_objective(config, special, unigram_log_probs=None):
    return OBJECTIVES[config.pretraining.objective](config, special, unigram_log_probs)


def smoothed_unigram(unigram_counts, vocab_size: int) -> np.ndarray:
    """The corpus' token counts (strategic masking, the unigram generator) as an add-one
    smoothed log distribution over the vocabulary."""
    counts = np.asarray(unigram_counts, np.float64)[:vocab_size] + 1.0
    counts = np.pad(counts, (0, vocab_size - len(counts)), constant_values=1.0)
    return np.log(counts / counts.sum()).astype(np.float32)
