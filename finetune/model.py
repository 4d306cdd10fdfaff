"""The fine-tuning model (shared embeddings -> discriminator encoder -> task head) and
loading a pre-trained discriminator into it."""
from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from electra_tf.configs import ConfigError, ElectraConfig
from electra_tf.model import weights
from electra_tf.model.layers import ElectraEmbeddings, ElectraEncoder
from finetune.heads import ClassificationHead, SquadHead


class CheckpointError(ValueError):
    """The checkpoint to fine-tune from is missing or does not fit the model."""


class FinetuneModel(keras.Model):
    """embeddings + encoder (the discriminator's architecture) + a task head."""

    def __init__(self, config: ElectraConfig, head: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = ElectraEmbeddings(config, name="embeddings")
        self.encoder = ElectraEncoder(
            config, self.embeddings, hidden_size=config.hidden_size,
            num_layers=config.num_layers, num_heads=config.num_heads,
            intermediate_size=config.intermediate_size, name="encoder")
        self.head = head

    def build(self, input_shape=None):
        shape = (None, self.config.max_seq_length)
        self.encoder.build(shape)
        self.head.build(shape + (self.config.hidden_size,))
        self.built = True

    def call(self, inputs, training=None):
        hidden = self.encoder(inputs["input_ids"], inputs["segment_ids"], inputs["input_mask"],
                              training=training)
        if isinstance(self.head, SquadHead):
            return self.head(hidden, inputs["input_mask"], inputs["segment_ids"],
                             start_positions=inputs.get("start_positions") if training else None)
        return self.head(hidden, training=training)


def classification_model(config, num_outputs: int) -> FinetuneModel:
    model = FinetuneModel(config, ClassificationHead(num_outputs, config.hidden_dropout,
                                                     name="classifier"))
    model.build()
    return model


def squad_model(config, v2: bool, beam_size: int = 20) -> FinetuneModel:
    model = FinetuneModel(config, SquadHead(beam_size, answerable=v2, name="squad"))
    model.build()
    return model


# ---------------------------------------------------------------------- checkpoints
def resolve_checkpoint(path: str) -> tuple[str, str, str | None]:
    """(kind, checkpoint prefix, config.json or None) for --init_checkpoint.

    Accepted: an exported network directory (our `discriminator/`, or one written
    by `electra_tf.convert`: weights.* + config.json), a pre-training --model_dir
    (its latest checkpoint), or a pre-training checkpoint prefix (.../ckpt-N).
    """
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "weights.index")):
            return "export", os.path.join(path, "weights"), _maybe(path, "config.json")
        ckpt_dir = os.path.join(path, "checkpoints")
        latest = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
        if latest:
            return "pretraining", latest, _maybe(path, "config.json")
        raise CheckpointError(
            f"--init_checkpoint={path} holds no checkpoint: give an exported discriminator "
            f"directory (weights.index + config.json), a pre-training --model_dir, or a "
            f".../checkpoints/ckpt-N prefix")
    if os.path.isfile(path + ".index"):
        model_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        if os.path.basename(path).startswith("weights"):
            return "export", path, _maybe(os.path.dirname(path), "config.json")
        return "pretraining", path, _maybe(model_dir, "config.json")
    raise CheckpointError(f"--init_checkpoint={path} does not exist (no directory and no "
                          f"{path}.index)")


def _maybe(directory, name):
    p = os.path.join(directory, name)
    return p if os.path.isfile(p) else None


def load_config(config_path: str) -> ElectraConfig:
    try:
        with open(config_path) as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read the checkpoint's config {config_path}: {e}") from None
    d.pop("network", None)
    try:
        return ElectraConfig.from_dict(d)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{config_path}: {e}") from None


def load_pretrained(model: FinetuneModel, path: str) -> str:
    """Restores the embeddings and encoder from `path` (see resolve_checkpoint). Every
    encoder weight must be found with the model's shape; the pre-training heads and
    the generator are ignored."""
    kind, prefix, _ = resolve_checkpoint(path)
    try:
        values = weights.read(prefix)
        if kind == "pretraining":
            values = {("encoder/" + n[len("discriminator/"):] if n.startswith("discriminator/")
                       else n): v for n, v in values.items()}
        weights.assign(weights.network_weights(model.embeddings, model.encoder), values,
                       f"--init_checkpoint={path}")
    except weights.WeightsError as e:
        raise CheckpointError(str(e)) from None
    return prefix
