"""What pre-training shows while it runs: TensorBoard scalars, the HParams dashboard,
the progress line, and the text summary of a corrupted example."""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def write_scalars(writer, step: int, metrics: dict) -> None:
    with writer.as_default(step=step):
        for name, value in metrics.items():
            if np.isfinite(value):
                tf.summary.scalar(name, value)


HPARAMS = ("objective", "masking", "generator", "weight_tying", "training", "mask_prob",
           "mask_token_prob", "mask_random_prob", "generator_hidden_size", "generator_layers",
           "temperature", "disallow_correct", "uncorrupted_prob", "two_stage_steps",
           "learning_rate", "train_batch_size", "hidden_size", "num_layers", "max_seq_length")


def log_hparams(writer, config) -> None:
    """The run's variant and sizes on TensorBoard's HParams dashboard."""
    from tensorboard.plugins.hparams import api as hp

    with writer.as_default():
        hp.hparams({name: config.get(name) for name in HPARAMS})


# (metric, label, format) of the progress line, in order; a metric the objective does
# not have (NaN, e.g. disc_* for --objective=bert) is left out.
PROGRESS_FIELDS = (("loss", "loss", ".4f"), ("mlm_loss", "mlm", ".4f"),
                   ("mlm_accuracy", "acc", ".3f"), ("main_mlm_loss", "main mlm", ".4f"),
                   ("all_tokens_loss", "all-tokens", ".4f"), ("disc_loss", "disc", ".4f"),
                   ("disc_auc", "auc", ".3f"), ("effective_rank", "rank", ".1f"),
                   ("token_cosine", "cos", ".3f"), ("learning_rate", "lr", ".2e"))


def progress_line(step: int, total: int, metrics: dict) -> str:
    """'step 20 (10.0%)  loss 41.2  mlm 10.1  acc 0.012  disc 0.61  auc 0.55  lr ...'."""
    parts = [f"step {step} ({100.0 * step / total:.1f}%)"]
    parts += [f"{label} {metrics[name]:{fmt}}" for name, label, fmt in PROGRESS_FIELDS
              if name in metrics and np.isfinite(metrics[name])]
    parts.append(f"{metrics['examples_per_second']:.1f} ex/s")
    return "  ".join(parts)


def render_corrupted(original, fake, labels, mask, vocab) -> str:
    """Tokens of one example; replaced ones shown as **sampled** (was: original)."""
    words = []
    for o, f, lab, m in zip(original, fake, labels, mask):
        if not m:
            break
        if lab:
            words.append(f"**{vocab[f]}** (was: {vocab[o]})")
        else:
            words.append(vocab[f])
    return " ".join(words)


class CorruptedExample:
    """The "corrupted_example" text summary: the longest of the input stream's first 16
    examples, corrupted afresh at each step it is written (seed + step), replaced
    tokens marked."""

    def __init__(self, data_files, seq_length: int, seed: int, vocab_file: str):
        self.data_files, self.seq_length, self.seed = data_files, seq_length, seed
        self.vocab_file = vocab_file
        self._batch = None

    def write(self, writer, step: int, model, objective) -> None:
        from electra_tf.data import input_pipeline
        from electra_tf.tokenization import load_vocab

        if self._batch is None:
            ds = input_pipeline.make_dataset(self.data_files, 16, self.seq_length, self.seed,
                                             shuffle_buffer=1)
            batch = next(iter(ds))
            i = int(np.argmax(np.sum(batch["input_mask"], axis=1)))
            self._batch = {k: v[i:i + 1] for k, v in batch.items()}
            self._vocab = load_vocab(self.vocab_file)
        prepared = objective.prepare(self._batch, self.seed + step)
        _, _, aux = objective.loss_terms(model, prepared, self.seed + step, training=False)
        text = render_corrupted(np.asarray(prepared.original_ids[0]),
                                np.asarray(aux["fake_ids"][0]), np.asarray(aux["labels"][0]),
                                np.asarray(prepared.padding_mask[0]), self._vocab)
        with writer.as_default(step=step):
            tf.summary.text("corrupted_example", text)
