"""Dense layers as one 2-D matmul whose input gradient multiplies by a transposed copy
of the kernel: same maths, faster backward on CPU.

TF differentiates `y = x @ w` into `dx = dy @ w^T` as a matmul with `transpose_b=True`,
and oneDNN runs that form markedly slower than a plain one at the FFN's shapes
(measured in benchmarks/RESULTS.md). `matmul` below transposes the (small) kernel explicitly
and multiplies plainly. Grappler folds a bare `Transpose` feeding a `MatMul` back into
`transpose_b`, so the copy is made as a transpose of a 3-D view, which it leaves alone.
The kernel's gradient `x^T @ dy` keeps TF's `transpose_a` form, except where oneDNN runs
it slowly: a tall [K, N] gradient of a large input (the FFN's output layer), see
`_kernel_gradient`.
With the erf GELU as activation (the FFN's and heads' first dense), the bias add and the
GELU are one XLA-fused kernel, and so are their gradients with the bias's sum
(`elementwise.bias_gelu_erf`).
"""
from __future__ import annotations

import math

import keras
from keras import ops

from electra_tf.kernels.elementwise import bias_gelu_erf, gelu_exact


def _transposed_copy(w):
    """w^T [N, K] of a [K, N] matrix, materialised (not folded into the next matmul)."""
    k, n = w.shape
    return ops.reshape(ops.transpose(ops.reshape(w, (k, n, 1)), (1, 0, 2)), (n, k))


def _swap_kernel_gradient(m, k, n) -> bool:
    """Whether `_kernel_gradient` computes (dy^T @ x)^T for x [m, k], dy [m, n]: oneDNN's
    transposed-operand matmul is slow when that operand is the much larger one, and the
    final transpose copies only the small [n, k] product. It pays at a tall gradient of a
    large input (Small's FFN output layer), not at square, wide or small shapes, nor at
    Base's FFN output (timings: benchmarks/RESULTS.md)."""
    return None not in (m, k, n) and k >= 2 * n and m >= 4 * n and m * k >= 2 ** 20


def _kernel_gradient(x, dy):
    """x^T @ dy ([K, N]) for x [M, K], dy [M, N], in the faster of two forms."""
    if _swap_kernel_gradient(x.shape[0], x.shape[1], dy.shape[1]):
        return ops.transpose(ops.matmul(ops.transpose(dy), x))
    return ops.matmul(ops.transpose(x), dy)


@ops.custom_gradient
def matmul(x, w):
    """[M, K] @ [K, N] with dx = dy @ (materialised w^T) and dw = `_kernel_gradient`."""

    def grad(*args, upstream=None):
        dy = args[0] if upstream is None else upstream
        return ops.matmul(dy, _transposed_copy(w)), _kernel_gradient(x, dy)

    return ops.matmul(x, w), grad


def plain_kernel(layer) -> bool:
    """Whether a Dense/EinsumDense `layer` multiplies by its kernel as stored (no LoRA, no
    quantization), so `flat_projection` may stand in for its call."""
    return not (getattr(layer, "lora_enabled", False)
                or getattr(layer, "quantization_mode", None) is not None)


def flat_projection(layer, inputs, contracted: int, scale=None):
    """A Dense/EinsumDense `layer`'s call as one 2-D `matmul`: inputs [..., *in_dims] times
    its kernel [*in_dims, *out_dims] (`contracted` = len(in_dims)), then its bias and
    activation; with our erf GELU and a full-size bias, bias + GELU are one fused kernel
    each way (`elementwise.bias_gelu_erf`). A full-size bias is added to the 2-D product,
    so its gradient sums over one axis (after the reshape to [B, T, N, D], TF summed over
    two). `scale` multiplies kernel and bias (not the [tokens, out] output): attention's
    1/sqrt(head size), exact when that is a power of two (64)."""
    shape = tuple(int(d) for d in layer.kernel.shape)
    in_dims, out_dims = shape[:contracted], shape[contracted:]
    inner = math.prod(in_dims)
    lead = tuple(ops.shape(inputs)[:-contracted])
    kernel = ops.reshape(ops.cast(layer.kernel, layer.compute_dtype), (inner, -1))
    bias = layer.bias
    if bias is not None:
        bias = ops.cast(bias, layer.compute_dtype)
    if scale is not None:
        kernel = kernel * ops.cast(scale, kernel.dtype)
        bias = None if bias is None else bias * ops.cast(scale, bias.dtype)
    x = matmul(ops.reshape(inputs, (-1, inner)), kernel)
    full_bias = bias is not None and tuple(bias.shape) == out_dims
    if full_bias and layer.activation is gelu_exact:
        return ops.reshape(bias_gelu_erf(x, ops.reshape(bias, (-1,))), lead + out_dims)
    if full_bias:
        x = ops.add(x, ops.reshape(bias, (-1,)))
    x = ops.reshape(x, lead + out_dims)
    if bias is not None and not full_bias:
        x = ops.add(x, bias)
    if layer.activation is not None:
        x = layer.activation(x)
    return x


@keras.saving.register_keras_serializable(package="electra_tf")
class FastDense(keras.layers.Dense):
    """keras.layers.Dense computed by `flat_projection` above."""

    def call(self, inputs, training=None):
        if not plain_kernel(self):
            return super().call(inputs, training=training)
        return flat_projection(self, inputs, contracted=1)
