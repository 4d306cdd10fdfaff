"""Cheaper exact GELU, dropout and LayerNorm: the step's costliest element-wise ops, same maths.

Profiling the CPU train step (the numbers are in benchmarks/RESULTS.md) put, after the
matmuls, dropout's random numbers (TF's Philox draws a 32-bit word per element), the
automatic gradients of erf-GELU (many element-wise passes over every FFN activation) and
of Keras' LayerNorm (which also broadcasts gamma into a full-size tensor) at the top.

- `gelu_erf`: x * 0.5 (1 + erf(x / sqrt 2)) with a hand-written gradient
  (cdf(x) + x pdf(x)), forward and backward each one XLA-fused kernel (fusion.py).
  XLA fusion was also tried for softmax + dropout and dropped: at these shapes it was
  slower than TF's kernels.
- `BitDropout`: a `keras.layers.Dropout` whose keep/drop decisions are a counter hash
  of (position, key) (random_ops.hash_bits), a fresh key per call from the layer's seed
  generator (the same state and checkpointing as the layer it replaces). Drop iff the
  hash < round(rate * 2^32): P(drop) = rate to 2^-32. The forward pass and the backward
  pass (which recomputes the mask from the key instead of storing it) are one XLA kernel
  each, faster than TF's Philox draw plus the compare/select passes (timings:
  benchmarks/RESULTS.md). Before 2026-12-02 the decisions came from 16 Philox bits each:
  the same rate, other draws.
- `FastLayerNorm` / `layer_norm`: Keras' LayerNormalization (float32 statistics) with
  the textbook hand-written gradient, one XLA kernel each way; `residual_layer_norm`
  puts a block's residual dropout and add into the same kernels (LN(x + dropout(h)));
  both are faster than TF's op-by-op LayerNorm (timings: benchmarks/RESULTS.md).

The encoder blocks (block.py) and heads (layers.py) are built of these when `fast=True`.
"""
from __future__ import annotations

import keras
from keras import ops

from electra_tf import random_ops
from electra_tf.kernels.fusion import xla_fused

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


def _dropped(x, key, rate: float):
    """Dropout's maths inside a kernel: `keep_mask` over x flattened row-major (so the
    same decisions for the same key whatever x's shape), kept values scaled by
    1 / (1 - rate)."""
    shape = ops.shape(x)
    n = 1
    for d in shape:  # static ints inside an XLA kernel, tensors op by op
        n = n * d
    keep = ops.reshape(keep_mask(n, key, rate), shape)
    return ops.where(keep, x * ops.cast(1.0 / (1.0 - rate), x.dtype), ops.zeros_like(x))


@xla_fused
def _hash_dropout(flat, key, rate):
    """Dropout of a 1-D tensor (flat: one kernel serves every shape of that size)."""
    return _dropped(flat, key, rate)


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


@xla_fused
def _norm_forward(x, h, gamma, beta, key, rate, epsilon):
    """[M, H] float32 rows (h: None or rows added after dropout at `rate`) -> the
    LayerNorm's output, x_hat and 1 / std [M, 1] (kept for the backward)."""
    if h is not None:
        x = x + (_dropped(h, key, rate) if rate > 0 else h)
    centred = x - ops.mean(x, axis=-1, keepdims=True)
    inv = ops.rsqrt(ops.mean(ops.square(centred), axis=-1, keepdims=True) + epsilon)
    x_hat = centred * inv
    return x_hat * gamma + beta, x_hat, inv


@xla_fused
def _norm_backward(dy, x_hat, inv, gamma, key, rate):
    """dx = inv (g - mean(g) - x_hat mean(g x_hat)) with g = dy gamma; the gamma and
    beta gradients; with a dropout `rate`, also dropout's backward of dx (the residual
    branch's gradient)."""
    g = dy * gamma
    dx = (g - ops.mean(g, axis=-1, keepdims=True)
          - x_hat * ops.mean(g * x_hat, axis=-1, keepdims=True)) * inv
    out = (dx, ops.sum(dy * x_hat, axis=0), ops.sum(dy, axis=0))
    return out + (_dropped(dx, key, rate),) if rate > 0 else out


