"""Building blocks: exact GELU, the shared embeddings, an encoder, the two heads."""
from __future__ import annotations

import keras
import keras_hub
from keras import ops

from electra_tf.model import switches
from electra_tf.model.attention import FlatEinsumDense, LeanAttention
from electra_tf.model.dense import FastDense
from electra_tf.model.elementwise import BitDropout, FastLayerNorm, gelu_exact  # noqa: F401

# Keras layer -> our subclass with the same maths and variables but cheaper calls
# (elementwise.py, attention.py, dense.py; measured in benchmarks/RESULTS.md).
FAST_LAYERS = {
    keras.layers.Dropout: BitDropout,
    keras.layers.LayerNormalization: FastLayerNorm,
    keras.layers.MultiHeadAttention: LeanAttention,
    keras.layers.EinsumDense: FlatEinsumDense,
    keras.layers.Dense: FastDense,
}


def use_fast_layers(layer) -> int:
    """Turn every layer inside `layer` (itself included) whose type is exactly a key of
    FAST_LAYERS into its fast subclass, in place: the object, name, config, variables,
    seed generator and so the checkpoint layout stay; only `call` changes. keras-hub
    creates its sublayers in build(), so this runs after building. Returns the count
    (0 with ELECTRA_TF_FAST_LAYERS=0: the stock layers stay, switches.py)."""
    if not switches.fast_layers():
        return 0
    count = 0
    for sub in layer._flatten_layers(include_self=True, recursive=True):
        fast = FAST_LAYERS.get(type(sub))
        if fast is not None:
            sub.__class__ = fast
            count += 1
    return count


def initializer(config):
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


class ElectraEmbeddings(keras.layers.Layer):
    """Word + position + segment embeddings -> LayerNorm -> dropout.

    One instance is shared by the generator and the discriminator; the word
    table also serves as the generator's (tied) output softmax.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        init = initializer(config)
        self.word_embeddings = keras_hub.layers.ReversibleEmbedding(
            config.vocab_size, config.embedding_size, tie_weights=True,
            embeddings_initializer=init, name="word_embeddings")
        self.position_embeddings = keras_hub.layers.PositionEmbedding(
            config.max_position_embeddings, initializer=init, name="position_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(
            config.type_vocab_size, config.embedding_size, embeddings_initializer=init,
            name="token_type_embeddings")
        fast = switches.fast_layers()
        self.layer_norm = (FastLayerNorm if fast else keras.layers.LayerNormalization)(
            epsilon=config.layer_norm_epsilon, name="layer_norm")
        self.dropout = (BitDropout if fast else keras.layers.Dropout)(config.hidden_dropout)
        self.embedding_size = config.embedding_size

    def build(self, input_shape):
        self.word_embeddings.build(input_shape)
        self.position_embeddings.build(tuple(input_shape) + (self.embedding_size,))
        self.token_type_embeddings.build(input_shape)
        self.layer_norm.build(tuple(input_shape) + (self.embedding_size,))
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

    def build(self, input_shape):
        if not self.shared.built:
            self.shared.build(input_shape)
        table = self.shared.word_embeddings.embeddings
        self.word_delta = self.add_weight(name="word_delta", shape=tuple(table.shape),
                                          initializer="zeros")
        self.built = True

    def call(self, input_ids, segment_ids, training=None):
        return self.shared(input_ids, segment_ids, training=training,
                           word_delta=self.word_delta)

    def word_table(self):
        """The discriminator's effective word table, E_G + E_delta (what is exported)."""
        return ops.convert_to_tensor(self.shared.word_embeddings.embeddings) + self.word_delta


class ElectraEncoder(keras.layers.Layer):
    """(shared embeddings) -> embeddings_project (if sizes differ) -> N post-LN blocks.
    Sizes default to the config's (the discriminator's); the generator passes its own."""

    def __init__(self, config, embeddings: ElectraEmbeddings, hidden_size: int | None = None,
                 num_layers: int | None = None, num_heads: int | None = None,
                 intermediate_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        hidden_size = config.hidden_size if hidden_size is None else hidden_size
        num_layers = config.num_layers if num_layers is None else num_layers
        num_heads = config.num_heads if num_heads is None else num_heads
        intermediate_size = (config.intermediate_size if intermediate_size is None
                             else intermediate_size)
        self.embeddings = embeddings
        self.hidden_size = hidden_size
        self.project = None
        if hidden_size != config.embedding_size:
            self.project = keras.layers.Dense(hidden_size, kernel_initializer=initializer(config),
                                              name="embeddings_project")
        self.blocks = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=intermediate_size, num_heads=num_heads,
                dropout=config.hidden_dropout, activation=gelu_exact,
                layer_norm_epsilon=config.layer_norm_epsilon,
                kernel_initializer=initializer(config), normalize_first=False,
                name=f"layer_{i}")
            for i in range(num_layers)]

    def build(self, input_shape):
        if not self.embeddings.built:  # shared: the other network may have built it
            self.embeddings.build(input_shape)
        shape = tuple(input_shape) + (self.embeddings.embedding_size,)
        if self.project is not None:
            self.project.build(shape)
        shape = tuple(input_shape) + (self.hidden_size,)
        for block in self.blocks:
            block.build(shape)
            use_fast_layers(block)
        self.built = True

    def call(self, input_ids, segment_ids, input_mask, training=None):
        x = self.embeddings(input_ids, segment_ids, training=training)
        if self.project is not None:
            x = self.project(x)
        for block in self.blocks:
            x = block(x, padding_mask=input_mask, training=training)
        return x


class DiscriminatorHead(keras.layers.Layer):
    """dense(hidden, gelu) -> dense(1): one replaced-token logit per position."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(config.hidden_size, activation=gelu_exact,
                                        kernel_initializer=initializer(config), name="dense")
        # The original's second dense uses TF1's default (Glorot uniform) initializer.
        self.out = keras.layers.Dense(1, name="dense_1")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.out.build(tuple(input_shape[:-1]) + (self.dense.units,))
        self.built = True

    def call(self, sequence_output):
        return ops.squeeze(self.out(self.dense(sequence_output)), -1)


def generator_head(config, embeddings: ElectraEmbeddings, name="generator_predictions"):
    """MLM head at the masked positions: dense(E, gelu) -> LayerNorm -> tied softmax + bias."""
    return keras_hub.layers.MaskedLMHead(
        token_embedding=embeddings.word_embeddings, intermediate_activation=gelu_exact,
        layer_norm_epsilon=config.layer_norm_epsilon, kernel_initializer=initializer(config),
        name=name)
