"""Runs electra_tf's pre-training step and the PyTorch reference (tests/reference/) side by
side from the same weights on the same corrupted batches; shared by
tests/test_reference_parity.py and benchmarks/reference_parity.py.

The bridge goes through electra_tf's own converter (interop.ours / google_names /
huggingface, as `electra_tf.convert --to=hf`): our names -> the original's -> Hugging
Face keys. Gradients take the same path (its layout changes are reshapes and transposes,
linear), so they are compared parameter by parameter under Hugging Face's names.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from electra_tf.interop import google_names as gn
from electra_tf.interop import huggingface as hf
from electra_tf.interop import ours
from electra_tf.masking import MaskedBatch
from electra_tf.model import weights
from electra_tf.model.pretraining import MLM_OBJECTIVES
from electra_tf.trainer import LOSS_EPS
from tests.reference.electra_torch import Corruption, Hparams, ReferencePretrainer

def to_reference(config, named: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Our pre-training weights (or their gradients) by our names -> the reference's
    {network: {Hugging Face key: array}}, through electra_tf's converter."""
    out = {}
    gen = config.pretraining.uses_generator_network
    whiches = ["discriminator"] + (["generator"] if gen else [])
    for which in whiches:
        net = ours.network_values(named, "pretraining", which)
        google = gn.convert(gn.network_entries(config, which), net, "to_theirs", which)
        out[which] = hf.from_google(google, "electra" if which == "discriminator"
                                    else "generator", "electra.")
    if config.pretraining.objective in MLM_OBJECTIVES:  # the main network's MLM head
        google = gn.convert(gn.generator_head_entries("discriminator_mlm_predictions"), named,
                            "to_theirs", "discriminator_mlm_predictions")
        out["discriminator_mlm"] = hf.from_google(google, "generator", "electra.")
    return out


def reference_hparams(config) -> Hparams:
    p, o = config.pretraining, config.optimizer
    return Hparams(objective=p.objective, weight_tying=p.weight_tying,
                   gen_weight=p.gen_weight, disc_weight=p.disc_weight,
                   learning_rate=o.learning_rate, num_train_steps=o.num_train_steps,
                   num_warmup_steps=o.num_warmup_steps, weight_decay=o.weight_decay,
                   beta_1=o.adam_beta_1, beta_2=o.adam_beta_2,
                   epsilon=o.adam_epsilon, clip_norm=o.clip_norm)


def build_reference(config, named_values: dict[str, np.ndarray],
                    attention: str = "eager", dtype=None) -> ReferencePretrainer:
    import torch

    gen_cfg = (hf.hf_config(config, "generator")
               if config.pretraining.uses_generator_network else None)
    return ReferencePretrainer(reference_hparams(config), hf.hf_config(config, "discriminator"),
                               gen_cfg, to_reference(config, named_values),
                               dropout=config.encoder.hidden_dropout, attention=attention,
                               dtype=dtype or torch.float32)


class OurStep:
    """A Trainer's model, objective and step function, driven one batch at a time."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.config = trainer.config
        self.names = {id(v): n for n, v in weights.pretraining_weights(trainer.model).items()}
        self._step = tf.function(
            lambda b: trainer.strategy.run(trainer.replica_step, args=(b,)))
        # the same draws as inside the step (autograph off: plain Python, no tensor branches)
        self._draw_fn = tf.function(self._draw, autograph=False)

    def named_values(self) -> dict[str, np.ndarray]:
        return {n: v.numpy() for n, v in weights.pretraining_weights(self.trainer.model).items()}

    def _draw(self, batch):
        t = self.trainer
        prepared = t.objective.prepare(batch, t.options.seed)
        out = dict(vars(prepared), dens=t.objective.denominators(prepared))
        if self.config.pretraining.objective != "bert":
            c = t.objective.corrupt(t.model, prepared, t.options.seed, training=True)
            out.update(sampled=c["sampled"], fake_ids=c["fake_ids"])
        return out

    def corruption(self, batch) -> tuple[Corruption, np.ndarray | None, MaskedBatch, dict]:
        """(the corruption our step draws for `batch`: its masking and the generator's
        samples; our corrupted ids; the prepared batch; the loss denominators)."""
        d = self._draw_fn(batch)
        dens = d.pop("dens")
        sampled, fake = d.pop("sampled", None), d.pop("fake_ids", None)
        prepared = MaskedBatch(**d)
        corruption = Corruption(
            original_ids=prepared.original_ids.numpy(), masked_ids=prepared.token_ids.numpy(),
            segment_ids=prepared.segment_ids.numpy(), input_mask=prepared.padding_mask.numpy(),
            positions=prepared.positions.numpy(), mlm_weights=prepared.mlm_weights.numpy(),
            sampled=None if sampled is None else sampled.numpy())
        return corruption, None if fake is None else fake.numpy(), prepared, dens

    def gradients(self, prepared, dens) -> tuple[dict[str, float], float, dict]:
        """(loss terms, total loss, {our name: gradient}) at the current weights."""
        grads, sums = self.trainer.gradients(prepared, dens)
        variables = self.trainer.phase_variables(None)
        named = {self.names[id(v)]: g.numpy() for v, g in zip(variables, grads)}
        terms = {name: float(sums[f"{name}_loss"]) / (float(dens[name]) + LOSS_EPS)
                 for name in dens if f"{name}_loss" in sums}
        return terms, float(sums["loss"]), named

    def step(self, batch) -> dict:
        """One real training step; its scalar metric sums ("loss", "mlm_loss", ...)."""
        return {k: float(v) for k, v in self._step(batch).items() if np.ndim(v) == 0}


def make_trainer(data: str, vocab_file: str, model_dir: str, steps: int, **overrides):
    """A Trainer (default: tiny, fp32, without dropout, as the parity tests run it;
    `size=` and any config field may be overridden)."""
    from tests.conftest import make_trainer as trainer

    settings = dict(hidden_dropout=0.0, attention_dropout=0.0, num_train_steps=steps)
    return trainer(data, vocab_file, model_dir, **dict(settings, **overrides))


def batches(trainer, count: int):
    """The first `count` batches of the trainer's data stream, as its step reads them."""
    from electra_tf.data import input_pipeline

    cfg = trainer.config
    ds = input_pipeline.make_dataset(trainer.data_files, cfg.optimizer.train_batch_size,
                                     cfg.pretraining.max_seq_length, trainer.options.seed,
                                     trainer.options.shuffle_buffer)
    return list(ds.take(count))


def relative_error(ours_value, reference_value) -> float:
    """max |a - b| / max |b| (0 where both are all zero)."""
    a, b = np.asarray(ours_value, np.float64), np.asarray(reference_value, np.float64)
    scale = np.max(np.abs(b)) if b.size else 0.0
    diff = np.max(np.abs(a - b)) if a.size else 0.0
    return 0.0 if diff == 0 else float(diff / scale) if scale > 0 else float("inf")


def flat(states: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """{"network.key": array}, each shared tensor once (the reference's parameter names)."""
    out = {}
    for net, values in states.items():
        for key, value in values.items():
            out[f"{net}.{key}"] = value
    return out
