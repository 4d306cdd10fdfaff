"""The MLM's softmax cross-entropy and the generator's Gumbel-max sampling, as XLA
kernels with hand-written gradients (the fast path; `fused=False` runs the same maths op
by op, the plain path)."""
from __future__ import annotations

import keras
from keras import ops

from electra_tf import random_ops
from electra_tf.kernels.fusion import xla_fused


def argmax(x):
    """int32 index of the largest value on the last axis (the first on ties).

    Under TensorFlow, tf.argmax itself: keras.ops.argmax first rewrites -0.0 as -tiny
    (four more passes over x) to match numpy where hardware flushes denormals, which no
    score here needs. Those passes ran over the generator's [32, 19, 30522] logits twice
    a step; they overlapped other work, so the step moved by noise only (RESULTS.md)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.math.argmax(x, axis=-1, output_type=tf.int32)
    return ops.cast(ops.argmax(x, axis=-1), "int32")


@xla_fused
def _xent_forward(logits, top, labels):
    """[M, V] float32 logits, their [M] row maxima, [M] labels -> ([M] logsumexp(logits)
    - logits[label], [M] logsumexp(logits), kept for the backward). The maxima come from
    TF's reduction, not this kernel: XLA's max over a row runs several times slower than
    its sum on CPU (benchmarks/RESULTS.md)."""
    lse = ops.log(ops.sum(ops.exp(logits - top[:, None]), axis=-1)) + top
    return lse - ops.take_along_axis(logits, labels[:, None], axis=-1)[:, 0], lse


@xla_fused
def _xent_backward(logits, lse, labels, dy):
    """dy * (softmax(logits) - one_hot(labels)), the softmax exp(logits - logsumexp)
    recomputed in the same single pass (not stored: [M, V] floats)."""
    probs = ops.exp(logits - lse[:, None])
    return dy[:, None] * (probs - ops.one_hot(labels, ops.shape(logits)[-1], dtype=probs.dtype))


def softmax_xent(logits, labels, fused: bool = True):
    """-log softmax(logits)[labels]; logits [..., V], labels [...] in [0, V); in float32.
    `fused=False` (the plain speed path) runs the same maths op by op.

    A hand-written gradient, forward and backward each one XLA kernel (kernels/fusion.py),
    the backward reusing the forward's logsumexp: faster than TF's fused sparse-softmax
    op at the generator's logits (benchmarks/RESULTS.md). (Picking the label's log-prob
    with take_along_axis under automatic differentiation is much worse: TF's gradient
    scatters into a dense [B*N*V] buffer.)"""
    labels = ops.convert_to_tensor(labels)
    shape = ops.shape(labels)
    flat_labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    flat = ops.reshape(ops.cast(logits, "float32"), (-1, logits.shape[-1]))

    forward, backward = ((_xent_forward, _xent_backward) if fused else
                         (_xent_forward.unfused, _xent_backward.unfused))

    @ops.custom_gradient
    def xent(x):
        loss, lse = forward(x, ops.max(x, axis=-1), flat_labels)

        def grad(*args, upstream=None):
            return backward(x, lse, flat_labels, args[0] if upstream is None else upstream)

        return loss, grad

    return ops.reshape(xent(flat), shape)


@xla_fused
def _gumbel_scores(logits, key0, key1, temperature):
    """logits / T + Gumbel noise for [B, N, V] logits, the noise of row b from the keys
    (key0[b], key1[b]), in one kernel, in place of TF's Philox draw and five element-wise
    passes over [B, N, V]. The argmax stays TF's: XLA's is slower alone and far slower
    fused with the noise (timings: benchmarks/RESULTS.md)."""
    shape = ops.shape(logits)
    counter = ops.reshape(ops.cast(ops.arange(shape[1] * shape[2], dtype="int32"), "uint32"),
                          (1, shape[1], shape[2]))
    counter = ops.broadcast_to(counter, shape)  # the same counters in every row
    u = random_ops.hash_uniform(counter, key0[:, None, None], key1[:, None, None])
    return logits / temperature + random_ops.gumbel_noise(u)


def sample_tokens(logits, seeds, temperature=1.0, disallow=None, fused: bool = True):
    """Gumbel-max samples from softmax(logits / T), under stop-gradient; the draws of
    row b are a function of seeds[b] only (random_ops.hash_bits over its N x V values).
    `fused=False` (the plain speed path) computes the scores op by op: the same draws.

    disallow: optional [B, N] ids that get logit -1000 (the original's disallow_correct).
    """
    logits = ops.stop_gradient(logits)
    if disallow is not None:
        logits = logits - (1000.0 * temperature) * ops.one_hot(disallow, logits.shape[-1],
                                                                dtype=logits.dtype)
    key0, key1 = random_ops.hash_keys(seeds)
    scores = (_gumbel_scores if fused else _gumbel_scores.unfused)(logits, key0, key1,
                                                                    float(temperature))
    return argmax(scores)
