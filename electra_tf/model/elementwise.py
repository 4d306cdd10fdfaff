"""Cheaper exact GELU, dropout and LayerNorm: the step's costliest element-wise ops, same maths.

Profiling the CPU train step (the numbers are in benchmarks/RESULTS.md) put, after the
matmuls, dropout's random numbers (TF's Philox draws a 32-bit word per element), the
automatic gradients of erf-GELU (many element-wise passes over every FFN activation) and
of Keras' LayerNorm (which also broadcasts gamma into a full-size tensor) at the top.

- `gelu_erf`: x * 0.5 (1 + erf(x / sqrt 2)) with a hand-written gradient
  (cdf(x) + x pdf(x)), forward and backward each one XLA-fused kernel (fusion.py).
  XLA fusion was also tried for LayerNorm and for softmax + dropout and dropped: at
  these shapes it was slower than TF's kernels.
- `BitDropout`: a `keras.layers.Dropout` whose keep/drop decisions are a counter hash
  of (position, key) (random_ops.hash_bits), a fresh key per call from the layer's seed
  generator (the same state and checkpointing as the layer it replaces). Drop iff the
  hash < round(rate * 2^32): P(drop) = rate to 2^-32. The forward pass and the backward
  pass (which recomputes the mask from the key instead of storing it) are one XLA kernel
  each; TF's Philox draw plus the compare/select passes took ~1.7x as long (fwd+bwd at
  [32, 4, 128, 128]: 5.5 -> 3.3 ms; benchmarks/RESULTS.md). Before 2026-12-02 the
  decisions came from 16 Philox bits each: the same rate, other draws.
- `FastLayerNorm`: Keras' LayerNormalization (float32 statistics) with the textbook
  hand-written gradient.

The encoder blocks (block.py) and heads (layers.py) are built of these when `fast=True`.
"""
from __future__ import annotations

import keras
from keras import ops

from electra_tf import random_ops
from electra_tf.model.fusion import xla_fused

_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@xla_fused
def _gelu_forward(x):
    return x * (0.5 * (1.0 + ops.erf(x * ops.cast(_INV_SQRT2, x.dtype))))


@xla_fused
def _gelu_backward(x, dy):
    z = x * ops.cast(_INV_SQRT2, x.dtype)
    cdf = 0.5 * (1.0 + ops.erf(z))
    pdf = ops.exp(-ops.square(z)) * ops.cast(_INV_SQRT_2PI, x.dtype)
    return dy * (cdf + x * pdf)


@ops.custom_gradient
def gelu_erf(x):
    """Exact (erf) GELU with the hand-written gradient cdf(x) + x pdf(x), forward and
    backward each one XLA kernel on TensorFlow (fusion.py; the backward recomputes erf,
    which is cheaper there than storing the forward's cdf)."""
    x = ops.convert_to_tensor(x)

    def grad(*args, upstream=None):
        return _gelu_backward(x, args[0] if upstream is None else upstream)

    return _gelu_forward(x), grad


@keras.saving.register_keras_serializable(package="electra_tf")
def gelu_exact(x):
    """erf GELU, as the original (keras-hub's models default to the tanh approximation);
    same values as `keras.activations.gelu(x, approximate=False)`, cheaper gradient.
    The fast layers' activation (FastDense fuses it with the bias)."""
    return gelu_erf(x)


@keras.saving.register_keras_serializable(package="electra_tf")
def gelu_plain(x):
    """Keras' own erf GELU: the plain path's activation (automatic gradient)."""
    return keras.activations.gelu(x, approximate=False)


@xla_fused
def _bias_gelu_forward(x, bias):
    return _gelu_forward.unfused(x + bias)


@xla_fused
def _bias_gelu_backward(x, bias, dy):
    d = _gelu_backward.unfused(x + bias, dy)
    rows = ops.reshape(ops.cast(d, "float32"), (-1, ops.shape(bias)[0]))
    return d, ops.cast(ops.sum(rows, axis=0), bias.dtype)


