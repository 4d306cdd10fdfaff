"""Leaner self-attention: Keras' MultiHeadAttention with the same maths in fewer passes.

Profiling the CPU train step (benchmarks/RESULTS.md) found three costs of Keras'
`MultiHeadAttention` that have nothing to do with the maths:

- Its `EinsumDense` projections ("abc,cde->abde", "abcd,cde->abe") run as a batched
  matmul of the [B, S, H] input against the broadcast kernel, so the kernel's gradient is
  B small matmuls plus a sum over the batch. `LeanAttention` multiplies the flattened
  [B*S, H] input by the same kernel instead: one matmul each way, no sum
  (`dense.flat_projection`, whose input gradient also avoids oneDNN's slow transposed form).
- The masked softmax does `where(mask, scores, -1e9)` then `where(mask, probs, 0)` over the
  full [B, N, T, S] scores, and both again in the backward pass. `LeanAttention` adds a
  [B, 1, T|1, S] bias once, as the original ELECTRA's additive `-10000 * (1 - mask)`, with
  Keras' -1e9 (-3e4 in float16) so masked probabilities are exactly 0 (exp underflows).
  The one difference is a row with every key masked (an all-padding example): uniform
  weights, as in the original, where Keras outputs zeros. Such rows never reach a loss.
- The dropout on the [B, N, T, S] probabilities, the largest in the model, draws a float
  per element; `LeanAttention` uses `elementwise.bit_dropout` (hashed decisions, one XLA
  kernel each way) keyed from the seed generator of the same `Dropout` sublayer.

The sublayers and variables are Keras' own, so weights, names and checkpoints do not
depend on which class built them; a call it does not cover (cross-attention, a causal
mask, Keras masks, gating, LoRA or quantized kernels) goes to Keras' implementation.
"""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.kernels.dense import flat_projection, plain_kernel
from electra_tf.kernels.elementwise import bit_dropout


@keras.saving.register_keras_serializable(package="electra_tf")
class LeanAttention(keras.layers.MultiHeadAttention):
    """MultiHeadAttention for self-attention with a padding mask (see module docstring)."""

    def _lean(self, query, value, key, use_causal_mask, return_attention_scores) -> bool:
        projections = (self._query_dense, self._key_dense, self._value_dense,
                       self._output_dense)
        return (value is query and (key is None or key is query) and not use_causal_mask
                and not return_attention_scores and not self._use_gate
                and len(query.shape) == 3
                and getattr(query, "_keras_mask", None) is None
                and not getattr(self, "_flash_attention", None)
                and all(plain_kernel(p) for p in projections)
                and self._query_dense.equation == "abc,cde->abde"
                and self._output_dense.equation == "abcd,cde->abe")

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False,
             training=None, use_causal_mask=False, **masks):
        masks = {name: m for name, m in masks.items() if m is not None}
        if masks or not self._lean(query, value, key, use_causal_mask, return_attention_scores):
            return super().call(query, value, key=key, attention_mask=attention_mask,
                                return_attention_scores=return_attention_scores,
                                training=training, use_causal_mask=use_causal_mask, **masks)
        # [B, T, N, D]; where our attention runs, the query's 1/sqrt(D) goes into its
        # (small) kernel and bias instead of the [B, T, N, D] product
        own = self._own_attention(attention_mask)
        q = flat_projection(self._query_dense, query, 1,
                            scale=self._inverse_sqrt_key_dim if own else None)
        k = flat_projection(self._key_dense, query, 1)
        v = flat_projection(self._value_dense, query, 1)
        context, _ = self._compute_attention(q, k, v, attention_mask, training,
                                             query_scaled=own)
        return flat_projection(self._output_dense, context, 2)

    def _own_attention(self, attention_mask, use_causal_mask=False) -> bool:
        """Whether `_compute_attention` below runs (not Keras') for [B, T, N, D] inputs."""
        return (not use_causal_mask and not getattr(self, "_flash_attention", None)
                and (attention_mask is None or len(attention_mask.shape) == 3))

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False,
                           query_scaled=False):
        """Keras' attention maths (see the module docstring); `query_scaled`: the query
        already carries the 1/sqrt(D) factor."""
        if len(query.shape) != 4 or not self._own_attention(attention_mask, use_causal_mask):
            return super()._compute_attention(
                query, key, value, attention_mask, training, return_attention_scores,
                **({"use_causal_mask": True} if use_causal_mask else {}))
        if not query_scaled:
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
        dropped = probs
        if training and self._dropout > 0:
            dropped = bit_dropout(probs, self._dropout, self._dropout_layer.seed_generator)
        out = ops.matmul(dropped, ops.transpose(value, (0, 2, 1, 3)))  # [B, N, T, D]
        return ops.transpose(out, (0, 2, 1, 3)), probs
