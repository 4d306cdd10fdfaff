import keras
import numpy as np
import pytest

from electra_tf import optimization
from electra_tf.kernels import adam


def test_schedule_hand_computed():
    s = optimization.WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    got = [float(s(k)) for k in (0, 5, 10, 50, 100, 150)]
    # decay and warmup overlap: at step 5, (1 - 5/100) * 5/10
    expected = [0.0, 1e-3 * 0.95 * 0.5, 1e-3 * 0.9, 1e-3 * 0.5, 0.0, 0.0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def _dense_and_norm():
    dense = keras.layers.Dense(2, name="proj")
    dense.build((None, 3))
    norm = keras.layers.LayerNormalization(name="layer_norm")
    norm.build((None, 2))
    return dense.trainable_variables + norm.trainable_variables


@pytest.mark.parametrize("fused", [False, True])
def test_adamw_without_bias_correction_and_decay_exclusions(fused):
    variables = _dense_and_norm()
    assert [optimization.uses_weight_decay(v) for v in variables] == [True, False, False, False]
    opt = optimization.AdamWeightDecay(0.1, weight_decay_rate=0.01, epsilon=1e-6)
    opt.fused = fused
    opt.build(variables)
    w0 = [np.array(v.numpy(), np.float64) for v in variables]
    grads = [np.full(v.shape, 0.5, np.float32) for v in variables]
    opt.apply(grads, variables)
    # the original's 1 - beta_2 = 0.001 on both paths (the fused kernel's float32
    # 0.00099998713 is compensated: without, this step is 6.4e-6 relatively larger)
    for v, w, g, decays in zip(variables, w0, grads, [True, False, False, False]):
        m = 0.1 * g
        vv = 0.001 * g * g
        update = m / (np.sqrt(vv) + 1e-6) + (0.01 * w if decays else 0.0)
        np.testing.assert_allclose(v.numpy(), w - 0.1 * update, rtol=1e-6, atol=1e-7)


def test_fused_adam_tracks_the_keras_ops_path_over_many_steps():
    runs = []
    for fused in (False, True):
        keras.utils.set_random_seed(0)
        variables = _dense_and_norm()
        w0 = [v.numpy() for v in variables]
        opt = optimization.AdamWeightDecay(
            optimization.WarmupLinearDecay(1e-2, total_steps=30, warmup_steps=5),
            weight_decay_rate=0.01, lr_multiplier=lambda v: 0.5 if "proj" in v.path else 1.0)
        opt.fused = fused
        opt.build(variables)
        grads_rng = np.random.default_rng(1)
        for _ in range(20):
            opt.apply([grads_rng.normal(size=v.shape).astype(np.float32) for v in variables],
                      variables)
        runs.append(([v.numpy() for v in variables],
                     [x.numpy() for x in opt._m + opt._v], int(opt.iterations.numpy())))
        # the weights really moved (an optimizer doing nothing would agree with itself)
        assert min(float(np.abs(a - b).max()) for a, b in zip(runs[-1][0], w0)) > 1e-3
    (w_ref, s_ref, it_ref), (w_fused, s_fused, it_fused) = runs
    assert it_ref == it_fused == 20
    # float32 rounding apart, the same steps: uncompensated, the fused kernel's v was
    # 1.3e-5 and its weights 6.5e-6 relatively off after these 20 steps (measured); its m
    # slot holds s m (kernels.adam.v_scale)
    n = len(w_ref)
    scale = adam.v_scale(0.999)
    for a, b in zip(w_fused, w_ref):
        np.testing.assert_allclose(a, b, rtol=3e-6, atol=1e-8)
    for a, b in zip(s_fused[:n], s_ref[:n]):
        np.testing.assert_allclose(a / scale, b, rtol=2e-6, atol=1e-9)
    for a, b in zip(s_fused[n:], s_ref[n:]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


def test_clip_by_global_norm():
    grads = [np.array([3.0, 0.0], np.float32), np.array([4.0], np.float32)]
    clipped, norm = optimization.clip_by_global_norm(grads, 1.0)
    assert abs(float(norm) - 5.0) < 1e-6
    np.testing.assert_allclose(np.asarray(clipped[0]), [0.6, 0.0], rtol=1e-6)
    small, _ = optimization.clip_by_global_norm([np.array([0.3], np.float32)], 1.0)
    np.testing.assert_allclose(np.asarray(small[0]), [0.3], rtol=1e-6)


def test_create_optimizer_follows_the_fused_adam_config():
    from electra_tf.configs import get_config, parse_overrides

    assert optimization.create_optimizer(get_config("tiny").optimizer).fused is True
    off = parse_overrides(["fused_adam=false"])
    assert optimization.create_optimizer(get_config("tiny", **off).optimizer).fused is False