def layer_norm(x, gamma, beta, epsilon, residual=None, dropout_key=None, rate=0.0):
    """LayerNorm over the last axis of x, or of x + dropout(residual) (a post-LN block's
    sum), in float32 like Keras', with the textbook hand-written gradient
    dx = inv_std (g - mean(g) - x_hat mean(g x_hat)), g = dy gamma.

    Forward and backward are one XLA kernel each (fusion.py), the residual's dropout
    (`bit_dropout`'s decisions from `dropout_key`, when rate > 0) and add included: the
    op-by-op form read and wrote each [tokens, H] activation ~20 times."""
    width = x.shape[-1]
    shape = ops.shape(x)
    x_dtype = x.dtype
    h_dtype = None if residual is None else residual.dtype
    rate = float(rate) if residual is not None and dropout_key is not None else 0.0

    def rows(t):
        return ops.reshape(ops.cast(t, "float32"), (-1, width))

    def run(x, h, gamma, beta):
        out, x_hat, inv = _norm_forward(rows(x), None if h is None else rows(h), gamma, beta,
                                        dropout_key, rate, float(epsilon))

        def grad(dy):
            dx, dgamma, dbeta, *dh = _norm_backward(rows(dy), x_hat, inv, gamma,
                                                    dropout_key, rate)
            dx_out = ops.cast(ops.reshape(dx, shape), x_dtype)
            if h is None:
                return dx_out, dgamma, dbeta
            dh = ops.cast(ops.reshape(dh[0] if dh else dx, shape), h_dtype)
            return dx_out, dh, dgamma, dbeta

        return ops.cast(ops.reshape(out, shape), x_dtype), grad

    @ops.custom_gradient
    def plain(x, gamma, beta):
        out, grad = run(x, None, gamma, beta)
        return out, lambda *a, upstream=None: grad(a[0] if upstream is None else upstream)

    @ops.custom_gradient
    def with_residual(x, h, gamma, beta):
        out, grad = run(x, h, gamma, beta)
        return out, lambda *a, upstream=None: grad(a[0] if upstream is None else upstream)

    # read the variables here (cast reads them), so the gradient goes to explicit inputs
    gamma, beta = ops.cast(gamma, "float32"), ops.cast(beta, "float32")
    if residual is None:
        return plain(x, gamma, beta)
    return with_residual(x, residual, gamma, beta)


def residual_layer_norm(x, h, dropout, norm, training=None):
    """norm(x + dropout(h)), a post-LN block's residual sum. With our FastLayerNorm and
    BitDropout it is one `layer_norm` call (one XLA kernel each way, the same dropout
    decisions as the BitDropout layer's own call); with Keras' stock layers it is
    exactly that expression."""
    fused = (type(norm) is FastLayerNorm and norm.fusable(x) and type(dropout) is BitDropout
             and dropout.noise_shape is None)
    if not fused:
        return norm(x + dropout(h, training=training))
    key, rate = None, 0.0
    if training and dropout.rate > 0:
        key, rate = dropout.seed_generator.next(), dropout.rate
    return ops.cast(layer_norm(x, norm.gamma, norm.beta, norm.epsilon, residual=h,
                               dropout_key=key, rate=rate), norm.compute_dtype)


@keras.saving.register_keras_serializable(package="electra_tf")
class FastLayerNorm(keras.layers.LayerNormalization):
    """LayerNormalization (last axis, scale and centre) using `layer_norm` above."""

    def fusable(self, inputs) -> bool:
        """Whether `layer_norm` computes this layer's call: last axis, scale and centre."""
        axis = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        last = [a % len(inputs.shape) for a in axis] == [len(inputs.shape) - 1]
        return last and not self.rms_scaling and self.gamma is not None \
            and self.beta is not None

    def call(self, inputs):
        if not self.fusable(inputs):
            return super().call(inputs)
        return ops.cast(layer_norm(inputs, self.gamma, self.beta, self.epsilon),
                        self.compute_dtype)
