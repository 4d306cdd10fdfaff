"""Embeddings and heads: the shared embeddings, GDES's view of them, the two pre-training
heads. Each takes `fast` (block.layer_classes) like the encoder blocks."""
from __future__ import annotations

import keras
import keras_hub
from keras import ops

from electra_tf.model.block import layer_classes
from electra_tf.kernels.elementwise import gelu_exact, gelu_plain  # noqa: F401


def truncated_normal(stddev: float):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def initializer(config):
    return truncated_normal(config.initializer_range)


@keras.saving.register_keras_serializable(package="electra_tf")
class ElectraEmbeddings(keras.layers.Layer):
    """Word + position + segment embeddings -> LayerNorm -> dropout.

    In pre-training one instance is shared by the generator and the discriminator; the
    word table also serves as the generator's (tied) output softmax.

    Args:
        vocabulary_size, embedding_dim, max_sequence_length, num_segments: table sizes.
        dropout: rate after the LayerNorm.
        layer_norm_epsilon, initializer_range: as the encoder's.
        fast: FastLayerNorm and BitDropout (True) or Keras' stock layers.
    """

    def __init__(self, vocabulary_size: int, embedding_dim: int, max_sequence_length: int,
                 num_segments: int = 2, dropout: float = 0.1, layer_norm_epsilon: float = 1e-12,
                 initializer_range: float = 0.02, fast: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_size = self.embedding_dim = embedding_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.rate = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.fast = fast
        init = truncated_normal(initializer_range)
        self.word_embeddings = keras_hub.layers.ReversibleEmbedding(
            vocabulary_size, embedding_dim, tie_weights=True, embeddings_initializer=init,
            dtype=self.dtype_policy, name="word_embeddings")
        self.position_embeddings = keras_hub.layers.PositionEmbedding(
            max_sequence_length, initializer=init, dtype=self.dtype_policy,
            name="position_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(
            num_segments, embedding_dim, embeddings_initializer=init, dtype=self.dtype_policy,
            name="token_type_embeddings")
        c = layer_classes(fast)
        self.layer_norm = c["layer_norm"](epsilon=layer_norm_epsilon, dtype=self.dtype_policy,
                                          name="layer_norm")
        self.dropout = c["dropout"](dropout, dtype=self.dtype_policy)

    @classmethod
    def from_encoder_config(cls, config, fast: bool = True, **kwargs):
        """From an EncoderConfig."""
        return cls(config.vocab_size, config.embedding_size, config.max_position_embeddings,
                   config.type_vocab_size, config.hidden_dropout, config.layer_norm_epsilon,
                   config.initializer_range, fast=fast, **kwargs)

    def build(self, input_ids_shape, segment_ids_shape=None):
        self.word_embeddings.build(input_ids_shape)
        self.position_embeddings.build(tuple(input_ids_shape) + (self.embedding_size,))
        self.token_type_embeddings.build(input_ids_shape)
        self.layer_norm.build(tuple(input_ids_shape) + (self.embedding_size,))
        self.built = True

    def call(self, input_ids, segment_ids, training=None, word_delta=None):
        """word_delta: [V, E] added to a stop-gradient copy of the word table (GDES)."""
        if word_delta is None:
            x = self.word_embeddings(input_ids)
        else:
            table = ops.stop_gradient(ops.convert_to_tensor(self.word_embeddings.embeddings))
            x = ops.take(table + ops.cast(word_delta, table.dtype), input_ids, axis=0)
            x = ops.cast(x, self.word_embeddings.compute_dtype)
        x = x + self.position_embeddings(x)
        x = x + self.token_type_embeddings(segment_ids)
        return self.dropout(self.layer_norm(x), training=training)

    def compute_output_shape(self, input_ids_shape, segment_ids_shape=None):
        return tuple(input_ids_shape) + (self.embedding_size,)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, embedding_dim=self.embedding_dim,
                      max_sequence_length=self.max_sequence_length,
                      num_segments=self.num_segments, dropout=self.rate,
                      layer_norm_epsilon=self.layer_norm_epsilon,
                      initializer_range=self.initializer_range, fast=self.fast)
        return config


