"""Element-wise kernels compiled by XLA, one kernel each, on the TensorFlow backend.

TensorFlow runs a graph op by op on CPU, so a chain like erf-GELU's gradient
(`dy * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))`) reads and writes
every FFN activation once per op. Whole-step XLA (`--jit_compile`) fuses those chains
but, on CPU, also replaces oneDNN's matmuls with slower ones (benchmarks/RESULTS.md).
`xla_fused` compiles just one element-wise function: the step stays a TF graph with
oneDNN matmuls, and each such function becomes one fused XLA kernel (compiled once
per input shape and dtype, when first run). The functions are written with keras.ops.

On another backend the function runs as written (JAX compiles the whole step anyway).
Which path a model takes is its config's `speed_path` (kernels/__init__.py); `op_by_op()`
runs the kernels as written inside a `with` block, e.g. to rule XLA out when debugging
or to test that both give the same values.
"""
from __future__ import annotations

import contextlib
import functools
import threading

import keras

_local = threading.local()


@contextlib.contextmanager
def op_by_op():
    """Within the block (this thread, at trace time), xla_fused functions run unfused."""
    previous = getattr(_local, "off", False)
    _local.off = True
    try:
        yield
    finally:
        _local.off = previous


def enabled() -> bool:
    return keras.backend.backend() == "tensorflow" and not getattr(_local, "off", False)


def xla_fused(fn):
    """`fn` (pure keras.ops maths on tensors, no state) as one XLA kernel when `enabled()`.
    Non-tensor arguments (rates, epsilons) are part of each compiled kernel's key;
    `fn.unfused` is the function as written."""
    compiled = []

    @functools.wraps(fn)
    def call(*args):
        if not enabled():
            return fn(*args)
        if not compiled:
            import tensorflow as tf

            compiled.append(tf.function(fn, jit_compile=True, autograph=False,
                                        reduce_retracing=True))
        return compiled[0](*args)

    call.unfused = fn
    return call
