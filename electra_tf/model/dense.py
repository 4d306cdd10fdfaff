"""Dense layers as one 2-D matmul whose input gradient multiplies by a transposed copy
of the kernel: same maths, faster backward on CPU.

TF differentiates `y = x @ w` into `dx = dy @ w^T` as a matmul with `transpose_b=True`,
and oneDNN runs that form markedly slower than a plain one at the FFN's shapes
(ELECTRA-Small, [4096, 1024] @ [256, 1024]^T: ~150 vs ~195 GFLOP/s on the benchmark
CPU, benchmarks/RESULTS.md). `matmul` below transposes the (small) kernel explicitly
and multiplies plainly. Grappler folds a bare `Transpose` feeding a `MatMul` back into
`transpose_b`, so the copy is made as a transpose of a 3-D view, which it leaves alone.
The kernel's gradient `x^T @ dy` keeps TF's `transpose_a` form, which is fast already.
With the erf GELU as activation (the FFN's and heads' first dense), the bias add and the
GELU are one XLA-fused kernel, and so are their gradients with the bias's sum
(`elementwise.bias_gelu_erf`).
"""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.model.elementwise import bias_gelu_erf, gelu_exact


def _transposed_copy(w):
    """w^T [N, K] of a [K, N] matrix, materialised (not folded into the next matmul)."""
    k, n = w.shape
    return ops.reshape(ops.transpose(ops.reshape(w, (k, n, 1)), (1, 0, 2)), (n, k))


@ops.custom_gradient
def matmul(x, w):
    """[M, K] @ [K, N] with dx = dy @ (materialised w^T) and dw = x^T @ dy."""

    def grad(*args, upstream=None):
        dy = args[0] if upstream is None else upstream
        return ops.matmul(dy, _transposed_copy(w)), ops.matmul(ops.transpose(x), dy)

    return ops.matmul(x, w), grad


@keras.saving.register_keras_serializable(package="electra_tf")
class FastDense(keras.layers.Dense):
    """keras.layers.Dense computed as `matmul` above on the flattened input; with our
    erf GELU as activation, bias and GELU are one fused kernel each way."""

    def call(self, inputs, training=None):
        if (getattr(self, "lora_enabled", False)
                or getattr(self, "quantization_mode", None) is not None):
            return super().call(inputs, training=training)
        kernel = ops.cast(self.kernel, self.compute_dtype)
        lead = ops.shape(inputs)[:-1]
        x = matmul(ops.reshape(inputs, (-1, kernel.shape[0])), kernel)
        if self.activation is gelu_exact and self.bias is not None:
            x = bias_gelu_erf(x, ops.cast(self.bias, self.compute_dtype))
            return ops.reshape(x, tuple(lead) + (self.units,))
        x = ops.reshape(x, tuple(lead) + (self.units,))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x
