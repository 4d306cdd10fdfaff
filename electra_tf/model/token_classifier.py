"""ElectraTokenClassifier: an ElectraBackbone and a dense tag classifier on every token
(named entities and other per-word tags)."""
from __future__ import annotations

import keras
import keras_hub
from keras import ops

from electra_tf.model.backbone import ElectraBackbone
from electra_tf.model.text_classifier import _ElectraTask

IGNORE = -1  # label of positions without a tag (non-first word pieces, specials, padding)


@keras.saving.register_keras_serializable(package="electra_tf")
class TokenClassificationHead(keras.layers.Layer):
    """dropout -> dense(num_classes) on each token's hidden state (the original's tagging
    head: a dense layer on the dropped-out sequence output); float32 logits."""

    def __init__(self, num_classes: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.rate = dropout
        self.dropout = keras.layers.Dropout(dropout)
        self.dense = keras.layers.Dense(num_classes, name="output")

    def build(self, input_shape):
        self.dense.build((None, None, input_shape[-1]))
        self.built = True

    def call(self, hidden, inputs=None, training=None):
        return ops.cast(self.dense(self.dropout(hidden, training=training)), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, dropout=self.rate)
        return config


@keras.saving.register_keras_serializable(package="electra_tf")
class TaggedAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Accuracy over the positions that carry a tag (label != -1)."""

    def __init__(self, name="tagged_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        keep = ops.cast(ops.not_equal(y_true, IGNORE), "float32")
        if sample_weight is not None:
            keep = keep * ops.cast(sample_weight, "float32")
        return super().update_state(ops.maximum(y_true, 0), y_pred, keep)


@keras.saving.register_keras_serializable(package="electra_tf")
class ElectraTokenClassifier(_ElectraTask, keras_hub.models.Task):
    """Per-token classification on an ElectraBackbone: logits [B, S, num_classes].

    Inputs are the backbone's (`token_ids`, `segment_ids`, `padding_mask`); labels are
    [B, S] class ids with -1 where there is no tag (the word pieces after a word's
    first, [CLS], [SEP], padding). `compile()`'s default loss is sparse cross-entropy on
    logits ignoring -1 and its metric the accuracy over tagged positions;
    `finetune/tagging/data.py` turns CoNLL files into such features, and
    `finetune.run --task=token_classification` trains with the paper's recipe and scores
    entities as conlleval.

    Args:
        backbone: an `ElectraBackbone` (the discriminator).
        num_classes: number of tags.
        preprocessor: None (token-id inputs; words are aligned to pieces beforehand).
        dropout: dropout on the token vectors before the classifier.

    Example:
    ```python
    import numpy as np
    from electra_tf.model.backbone import ElectraBackbone
    from electra_tf.model.token_classifier import ElectraTokenClassifier

    backbone = ElectraBackbone(vocabulary_size=100, num_layers=1, num_heads=2,
                               hidden_dim=16, intermediate_dim=32)
    model = ElectraTokenClassifier(backbone, num_classes=3)
    x = {"token_ids": np.array([[2, 10, 11, 3]]), "segment_ids": np.zeros((1, 4), "int32"),
         "padding_mask": np.ones((1, 4), "int32")}
    y = np.array([[-1, 1, 2, -1]])  # tags of the two words; -1: no loss
    model.fit(x, y, verbose=0)
    model.predict(x, verbose=0).shape  # (1, 4, 3)
    ```
    """

    backbone_cls = ElectraBackbone
    head_class = TokenClassificationHead

    def __init__(self, backbone, num_classes: int, preprocessor=None, dropout: float = 0.1,
                 head_name: str = "tagger", **kwargs):
        self._setup(backbone, num_classes, preprocessor, dropout, head_name, kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                              ignore_class=IGNORE)
        if metrics == "auto":
            metrics = [TaggedAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    @classmethod
    def from_preset(cls, preset: str, num_classes: int, load_weights: bool = True,
                    **kwargs):
        """The tagger on a pre-trained backbone (electra_tf/model/presets.py lists what
        `preset` may be) with a new head of `num_classes` tags."""
        return cls._from_preset(preset, load_weights, kwargs.pop("preprocessor", None),
                                128, None, num_classes=num_classes, **kwargs)
