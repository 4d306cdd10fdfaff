"""The AdamWeightDecay step (optimization.py) as TF's fused kernels: one pass per
variable instead of a dozen element-wise ops."""
from __future__ import annotations

import math

import keras
import numpy as np


def v_scale(beta_2: float) -> float:
    """s with s^2 (1 - b2 as ResourceApplyAdam forms it in float32) = the original's
    1 - b2: fed s g and lr / s, the kernel keeps the original's v exactly and m as s m,
    so its step (lr / s)(s m) / (sqrt(v) + eps) is the original's (s - 1 = 6.4e-6 at 0.999)."""
    kernel = float(np.float32(1.0) - np.float32(beta_2))
    target = float(np.float32(1.0 - beta_2))
    return math.sqrt(target / kernel) if kernel > 0 and target > 0 else 1.0


def fused_update(variable, m, v, gradient, lr, decay, beta_1, beta_2, epsilon):
    """w -= lr * decay * w (the weights before the Adam step, as the original), then
    TF's ResourceApplyAdam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    w -= lr_t m / (sqrt(v) + eps) with lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) = lr for
    beta powers 0, given s g and lr / s (`v_scale`: the m slot holds s m). Works on a
    plain or a tf.distribute (mirrored) component variable."""
    import tensorflow as tf

    def handle(x):
        return (x.value if isinstance(x, keras.Variable) else x).handle

    dtype = variable.dtype
    scale = v_scale(beta_2)
    grad = tf.cast(tf.convert_to_tensor(gradient), dtype) * tf.cast(scale, dtype)
    if decay > 0:
        tf.raw_ops.ResourceApplyGradientDescent(
            var=handle(variable), alpha=lr * tf.cast(decay, dtype),
            delta=tf.convert_to_tensor(variable))
    zero = tf.zeros((), dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=handle(variable), m=handle(m), v=handle(v), beta1_power=zero, beta2_power=zero,
        lr=lr / tf.cast(scale, dtype), beta1=tf.cast(beta_1, dtype),
        beta2=tf.cast(beta_2, dtype),
        epsilon=tf.cast(epsilon, dtype), grad=grad)
