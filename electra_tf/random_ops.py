"""Per-example stateless randomness, backend-agnostic (TensorFlow or JAX).

Every random draw of the objective is a pure function of (seed, purpose,
example stream index). Masks and samples therefore differ across steps and
replicas (different examples), do not depend on how a global batch is split
across replicas or accumulation micro-batches, and need no RNG state in
checkpoints: a resumed run draws exactly what the uninterrupted run drew.
`uniform_bits` is the raw-bits draw behind the model's dropout (model/elementwise.py).
"""
from __future__ import annotations

import keras
from keras import ops

# Streams of draws per example; each gets its own seed.
POSITIONS, MASK_OR_KEEP, GUMBEL, RANDOM_TOKEN, SPAN_LENGTH, UNCORRUPTED = 1, 2, 3, 4, 5, 6
MAX_PURPOSES = 16


def example_seeds(base_seed, example_index, purpose: int):
    """[B] int64 stream indices -> [B, 2] int64 stateless seeds for `purpose`."""
    index = ops.cast(example_index, "int64")
    first = ops.full_like(index, 0) + ops.cast(base_seed, "int64") * MAX_PURPOSES + purpose
    return ops.stack([first, index], axis=-1)


def _jax_key(seed):
    """A [2] integer seed as a JAX threefry key (the same key data TF's seed pair gives)."""
    import jax

    return jax.random.wrap_key_data(ops.cast(seed, "uint32"), impl="threefry2x32")


def _stateless_uniform(shape, seed):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed, dtype=tf.float32)
    if backend == "jax":
        import jax

        return jax.random.uniform(_jax_key(seed), shape, dtype="float32")
    raise NotImplementedError(f"per-example randomness is not implemented for {backend}")


def uniform_bits(n, seed):
    """n uniform uint32 words from a [2] seed (e.g. a keras SeedGenerator draw), or None
    on a backend other than TensorFlow/JAX (callers then fall back to Keras' own ops)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # int32 seeds, as Keras' own TF random ops use (XLA needs them).
        seed = tf.cast(tf.math.floormod(tf.cast(seed, tf.int64), tf.int32.max - 1), tf.int32)
        return tf.random.stateless_uniform([n], seed, minval=None, maxval=None,
                                           dtype=tf.uint32)
    if backend == "jax":
        import jax

        return jax.random.bits(_jax_key(seed), (n,), dtype="uint32")
    return None


def per_example_uniform(seeds, shape):
    """[B, 2] seeds -> [B, *shape] float32 uniform in [0, 1), row b from seeds[b] only."""
    shape = tuple(int(s) for s in shape)
    return ops.vectorized_map(lambda s: _stateless_uniform(shape, s), seeds)


def gumbel_noise(uniform):
    """Gumbel(0, 1) noise from uniform draws, as the original (with its 1e-9 guards)."""
    return -ops.log(-ops.log(uniform + 1e-9) + 1e-9)
