"""One post-LN Transformer block, as BERT's and ELECTRA's, built of fast or stock layers.

x -> self-attention -> dropout -> + x -> LayerNorm -> dense(FFN, GELU) -> dense -> dropout
-> + -> LayerNorm. The sublayers and their names are keras-hub's `TransformerEncoder`'s
(so variable names, and checkpoints, are the same as before this class existed), with
two differences: attention dropout and hidden dropout are separate rates, and `fast`
chooses at build time between our same-maths layers (LeanAttention, FastDense,
FastLayerNorm, BitDropout, `gelu_exact`) and Keras' stock ones (`gelu_plain`); with the
fast ones, each residual's dropout, add and LayerNorm are one kernel each way
(`elementwise.residual_layer_norm`).
"""
from __future__ import annotations

import keras

from electra_tf.kernels.attention import LeanAttention
from electra_tf.kernels.dense import FastDense
from electra_tf.kernels.elementwise import (BitDropout, FastLayerNorm, gelu_exact, gelu_plain,
                                          residual_layer_norm)


def layer_classes(fast: bool) -> dict:
    """The layer classes (and GELU) a `fast` or a plain model is built of."""
    if fast:
        return dict(attention=LeanAttention, dense=FastDense, layer_norm=FastLayerNorm,
                    dropout=BitDropout, gelu=gelu_exact)
    return dict(attention=keras.layers.MultiHeadAttention, dense=keras.layers.Dense,
                layer_norm=keras.layers.LayerNormalization, dropout=keras.layers.Dropout,
                gelu=gelu_plain)


@keras.saving.register_keras_serializable(package="electra_tf")
class TransformerBlock(keras.layers.Layer):
    """A post-LN encoder block (see the module docstring).

    Args:
        intermediate_dim: the feed-forward layer's width.
        num_heads: attention heads; the head size is the input width / num_heads.
        dropout: dropout rate after the attention output and the feed-forward output.
        attention_dropout: dropout rate on the attention probabilities.
        layer_norm_epsilon: the LayerNorms' epsilon.
        initializer_range: stddev of the truncated-normal kernel initializer.
        fast: build our same-maths layers (True) or Keras' stock ones (False); the
            variables and their names are the same either way.

    Call with `x` [B, S, H] and `padding_mask` [B, S] (1 for real tokens).
    """

    def __init__(self, intermediate_dim: int, num_heads: int, dropout: float = 0.1,
                 attention_dropout: float = 0.1, layer_norm_epsilon: float = 1e-12,
                 initializer_range: float = 0.02, fast: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.fast = fast

    def _init(self):
        return keras.initializers.TruncatedNormal(stddev=self.initializer_range)

    def build(self, input_shape):
        hidden = input_shape[-1]
        if hidden % self.num_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by num_heads="
                             f"{self.num_heads}")
        c = layer_classes(self.fast)
        common = dict(dtype=self.dtype_policy)
        self._self_attention_layer = c["attention"](
            num_heads=self.num_heads, key_dim=hidden // self.num_heads,
            dropout=self.attention_dropout, kernel_initializer=self._init(),
            name="self_attention_layer", **common)
        self._self_attention_layer.build(query_shape=input_shape, value_shape=input_shape)
        self._self_attention_layer_norm = c["layer_norm"](
            epsilon=self.layer_norm_epsilon, name="self_attention_layer_norm", **common)
        self._self_attention_layer_norm.build(input_shape)
        self._self_attention_dropout = c["dropout"](
            self.dropout, name="self_attention_dropout", **common)
        self._feedforward_layer_norm = c["layer_norm"](
            epsilon=self.layer_norm_epsilon, name="feedforward_layer_norm", **common)
        self._feedforward_layer_norm.build(input_shape)
        self._feedforward_intermediate_dense = c["dense"](
            self.intermediate_dim, activation=c["gelu"], kernel_initializer=self._init(),
            name="feedforward_intermediate_dense", **common)
        self._feedforward_intermediate_dense.build(input_shape)
        self._feedforward_output_dense = c["dense"](
            hidden, kernel_initializer=self._init(), name="feedforward_output_dense", **common)
        self._feedforward_output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self._feedforward_dropout = c["dropout"](self.dropout, name="feedforward_dropout",
                                                 **common)
        self.built = True

    def call(self, x, padding_mask=None, training=None):
        mask = None if padding_mask is None else keras.ops.expand_dims(
            keras.ops.cast(padding_mask, "bool"), 1)  # [B, 1, S]: every query, these keys
        attended = self._self_attention_layer(query=x, value=x, attention_mask=mask,
                                              training=training)
        x = residual_layer_norm(x, attended, self._self_attention_dropout,
                                self._self_attention_layer_norm, training)
        h = self._feedforward_output_dense(self._feedforward_intermediate_dense(x))
        return residual_layer_norm(x, h, self._feedforward_dropout,
                                   self._feedforward_layer_norm, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(intermediate_dim=self.intermediate_dim, num_heads=self.num_heads,
                      dropout=self.dropout, attention_dropout=self.attention_dropout,
                      layer_norm_epsilon=self.layer_norm_epsilon,
                      initializer_range=self.initializer_range, fast=self.fast)
        return config
