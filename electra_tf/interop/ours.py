"""Our checkpoint formats: find, read and write them, building the model to check every
weight's name and shape on the way.

* pre-training (both networks): names of weights.pretraining_weights, in a pre-training
  --model_dir (checkpoints/ckpt-N) or a directory with weights.* + config.json
  (`electra_tf.convert --to=pretraining`);
* one network (embeddings/*, encoder/*, head/*): <model_dir>/discriminator|generator or
  `electra_tf.convert --to=discriminator|generator`; config.json is that network's
  EncoderConfig plus "network". (Before the config split it held the whole flat
  ElectraConfig plus "network"; those still load.)
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np

from electra_tf.configs import ConfigError, ElectraConfig, EncoderConfig, network_encoder
from electra_tf.model import weights


class CheckpointError(ValueError):
    """A checkpoint is missing or does not fit; the message says which and how to fix it."""


def resolve(path: str) -> tuple[str, str | None]:
    """(checkpoint prefix, config.json path or None) for a directory or a prefix."""
    import tensorflow as tf

    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "weights.index")):
            return os.path.join(path, "weights"), _maybe(path, "config.json")
        ckpt_dir = os.path.join(path, "checkpoints")
        latest = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
        if latest:
            return latest, _maybe(path, "config.json")
        raise CheckpointError(
            f"{path} holds no electra_tf checkpoint: give an exported network directory "
            f"(weights.index + config.json), a pre-training --model_dir, or a "
            f".../checkpoints/ckpt-N prefix")
    if os.path.isfile(path + ".index"):
        here = os.path.dirname(os.path.abspath(path))
        config = _maybe(here, "config.json") or _maybe(os.path.dirname(here), "config.json")
        return path, config
    raise CheckpointError(f"{path} does not exist (no directory and no {path}.index)")


def _maybe(directory, name):
    p = os.path.join(directory, name)
    return p if os.path.isfile(p) else None


def load_config(config_path: str) -> tuple[ElectraConfig | EncoderConfig, str | None]:
    """(config, network) from a config.json written by electra_tf: a pre-training
    directory's ElectraConfig and None, or an exported network's own EncoderConfig and
    "discriminator" | "generator"."""
    try:
        with open(config_path) as f:
            d = json.load(f)
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read the checkpoint's config {config_path}: {e}") \
            from None
    network = d.pop("network", None)
    try:
        if network is None:
            return ElectraConfig.from_dict(d).validate(), None
        if network not in ("discriminator", "generator"):
            raise ConfigError(f"network={network!r}: discriminator or generator")
        encoder_fields = {f.name for f in dataclasses.fields(EncoderConfig)}
        if set(d) <= encoder_fields:
            return EncoderConfig.from_dict(d).validate(), network
        # written before the config split: the whole (flat) ElectraConfig
        return network_encoder(ElectraConfig.from_dict(d), network).validate(), network
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{config_path}: {e}") from None


def read(path: str) -> tuple[ElectraConfig | EncoderConfig, str, dict[str, np.ndarray]]:
    """(config, kind, values); kind is "pretraining" (config: ElectraConfig),
    "discriminator" or "generator" (config: that network's EncoderConfig)."""
    prefix, config_path = resolve(path)
    if config_path is None:
        raise CheckpointError(f"{path} has no config.json next to it: cannot tell the sizes")
    config, network = load_config(config_path)
    try:
        values = weights.read(prefix)
    except weights.WeightsError as e:
        raise CheckpointError(str(e)) from None
    kind = "pretraining" if any(n.startswith("discriminator/") for n in values) else (
        network or "discriminator")
    return config, kind, values


# ------------------------------------------------------------------ building + writing
def build_network(config: EncoderConfig, which: str, head: bool = True):
    """(embeddings, backbone, head or None) of one network, built; `config` is that
    network's EncoderConfig (configs.network_encoder)."""
    from electra_tf.model.backbone import ElectraBackbone
    from electra_tf.model.layers import DiscriminatorHead, generator_head

    backbone = ElectraBackbone.from_encoder_config(config, name="encoder")
    emb = backbone.embeddings
    h = None
    if head:
        if which == "discriminator":
            h = DiscriminatorHead(config.hidden_size, config.initializer_range,
                                  name="discriminator_predictions")
            h.build((None, None, config.hidden_size))
        else:
            h = generator_head(config, emb)
            h.build((None, None, config.hidden_size), (None, None))
    return emb, backbone, h


def network_variables(config, which, head=True):
    emb, enc, h = build_network(network_encoder(config, which), which, head)
    return weights.network_weights(emb, enc, h), (emb, enc, h)


def pretraining_variables(config):
    from electra_tf.model.pretraining import ElectraPretrainingModel

    model = ElectraPretrainingModel(config)
    model.build()
    return weights.pretraining_weights(model), model


def write(output_dir: str, config: ElectraConfig | EncoderConfig, kind: str,
          values: dict[str, np.ndarray], vocab_file: str | None, source: str,
          head: bool = True) -> str:
    """Builds the model for `kind`, assigns `values` (every weight must be there with its
    shape) and writes weights + config.json (+ vocab.txt) to output_dir. `config`: an
    ElectraConfig, or for one network also that network's EncoderConfig."""
    named = check(config, kind, values, source, head)
    os.makedirs(output_dir, exist_ok=True)
    prefix = weights.write(os.path.join(output_dir, "weights"), named)
    if kind == "pretraining":
        d = config.to_dict()
    else:
        d = dict(network_encoder(config, kind).to_dict(), network=kind)
    with open(os.path.join(output_dir, "config.json"), "w") as f:
        json.dump(d, f, indent=2, sort_keys=True)
    if vocab_file:
        shutil.copyfile(vocab_file, os.path.join(output_dir, "vocab.txt"))
    return prefix


def check(config, kind: str, values: dict[str, np.ndarray], source: str,
          head: bool | None = None) -> dict:
    """Builds the model `config` describes (for one network: with its head if `head`,
    default: if `values` has one) and assigns `values` to it; returns its named weights.
    Every weight must be there with its shape (CheckpointError naming the misfits
    otherwise): a config.json that does not fit its weights is caught here, not by
    whatever reads a conversion of them."""
    if kind == "pretraining":
        named, _ = pretraining_variables(config)
    else:
        if head is None:
            head = any(n.startswith("head/") for n in values)
        named, _ = network_variables(config, kind, head)
    try:
        weights.assign(named, values, source)
    except weights.WeightsError as e:
        raise CheckpointError(str(e)) from None
    return named


def network_values(values: dict[str, np.ndarray], kind: str, which: str) -> dict[str, np.ndarray]:
    """One network's values (embeddings/*, encoder/*, head/*) from a pre-training or a
    network checkpoint's values. The generator's embeddings are its own where it has
    them (weight_tying=none), and its encoder is the discriminator's where it has none
    of its own (weight_tying=all); the discriminator's word table is E_G + E_delta with
    weight_tying=gdes."""
    if kind != "pretraining":
        if kind != which:
            raise CheckpointError(f"the checkpoint holds the {kind}, not the {which}")
        return values
    head = "discriminator_predictions/" if which == "discriminator" else "generator_predictions/"
    if not any(n.startswith(head) for n in values):
        raise CheckpointError(f"the checkpoint has no {which} (no {head}* weights)")
    encoder, embeddings = which + "/", "embeddings/"
    if which == "generator":
        if not any(n.startswith(encoder) for n in values):
            encoder = "discriminator/"  # weight_tying=all: one encoder for both
        if any(n.startswith("generator_embeddings/") for n in values):
            embeddings = "generator_embeddings/"  # weight_tying=none
    out = {}
    for n, v in values.items():
        for prefix, new_prefix in ((embeddings, "embeddings/"), (encoder, "encoder/"),
                                   (head, "head/")):
            if n.startswith(prefix):
                out[new_prefix + n[len(prefix):]] = v
    if which == "discriminator" and weights.GDES_DELTA in values:  # weight_tying=gdes
        out[weights.WORD_TABLE] = values[weights.WORD_TABLE] + values[weights.GDES_DELTA]
    return out


def discriminator_config(config_path: str) -> EncoderConfig:
    """The discriminator's EncoderConfig from any of our config.json files (a pre-training
    directory's or an exported discriminator's): what fine-tuning and the task models'
    from_preset build."""
    config, network = load_config(config_path)
    if network == "generator":
        raise CheckpointError(f"{config_path} describes a generator; fine-tuning starts "
                              f"from the discriminator (its export or the pre-training "
                              f"--model_dir)")
    return network_encoder(config, "discriminator")


def discriminator_values(path: str) -> dict[str, np.ndarray]:
    """The discriminator's weights (embeddings/*, encoder/*, head/*) from any of our
    checkpoint formats."""
    _, kind, values = read(path)
    return network_values(values, kind, "discriminator")