@ops.custom_gradient
def bias_gelu_erf(x, bias):
    """gelu_erf(x + bias), the bias add and the bias gradient's sum inside the same XLA
    kernels (a dense layer's bias + activation: one pass each way instead of three)."""

    def grad(*args, upstream=None):
        return _bias_gelu_backward(x, bias, args[0] if upstream is None else upstream)

    return _bias_gelu_forward(x, bias), grad


def keep_mask(n, key, rate: float):
    """[n] bool: position i is kept iff random_ops.hash_bits(i, key) >= rate * 2^32
    (key: a seed generator's [2] draw)."""
    index = ops.cast(ops.arange(n, dtype="int32"), "uint32")
    key0, key1 = random_ops.hash_keys(key)
    h = random_ops.hash_bits(index, key0, key1)
    threshold = min(int(round(rate * 2.0 ** 32)), 2 ** 32 - 1)
    return ops.greater_equal(h, ops.convert_to_tensor(threshold, "uint32"))


@xla_fused
def _hash_dropout(flat, key, rate):
    """Dropout of a 1-D tensor (flat: one kernel serves every shape of that size)."""
    keep = keep_mask(ops.shape(flat)[0], key, rate)
    return ops.where(keep, flat * ops.cast(1.0 / (1.0 - rate), flat.dtype),
                     ops.zeros_like(flat))


def bit_dropout(inputs, rate: float, seed_generator):
    """Dropout of `inputs`: drop decisions from `keep_mask` over the flattened tensor,
    with a fresh key drawn from `seed_generator` (see the module docstring). The
    backward pass recomputes the same mask from the key instead of storing it; each
    direction is one XLA kernel."""
    key = seed_generator.next()
    inputs = ops.convert_to_tensor(inputs)
    shape = ops.shape(inputs)

    @ops.custom_gradient
    def fn(x):
        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            return ops.reshape(_hash_dropout(ops.reshape(dy, (-1,)), key, rate), shape)

        return ops.reshape(_hash_dropout(ops.reshape(x, (-1,)), key, rate), shape), grad

    return fn(inputs)


@keras.saving.register_keras_serializable(package="electra_tf")
class BitDropout(keras.layers.Dropout):
    """Dropout with hashed drop decisions (see the module docstring)."""

    def call(self, inputs, training=False):
        if not training or self.rate <= 0 or self.noise_shape is not None:
            return super().call(inputs, training=training)
        return bit_dropout(inputs, self.rate, self.seed_generator)


def layer_norm(x, gamma, beta, epsilon):
    """LayerNorm over the last axis (in float32, like Keras'), hand-written gradient:
    dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) with g = dy * gamma."""
    out_dtype = x.dtype
    reduce_axes = tuple(range(len(x.shape) - 1))

    @ops.custom_gradient
    def fn(x, gamma, beta):
        x32 = ops.cast(x, "float32")
        centred = x32 - ops.mean(x32, axis=-1, keepdims=True)
        inv = ops.rsqrt(ops.mean(ops.square(centred), axis=-1, keepdims=True) + epsilon)
        x_hat = centred * inv

        def grad(*args, upstream=None):
            dy = ops.cast(args[0] if upstream is None else upstream, "float32")
            g = dy * gamma
            dx = (g - ops.mean(g, axis=-1, keepdims=True)
                  - x_hat * ops.mean(g * x_hat, axis=-1, keepdims=True)) * inv
            return (ops.cast(dx, x.dtype), ops.sum(dy * x_hat, axis=reduce_axes),
                    ops.sum(dy, axis=reduce_axes))

        return ops.cast(x_hat * gamma + beta, out_dtype), grad

    # read the variables here (cast reads them), so the gradient goes to explicit inputs
    return fn(x, ops.cast(gamma, "float32"), ops.cast(beta, "float32"))


@keras.saving.register_keras_serializable(package="electra_tf")
class FastLayerNorm(keras.layers.LayerNormalization):
    """LayerNormalization (last axis, scale and centre) using `layer_norm` above."""

    def call(self, inputs):
        axis = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        last = [a % len(inputs.shape) for a in axis] == [len(inputs.shape) - 1]
        if not last or self.rms_scaling or self.gamma is None or self.beta is None:
            return super().call(inputs)
        return ops.cast(layer_norm(inputs, self.gamma, self.beta, self.epsilon),
                        self.compute_dtype)