class DisentangledEmbeddings(keras.layers.Layer):
    """Gradient-disentangled embedding sharing (DeBERTaV3, He et al. 2021): the shared
    embeddings with the word table stop_gradient(E_G) + E_delta. E_G, the generator's
    (shared) table, gets no gradient through here, so only the MLM loss trains it;
    E_delta (zero at the start) is trained by the discriminator's loss alone. Position and
    segment tables and the LayerNorm stay shared as with weight_tying=embeddings."""

    def __init__(self, shared: ElectraEmbeddings, **kwargs):
        super().__init__(**kwargs)
        self.shared = shared
        self.embedding_size = shared.embedding_size

    def build(self, input_ids_shape, segment_ids_shape=None):
        if not self.shared.built:
            self.shared.build(input_ids_shape)
        table = self.shared.word_embeddings.embeddings
        self.word_delta = self.add_weight(name="word_delta", shape=tuple(table.shape),
                                          initializer="zeros")
        self.built = True

    def call(self, input_ids, segment_ids, training=None):
        return self.shared(input_ids, segment_ids, training=training,
                           word_delta=self.word_delta)

    def compute_output_shape(self, input_ids_shape, segment_ids_shape=None):
        return tuple(input_ids_shape) + (self.embedding_size,)

    def word_table(self):
        """The discriminator's effective word table, E_G + E_delta (what is exported)."""
        return ops.convert_to_tensor(self.shared.word_embeddings.embeddings) + self.word_delta


class DiscriminatorHead(keras.layers.Layer):
    """dense(hidden, gelu) -> dense(1): one replaced-token logit per position."""

    def __init__(self, hidden_dim: int, initializer_range: float = 0.02, fast: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        c = layer_classes(fast)
        self.dense = c["dense"](hidden_dim, activation=c["gelu"],
                                kernel_initializer=truncated_normal(initializer_range),
                                dtype=self.dtype_policy, name="dense")
        # The original's second dense uses TF1's default (Glorot uniform) initializer.
        self.out = c["dense"](1, dtype=self.dtype_policy, name="dense_1")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.out.build(tuple(input_shape[:-1]) + (self.dense.units,))
        self.built = True

    def call(self, sequence_output):
        return ops.squeeze(self.out(self.dense(sequence_output)), -1)


class MaskedLMHead(keras_hub.layers.MaskedLMHead):
    """keras-hub's MLM head (at the masked positions: dense(E, gelu) -> LayerNorm -> tied
    softmax + bias) with its dense and LayerNorm built fast or stock (`fast`; the
    activation is the caller's, `generator_head` passes the matching GELU)."""

    def __init__(self, *args, fast: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fast = fast

    def build(self, inputs_shape, mask_positions_shape=None):
        c = layer_classes(self.fast)
        size = self.token_embedding.output_dim
        self._intermediate_dense = c["dense"](
            size, activation=self.intermediate_activation,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer, dtype=self.dtype_policy,
            name="intermediate_dense")
        self._intermediate_layer_norm = c["layer_norm"](
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="intermediate_layer_norm")
        self._intermediate_dense.build((inputs_shape[0], None, inputs_shape[-1]))
        self._intermediate_layer_norm.build((inputs_shape[0], None, size))
        self._bias = self.add_weight(name="output_bias", shape=[self.vocabulary_size],
                                     initializer=self.bias_initializer, dtype=self.dtype)
        self.built = True


def generator_head(config, embeddings: ElectraEmbeddings, name="generator_predictions",
                   fast: bool = True):
    """MLM head at the masked positions, tied to `embeddings`' word table (`config`: the
    EncoderConfig of the network it reads)."""
    return MaskedLMHead(token_embedding=embeddings.word_embeddings,
                        intermediate_activation=layer_classes(fast)["gelu"],
                        layer_norm_epsilon=config.layer_norm_epsilon,
                        kernel_initializer=initializer(config), fast=fast, name=name)
