import numpy as np
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
        input_ids=np.array([[2, 4, 4, 3, 0]], np.int32),
        original_ids=np.array([[2, 5, 1, 3, 0]], np.int32),
        segment_ids=np.zeros((1, 5), np.int32),
        input_mask=np.array([[1, 1, 1, 1, 0]], np.int32),
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
    logits = np.log(np.array([[[0.1, 0.2, 0.3, 0.4, 1e-9, 1e-9]]], np.float32))
    logits = np.repeat(logits, 4000, axis=0)
    seeds = np.stack([np.ones(4000, np.int64), np.arange(4000, dtype=np.int64)], -1)
    s = np.asarray(objectives.sample_tokens(logits, seeds)).ravel()
    freq = np.bincount(s, minlength=V)[:4] / 4000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.03)


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
