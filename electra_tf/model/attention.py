"""Leaner self-attention for keras-hub's TransformerEncoder: same maths, fewer passes.

Profiled on CPU (ELECTRA-Small, batch 32 x 128, see benchmarks/RESULTS.md), two costs of
Keras' `MultiHeadAttention` had nothing to do with the maths:

- `EinsumDense` projections ("abc,cde->abde", "abcd,cde->abe") run as a batched matmul of
  the [B, S, H] input against the broadcast kernel, so the kernel's gradient is B small
  matmuls plus a sum over the batch. `FlatEinsumDense` multiplies the flattened
  [B*S, H] input instead: one matmul each way, no sum (`dense.matmul`, whose input
  gradient also avoids oneDNN's slow transposed form).
- The masked softmax does `where(mask, scores, -1e9)` then `where(mask, probs, 0)` over the
  full [B, N, T, S] scores, and both again in the backward pass. `LeanAttention` adds a
  [B, 1, T|1, S] bias once, as the original ELECTRA's additive `-10000 * (1 - mask)`, with
  Keras' -1e9 (-3e4 in float16) so masked probabilities are exactly 0 (exp underflows). The one difference is
  a row with every key masked (an all-padding example): uniform weights, as in the
  original, where Keras outputs zeros. Such rows never reach a loss.

`model.layers.use_fast_layers` swaps these in for keras-hub's sublayers.
"""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.model.dense import flat_projection, plain_kernel

_FLAT_EQUATIONS = {"abc,cde->abde": 1, "abcd,cde->abe": 2}  # input dims contracted


@keras.saving.register_keras_serializable(package="electra_tf")
class FlatEinsumDense(keras.layers.EinsumDense):
    """EinsumDense computing its two projection equations as one 2-D matmul."""

    def call(self, inputs, training=None):
        contracted = _FLAT_EQUATIONS.get(self.equation)
        if contracted is None or not plain_kernel(self):
            return super().call(inputs, training=training)
        return flat_projection(self, inputs, contracted)


@keras.saving.register_keras_serializable(package="electra_tf")
class LeanAttention(keras.layers.MultiHeadAttention):
    """MultiHeadAttention over [B, T, N, D] with an additive mask (see module docstring)."""

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        if (use_causal_mask or len(query.shape) != 4 or getattr(self, "_flash_attention", None)
                or (attention_mask is not None and len(attention_mask.shape) != 3)):
            return super()._compute_attention(
                query, key, value, attention_mask, training, return_attention_scores,
                **({"use_causal_mask": True} if use_causal_mask else {}))
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        q = ops.transpose(query, (0, 2, 1, 3))  # [B, N, T, D]
        k = ops.transpose(key, (0, 2, 3, 1))  # [B, N, D, S]
        scores = ops.matmul(q, k)  # [B, N, T, S]
        if attention_mask is not None:  # [B, T or 1, S] -> additive [B, 1, T or 1, S]
            negative = -3e4 if keras.backend.standardize_dtype(scores.dtype) == "float16" else -1e9
            bias = ops.where(ops.cast(attention_mask, "bool"),
                             ops.zeros((), scores.dtype), ops.cast(negative, scores.dtype))
            scores = scores + ops.expand_dims(bias, 1)
        probs = ops.softmax(scores, axis=-1)
        dropped = self._dropout_layer(probs, training=training) if self._dropout > 0 else probs
        out = ops.matmul(dropped, ops.transpose(value, (0, 2, 1, 3)))  # [B, N, T, D]
        return ops.transpose(out, (0, 2, 1, 3)), probs
