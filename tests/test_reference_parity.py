"""The whole pre-training step against an independent PyTorch reference
(tests/reference/electra_torch.py): loss terms, the gradient of every variable, and the
weights after the first update and after 20 steps, for every objective and weight tying,
with the speed path (fast layers + XLA fusion, the default) and without it.

Setting: the tiny config, float32, dropout off, the same initial weights (through our
converter) and the same corruption (our step's masking and generator samples are the
reference's inputs). Warm-up 3 of 20 steps, so the learning rate rises, then decays
(step 0 has lr 0, as the original: the first update is the second step); the gradient
norm is ~10-70 against clip_norm 1, so clipping is active.
"""
import numpy as np
import pytest

from tests import reference_parity as rp

STEPS = 20
WARMUP = 3
LOSS_RTOL = 1e-5
GRAD_RTOL = 1e-4
WEIGHT_RTOL = 1e-4

CASES = [("electra", "embeddings"), ("electra_15", "embeddings"), ("bert", "embeddings"),
         ("replace_mlm", "embeddings"), ("all_tokens_mlm", "embeddings"),
         ("electra", "none"), ("electra", "all")]
# The plain path (stock Keras layers, no XLA fusion) in the default run for the cases
# that between them use every layer and head type (electra: RTD head + generator MLM
# head; all_tokens_mlm: the main network's MLM head too); the rest with `-m slow`.
PLAIN_IN_CI = {("electra", "embeddings"), ("all_tokens_mlm", "embeddings")}
PARAMS = [pytest.param((obj, tying, fast), id=f"{obj}-{tying}-{'fast' if fast else 'plain'}",
                       marks=() if fast or (obj, tying) in PLAIN_IN_CI else pytest.mark.slow)
          for fast in (True, False) for obj, tying in CASES]

_RUNS = {}


def _run(objective, tying, fast, tiny_data, tiny_vocab, tmp_path_factory):
    """Both implementations through STEPS steps; what the tests compare (cached)."""
    key = (objective, tying, fast)
    if key in _RUNS:
        return _RUNS[key]
    import keras

    keras.utils.set_random_seed(7)
    extra = {"generator_hidden_size": 1.0} if tying == "all" else {}
    trainer = rp.make_trainer(tiny_data, tiny_vocab, str(tmp_path_factory.mktemp("parity")),
                              STEPS, objective=objective, weight_tying=tying,
                              num_warmup_steps=WARMUP,
                              speed_path="fast" if fast else "plain", **extra)
    ours = rp.OurStep(trainer)
    ref = rp.build_reference(trainer.config, ours.named_values())
    out = {"config": trainer.config, "norms": [], "lrs": [], "fake_mismatch": 0,
           "num_our_weights": sum(v.size for v in ours.named_values().values()),
           "num_reference_weights": sum(p.numel() for p in ref.params.values())}
    for i, batch in enumerate(rp.batches(trainer, STEPS)):
        corruption, fake, prepared, dens = ours.corruption(batch)
        if fake is not None:  # the reference writes the samples itself: same input?
            import torch

            ref_fake, _ = ref.write_samples(*(torch.as_tensor(x) for x in (
                corruption.original_ids, corruption.positions, corruption.mlm_weights,
                corruption.sampled)))
            out["fake_mismatch"] += int((ref_fake.numpy() != fake).sum())
        if i == 0:
            out["our_terms"], out["our_loss"], grads = ours.gradients(prepared, dens)
            out["ref_terms"] = ref.backward(corruption)
            out["our_grads"] = rp.flat(rp.to_reference(trainer.config, grads))
            out["ref_grads"] = ref.named_grads()
        ours.step(batch)
        r = ref.step(corruption)
        out["norms"].append(r["grad_norm"])
        out["lrs"].append(r["learning_rate"])
        if i in (1, STEPS - 1):  # after the first update (lr > 0), and at the end
            out[f"weights_{i + 1}"] = (rp.flat(rp.to_reference(trainer.config,
                                                              ours.named_values())),
                                       rp.flat(ref.state()))
    _RUNS[key] = out
    return out


