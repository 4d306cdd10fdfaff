"""gelu_erf and BitDropout (electra_tf/kernels/elementwise.py) against independent maths."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra_tf.kernels.elementwise import BitDropout, FastLayerNorm, bias_gelu_erf, gelu_erf
from electra_tf.model.layers import gelu_exact
from tests.test_model import tiny_layers


def op_by_op(fused: str, monkeypatch):
    """fused "0": this test's kernels run op by op (fusion.op_by_op's switch, restored
    after the test)."""
    from electra_tf.kernels import fusion

    monkeypatch.setattr(fusion._local, "off", fused == "0", raising=False)


def _gelu_by_hand(x):
    cdf = np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x])
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return x * cdf, cdf + x * pdf


def test_gelu_erf_values_and_gradient_by_hand():
    x = np.array([-6.0, -3.0, -1.5, -1.0, -0.3, 0.0, 0.2, 1.0, 2.5, 8.0])
    want_y, want_dy = _gelu_by_hand(x)
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = gelu_exact(xt)
        loss = tf.reduce_sum(y * tf.range(1.0, 11.0))  # non-uniform upstream
    dy = tape.gradient(loss, xt).numpy() / np.arange(1.0, 11.0)
    np.testing.assert_allclose(y.numpy(), want_y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dy, want_dy, rtol=1e-5, atol=1e-6)


def test_gelu_erf_matches_keras_exact_gelu_and_its_autodiff():
    x = tf.constant(np.random.default_rng(0).normal(0, 3, (64, 37)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = gelu_erf(x)
        ref = keras.activations.gelu(x, approximate=False)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=2e-6)
    np.testing.assert_allclose(tape.gradient(ours, x).numpy(),
                               tape.gradient(ref, x).numpy(), atol=2e-6)
    # and the tanh approximation is measurably different: this is really the erf form
    approx = keras.activations.gelu(x, approximate=True)
    assert float(tf.reduce_max(tf.abs(approx - ours))) > 1e-4


def test_gelu_erf_keeps_bfloat16():
    x = tf.constant([[-1.0, 0.5, 2.0]], tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = gelu_erf(x)
    g = tape.gradient(y, x)
    assert y.dtype == tf.bfloat16 and g.dtype == tf.bfloat16
    want_y, want_dy = _gelu_by_hand(np.array([-1.0, 0.5, 2.0]))
    np.testing.assert_allclose(y.numpy().astype(np.float32)[0], want_y, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(g.numpy().astype(np.float32)[0], want_dy, rtol=2e-2, atol=1e-2)


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float16", 1e-2)])
def test_bias_gelu_erf_equals_gelu_of_the_sum_values_and_gradients(dtype, tol):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(0, 2, (3, 50, 16)), dtype)
    b = tf.constant(rng.normal(0, 1, (16,)), dtype)
    dy = tf.constant(rng.normal(0, 1, (3, 50, 16)), dtype)

    def values_and_grads(fn):
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            y = fn(x, b)
        return [y] + tape.gradient(y, [x, b], output_gradients=dy)

    got = values_and_grads(bias_gelu_erf)
    want = values_and_grads(lambda x, b: gelu_erf(x + b))
    for a, w in zip(got, want):
        assert a.dtype == w.dtype
        a, w = a.numpy().astype(np.float32), w.numpy().astype(np.float32)
        # the bias gradient sums 150 terms (in float32 for both here)
        np.testing.assert_allclose(a, w, rtol=tol, atol=tol * max(1.0, np.abs(w).max()))
    # and by hand: the bias gradient is the sum of dy * GELU'(x + b) over all rows
    _, slope = _gelu_by_hand((x + b).numpy().astype(np.float64).ravel())
    want_db = (dy.numpy().astype(np.float64).ravel() * slope).reshape(-1, 16).sum(0)
    np.testing.assert_allclose(got[2].numpy().astype(np.float64), want_db,
                               rtol=10 * tol, atol=10 * tol * np.abs(want_db).max())


def _lowbias32(h):
    """C. Wellons' lowbias32 in numpy uint64 arithmetic, reduced mod 2^32 by hand."""
    h = h.astype(np.uint64)
    h ^= h >> 16
    h = (h * 0x7FEB352D) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x846CA68B) & 0xFFFFFFFF
    return h ^ (h >> 16)


