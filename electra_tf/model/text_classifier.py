"""ElectraTextClassifier: an ElectraBackbone and a classifier on the [CLS] hidden state,
as the original's fine-tuning model, in keras-hub's task-model shape."""
from __future__ import annotations

import keras
import keras_hub
from keras import ops

from electra_tf.model.backbone import ElectraBackbone
from electra_tf.model.preprocessor import ElectraTextClassifierPreprocessor

TOKEN_FEATURES = ("token_ids", "segment_ids", "padding_mask")


@keras.saving.register_keras_serializable(package="electra_tf")
class ClassificationHead(keras.layers.Layer):
    """dropout -> dense(num_outputs) on the [CLS] hidden state (no pooler, as ELECTRA;
    Keras' default Glorot-uniform initialisation, like the original's tf.layers.dense)."""

    def __init__(self, num_outputs: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.rate = dropout
        self.dropout = keras.layers.Dropout(dropout)
        self.dense = keras.layers.Dense(num_outputs, name="output")

    def build(self, input_shape):
        self.dense.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, hidden, inputs=None, training=None):
        cls = hidden[:, 0]
        return ops.cast(self.dense(self.dropout(cls, training=training)), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, dropout=self.rate)
        return config


class _ElectraTask:
    """What both task models share: construction (a backbone, a head of `head_class`),
    the call (backbone -> head on the token features, other keys of the input dict
    ignored), building, config and from_preset."""

    head_class = None

    def _setup(self, backbone, num_classes, preprocessor, dropout, head_name, kwargs):
        # === Layers ===
        head = self.head_class(num_classes, dropout, name=head_name)
        # === Model === (a subclassed call: other keys of the input dict are ignored)
        compile_now = kwargs.pop("compile", True)
        keras_hub.models.Task.__init__(self, compile=False, **kwargs)
        self._init_task(backbone, head, preprocessor, compile_now)
        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        self.head_name = head_name

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, dropout=self.dropout,
                      head_name=self.head_name)
        return config

    def _init_task(self, backbone, head, preprocessor, compile_now):
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.head = head
        self.head.build((None, None, backbone.hidden_dim))
        self.dtype_policy = backbone.dtype_policy
        self.built = True  # the backbone is functional (built) and the head built above
        if compile_now:
            self.compile()  # keras-hub's defaults

    def call(self, inputs, training=None):
        hidden = self.backbone({k: inputs[k] for k in TOKEN_FEATURES},
                               training=training)["sequence_output"]
        return self.head(hidden, inputs, training=training)

    def build(self, input_shape=None):
        self.built = True

    def get_compile_config(self):
        """None: a loaded model is compiled by its constructor with the defaults (call
        compile() again for others); the optimizer's state is not saved with it."""
        return None

    @classmethod
    def _from_preset(cls, preset, load_weights, preprocessor, sequence_length, lowercase,
                     **kwargs):
        from electra_tf.model.presets import PresetError, load_backbone

        backbone, vocab, preset_lowercase = load_backbone(preset, load_weights)
        if preprocessor == "auto":
            if vocab is None:
                raise PresetError(f"{preset} has no vocabulary for the preprocessor: pass "
                                  f"preprocessor=None (token ids in) or one you built")
            preprocessor = ElectraTextClassifierPreprocessor(
                vocab, preset_lowercase if lowercase is None else lowercase,
                sequence_length)
        return cls(backbone=backbone, preprocessor=preprocessor, **kwargs)


@keras.saving.register_keras_serializable(package="electra_tf")
class ElectraTextClassifier(_ElectraTask, keras_hub.models.TextClassifier):
    """Sentence (pair) classification or regression on an ElectraBackbone.

    Takes the backbone's inputs (`token_ids`, `segment_ids`, `padding_mask`), or raw
    strings / `(texts, pairs)` tuples when it has a preprocessor, and returns float32
    logits [B, num_classes] (one output: a regression score). `compile()`'s defaults are
    keras-hub's (Adam 5e-5, sparse cross-entropy on logits); for the paper's recipe
    (layer-wise decay, warm-up, AdamW without bias correction) pass
    `finetune.training.keras_optimizer(model, options, steps)`.

    Args:
        backbone: an `ElectraBackbone` (the discriminator).
        num_classes: outputs of the classifier.
        preprocessor: an `ElectraTextClassifierPreprocessor`, or None for token-id
            inputs.
        dropout: dropout on the [CLS] vector before the classifier.

    Example:
    ```python
    from electra_tf.model.text_classifier import ElectraTextClassifier

    # a pre-trained discriminator: pretraining's <model_dir>/discriminator, or a preset
    model = ElectraTextClassifier.from_preset("/tmp/electra_small/discriminator",
                                              num_classes=2, sequence_length=64)
    model.fit(["a gripping film.", "dull and slow."], [1, 0], batch_size=2)
    model.predict(["what a film!"])  # logits, shape (1, 2)
    ```
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraTextClassifierPreprocessor
    head_class = ClassificationHead

    def __init__(self, backbone, num_classes: int, preprocessor=None, dropout: float = 0.1,
                 head_name: str = "classifier", **kwargs):
        self._setup(backbone, num_classes, preprocessor, dropout, head_name, kwargs)

    @classmethod
    def from_preset(cls, preset: str, num_classes: int, load_weights: bool = True,
                    preprocessor="auto", sequence_length: int = 128,
                    lowercase: bool | None = None, **kwargs):
        """The classifier on a pre-trained backbone (electra_tf/model/presets.py lists what
        `preset` may be), with a new head of `num_classes` outputs and, by default, a
        preprocessor on the preset's vocabulary."""
        return cls._from_preset(preset, load_weights, preprocessor, sequence_length,
                                lowercase, num_classes=num_classes, **kwargs)
