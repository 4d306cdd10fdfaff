"""The encoder as a Keras backbone, and checkpoints written before it existed.

tests/data/legacy_v1 was written by the code before the ElectraBackbone restructuring
(tests/data/make_legacy_checkpoint.py): a tiny pre-training checkpoint at step 3 of 6,
its exported networks, their outputs on a fixed batch and a fingerprint of every weight
after one more training step.
"""
import os
import shutil

import keras
import numpy as np
import pytest

from tests.conftest import ROOT, make_trainer, write_corpus

LEGACY = os.path.join(ROOT, "tests", "data", "legacy_v1")


@pytest.fixture(scope="module")
def legacy():
    return dict(np.load(os.path.join(LEGACY, "expected.npz")))


def test_legacy_pretraining_checkpoint_resumes_exactly(legacy, tmp_path):
    """Restoring the old checkpoint gives the old outputs, and the next step's update
    equals the old code's: every Adam slot went back to its own variable."""
    from electra_tf.data import prep
    from electra_tf.model import weights
    from tests.data.make_legacy_checkpoint import fingerprint

    vocab = os.path.join(LEGACY, "vocab.txt")
    data = str(tmp_path / "records")  # the same records the legacy run read
    prep.build(write_corpus(str(tmp_path / "corpus")), data,
               prep.PrepOptions(vocab=vocab, max_seq_length=32), num_shards=1, num_workers=1,
               progress=False)
    model_dir = str(tmp_path / "run")
    shutil.copytree(LEGACY, model_dir)
    # as the legacy run (and the CLI, from --seed): tf.data's shuffle seeds combine with
    # TF's global seed, so the data order after the restored step depends on it
    keras.utils.set_random_seed(0)
    trainer = make_trainer(data, vocab, model_dir, dict(save_every=3, log_every=3),
                           num_train_steps=6, num_warmup_steps=1)
    assert trainer.restore() == 3
    m, e = trainer.model, legacy
    ids, seg, mask = e["input_ids"], e["segment_ids"], e["input_mask"]
    np.testing.assert_allclose(m.discriminator_logits(ids, seg, mask, training=False),
                               e["rtd_logits"], atol=1e-5)
    np.testing.assert_allclose(m.generator_logits(ids, seg, mask, e["positions"],
                                                  training=False),
                               e["generator_logits"], atol=1e-5)
    trainer.train(num_steps=4)
    named = weights.pretraining_weights(m)
    expected = {k[len("step4/"):]: v for k, v in e.items() if k.startswith("step4/")}
    assert sorted(named) == sorted(expected)
    worst = max(((float(np.max(np.abs(fingerprint(v) - expected[n]))), n)
                 for n, v in named.items()))
    assert worst[0] < 1e-5, f"step 4 differs from the legacy code's: {worst}"


def test_legacy_export_loads_for_finetuning(legacy):
    from finetune.model import classification_model, load_config, load_pretrained

    config, network = load_config(os.path.join(LEGACY, "discriminator", "config.json"))
    assert network == "discriminator"
    model = classification_model(config, 2)
    load_pretrained(model, os.path.join(LEGACY, "discriminator"))
    e = legacy
    hidden = model.encoder(e["input_ids"], e["segment_ids"], e["input_mask"], training=False)
    np.testing.assert_allclose(hidden, e["discriminator_hidden"], atol=1e-5)
