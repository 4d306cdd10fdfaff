"""The fine-tuning models: an ElectraBackbone (the discriminator's architecture) plus a
task head, and loading a pre-trained discriminator into them. Classification and tagging
use the Keras task models (electra_tf/model/text_classifier.py, token_classifier.py),
so what finetune.run trains is what a Keras user loads, fits and serves."""
from __future__ import annotations

import keras

from electra_tf.configs import EncoderConfig
from electra_tf.interop import ours
from electra_tf.model import weights
from electra_tf.model.backbone import ElectraBackbone
from electra_tf.model.text_classifier import ElectraTextClassifier
from electra_tf.model.token_classifier import ElectraTokenClassifier
from finetune.heads import SquadHead


class FinetuneModel(keras.Model):
    """backbone -> head. The head is called with the sequence output and the input dict
    (a classifier reads [CLS]; the SQuAD head also reads the masks and, in training,
    the gold start positions)."""

    def __init__(self, backbone: ElectraBackbone, head: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head = head

    def build(self, input_shape=None):
        self.head.build((None, None, self.backbone.hidden_dim))
        self.built = True

    def call(self, inputs, training=None):
        hidden = self.backbone.encode(inputs["token_ids"], inputs["segment_ids"],
                                      inputs["padding_mask"], training=training)
        return self.head(hidden, inputs, training=training)


def classification_model(config: EncoderConfig, num_outputs: int) -> ElectraTextClassifier:
    """A classifier (num_outputs classes) or regressor (1 output) on [CLS]."""
    return ElectraTextClassifier(ElectraBackbone.from_encoder_config(config, name="encoder"),
                                 num_outputs, dropout=config.hidden_dropout)


def token_model(config: EncoderConfig, num_tags: int) -> ElectraTokenClassifier:
    """A tagger: num_tags logits on every token."""
    return ElectraTokenClassifier(ElectraBackbone.from_encoder_config(config, name="encoder"),
                                  num_tags, dropout=config.hidden_dropout)


def squad_model(config: EncoderConfig, v2: bool, beam_size: int = 20) -> FinetuneModel:
    """Start/end span prediction (and, for SQuAD 2.0, answerability)."""
    model = FinetuneModel(ElectraBackbone.from_encoder_config(config, name="encoder"),
                          SquadHead(beam_size, answerable=v2, name="squad"))
    model.build()
    return model


# ---------------------------------------------------------------------- checkpoints
# Checkpoint formats live in electra_tf.interop.ours: an exported network, a pre-training
# --model_dir or ckpt prefix, or `electra_tf.convert` output (Google / Hugging Face imports).
CheckpointError = ours.CheckpointError
resolve_checkpoint = ours.resolve


load_config = ours.discriminator_config
read_pretrained = ours.discriminator_values  # read once, pass to load_pretrained every run


def load_pretrained(model, path: str, values: dict | None = None) -> None:
    """Restores the embeddings and encoder from `path` (or from `values`, its
    `read_pretrained`). Every encoder weight must be found with the model's shape;
    pre-training heads and the generator are ignored."""
    values = read_pretrained(path) if values is None else values
    try:
        weights.assign(weights.network_weights(model.backbone.embeddings, model.backbone),
                       values,
                       f"--init_checkpoint={path}")
    except weights.WeightsError as e:
        raise CheckpointError(str(e)) from None