@pytest.mark.parametrize("fused", ["1", "0"])
def test_keep_mask_is_the_documented_hash(fused, monkeypatch):
    """keep_mask against the hash written out in numpy, with and without XLA fusion
    (integer maths: bit-identical)."""
    from electra_tf.kernels import elementwise

    op_by_op(fused, monkeypatch)
    key = np.array([0x12345678, 0xFEDCBA98], np.uint64)
    index = np.arange(6 * 7, dtype=np.uint64)
    h = _lowbias32(((_lowbias32(index ^ key[0]) + key[1]) & 0xFFFFFFFF))
    want = (h >= round(0.3 * 2 ** 32)).reshape(6, 7)
    got = elementwise.keep_mask(42, tf.constant(key.astype(np.int64)), 0.3)
    np.testing.assert_array_equal(np.asarray(got).reshape(6, 7), want)
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 7)), tf.float32)
    y = elementwise._hash_dropout(tf.reshape(x, [-1]), tf.constant(key.astype(np.int64)),
                                  0.3).numpy().reshape(6, 7)
    np.testing.assert_allclose(y, np.where(want, x.numpy() / 0.7, 0.0), rtol=1e-6)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_bit_dropout_statistics_and_scaling(rate):
    layer = BitDropout(rate, seed=3)
    x = tf.ones([400, 1001])
    y = layer(x, training=True).numpy()
    kept = y != 0
    n = y.size
    p_drop = round(rate * 2 ** 32) / 2 ** 32
    sd = math.sqrt(p_drop * (1 - p_drop) / n)
    # dropped fraction within 5 standard deviations of the rate
    assert abs((1 - kept.mean()) - p_drop) < 5 * sd
    np.testing.assert_allclose(y[kept], 1.0 / (1.0 - rate), rtol=1e-6)
    # no structure: rows and columns drop alike
    assert abs(kept[:200].mean() - kept[200:].mean()) < 0.01
    assert abs(kept[:, ::2].mean() - kept[:, 1::2].mean()) < 0.01
    # neighbours (a counter's consecutive values) decide independently:
    # P(both dropped) = p^2 within 5 standard deviations
    dropped = ~kept.ravel()
    both = (dropped[1:] & dropped[:-1]).mean()
    assert abs(both - p_drop ** 2) < 5 * math.sqrt(p_drop ** 2 * (1 - p_drop ** 2) / n)
    # and so do the draws of consecutive calls (consecutive seed-generator keys)
    again = ~(layer(x, training=True).numpy() != 0).ravel()
    both = (dropped & again).mean()
    assert abs(both - p_drop ** 2) < 5 * math.sqrt(p_drop ** 2 * (1 - p_drop ** 2) / n)


def test_bit_dropout_masks_differ_per_call_and_repeat_per_seed():
    x = tf.ones([64, 128])
    a = BitDropout(0.1, seed=7)
    m1, m2 = (a(x, training=True).numpy() != 0 for _ in range(2))
    assert (m1 != m2).mean() > 0.1  # fresh draw each call (~18% of positions differ)
    b = BitDropout(0.1, seed=7)
    np.testing.assert_array_equal(b(x, training=True).numpy() != 0, m1)
    c = BitDropout(0.1, seed=8)
    assert (c(x, training=True).numpy() != 0).tolist() != m1.tolist()


def test_bit_dropout_eval_identity_and_gradient_is_mask_times_scale():
    layer = BitDropout(0.25, seed=1)
    x = tf.constant(np.random.default_rng(1).normal(size=(8, 33)), tf.float32)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    g = tape.gradient(y, x).numpy()
    mask = y.numpy() != 0
    np.testing.assert_allclose(g, mask / 0.75, rtol=1e-6)
    np.testing.assert_allclose(y.numpy()[mask], x.numpy()[mask] / 0.75, rtol=1e-6)


def test_bit_dropout_in_a_tf_function_with_unknown_batch():
    layer = BitDropout(0.1, seed=2)
    fn = tf.function(lambda t: layer(t, training=True),
                     input_signature=[tf.TensorSpec([None, 5], tf.float32)])
    y = fn(tf.ones([7, 5])).numpy()
    assert y.shape == (7, 5)
    assert set(np.unique(y)).issubset({0.0, np.float32(1 / 0.9)})


def _layer_norms(shape, axis=-1, dtype=None):
    ref = keras.layers.LayerNormalization(epsilon=1e-12, axis=axis, dtype=dtype)
    ref.build(shape)
    rng = np.random.default_rng(4)
    ref.gamma.assign(rng.normal(size=ref.gamma.shape).astype(np.float32))
    ref.beta.assign(rng.normal(size=ref.beta.shape).astype(np.float32))
    fast = FastLayerNorm(epsilon=1e-12, axis=axis, dtype=dtype)
    fast.build(shape)
    fast.set_weights(ref.get_weights())
    return ref, fast


