"""fusion.xla_fused (electra_tf/kernels/fusion.py): one XLA kernel per function, same values."""
import numpy as np
import tensorflow as tf

from electra_tf.kernels import fusion
from electra_tf.kernels.elementwise import gelu_erf


def _gelu_step():
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = gelu_erf(x)
            loss = tf.reduce_sum(y * tf.range(1.0, 1.0 + x.shape[-1]))
        return y, tape.gradient(loss, x)
    return step


def _xla_calls(concrete):
    return [op for op in concrete.graph.get_operations()
            if op.type in ("PartitionedCall", "StatefulPartitionedCall")
            and op.node_def.attr["_XlaMustCompile"].b]


def test_gelu_forward_and_backward_are_one_xla_kernel_each():
    x = tf.constant(np.linspace(-5, 5, 60).reshape(3, 20), tf.float32)
    concrete = _gelu_step().get_concrete_function(x)
    assert fusion.enabled()
    assert len(_xla_calls(concrete)) == 2


def test_op_by_op_runs_the_kernels_as_written_with_the_same_values():
    x = tf.constant(np.random.default_rng(0).normal(0, 3, (16, 33)), tf.float32)
    fused = [t.numpy() for t in _gelu_step()(x)]
    with fusion.op_by_op():
        assert not fusion.enabled()
        step = _gelu_step()
        assert _xla_calls(step.get_concrete_function(x)) == []
        plain = [t.numpy() for t in step(x)]
    assert fusion.enabled()  # the block's end restores it
    # XLA's erf and Eigen's differ in the last bits; gradients here are scaled up to 33x
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_non_tensor_arguments_key_the_kernel():
    calls = []

    @fusion.xla_fused
    def scale(x, factor):
        calls.append(factor)  # runs once per trace
        return x * factor

    x = tf.ones([4])
    np.testing.assert_allclose(scale(x, 2.0).numpy(), 2.0)
    np.testing.assert_allclose(scale(x, 3.0).numpy(), 3.0)
    np.testing.assert_allclose(scale(x, 2.0).numpy(), 2.0)
    assert calls == [2.0, 3.0]
    assert scale.unfused(x, 5.0).numpy().tolist() == [5.0] * 4


def test_dense_bias_and_gelu_are_one_xla_kernel_each_way():
    from electra_tf.kernels.dense import FastDense
    from electra_tf.model.layers import gelu_exact

    layer = FastDense(12, activation=gelu_exact)
    layer.build((None, 8))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return tape.gradient(y, [x] + layer.trainable_variables)

    concrete = step.get_concrete_function(tf.TensorSpec([5, 8]))
    assert len(_xla_calls(concrete)) == 2
    types = {op.type for op in concrete.graph.get_operations()}
    assert not types & {"BiasAdd", "BiasAddGrad", "AddV2", "Erf"}