@pytest.fixture
def run(request, tiny_data, tiny_vocab, tmp_path_factory):
    return _run(*request.param, tiny_data, tiny_vocab, tmp_path_factory)


def _worst(ours, reference, scale_of=None):
    """(largest relative error, name) over the reference's variables; scale_of(name, ref
    value) gives the scale an error is relative to (default: max |reference value|)."""
    worst = (0.0, None)
    for name, value in reference.items():
        diff = float(np.max(np.abs(np.asarray(ours[name], np.float64) - value)))
        scale = scale_of(name, value) if scale_of else float(np.max(np.abs(value)))
        err = 0.0 if diff == 0 else diff / scale if scale > 0 else float("inf")
        worst = max(worst, (err, name))
    return worst


def gradient_scale(ref_grads):
    """(name, value) -> the scale a gradient's error is relative to: its largest value.
    An attention key bias adds q.b_k to every score of a query row, which softmax
    ignores: its exact gradient is 0 and both sides hold rounding noise, so its error is
    measured against the gradient of the same layer's key kernel."""
    def scale(name, value):
        if name.endswith("attention.self.key.bias"):
            return float(np.max(np.abs(ref_grads[name[:-len("bias")] + "weight"])))
        return float(np.max(np.abs(value)))
    return scale


def weight_scale(run, steps):
    """(name, value) -> the scale a weight's error after `steps` steps is relative to.

    Without bias correction Adam moves an element by lr_t * m/(sqrt v + eps), at most
    lr_t * (1 - b1) / sqrt(1 - b2) (~3.16 lr_t), whatever the gradient's size; where a
    gradient is near zero (an attention key bias, whose exact gradient is 0; a
    zero-initialised bias; a rare token's row) float32 noise decides those steps' size
    and sign. So the error is measured against max |w| plus that largest total movement,
    sum_t 3.16 lr_t (~0.013 after 20 steps here): for a weight initialised away from zero
    this is ~max |w|; for one that started at zero it is the size its updates could have
    reached, not its own noise-sized value."""
    cfg = run["config"]
    reach = (1 - cfg.optimizer.adam_beta_1) / np.sqrt(1 - cfg.optimizer.adam_beta_2) * sum(run["lrs"][:steps])
    return lambda name, value: float(np.max(np.abs(value))) + reach


@pytest.mark.parametrize("run", PARAMS, indirect=True)
def test_loss_terms_match(run):
    assert run["fake_mismatch"] == 0, "the reference wrote the samples differently"
    ref = run["ref_terms"]
    assert set(run["our_terms"]) == set(ref) - {"total"}
    for name, value in run["our_terms"].items():
        assert abs(value - ref[name]) <= LOSS_RTOL * abs(ref[name]), (name, value, ref[name])
    assert abs(run["our_loss"] - ref["total"]) <= LOSS_RTOL * abs(ref["total"])


@pytest.mark.parametrize("run", PARAMS, indirect=True)
def test_every_gradient_matches(run):
    ours, ref = run["our_grads"], rp.flat(run["ref_grads"])
    assert set(ref) <= set(ours)
    # every variable of ours has its counterpart (shared tensors counted once)
    assert run["num_our_weights"] == run["num_reference_weights"]
    err, name = _worst(ours, ref, gradient_scale(ref))
    assert err <= GRAD_RTOL, f"worst gradient: {name}, relative error {err:.2e}"
    nonzero = sum(float(np.max(np.abs(v))) > 0 for v in ref.values())
    assert nonzero > len(ref) // 2  # the comparison is not of zeros


@pytest.mark.parametrize("run", PARAMS, indirect=True)
def test_weights_after_first_update_and_20_steps(run):
    cfg = run["config"]
    assert run["lrs"][0] == 0.0 and run["lrs"][1] > 0 and run["lrs"][-1] < max(run["lrs"])
    assert max(run["norms"]) > cfg.optimizer.clip_norm  # clipping was active
    for steps in (2, STEPS):  # after the first update (lr > 0), and at the end
        ours, ref = run[f"weights_{steps}"]
        err, name = _worst(ours, ref, weight_scale(run, steps))
        assert err <= WEIGHT_RTOL, f"after {steps} steps: {name}, relative error {err:.2e}"
