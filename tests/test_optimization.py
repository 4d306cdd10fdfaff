import keras
import numpy as np

from electra_tf import optimization


def test_schedule_hand_computed():
    s = optimization.WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    got = [float(s(k)) for k in (0, 5, 10, 50, 100, 150)]
    # decay and warmup overlap: at step 5, (1 - 5/100) * 5/10
    expected = [0.0, 1e-3 * 0.95 * 0.5, 1e-3 * 0.9, 1e-3 * 0.5, 0.0, 0.0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def test_adamw_without_bias_correction_and_decay_exclusions():
    dense = keras.layers.Dense(2, name="proj")
    dense.build((None, 3))
    norm = keras.layers.LayerNormalization(name="layer_norm")
    norm.build((None, 2))
    variables = dense.trainable_variables + norm.trainable_variables
    assert [optimization.uses_weight_decay(v) for v in variables] == [True, False, False, False]
    opt = optimization.AdamWeightDecay(0.1, weight_decay_rate=0.01, epsilon=1e-6)
    opt.build(variables)
    w0 = [np.array(v.numpy()) for v in variables]
    grads = [np.full(v.shape, 0.5, np.float32) for v in variables]
    opt.apply(grads, variables)
    for v, w, g, decays in zip(variables, w0, grads, [True, False, False, False]):
        m = 0.1 * g
        vv = 0.001 * g * g
        update = m / (np.sqrt(vv) + 1e-6) + (0.01 * w if decays else 0.0)
        np.testing.assert_allclose(v.numpy(), w - 0.1 * update, rtol=1e-5, atol=1e-6)


def test_clip_by_global_norm():
    grads = [np.array([3.0, 0.0], np.float32), np.array([4.0], np.float32)]
    clipped, norm = optimization.clip_by_global_norm(grads, 1.0)
    assert abs(float(norm) - 5.0) < 1e-6
    np.testing.assert_allclose(np.asarray(clipped[0]), [0.6, 0.0], rtol=1e-6)
    small, _ = optimization.clip_by_global_norm([np.array([0.3], np.float32)], 1.0)
    np.testing.assert_allclose(np.asarray(small[0]), [0.3], rtol=1e-6)
