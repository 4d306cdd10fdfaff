import numpy as np
import pytest
import tensorflow as tf

from electra_tf import masking, objectives
from electra_tf.configs import get_config
from electra_tf.tokenization import SpecialIds

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
V = 6


class StubModel:
    """Fixed logits: a generator certain of token 5 and a discriminator with given logits."""

    def __init__(self, gen_logits, disc_logits):
        self.gen, self.disc = gen_logits, disc_logits
        self.seen_disc_input = None

    def generator_logits(self, ids, seg, mask, positions, training=None):
        return tf.constant(self.gen, tf.float32)

    def discriminator_logits(self, ids, seg, mask, training=None):
        self.seen_disc_input = np.asarray(ids)
        return tf.constant(self.disc, tf.float32)

    def discriminator_outputs(self, ids, seg, mask, positions=None, training=None):
        return {"rtd_logits": self.discriminator_logits(ids, seg, mask, training)}


def hand_batch():
    # [CLS] 5 6? ... ids: vocab is tiny; positions 1 and 2 masked, pos 3 pad slot
    return masking.MaskedBatch(
        token_ids=np.array([[2, 4, 4, 3, 0]], np.int32),
        original_ids=np.array([[2, 5, 1, 3, 0]], np.int32),
        segment_ids=np.zeros((1, 5), np.int32),
        padding_mask=np.array([[1, 1, 1, 1, 0]], np.int32),
        positions=np.array([[1, 2, 0]], np.int32),
        mlm_ids=np.array([[5, 1, 0]], np.int32),
        mlm_weights=np.array([[1, 1, 0]], np.float32),
        slot_first=np.array([[1, 1, 0]], np.float32),
        example_index=np.array([0], np.int64))


def test_loss_and_labels_on_a_hand_sized_example():
    cfg = get_config("tiny", vocab_size=V)
    obj = objectives.ElectraObjective(cfg, SPECIAL)
    big = 100.0  # the generator always samples token 5
    gen = np.zeros((1, 3, V), np.float32)
    gen[:, :, 5] = big
    disc = np.array([[0.0, 2.0, -1.0, 0.5, 3.0]], np.float32)
    model = StubModel(gen, disc)
    p = hand_batch()
    terms, sums, aux = obj.loss_terms(model, p, seed=0, training=False)
    # samples: 5 at positions 1 and 2 -> position 1 equals the original (5): label 0
    # (a correct sample counts as real); position 2 had 1 -> replaced: label 1.
    assert model.seen_disc_input.tolist() == [[2, 5, 5, 3, 0]]
    assert np.asarray(aux["labels"]).tolist() == [[0, 0, 1, 0, 0]]
    # MLM: slot 1 target 5: -log softmax = log(1 + 5 e^-100) ~ 0; slot 2 target 1: ~100
    xent = [np.log1p(5 * np.exp(-big)), big + np.log1p(5 * np.exp(-big))]
    np.testing.assert_allclose(float(terms["mlm"][1]), sum(xent), rtol=1e-5)
    # disc: sigmoid xent at the 4 real tokens; label 1 only at position 2
    def sx(z, y):
        return np.log1p(np.exp(-abs(z))) + max(z, 0) - z * y
    expected = sx(0, 0) + sx(2, 0) + sx(-1, 1) + sx(0.5, 0)
    np.testing.assert_allclose(float(terms["disc"][1]), expected, rtol=1e-5)
    dens = obj.denominators(p)
    assert float(dens["mlm"]) == 2 and float(dens["disc"]) == 4
    assert terms["mlm"][0] == 1.0 and terms["disc"][0] == 50.0
    # total = 1 * 100.0/2 + 50 * expected/4
    total = sum(w * float(num) / (float(dens[k]) + 1e-6) for k, (w, num, _) in terms.items())
    np.testing.assert_allclose(total, 1.0 * sum(xent) / 2 + 50.0 * expected / 4, rtol=1e-5)
    summary = obj.summarize({k: np.asarray(v) for k, v in sums.items()})
    assert summary["replaced_fraction"] == 0.25
    assert summary["sampled_mlm_accuracy"] == 0.5     # sample 5 is right at slot 1 only
    # preds: logits > 0 at positions 1 and 3, labels only at 2: accuracy 1/4
    assert summary["disc_accuracy"] == 0.25
    assert summary["disc_precision"] == 0.0 and summary["disc_recall"] == 0.0


def test_disallow_correct_and_temperature():
    logits = np.zeros((200, 1, V), np.float32)
    logits[:, :, 3] = 3.0
    correct = np.full((200, 1), 3, np.int32)
    seeds = np.stack([np.zeros(200, np.int64), np.arange(200, dtype=np.int64)], -1)
    s = np.asarray(objectives.sample_tokens(logits, seeds, 1.0, disallow=correct))
    assert (s != 3).all()
    hot = np.asarray(objectives.sample_tokens(logits, seeds, 0.05))
    cold = np.asarray(objectives.sample_tokens(logits, seeds, 100.0))
    assert (hot == 3).mean() > 0.99 and (cold == 3).mean() < 0.4


