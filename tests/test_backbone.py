"""The encoder as a Keras backbone, and checkpoints written before it existed.

tests/data/legacy_v1 was written by the code before the ElectraBackbone restructuring
(tests/data/make_legacy_checkpoint.py): a tiny pre-training checkpoint at step 3 of 6,
its exported networks, their outputs on a fixed batch and a fingerprint of every weight
after one more training step.
"""
import os
import shutil
import textwrap

import keras
import numpy as np
import pytest

from tests.conftest import ROOT, make_trainer, write_corpus

LEGACY = os.path.join(ROOT, "tests", "data", "legacy_v1")


@pytest.fixture(scope="module")
def legacy():
    return dict(np.load(os.path.join(LEGACY, "expected.npz")))


def restore_legacy_and_step(tmp_dir, e):
    """Restores legacy_v1's step-3 checkpoint into a trainer on the records the legacy
    run read, and trains step 4: ({"rtd_logits", "generator_logits"} on expected.npz's
    fixed batch `e` right after the restore, {weight name: fingerprint} after step 4)."""
    from electra_tf.data import prep
    from electra_tf.model import weights
    from tests.data.make_legacy_checkpoint import fingerprint

    vocab = os.path.join(LEGACY, "vocab.txt")
    data = os.path.join(tmp_dir, "records")
    prep.build(write_corpus(os.path.join(tmp_dir, "corpus")), data,
               prep.PrepOptions(vocab=vocab, max_seq_length=32), num_shards=1, num_workers=1,
               progress=False)
    model_dir = os.path.join(tmp_dir, "run")
    shutil.copytree(LEGACY, model_dir)
    # as the legacy run (and the CLI, from --seed): tf.data's shuffle seeds combine with
    # TF's global seed, so the data order after the restored step depends on it
    keras.utils.set_random_seed(0)
    trainer = make_trainer(data, vocab, model_dir, dict(save_every=3, log_every=3),
                           num_train_steps=6, num_warmup_steps=1)
    assert trainer.restore() == 3
    m = trainer.model
    ids, seg, mask = e["input_ids"], e["segment_ids"], e["input_mask"]
    outputs = {"rtd_logits": m.discriminator_logits(ids, seg, mask, training=False),
               "generator_logits": m.generator_logits(ids, seg, mask, e["positions"],
                                                      training=False)}
    trainer.train(num_steps=4)
    return ({k: np.asarray(v) for k, v in outputs.items()},
            {n: fingerprint(v) for n, v in weights.pretraining_weights(m).items()})


def test_legacy_pretraining_checkpoint_resumes_exactly(legacy, tmp_path):
    """Restoring the old checkpoint gives the old outputs, and the next step's update
    equals the pinned one: every Adam slot went back to its own variable.

    The pin: `step4/` in expected.npz is the legacy code's own step 4, which the current
    code matched to 1e-5 until dropout and Gumbel sampling moved to hash-based draws
    (electra_tf/random_ops.py, 2026-12-02), a deliberate change of the random streams
    and so of the step. `step4_hash_draws/` is step 4 as the code of that change
    computes it from the same restored state (`python tests/data/make_legacy_checkpoint.py
    --repin`); the restore itself did not change."""
    outputs, named = restore_legacy_and_step(str(tmp_path), legacy)
    for k, v in outputs.items():
        np.testing.assert_allclose(v, legacy[k], atol=1e-5, err_msg=k)
    expected = {k[len("step4_hash_draws/"):]: v for k, v in legacy.items()
                if k.startswith("step4_hash_draws/")}
    assert sorted(named) == sorted(expected)
    worst = max(((float(np.max(np.abs(v - expected[n]))), n) for n, v in named.items()))
    assert worst[0] < 1e-5, f"step 4 differs from the pinned one: {worst}"


def test_legacy_export_loads_for_finetuning(legacy):
    from finetune.model import classification_model, load_config, load_pretrained

    model = classification_model(load_config(os.path.join(LEGACY, "discriminator",
                                                          "config.json")), 2)
    load_pretrained(model, os.path.join(LEGACY, "discriminator"))
    e = legacy
    hidden = model.backbone.encode(e["input_ids"], e["segment_ids"], e["input_mask"],
                                   training=False)
    np.testing.assert_allclose(hidden, e["discriminator_hidden"], atol=1e-5)


# ------------------------------------------------------------------ the backbone itself
def small_backbone(**kw):
    from electra_tf.model.backbone import ElectraBackbone

    args = dict(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=32,
                intermediate_dim=64, embedding_dim=16, dropout=0.1, attention_dropout=0.05,
                max_sequence_length=24)
    args.update(kw)
    return ElectraBackbone(**args)


