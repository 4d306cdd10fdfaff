"""The paper's variants: each flag value's defining property (which positions carry loss,
what the inputs look like, which weights are shared, which weights get gradients)."""
import numpy as np
import pytest
import tensorflow as tf

from electra_tf import masking, objectives
from electra_tf.configs import ConfigError, get_config
from electra_tf.model.pretraining import ElectraPretrainingModel
from test_masking import SPECIAL, make_batch
from test_objective import StubModel, hand_batch


def tiny(**kw):
    kw.setdefault("vocab_size", 100)
    kw.setdefault("max_seq_length", 64)
    return get_config("tiny", **kw)


def build(**kw):
    cfg = tiny(**kw)
    model = ElectraPretrainingModel(cfg)
    model.build()
    return cfg, model


def grads_of(obj, model, p, variables, term=None):
    with tf.GradientTape() as tape:
        terms, _, _ = obj.loss_terms(model, p, seed=0, training=False)
        loss = sum(w * n for name, (w, n, _) in terms.items() if term in (None, name))
    return terms, tape.gradient(loss, variables)


def moved(g):
    return g is not None and float(tf.reduce_max(tf.abs(tf.convert_to_tensor(g)))) > 0


# ------------------------------------------------------------------ objectives (Table 5)
def test_bert_is_mlm_only_on_the_full_size_network():
    cfg, model = build(objective="bert")
    assert model.generator is None  # no generator network at all
    obj = objectives.get_objective(cfg, SPECIAL)
    p = obj.prepare(make_batch(b=4), seed=0)
    assert set(obj.denominators(p)) == {"mlm"}
    disc_layer = model.discriminator.transformer_layers[-1].trainable_weights[0]
    mlm_head = model.discriminator_mlm_head.trainable_weights[0]
    rtd_head = model.discriminator_head.trainable_weights[0]
    terms, (g_layer, g_mlm, g_rtd) = grads_of(obj, model, p, [disc_layer, mlm_head, rtd_head])
    assert set(terms) == {"mlm"} and moved(g_layer) and moved(g_mlm) and not moved(g_rtd)


def test_bert_80_10_10_masking_statistics():
    cfg = tiny(objective="bert", mask_token_prob=0.8, mask_random_prob=0.1,
               mask_sampling="without_replacement")
    masked = kept = rand = total = 0
    for rep in range(6):
        batch = make_batch(seed=rep)
        m = masking.mask_batch(batch, cfg, SPECIAL, seed=3)
        pos, w = np.asarray(m.positions), np.asarray(m.mlm_weights)
        new, orig = np.asarray(m.token_ids), batch["input_ids"]
        for i in range(len(pos)):
            for j in np.flatnonzero(w[i]):
                total += 1
                t = new[i, pos[i, j]]
                masked += t == SPECIAL.mask
                kept += t == orig[i, pos[i, j]]
                rand += t != SPECIAL.mask and t != orig[i, pos[i, j]]
        # positions other than the selected ones are untouched
        sel = np.zeros_like(new, bool)
        for i in range(len(pos)):
            sel[i, pos[i][w[i] > 0]] = True
        assert (new[~sel] == orig[~sel]).all()
    assert total > 1000
    assert abs(masked / total - 0.8) < 0.04
    assert abs(rand / total - 0.1) < 0.03  # a random draw equal to the original counts as kept
    assert abs(kept / total - 0.1) < 0.03


def test_electra_15_carries_the_rtd_loss_only_on_masked_positions():
    cfg = tiny(objective="electra_15", vocab_size=6)
    obj = objectives.get_objective(cfg, SPECIAL)
    gen = np.zeros((1, 3, 6), np.float32)
    gen[:, :, 5] = 100.0
    disc = np.array([[0.0, 2.0, -1.0, 0.5, 3.0]], np.float32)
    p = hand_batch()  # masked positions 1 and 2
    terms, _, _ = obj.loss_terms(StubModel(gen, disc), p, seed=0, training=False)
    sx = lambda z, y: np.log1p(np.exp(-abs(z))) + max(z, 0) - z * y
    np.testing.assert_allclose(float(terms["disc"][1]), sx(2.0, 0) + sx(-1.0, 1), rtol=1e-5)
    assert float(obj.denominators(p)["disc"]) == 2.0
    # the default objective uses every real token
    full = objectives.get_objective(tiny(vocab_size=6), SPECIAL)
    assert float(full.denominators(p)["disc"]) == 4.0