def test_gumbel_samples_follow_the_softmax():
    """100,000 draws (4,000 examples x 25 positions) match softmax(logits): each
    frequency within 5 standard deviations, and no two positions of an example agree
    more often than independent draws would."""
    p = np.array([0.1, 0.2, 0.3, 0.4, 1e-9, 1e-9])
    logits = np.broadcast_to(np.log(p).astype(np.float32), (4000, 25, V))
    seeds = np.stack([np.ones(4000, np.int64), np.arange(4000, dtype=np.int64)], -1)
    s = np.asarray(objectives.sample_tokens(logits, seeds))
    n = s.size
    freq = np.bincount(s.ravel(), minlength=V) / n
    sd = np.sqrt(p * (1 - p) / n)
    assert (np.abs(freq - p) < 5 * sd + 1e-12).all(), freq
    same = (s[:, 1:] == s[:, :-1]).mean()  # neighbouring positions: P = sum p^2 = 0.3
    assert abs(same - 0.3) < 5 * np.sqrt(0.3 * 0.7 / s[:, 1:].size)


def test_auc_from_histograms_matches_rank_auc():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000).astype(np.float32)
    probs = np.clip(rng.normal(0.4 + 0.2 * labels, 0.15), 0, 1).astype(np.float32)
    pos, neg = objectives.auc_histograms(probs, labels, np.ones_like(labels))
    got = objectives.auc_from_histograms(pos, neg)
    p, n = probs[labels == 1], probs[labels == 0]
    exact = ((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean())
    assert abs(got - exact) < 0.005


def test_stable_xents_match_numpy():
    z = np.array([-50.0, -1.0, 0.0, 2.0, 50.0], np.float32)
    y = np.array([1, 0, 1, 1, 0], np.float32)
    # -[y log s(z) + (1 - y) log(1 - s(z))] = log(1 + e^z) - y z
    expected = np.logaddexp(0.0, z.astype(np.float64)) - y * z
    np.testing.assert_allclose(np.asarray(objectives.sigmoid_xent(z, y)), expected, rtol=1e-5)


@pytest.mark.parametrize("fused", ["1", "0"])
def test_softmax_xent_values_and_gradient_by_hand(fused):
    """The hand-written cross-entropy (XLA-fused or op by op) against numpy:
    logsumexp - logit[label], gradient w * (softmax - one_hot)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 50)) * 4
    y = rng.integers(0, 50, (3, 5))
    w = rng.normal(size=(3, 5))
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        value = objectives.softmax_xent(xt, tf.constant(y, tf.int32), fused=fused == "1")
        loss = tf.reduce_sum(value * tf.constant(w, tf.float32))
    grad = tape.gradient(loss, xt).numpy()
    top = x.max(-1, keepdims=True)
    lse = np.log(np.exp(x - top).sum(-1)) + top[..., 0]
    want = lse - np.take_along_axis(x, y[..., None], -1)[..., 0]
    np.testing.assert_allclose(value.numpy(), want, rtol=1e-5, atol=1e-5)
    probs = np.exp(x - lse[..., None])
    want_grad = w[..., None] * (probs - np.eye(50)[y])
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)


def test_gumbel_rows_depend_only_on_their_seeds_and_fusion_agrees():
    """Row b's samples are a function of seeds[b] only (another batch composition draws
    the same), and the XLA kernel and the op-by-op path draw the same samples."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 4, 300)).astype(np.float32)
    seeds = np.stack([np.full(8, 5 + (1 << 40), np.int64), np.arange(8, dtype=np.int64) + 7], -1)
    full = np.asarray(objectives.sample_tokens(logits, seeds))
    part = np.asarray(objectives.sample_tokens(logits[3:], seeds[3:]))
    np.testing.assert_array_equal(full[3:], part)
    unfused = np.asarray(objectives.sample_tokens(logits, seeds, fused=False))
    assert (unfused == full).mean() == 1.0
    # the seed's high 32 bits count: 5 + 2^40 and 5 draw differently
    low = np.asarray(objectives.sample_tokens(logits, seeds - [1 << 40, 0]))
    assert (low != full).mean() > 0.5


def test_hash_uniform_is_the_documented_hash():
    from electra_tf import random_ops
    from tests.test_elementwise import _lowbias32

    counter = np.arange(1000, dtype=np.uint64)
    bits = _lowbias32((_lowbias32(counter ^ 99) + 12345) & 0xFFFFFFFF)
    got = random_ops.hash_uniform(tf.constant(counter.astype(np.uint32)), tf.constant(99, tf.uint32),
                                  tf.constant(12345, tf.uint32))
    np.testing.assert_array_equal(np.asarray(got), (bits >> 8).astype(np.float32) / 2 ** 24)
