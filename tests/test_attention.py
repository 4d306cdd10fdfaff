"""LeanAttention / FlatEinsumDense (electra_tf/model/attention.py) against the stock Keras
layers they replace, and the masking maths by hand."""
import copy

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from electra_tf.model.attention import FlatEinsumDense, LeanAttention
from electra_tf.model.layers import use_fast_layers
from tests.test_model import tiny_model

MASK = np.array([[1] * 10, [1] * 6 + [0] * 4, [1] * 3 + [0] * 7], bool)


def _values_and_grads(layer, call):
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 10, 32)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = call(layer, x)
        loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, [1, 2]))
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("equation,out,bias_axes,in_shape", [
    ("abc,cde->abde", (None, 4, 8), "de", (3, 10, 32)),
    ("abcd,cde->abe", (None, 32), "e", (3, 10, 4, 8)),
])
def test_flat_einsum_dense_equals_einsum_dense(equation, out, bias_axes, in_shape):
    ref = keras.layers.EinsumDense(equation, out, bias_axes=bias_axes,
                                   bias_initializer="random_normal")
    ref.build(in_shape)
    ours = copy.deepcopy(ref)
    ours.__class__ = FlatEinsumDense
    x = tf.constant(np.random.default_rng(1).normal(size=in_shape), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ref, y_ours = ref(x), ours(x)
        dy = tf.random.stateless_normal(y_ref.shape, [3, 4])
        l_ref, l_ours = tf.reduce_sum(y_ref * dy), tf.reduce_sum(y_ours * dy)
    np.testing.assert_allclose(y_ours.numpy(), y_ref.numpy(), atol=1e-5)
    for a, b in zip(tape.gradient(l_ours, [x, ours.kernel, ours.bias]),
                    tape.gradient(l_ref, [x, ref.kernel, ref.bias])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)
    # unknown batch size inside a tf.function
    fn = tf.function(ours, input_signature=[tf.TensorSpec((None,) + in_shape[1:])])
    np.testing.assert_allclose(fn(x).numpy(), y_ref.numpy(), atol=1e-5)


def test_fast_block_equals_stock_keras_hub_block_values_and_gradients():
    keras.utils.set_random_seed(0)
    stock = keras_hub.layers.TransformerEncoder(64, 4, dropout=0.0)
    stock.build((3, 10, 32))
    lean = copy.deepcopy(stock)
    # the attention, its q, k, v and output projections, 3 dropouts, 2 layer norms,
    # the 2 feed-forward denses
    assert use_fast_layers(lean) == 12

    def call(layer, x):
        return layer(x, padding_mask=tf.constant(MASK), training=True)

    y_stock, g_stock = _values_and_grads(stock, call)
    y_lean, g_lean = _values_and_grads(lean, call)
    np.testing.assert_allclose(y_lean, y_stock, atol=1e-5)
    for a, b in zip(g_lean, g_stock):
        np.testing.assert_allclose(a, b, atol=1e-4)


def _probs(layer, query, mask):
    _, probs = layer(query, query, attention_mask=mask, return_attention_scores=True)
    return probs.numpy()


def test_additive_mask_gives_exact_zeros_and_softmax_by_hand():
    keras.utils.set_random_seed(1)
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    query = tf.constant(np.random.default_rng(2).normal(size=(3, 10, 8)), tf.float32)
    mha(query, query)
    use_fast_layers(mha)
    key_mask = tf.constant(MASK[:, None, :])  # [B, 1, S] as keras-hub passes it
    probs = _probs(mha, query, key_mask)  # [B, N, T, S]
    assert probs.shape == (3, 2, 10, 10)
    assert np.all(probs[1, :, :, 6:] == 0) and np.all(probs[2, :, :, 3:] == 0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    # by hand for one head of example 1: softmax(q k^T / sqrt(4)) over the 6 real keys
    q = np.einsum("tc,cnd->tnd", query.numpy()[1], mha._query_dense.kernel.numpy())
    q += mha._query_dense.bias.numpy()
    k = np.einsum("tc,cnd->tnd", query.numpy()[1], mha._key_dense.kernel.numpy())
    k += mha._key_dense.bias.numpy()
    scores = q[:, 1] @ k[:6, 1].T / 2.0
    want = np.exp(scores - scores.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs[1, 1, :, :6], want, rtol=1e-5, atol=1e-6)
    # a full [B, T, S] mask (stock Keras' shape) is honoured too
    full = np.broadcast_to(MASK[:, None, :], (3, 10, 10)).copy()
    full[0, 2, 5] = False
    probs_full = _probs(mha, query, tf.constant(full))
    assert probs_full[0, :, 2, 5].max() == 0 and probs_full[0, :, 3, 5].min() > 0


def test_fully_masked_row_is_uniform_as_the_original():
    keras.utils.set_random_seed(1)
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    query = tf.random.normal((1, 5, 8))
    mha(query, query)
    use_fast_layers(mha)
    probs = _probs(mha, query, tf.zeros((1, 1, 5), tf.bool))
    np.testing.assert_allclose(probs, 0.2, rtol=1e-6)  # stock Keras gives zeros here


def test_bfloat16_masking_stays_exact():
    keras.utils.set_random_seed(1)
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dtype="mixed_bfloat16")
    query = tf.random.normal((3, 10, 8))
    mha(query, query)
    use_fast_layers(mha)
    probs = _probs(mha, query, tf.constant(MASK[:, None, :]))
    assert str(probs.dtype) == "bfloat16"
    assert np.all(probs.astype(np.float32)[2, :, :, 3:] == 0)


def test_every_attention_in_the_model_is_lean():
    cfg, model = tiny_model()
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    attention = [la for la in layers if isinstance(la, keras.layers.MultiHeadAttention)]
    einsum = [la for la in layers if isinstance(la, keras.layers.EinsumDense)]
    n_layers = cfg.num_layers + cfg.generator_sizes()["num_layers"]
    assert len(attention) == n_layers and len(einsum) == 4 * n_layers
    assert all(type(la) is LeanAttention for la in attention)
    assert all(type(la) is FlatEinsumDense for la in einsum)
    assert use_fast_layers(model) == 0