class MLMStub(StubModel):
    """Adds a main-network MLM head: fixed logits at the requested positions."""

    def __init__(self, gen, disc, mlm):
        super().__init__(gen, disc)
        self.mlm = mlm
        self.seen_positions = None

    def discriminator_outputs(self, ids, seg, mask, positions=None, training=None):
        out = super().discriminator_outputs(ids, seg, mask, positions, training)
        self.seen_positions = np.asarray(positions)
        out["mlm_logits"] = tf.constant(np.take_along_axis(
            self.mlm, np.asarray(positions)[:, :, None], axis=1), tf.float32)
        return out


def test_replace_mlm_fills_masks_with_samples_and_predicts_them():
    cfg = tiny(objective="replace_mlm", vocab_size=6)
    obj = objectives.get_objective(cfg, SPECIAL)
    gen = np.zeros((1, 3, 6), np.float32)
    gen[:, :, 5] = 100.0  # samples 5
    mlm = np.zeros((1, 5, 6), np.float32)
    model = MLMStub(gen, np.zeros((1, 5), np.float32), mlm)
    p = hand_batch()
    terms, _, _ = obj.loss_terms(model, p, seed=0, training=False)
    # the main network sees generator samples, never [MASK]
    assert model.seen_disc_input.tolist() == [[2, 5, 5, 3, 0]]
    assert model.seen_positions.tolist() == [[1, 2, 0]]
    # main MLM over the 2 used slots with uniform logits: 2 * log 6
    np.testing.assert_allclose(float(terms["main_mlm"][1]), 2 * np.log(6), rtol=1e-5)
    assert set(terms) == {"mlm", "main_mlm"}


def test_all_tokens_mlm_copy_mechanism_loss():
    cfg = tiny(objective="all_tokens_mlm", vocab_size=6)
    obj = objectives.get_objective(cfg, SPECIAL)
    gen = np.zeros((1, 3, 6), np.float32)
    gen[:, :, 5] = 100.0
    d = np.array([[1.0, -0.5, 0.3, 2.0, 0.0]], np.float32)  # copy logits
    rng = np.random.default_rng(0)
    mlm = rng.normal(size=(1, 5, 6)).astype(np.float32)
    model = MLMStub(gen, d, mlm)
    p = hand_batch()  # original [2, 5, 1, 3, 0], corrupted -> [2, 5, 5, 3, 0]
    terms, _, _ = obj.loss_terms(model, p, seed=0, training=False)
    assert model.seen_positions.tolist() == [[0, 1, 2, 3, 4]]  # every position
    orig, fake = [2, 5, 1, 3], [2, 5, 5, 3]
    expected = 0.0
    for t in range(4):  # real tokens only
        D = 1 / (1 + np.exp(-d[0, t]))
        p_mlm = np.exp(mlm[0, t]) / np.exp(mlm[0, t]).sum()
        prob = D * (fake[t] == orig[t]) + (1 - D) * p_mlm[orig[t]]
        expected -= np.log(prob)
    np.testing.assert_allclose(float(terms["all_tokens"][1]), expected, rtol=1e-5)


# ------------------------------------------------------------------ Section 3.2 studies
def test_weight_tying_none_embeddings_all():
    _, none = build(weight_tying="none")
    _, emb = build()
    _, all_ = build(weight_tying="all", generator_hidden_size=1.0)
    word = lambda e: e.word_embeddings.embeddings
    assert none.generator.embeddings is none.generator_embeddings
    assert word(none.generator.embeddings) is not word(none.discriminator.embeddings)
    assert emb.generator.embeddings is emb.discriminator.embeddings
    assert emb.generator is not emb.discriminator
    assert all_.generator is all_.discriminator  # every encoder weight shared
    assert len(all_.trainable_variables) < len(emb.trainable_variables)
    with pytest.raises(ConfigError, match="weight_tying=all needs"):
        tiny(weight_tying="all")


