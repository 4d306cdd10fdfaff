"""The fine-tuning model (shared embeddings -> discriminator encoder -> task head) and
loading a pre-trained discriminator into it."""
from __future__ import annotations

import keras

from electra_tf.configs import ElectraConfig
from electra_tf.interop import ours
from electra_tf.model import weights
from electra_tf.model.layers import ElectraEmbeddings, ElectraEncoder
from finetune.heads import ClassificationHead, SquadHead


class FinetuneModel(keras.Model):
    """embeddings + encoder (the discriminator's architecture) + a task head."""

    def __init__(self, config: ElectraConfig, head: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = ElectraEmbeddings(config, name="embeddings")
        self.encoder = ElectraEncoder(config, self.embeddings, name="encoder")
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
# Checkpoint formats live in electra_tf.interop.ours: an exported network, a pre-training
# --model_dir or ckpt prefix, or `electra_tf.convert` output (Google / Hugging Face imports).
CheckpointError = ours.CheckpointError
resolve_checkpoint = ours.resolve
load_config = ours.load_config


def read_pretrained(path: str) -> dict:
    """The discriminator's weights (embeddings/*, encoder/*, head/*) from any of our
    checkpoint formats; read once and pass to `load_pretrained` for every run."""
    _, kind, values = ours.read(path)
    return ours.network_values(values, kind, "discriminator")


def load_pretrained(model: FinetuneModel, path: str, values: dict | None = None) -> None:
    """Restores the embeddings and encoder from `path` (or from `values`, its
    `read_pretrained`). Every encoder weight must be found with the model's shape;
    pre-training heads and the generator are ignored."""
    values = read_pretrained(path) if values is None else values
    try:
        weights.assign(weights.network_weights(model.embeddings, model.encoder), values,
                       f"--init_checkpoint={path}")
    except weights.WeightsError as e:
        raise CheckpointError(str(e)) from None
