"""LeanAttention and TransformerBlock (attention.py, block.py) against Keras' stock
MultiHeadAttention, the fast block against the plain one and keras-hub's, and the
masking maths by hand."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from electra_tf.kernels.attention import LeanAttention
from electra_tf.model.block import TransformerBlock
from tests.test_model import tiny_layers

MASK = np.array([[1] * 10, [1] * 6 + [0] * 4, [1] * 3 + [0] * 7], bool)


def _values_and_grads(layer, call):
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 10, 32)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = call(layer, x)
        loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, [1, 2]))
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    return y.numpy(), [g.numpy() for g in grads]


def _lean_copy(mha, shape):
    lean = LeanAttention(num_heads=mha.num_heads, key_dim=mha.key_dim, dropout=mha.dropout,
                         name=mha.name)
    lean.build(query_shape=shape, value_shape=shape)
    lean.set_weights(mha.get_weights())
    return lean


def test_lean_attention_equals_keras_mha_values_and_gradients():
    keras.utils.set_random_seed(0)
    stock = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8,
                                            bias_initializer="random_normal")
    stock.build(query_shape=(3, 10, 32), value_shape=(3, 10, 32))
    lean = _lean_copy(stock, (3, 10, 32))
    assert [v.path for v in lean.weights] == [v.path for v in stock.weights]
    mask = tf.constant(MASK[:, None, :])  # [B, 1, S]

    def call(layer, x):
        return layer(x, x, attention_mask=mask, training=False)

    y_stock, g_stock = _values_and_grads(stock, call)
    y_lean, g_lean = _values_and_grads(lean, call)
    np.testing.assert_allclose(y_lean, y_stock, atol=1e-5)
    for a, b in zip(g_lean, g_stock):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # unknown batch size inside a tf.function
    fn = tf.function(lambda x, m: lean(x, x, attention_mask=m),
                     input_signature=[tf.TensorSpec((None, 10, 32)),
                                      tf.TensorSpec((None, 1, 10), tf.bool)])
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 10, 32)), tf.float32)
    np.testing.assert_allclose(fn(x, mask).numpy(), call(stock, x).numpy(), atol=1e-5)


def test_lean_attention_scales_the_query_once_on_every_path():
    """Our path folds 1/sqrt(D) into the query kernel; Keras' path (here a causal mask,
    which LeanAttention leaves to MultiHeadAttention.call) scales in _compute_attention.
    Both equal the stock layer, so neither scales twice or not at all."""
    keras.utils.set_random_seed(1)
    stock = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16,
                                            bias_initializer="random_normal")
    stock.build(query_shape=(3, 10, 32), value_shape=(3, 10, 32))
    lean = _lean_copy(stock, (3, 10, 32))
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 10, 32)), tf.float32)
    mask = tf.constant(MASK[:, None, :])
    for kwargs in (dict(attention_mask=mask), dict(use_causal_mask=True), {}):
        np.testing.assert_allclose(lean(x, x, **kwargs).numpy(), stock(x, x, **kwargs).numpy(),
                                   atol=1e-5, err_msg=str(kwargs))


def _blocks(dropout=0.0):
    keras.utils.set_random_seed(0)
    blocks = {}
    for fast in (False, True):
        block = TransformerBlock(64, 4, dropout=dropout, attention_dropout=dropout, fast=fast,
                                 name="layer_0")
        block.build((3, 10, 32))
        blocks[fast] = block
    blocks[True].set_weights([w + 0.01 * np.random.default_rng(i).normal(size=w.shape)
                              for i, w in enumerate(blocks[False].get_weights())])
    blocks[False].set_weights(blocks[True].get_weights())
    return blocks[True], blocks[False]


def test_fast_block_equals_plain_block_values_and_gradients():
    fast, plain = _blocks()
    assert [v.path for v in fast.weights] == [v.path for v in plain.weights]
    assert type(fast._self_attention_layer) is LeanAttention
    assert type(plain._self_attention_layer) is keras.layers.MultiHeadAttention

    def call(layer, x):
        return layer(x, padding_mask=tf.constant(MASK), training=True)

    y_plain, g_plain = _values_and_grads(plain, call)
    y_fast, g_fast = _values_and_grads(fast, call)
    np.testing.assert_allclose(y_fast, y_plain, atol=1e-5)
    for a, b in zip(g_fast, g_plain):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_plain_block_equals_keras_hub_transformer_encoder():
    """Our block is keras-hub's post-LN TransformerEncoder (exact GELU), same weights
    and names: what the encoder was built of before it had its own block class."""
    from electra_tf.kernels.elementwise import gelu_plain

    _, plain = _blocks()
    hub = keras_hub.layers.TransformerEncoder(64, 4, dropout=0.0, activation=gelu_plain,
                                              layer_norm_epsilon=1e-12, normalize_first=False,
                                              name="layer_0")
    hub.build((3, 10, 32))
    assert sorted(v.path for v in hub.weights) == sorted(v.path for v in plain.weights)
    by_path = {v.path: v for v in plain.weights}
    for v in hub.weights:
        v.assign(by_path[v.path])
    x = tf.constant(np.random.default_rng(3).normal(size=(3, 10, 32)), tf.float32)
    np.testing.assert_allclose(plain(x, padding_mask=tf.constant(MASK)).numpy(),
                               hub(x, padding_mask=tf.constant(MASK)).numpy(), atol=1e-6)


def test_attention_dropout_is_its_own_rate():
    block = TransformerBlock(64, 4, dropout=0.0, attention_dropout=0.5, name="layer_0")
    block.build((3, 10, 32))
    assert block._self_attention_layer.dropout == 0.5
    assert block._self_attention_dropout.rate == 0.0 == block._feedforward_dropout.rate
    x = tf.random.normal((3, 10, 32))
    mask = tf.constant(MASK)
    eval_out = block(x, padding_mask=mask, training=False)
    train_out = block(x, padding_mask=mask, training=True)
    assert float(tf.reduce_max(tf.abs(train_out - eval_out))) > 1e-3  # only attention drops


def _probs(layer, query, mask):
    _, probs = layer(query, query, attention_mask=mask, return_attention_scores=True)
    return probs.numpy()


def test_additive_mask_gives_exact_zeros_and_softmax_by_hand():
    keras.utils.set_random_seed(1)
    mha = LeanAttention(num_heads=2, key_dim=4)
    query = tf.constant(np.random.default_rng(2).normal(size=(3, 10, 8)), tf.float32)
    mha(query, query)
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
    mha = LeanAttention(num_heads=2, key_dim=4)
    query = tf.random.normal((1, 5, 8))
    mha(query, query)
    probs = _probs(mha, query, tf.zeros((1, 1, 5), tf.bool))
    np.testing.assert_allclose(probs, 0.2, rtol=1e-6)  # stock Keras gives zeros here


def test_bfloat16_masking_stays_exact():
    keras.utils.set_random_seed(1)
    mha = LeanAttention(num_heads=2, key_dim=4, dtype="mixed_bfloat16")
    query = tf.random.normal((3, 10, 8))
    mha(query, query)
    probs = _probs(mha, query, tf.constant(MASK[:, None, :]))
    assert str(probs.dtype) == "bfloat16"
    assert np.all(probs.astype(np.float32)[2, :, :, 3:] == 0)


def test_every_attention_in_the_model_is_lean_or_plain_as_built():
    for fast in (True, False):
        n_layers, layers = tiny_layers(fast)
        attention = [la for la in layers if isinstance(la, keras.layers.MultiHeadAttention)]
        assert len(attention) == n_layers
        want = LeanAttention if fast else keras.layers.MultiHeadAttention
        assert all(type(la) is want for la in attention)