def test_generator_size_and_depth():
    cfg = tiny(generator_hidden_size=0.5, generator_layers=0.5)
    g = cfg.generator_encoder()
    assert (g.hidden_size, g.num_heads, g.intermediate_size, g.num_layers) == (16, 1, 64, 1)
    _, model = build(generator_hidden_size=0.5, generator_layers=0.5)
    assert len(model.generator.transformer_layers) == 1 and len(model.discriminator.transformer_layers) == 2


@pytest.mark.parametrize("kind", ["uniform", "unigram"])
def test_fixed_generators_sample_the_distribution(kind):
    counts = np.ones(100)
    counts[50] = 5000  # a very frequent token
    log_probs = np.log(counts / counts.sum()).astype(np.float32)
    cfg, model = build(generator=kind)
    assert model.generator is None and model.generator_head is None
    obj = objectives.get_objective(cfg, SPECIAL, log_probs if kind == "unigram" else None)
    p = obj.prepare(make_batch(b=32), seed=0)
    c = obj.corrupt(model, p, seed=0, training=False)
    s = np.asarray(c["sampled"])[np.asarray(p.mlm_weights) > 0]
    assert not np.isin(s, [SPECIAL.pad, SPECIAL.cls, SPECIAL.sep, SPECIAL.mask]).any()
    share = np.mean(s == 50)
    if kind == "unigram":
        assert share > 0.8  # 5000 / (5000 + 95)
    else:
        assert share < 0.05
    terms, _, _ = obj.loss_terms(model, p, seed=0, training=False)
    assert set(terms) == {"disc"}  # no generator to train


def test_adversarial_generator_gets_reinforce_gradients():
    cfg, model = build(training="adversarial", gen_weight=0.0)
    obj = objectives.get_objective(cfg, SPECIAL)
    p = obj.prepare(make_batch(b=4), seed=0)
    gen_var = model.generator.transformer_layers[0].trainable_weights[0]
    terms, (g,) = grads_of(obj, model, p, [gen_var], term="adversarial")
    assert "adversarial" in terms and moved(g)
    joint_cfg, joint = build(gen_weight=0.0)
    jobj = objectives.get_objective(joint_cfg, SPECIAL)
    _, (g,) = grads_of(jobj, joint, p, [joint.generator.transformer_layers[0].trainable_weights[0]],
                       term="disc")
    assert not moved(g)  # joint training: no gradient from the discriminator


# ------------------------------------------------------------------ appendix options
def test_strategic_masking_prefers_rare_tokens():
    counts = np.full(100, 10.0)
    counts[5:50] = 10000.0  # tokens 5..49 frequent, 50..99 rare
    log_probs = np.log(counts / counts.sum()).astype(np.float32)
    batch = make_batch(b=64)
    rare_share = {}
    for masking_kind in ("random", "strategic"):
        cfg = tiny(masking=masking_kind, strategic_alpha=1.0)
        m = masking.mask_batch(batch, cfg, SPECIAL, seed=0, unigram_log_probs=log_probs)
        pos, w = np.asarray(m.positions), np.asarray(m.mlm_weights)
        picked = np.take_along_axis(batch["input_ids"], pos, 1)[w > 0]
        rare_share[masking_kind] = np.mean(picked >= 50)
    assert rare_share["random"] < 0.65 and rare_share["strategic"] > 0.95