def test_fast_layer_norm_by_hand():
    _, fast = _layer_norms((1, 4))
    fast.gamma.assign([1.0, 2.0, 0.5, -1.0])
    fast.beta.assign([0.0, 1.0, 0.0, 3.0])
    x = tf.constant([[1.0, 2.0, 3.0, 6.0]])  # mean 3, variance 3.5
    z = (np.array([1.0, 2.0, 3.0, 6.0]) - 3.0) / math.sqrt(3.5)
    np.testing.assert_allclose(fast(x).numpy()[0], z * [1, 2, 0.5, -1] + [0, 1, 0, 3],
                               rtol=1e-6)


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16"])
def test_fast_layer_norm_equals_keras_values_and_gradients(dtype, fused, monkeypatch):
    op_by_op(fused, monkeypatch)  # one XLA kernel each way, or op by op
    ref, fast = _layer_norms((6, 7, 32), dtype=dtype)
    x = tf.constant(np.random.default_rng(5).normal(3.0, 2.0, (6, 7, 32)), tf.float32)
    dy = tf.random.stateless_normal((6, 7, 32), [5, 6])
    results = []
    for layer in (ref, fast):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * dy)
        results.append((y, tape.gradient(loss, [x, layer.gamma, layer.beta])))
    (y_ref, g_ref), (y_fast, g_fast) = results
    assert y_fast.dtype == y_ref.dtype
    tol = 2e-2 if dtype else 1e-5
    np.testing.assert_allclose(np.float32(y_fast), np.float32(y_ref), atol=tol, rtol=tol)
    for a, b in zip(g_fast, g_ref):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.float32(a), np.float32(b), atol=tol * 10, rtol=tol)


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16"])
def test_residual_layer_norm_is_keras_layer_norm_of_the_dropped_sum(fused, dtype, monkeypatch):
    """residual_layer_norm(x, h) with our layers (one kernel each way) against Keras'
    LayerNormalization of x + BitDropout(h) with a twin dropout layer (same seed, so the
    same decisions): values and the gradients of x, h, gamma and beta; in training and
    in inference, with XLA fusion and op by op, in a tf.function of unknown batch."""
    from electra_tf.kernels.elementwise import residual_layer_norm

    op_by_op(fused, monkeypatch)
    ref, fast = _layer_norms((5, 9, 32), dtype=dtype)
    rng = np.random.default_rng(6)
    x = tf.constant(rng.normal(1.0, 2.0, (5, 9, 32)), tf.float32)
    h = tf.constant(rng.normal(0.0, 3.0, (5, 9, 32)), tf.float32)
    dy = tf.random.stateless_normal((5, 9, 32), [7, 8])
    drops = [BitDropout(0.3, seed=11, dtype=dtype) for _ in range(2)]
    spec = tf.TensorSpec([None, 9, 32], tf.float32)

    def run(fn, layer, training):
        @tf.function(input_signature=[spec, spec])
        def step(x, h):
            with tf.GradientTape() as tape:
                tape.watch([x, h])
                y = tf.cast(fn(tf.cast(x, layer.compute_dtype), tf.cast(h, layer.compute_dtype),
                               training), tf.float32)
                loss = tf.reduce_sum(y * dy)
            return y, tape.gradient(loss, [x, h, layer.gamma, layer.beta])
        return step(x, h)

    tol = 3e-2 if dtype else 2e-5
    dropped = {}
    for training in (True, False):
        want = run(lambda a, b, t: ref(a + drops[0](b, training=t)), ref, training)
        got = run(lambda a, b, t: residual_layer_norm(a, b, drops[1], fast, t), fast, training)
        np.testing.assert_allclose(got[0], want[0], atol=tol, rtol=tol)
        for name, a, b in zip(("x", "h", "gamma", "beta"), got[1], want[1]):
            np.testing.assert_allclose(a, b, atol=tol * 10, rtol=tol, err_msg=name)
        dropped[training] = np.mean(np.asarray(got[1][1]) == 0)
    # the dropout acted in training only (~30% of h's gradient is 0), and each
    # training call took one key from the seed generator, as the layer's own call does
    assert 0.2 < dropped[True] < 0.4 and dropped[False] == 0
    np.testing.assert_array_equal(drops[0].seed_generator.state.numpy(),
                                  drops[1].seed_generator.state.numpy())


def test_fast_layer_norm_other_axes_fall_back_to_keras():
    ref, fast = _layer_norms((4, 5, 6), axis=1)
    x = tf.random.normal((4, 5, 6))
    np.testing.assert_allclose(fast(x).numpy(), ref(x).numpy(), atol=1e-6)


def test_every_dropout_and_layer_norm_in_the_model_is_fast_or_plain_as_built():
    for fast in (True, False):
        n_layers, layers = tiny_layers(fast)
        dropouts = [la for la in layers if isinstance(la, keras.layers.Dropout)]
        norms = [la for la in layers if isinstance(la, keras.layers.LayerNormalization)]
        # embeddings + per block (attention probs, attention output, FFN output)
        assert len(dropouts) == 1 + 3 * n_layers
        # embeddings + 2 per block + the generator's MLM head
        assert len(norms) == 1 + 2 * n_layers + 1
        # the attention-probability dropout is Keras' layer either way: LeanAttention
        # draws its bits from that layer's seed generator (attention.py)
        bit = sum(type(d) is BitDropout for d in dropouts)
        assert bit == (1 + 2 * n_layers if fast else 0)
        assert all(type(n) is (FastLayerNorm if fast else keras.layers.LayerNormalization)
                   for n in norms)
        # each dropout keeps its own seed generator (states are checkpointed)
        assert len({id(d.seed_generator) for d in dropouts}) == len(dropouts)
