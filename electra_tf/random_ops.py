"""Per-example stateless randomness, backend-agnostic (TensorFlow or JAX).

Every random draw of the objective is a pure function of (seed, purpose,
example stream index). Masks and samples therefore differ across steps and
replicas (different examples), do not depend on how a global batch is split
across replicas or accumulation micro-batches, and need no RNG state in
checkpoints: a resumed run draws exactly what the uninterrupted run drew.
`hash_bits` is a counter-based draw for element-wise kernels: the model's dropout
(kernels/elementwise.py) and the generator's Gumbel-max sampling (objectives/common.py).
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


_HASH_SHIFTS = (16, 15, 16)
_HASH_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)


def _u32(value):
    return ops.convert_to_tensor(value, "uint32")


def mix32(h):
    """C. Wellons' `lowbias32` integer hash of uint32 values: each input bit flips each
    output bit with probability ~1/2 (among the lowest measured biases for two
    multiplies), so consecutive counters give unrelated outputs."""
    h = ops.bitwise_xor(h, ops.right_shift(h, _u32(_HASH_SHIFTS[0])))
    h = ops.multiply(h, _u32(_HASH_MULTIPLIERS[0]))
    h = ops.bitwise_xor(h, ops.right_shift(h, _u32(_HASH_SHIFTS[1])))
    h = ops.multiply(h, _u32(_HASH_MULTIPLIERS[1]))
    return ops.bitwise_xor(h, ops.right_shift(h, _u32(_HASH_SHIFTS[2])))


def hash_bits(counter, key0, key1):
    """32 pseudo-random bits per uint32 `counter` value under the key (key0, key1):
    mix32(mix32(counter ^ key0) + key1). The key enters twice, so nearby keys (a seed
    generator's consecutive states, consecutive example indices) give unrelated streams.
    The keys may be of any shape that broadcasts to the counter's: they are broadcast
    explicitly, because TF's uint32 add broadcast a [B, 1, 1] key wrongly inside a
    MirroredStrategy graph under op determinism (found by
    test_mirrored_two_replicas_matches_one_device; reproduced in isolation).

    A counter-based draw made of element-wise integer maths: inside an XLA-fused kernel
    (kernels/fusion.py) it costs a few instructions per element and nothing is stored, so
    a backward pass can recompute a forward pass's draw (dropout) and a draw can be fused
    with what consumes it (Gumbel-max sampling), where TF's Philox is a separate op that
    writes every word to memory."""
    shape = ops.shape(counter)
    key0 = ops.broadcast_to(ops.convert_to_tensor(key0, "uint32"), shape)
    key1 = ops.broadcast_to(ops.convert_to_tensor(key1, "uint32"), shape)
    return mix32(ops.add(mix32(ops.bitwise_xor(counter, key0)), key1))


def hash_uniform(counter, key0, key1):
    """float32 uniform in [0, 1) from the top 24 bits of `hash_bits` (multiples of 2^-24)."""
    bits = ops.right_shift(hash_bits(counter, key0, key1), _u32(8))
    return ops.cast(bits, "float32") * (1.0 / (1 << 24))


def hash_keys(seeds):
    """[..., 2] int64 seeds -> ([...], [...]) uint32 keys; each key folds its seed's high
    32 bits into its low ones (the identity for seeds below 2^32)."""
    seeds = ops.cast(seeds, "int64")

    def fold(x):
        low = ops.cast(ops.bitwise_and(x, ops.convert_to_tensor(0xFFFFFFFF, "int64")), "uint32")
        high = ops.cast(ops.bitwise_and(ops.right_shift(x, ops.convert_to_tensor(32, "int64")),
                                        ops.convert_to_tensor(0xFFFFFFFF, "int64")), "uint32")
        return ops.bitwise_xor(low, mix32(high))
    return fold(seeds[..., 0]), fold(seeds[..., 1])


def per_example_uniform(seeds, shape):
    """[B, 2] seeds -> [B, *shape] float32 uniform in [0, 1), row b from seeds[b] only."""
    shape = tuple(int(s) for s in shape)
    return ops.vectorized_map(lambda s: _stateless_uniform(shape, s), seeds)


def gumbel_noise(uniform):
    """Gumbel(0, 1) noise from uniform draws, as the original (with its 1e-9 guards)."""
    return -ops.log(-ops.log(uniform + 1e-9) + 1e-9)