def test_span_masking_selects_contiguous_spans():
    cfg = tiny(masking="span", max_seq_length=64)
    batch = make_batch(b=64)
    m = masking.mask_batch(batch, cfg, SPECIAL, seed=0)
    pos, w = np.asarray(m.positions), np.asarray(m.mlm_weights)
    runs, n_sel = [], 0
    for i in range(64):
        sel = sorted(set(pos[i][w[i] > 0]))
        n_sel += len(sel)
        assert len(sel) == int(w[i].sum())  # distinct positions
        ids = batch["input_ids"][i, sel]
        assert not np.isin(ids, [SPECIAL.cls, SPECIAL.sep, SPECIAL.pad]).any()
        run = 1
        for a, b in zip(sel, sel[1:]):
            if b == a + 1:
                run += 1
            else:
                runs.append(run)
                run = 1
        runs.append(run)
        budget = max(1, min(cfg.pretraining.num_predictions, round(batch["input_mask"][i].sum() * 0.15)))
        assert len(sel) <= budget
    assert np.mean(runs) > 2.0  # geometric(0.2) spans, vs ~1.1 for random positions
    assert n_sel > 0.8 * sum(max(1, min(cfg.pretraining.num_predictions,
                                        round(r.sum() * 0.15))) for r in batch["input_mask"])


def test_sentence_contrastive_leaves_some_inputs_intact():
    cfg, model = build(uncorrupted_prob=0.3)
    obj = objectives.get_objective(cfg, SPECIAL)
    batch = make_batch(b=64)
    p = obj.prepare(batch, seed=0)
    terms, sums, aux = obj.loss_terms(model, p, seed=0, training=False)
    labels = np.asarray(aux["labels"])
    intact = (np.asarray(aux["fake_ids"]) == batch["input_ids"]).all(axis=1)
    assert 0.15 < intact.mean() < 0.45
    assert (labels[intact] == 0).all()
    assert "sentence" in terms and float(obj.denominators(p)["sentence"]) == 64


def test_mask_rate_25_percent():
    cfg = tiny(mask_prob=0.25)
    assert cfg.pretraining.num_predictions == int((0.25 + 0.005) * 64)


# ------------------------------------------------------------------ two-stage training
def test_two_stage_freezes_and_initialises(tiny_data, tiny_vocab, tmp_path):
    from electra_tf.model import weights
    from tests.conftest import make_trainer

    trainer = make_trainer(tiny_data, tiny_vocab, tmp_path, dict(save_every=100, log_every=1),
                           training="two_stage", two_stage_steps=2, generator_hidden_size=1.0,
                           num_train_steps=4, num_warmup_steps=0)
    m = trainer.model
    snap = lambda enc: {n: v.numpy().copy() for n, v in weights.encoder_weights(enc).items()}
    disc0 = snap(m.discriminator)
    trainer.train(2)  # stage 1: generator only
    disc1, gen1 = snap(m.discriminator), snap(m.generator)
    assert all(np.array_equal(disc0[n], disc1[n]) for n in disc0)
    trainer.train(3)  # the switch, then one discriminator step
    gen2, disc2 = snap(m.generator), snap(m.discriminator)
    assert all(np.array_equal(gen1[n], gen2[n]) for n in gen1)  # generator frozen
    # the discriminator started from the generator: one small step away from it
    assert all(np.allclose(disc2[n], gen1[n], atol=5e-3) for n in gen1)
    assert not all(np.array_equal(disc2[n], gen1[n]) for n in gen1)


