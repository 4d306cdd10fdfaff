"""ElectraBackbone: the ELECTRA encoder as a keras-hub Backbone.

embeddings (word + position + segment -> LayerNorm -> dropout) -> embeddings_projection
(when the hidden size differs from the embedding size) -> num_layers post-LN blocks.
No pooler (ELECTRA has none; the fine-tuning heads read [CLS] directly) and exact GELU.
The pre-training model holds two of these (generator and discriminator) on one shared
embeddings layer; the fine-tuning models are one backbone plus a head.
"""
from __future__ import annotations

import keras
import keras_hub

from electra_tf.model.block import TransformerBlock, layer_classes
from electra_tf.model.layers import ElectraEmbeddings, truncated_normal


@keras.saving.register_keras_serializable(package="electra_tf")
class ElectraBackbone(keras_hub.models.Backbone):
    """The ELECTRA encoder (generator or discriminator) as a functional Keras model.

    Takes `{"token_ids", "segment_ids", "padding_mask"}` ([B, S] ints; padding_mask 1 for
    real tokens) and returns `{"sequence_output": [B, S, hidden_dim]}`.

    Args:
        vocabulary_size: rows of the word table.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: the blocks' width.
        intermediate_dim: the feed-forward width.
        embedding_dim: width of the embeddings; a dense `embeddings_projection` maps them
            to `hidden_dim` when they differ. Default: `hidden_dim`.
        dropout: hidden dropout (embeddings, attention output, feed-forward output).
        attention_dropout: dropout on the attention probabilities. Default: `dropout`.
        max_sequence_length: rows of the position table.
        num_segments: rows of the segment table.
        layer_norm_epsilon: every LayerNorm's epsilon (the original's 1e-12).
        initializer_range: stddev of the truncated-normal initializers.
        fast: build our same-maths speed layers (default) or Keras' stock layers; the
            weights and their names are the same either way (block.py).
        embeddings: an `ElectraEmbeddings` (or GDES `DisentangledEmbeddings`) to use
            instead of making one: how the generator shares the discriminator's tables.
            Not part of the config: a restored backbone has its own.
        dtype: the dtype policy of the layers (default: Keras' global policy).

    Example:
    ```python
    import numpy as np
    from electra_tf.model.backbone import ElectraBackbone

    backbone = ElectraBackbone(vocabulary_size=1000, num_layers=2, num_heads=2,
                               hidden_dim=64, intermediate_dim=128, embedding_dim=32,
                               max_sequence_length=64)
    ids = np.array([[2, 57, 311, 3, 0, 0]])  # [CLS] two tokens [SEP], padding
    out = backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids),
                    "padding_mask": (ids > 0).astype("int32")})
    out["sequence_output"].shape  # (1, 6, 64)
    ```
    """

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int,
                 hidden_dim: int, intermediate_dim: int, embedding_dim: int | None = None,
                 dropout: float = 0.1, attention_dropout: float | None = None,
                 max_sequence_length: int = 512, num_segments: int = 2,
                 layer_norm_epsilon: float = 1e-12, initializer_range: float = 0.02,
                 fast: bool = True, embeddings=None, dtype=None, **kwargs):
        embedding_dim = hidden_dim if embedding_dim is None else embedding_dim
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        # === Layers ===
        self.embeddings = embeddings or ElectraEmbeddings(
            vocabulary_size, embedding_dim, max_sequence_length, num_segments, dropout,
            layer_norm_epsilon, initializer_range, fast=fast, dtype=dtype, name="embeddings")
        self.embeddings_projection = None
        if hidden_dim != embedding_dim:
            self.embeddings_projection = layer_classes(fast)["dense"](
                hidden_dim, kernel_initializer=truncated_normal(initializer_range),
                dtype=dtype, name="embeddings_project")
        self.transformer_layers = [
            TransformerBlock(intermediate_dim, num_heads, dropout, attention_dropout,
                             layer_norm_epsilon, initializer_range, fast=fast, dtype=dtype,
                             name=f"layer_{i}")
            for i in range(num_layers)]
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        # variables are created here (the layers build on first call): under the model's
        # name, so a generator's and a discriminator's have distinct paths
        with keras.name_scope(kwargs.get("name") or "electra_backbone"):
            x = self.embeddings(token_ids, segment_ids)
            if self.embeddings_projection is not None:
                x = self.embeddings_projection(x)
            for block in self.transformer_layers:
                x = block(x, padding_mask=padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask},
            outputs={"sequence_output": x}, dtype=dtype, **kwargs)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.fast = fast

    @property
    def hidden_size(self) -> int:
        return self.hidden_dim

    def encode(self, token_ids, segment_ids, padding_mask, training=None):
        """[B, S] ids, segments, mask -> [B, S, hidden_dim] sequence output."""
        return self({"token_ids": token_ids, "segment_ids": segment_ids,
                     "padding_mask": padding_mask}, training=training)["sequence_output"]

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, num_layers=self.num_layers,
                      num_heads=self.num_heads, hidden_dim=self.hidden_dim,
                      intermediate_dim=self.intermediate_dim, embedding_dim=self.embedding_dim,
                      dropout=self.dropout, attention_dropout=self.attention_dropout,
                      max_sequence_length=self.max_sequence_length,
                      num_segments=self.num_segments,
                      layer_norm_epsilon=self.layer_norm_epsilon,
                      initializer_range=self.initializer_range, fast=self.fast)
        return config

    @classmethod
    def from_encoder_config(cls, config, embeddings=None, fast: bool | None = None,
                            **kwargs) -> "ElectraBackbone":
        """The backbone for an `EncoderConfig` (`ElectraConfig.encoder` for the
        discriminator, `.generator_encoder()` for the generator). `fast` defaults to the
        config's speed_path ("fast")."""
        from electra_tf.kernels import is_fast
        fast = is_fast(config.speed_path) if fast is None else fast
        return cls(vocabulary_size=config.vocab_size, embedding_dim=config.embedding_size,
                   hidden_dim=config.hidden_size, num_layers=config.num_layers,
                   num_heads=config.num_heads, intermediate_dim=config.intermediate_size,
                   dropout=config.hidden_dropout, attention_dropout=config.attention_dropout,
                   max_sequence_length=config.max_position_embeddings,
                   num_segments=config.type_vocab_size,
                   layer_norm_epsilon=config.layer_norm_epsilon,
                   initializer_range=config.initializer_range, fast=fast,
                   embeddings=embeddings, **kwargs)