def batch(seed=0, length=12):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 50, size=(3, length)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 4:] = 0
    ids = ids * mask
    seg = np.zeros_like(ids)
    seg[0, 6:] = 1
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}


def test_backbone_config_names_and_the_docstring_example():
    from electra_tf.model.backbone import ElectraBackbone

    # named: an unnamed model's variables sit under "electra_backbone" while Keras numbers
    # its name by how many came before it in the process, and from_config uses the name
    b = small_backbone(name="electra_backbone")
    config = b.get_config()
    for k, v in dict(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=32,
                     intermediate_dim=64, embedding_dim=16, dropout=0.1,
                     attention_dropout=0.05, max_sequence_length=24, num_segments=2,
                     layer_norm_epsilon=1e-12, initializer_range=0.02, fast=True).items():
        assert config[k] == v, k
    again = ElectraBackbone.from_config(config)
    assert again.get_config() == config
    assert [(v.path, v.shape) for v in again.weights] == [(v.path, v.shape) for v in b.weights]
    assert b.embeddings_projection is not None and len(b.transformer_layers) == 2
    assert not any("pooler" in v.path for v in b.weights)
    # the class docstring's example runs as written
    doc = ElectraBackbone.__doc__.split("```python")[1].split("```")[0]
    scope = {}
    exec(textwrap.dedent(doc), scope)
    assert tuple(scope["out"]["sequence_output"].shape) == (1, 6, 64)


def test_fast_and_plain_backbones_are_the_same_model():
    """fast=True and fast=False build the same weights under the same names and compute
    the same outputs and gradients (dropout off; its bits differ by design)."""
    import tensorflow as tf

    fast = small_backbone(dropout=0.0, attention_dropout=0.0)
    plain = small_backbone(dropout=0.0, attention_dropout=0.0, fast=False)
    assert [(v.path, v.shape) for v in fast.weights] == [(v.path, v.shape) for v in plain.weights]
    plain.set_weights(fast.get_weights())
    x = batch()
    results = []
    for b in (fast, plain):
        with tf.GradientTape() as tape:
            y = b(x, training=True)["sequence_output"]
            loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, [1, 2]))
        grads = tape.gradient(loss, b.trainable_weights)
        results.append((y.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]))
    np.testing.assert_allclose(results[0][0], results[1][0], atol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):  # float32 rounding: ~1e-6 relative
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)


def test_keras_save_and_load_model_round_trip_exactly(tmp_path):
    b = small_backbone()
    x = batch(1)
    want = b(x, training=False)["sequence_output"].numpy()
    path = str(tmp_path / "backbone.keras")
    b.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded).__name__ == "ElectraBackbone" and loaded.get_config() == b.get_config()
    np.testing.assert_array_equal(loaded(x, training=False)["sequence_output"].numpy(), want)


def test_preset_export_of_a_discriminator_round_trips_exactly(trained_pretrainer, tmp_path):
    """convert --to=preset writes our backbone; ElectraBackbone.from_preset gives back the
    discriminator's encoder exactly (the fine-tuning model's, loaded from the export)."""
    from electra_tf.model.backbone import ElectraBackbone
    from finetune.model import classification_model, load_config, load_pretrained
    from tests.conftest import run_cli

    _, model_dir = trained_pretrainer
    export = os.path.join(model_dir, "discriminator")
    out = str(tmp_path / "preset")
    r = run_cli(["-m", "electra_tf.convert", f"--input={export}", "--to=preset",
                 f"--output={out}"])
    assert r.returncode == 0, r.stderr[-2000:]
    restored = ElectraBackbone.from_preset(out)
    ft = classification_model(load_config(os.path.join(export, "config.json")), 2)
    load_pretrained(ft, export)
    x = batch(2)
    np.testing.assert_array_equal(
        restored(x, training=False)["sequence_output"].numpy(),
        ft.backbone.encode(x["token_ids"], x["segment_ids"], x["padding_mask"],
                           training=False).numpy())


def test_attention_dropout_can_differ_from_hidden_dropout():
    from electra_tf.configs import ConfigError, get_config
    from electra_tf.model.pretraining import ElectraPretrainingModel

    cfg = get_config("tiny", vocab_size=60, attention_dropout=0.3, hidden_dropout=0.05)
    model = ElectraPretrainingModel(cfg)
    for backbone in (model.discriminator, model.generator):
        for block in backbone.transformer_layers:
            assert block._self_attention_layer.dropout == 0.3
            assert block._self_attention_dropout.rate == 0.05
            assert block._feedforward_dropout.rate == 0.05
    assert model.embeddings.dropout.rate == 0.05
    with pytest.raises(ConfigError, match="attention_dropout=1.5"):
        get_config("tiny", attention_dropout=1.5)
