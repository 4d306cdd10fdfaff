"""dense.matmul and FastDense (electra_tf/kernels/dense.py) against TF's own matmul/Dense."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from electra_tf.kernels.dense import FastDense, _swap_kernel_gradient, _transposed_copy, matmul
from electra_tf.kernels.elementwise import gelu_exact, gelu_plain
from tests.test_model import tiny_layers


def test_transposed_copy_is_the_transpose():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(_transposed_copy(tf.constant(w)).numpy(), w.T)


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float16", 2e-2)])
def test_matmul_values_and_gradients_by_hand(dtype, tol):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(37, 16)), rng.normal(size=(16, 24))
    dy = rng.normal(size=(37, 24))
    xt, wt = tf.constant(x, dtype), tf.constant(w, dtype)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        y = matmul(xt, wt)
    dx, dw = tape.gradient(y, [xt, wt], output_gradients=tf.constant(dy, dtype))
    assert y.dtype == dx.dtype == dw.dtype == tf.as_dtype(dtype)
    for got, want in [(y, x @ w), (dx, dy @ w.T), (dw, x.T @ dy)]:
        np.testing.assert_allclose(got.numpy().astype(np.float64), want,
                                   rtol=tol, atol=tol * np.abs(want).max())


def test_kernel_gradient_of_a_tall_product_by_hand():
    # [2048, 512]^T @ [2048, 128]: the swapped form (dy^T x)^T, as at the FFN's output layer
    assert _swap_kernel_gradient(4096, 1024, 256) and _swap_kernel_gradient(2048, 512, 128)
    assert not _swap_kernel_gradient(4096, 256, 1024)  # the FFN's input layer
    assert not _swap_kernel_gradient(1024, 3072, 768)  # Base's FFN output at batch 8 x 128: slower
    assert not _swap_kernel_gradient(None, 1024, 256)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(2048, 512)), rng.normal(size=(512, 128))
    dy = rng.normal(size=(2048, 128))
    xt, wt = tf.constant(x, tf.float32), tf.constant(w, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(wt)
        y = matmul(xt, wt)
    dw = tape.gradient(y, wt, output_gradients=tf.constant(dy, tf.float32)).numpy()
    assert dw.shape == (512, 128)
    np.testing.assert_allclose(dw, x.T @ dy, rtol=1e-4, atol=1e-4 * np.abs(x.T @ dy).max())


def test_matmul_in_a_tf_function_with_unknown_rows():
    w = tf.Variable(tf.random.normal([8, 5], seed=1))

    @tf.function(input_signature=[tf.TensorSpec([None, 8])])
    def fn(x):
        with tf.GradientTape() as tape:
            y = matmul(x, w)
            loss = tf.reduce_sum(y)
        return y, tape.gradient(loss, w)

    x = tf.random.normal([6, 8], seed=2)
    y, dw = fn(x)
    np.testing.assert_allclose(y.numpy(), (x @ w).numpy(), atol=1e-5)
    np.testing.assert_allclose(dw.numpy(), tf.reduce_sum(x, 0)[:, None].numpy() * np.ones(5),
                               atol=1e-5)


def test_fast_dense_equals_keras_dense_values_and_gradients():
    keras.utils.set_random_seed(0)
    stock = keras.layers.Dense(48, activation=gelu_plain, bias_initializer="normal")
    stock.build((4, 9, 32))
    fast = FastDense(48, activation=gelu_exact)
    fast.build((4, 9, 32))
    fast.set_weights(stock.get_weights())
    x = tf.random.normal([4, 9, 32], seed=3)
    out = []
    for layer in (stock, fast):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(48.0))
        out.append([y] + tape.gradient(loss, [x] + layer.trainable_variables))
    for a, b in zip(*out):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-4)


def test_every_dense_in_the_model_is_fast_or_plain_as_built():
    for fast in (True, False):
        n_layers, layers = tiny_layers(fast)
        dense = [la for la in layers if isinstance(la, keras.layers.Dense)]
        # per block 2 (FFN); the discriminator's embedding projection (tiny: 16 -> 32) and
        # head (2); the generator's MLM head dense (its hidden size equals the embedding's)
        assert len(dense) == 2 * n_layers + 4
        assert all(type(la) is (FastDense if fast else keras.layers.Dense) for la in dense)