def test_gdes_disentangles_the_word_table(tiny_data, tiny_vocab, tmp_path):
    """DeBERTaV3's GDES: the RTD loss reaches E_delta but not E_G, the MLM loss E_G but not
    E_delta; at the start the discriminator is weight_tying=embeddings' own; the export
    carries E_G + E_delta; a checkpoint restores E_delta."""
    import keras

    from electra_tf.interop import ours
    from electra_tf.model import weights
    from tests.conftest import make_trainer

    with pytest.raises(ConfigError, match="weight_tying=gdes"):
        tiny(weight_tying="gdes", objective="bert")
    keras.utils.set_random_seed(3)
    cfg, model = build(weight_tying="gdes")
    keras.utils.set_random_seed(3)
    _, plain = build()
    obj = objectives.get_objective(cfg, SPECIAL)
    p = obj.prepare(make_batch(b=4), seed=0)
    table, delta = model.embeddings.word_embeddings.embeddings, model.disentangled.word_delta
    assert float(tf.reduce_max(tf.abs(delta))) == 0.0
    _, (g_table, g_delta) = grads_of(obj, model, p, [table, delta], term="disc")
    assert not moved(g_table) and moved(g_delta)
    _, (g_table, g_delta) = grads_of(obj, model, p, [table, delta], term="mlm")
    assert moved(g_table) and not moved(g_delta)
    # E_delta = 0: the same discriminator as weight_tying=embeddings (same seed, same weights)
    ids, seg, mask = p.token_ids, p.segment_ids, p.padding_mask
    np.testing.assert_allclose(model.discriminator_logits(ids, seg, mask),
                               plain.discriminator_logits(ids, seg, mask), atol=1e-6)
    # trained: E_delta moves, the export and a conversion carry E_G + E_delta
    opts = dict(save_every=3, log_every=3)
    settings = dict(weight_tying="gdes", num_train_steps=3, num_warmup_steps=0)
    trainer = make_trainer(tiny_data, tiny_vocab, tmp_path, opts, **settings)
    trainer.train()
    m = trainer.model
    e_g, e_delta = m.embeddings.word_embeddings.embeddings.numpy(), m.disentangled.word_delta.numpy()
    assert np.abs(e_delta).max() > 0
    exported = weights.read(str(tmp_path / "discriminator" / "weights"))
    np.testing.assert_allclose(exported[weights.WORD_TABLE], e_g + e_delta, rtol=0, atol=0)
    gen_exported = weights.read(str(tmp_path / "generator" / "weights"))
    np.testing.assert_array_equal(gen_exported[weights.WORD_TABLE], e_g)
    _, kind, values = ours.read(str(tmp_path))  # the pre-training checkpoint
    disc = ours.network_values(values, kind, "discriminator")
    np.testing.assert_allclose(disc[weights.WORD_TABLE], e_g + e_delta, rtol=0, atol=0)
    assert not any("delta" in n for n in disc)
    # resume: a new trainer on the same model_dir restores E_delta
    keras.utils.set_random_seed(99)
    again = make_trainer(tiny_data, tiny_vocab, tmp_path, opts, **settings)
    assert again.restore() == 3
    np.testing.assert_array_equal(again.model.disentangled.word_delta.numpy(), e_delta)


# ------------------------------------------------------------------ CLI flags + hparams
@pytest.mark.parametrize("flags,expect_generator", [
    (["--objective=bert"], False),
    (["--objective=all_tokens_mlm", "--masking=span", "--weight_tying=none"], True),
])
def test_variant_flags_end_to_end(tiny_data, tmp_path, flags, expect_generator):
    import os

    from conftest import run_cli

    md = str(tmp_path / "run")
    r = run_cli(["-m", "electra_tf.pretrain", "--size=tiny", f"--data={tiny_data}",
                 f"--model_dir={md}", "--train_steps=2", "--batch_size=4", "--log_every=1",
                 "--example_every=1"] + flags, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert flags[0].split("=")[1] in r.stdout  # the variant is announced
    assert os.path.isfile(os.path.join(md, "discriminator", "weights.index"))
    assert os.path.isdir(os.path.join(md, "generator")) == expect_generator
    hparams = {}
    for ev in tf.compat.v1.train.summary_iterator(
            [os.path.join(md, f) for f in os.listdir(md) if "tfevents" in f][0]):
        for v in ev.summary.value:
            if v.metadata.plugin_data.plugin_name == "hparams":
                from tensorboard.plugins.hparams import plugin_data_pb2
                data = plugin_data_pb2.HParamsPluginData.FromString(
                    v.metadata.plugin_data.content)
                if data.HasField("session_start_info"):
                    hparams = {k: (h.string_value or h.number_value or h.bool_value)
                               for k, h in data.session_start_info.hparams.items()}
    assert hparams["objective"] == flags[0].split("=")[1]
    assert "masking" in hparams and "weight_tying" in hparams
    # the fine-tuning suite takes the discriminator of any variant
    from finetune.model import classification_model, load_pretrained
    from electra_tf.interop import ours
    config, _, _ = ours.read(os.path.join(md, "discriminator"))
    load_pretrained(classification_model(config, 2),
                    os.path.join(md, "discriminator"))
