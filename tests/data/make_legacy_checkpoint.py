"""Writes tests/data/legacy_v1/: a tiny pre-training run's checkpoint at step 3 of 6 (model,
optimizer, step, dropout RNG), its exported discriminator and generator, their outputs
on a fixed batch, and a fingerprint of every weight after one more step (step 4), as the code before the ElectraBackbone restructuring (commit d00ee6f,
2026-12-02) wrote them. tests/test_backbone.py loads them with the current code.

Run once from the repository root with that code: python tests/data/make_legacy_checkpoint.py

`--repin` (with the current code) adds `step4_hash_draws/`: step 4 from the same
restored checkpoint as the code whose random draws are hash-based computes it (the
legacy `step4/` keeps the old draws; see test_legacy_pretraining_checkpoint_resumes_exactly).
"""
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
OUT = os.path.join(ROOT, "tests", "data", "legacy_v1")


def fingerprint(value) -> np.ndarray:
    """sum, sum of squares and the first 4 values of a weight: enough to tell a correct
    Adam update from one made with another variable's optimizer slots."""
    v = np.asarray(value, np.float64).ravel()
    return np.concatenate([[v.sum(), np.square(v).sum()], v[:4]])


def after_one_more_step(trainer) -> dict:
    """{"step4/<weight name>": fingerprint} after training step 4 from the checkpoint."""
    from electra_tf.model import weights

    trainer.train(num_steps=4)
    return {f"step4/{name}": fingerprint(v)
            for name, v in weights.pretraining_weights(trainer.model).items()}


def main():
    import keras

    from electra_tf.data import prep
    from tests.conftest import make_trainer, write_corpus, write_vocab

    keras.utils.set_random_seed(0)
    tmp = tempfile.mkdtemp()
    vocab = write_vocab(os.path.join(tmp, "vocab.txt"))
    data = os.path.join(tmp, "records")
    prep.build(write_corpus(os.path.join(tmp, "corpus")), data,
               prep.PrepOptions(vocab=vocab, max_seq_length=32), num_shards=1, num_workers=1,
               progress=False)
    model_dir = os.path.join(tmp, "run")
    trainer = make_trainer(data, vocab, model_dir, dict(save_every=3, log_every=3),
                           num_train_steps=6, num_warmup_steps=1)
    trainer.train(num_steps=3)
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.copytree(model_dir, OUT, ignore=shutil.ignore_patterns("events.*"))
    ids = np.array([[2, 5, 9, 14, 3, 20, 30, 3] + [0] * 24, [2] + list(range(5, 35)) + [3]],
                   np.int32)
    mask = (ids > 0).astype(np.int32)
    seg = np.zeros_like(ids)
    seg[1, 16:] = 1
    positions = np.array([[1, 2, 3], [4, 10, 20]], np.int32)
    m = trainer.model
    hidden = m.discriminator(ids, seg, mask, training=False)
    np.savez(os.path.join(OUT, "expected.npz"), input_ids=ids, input_mask=mask,
             segment_ids=seg, positions=positions,
             discriminator_hidden=np.asarray(hidden),
             rtd_logits=np.asarray(m.discriminator_logits(ids, seg, mask, training=False)),
             generator_logits=np.asarray(m.generator_logits(ids, seg, mask, positions,
                                                            training=False)),
             step=trainer.step, **after_one_more_step(trainer))
    print("wrote", OUT, sorted(os.listdir(OUT)))


def repin():
    from tests.test_backbone import restore_legacy_and_step

    path = os.path.join(OUT, "expected.npz")
    saved = {k: v for k, v in np.load(path).items() if not k.startswith("step4_hash_draws/")}
    _, named = restore_legacy_and_step(tempfile.mkdtemp(), saved)
    np.savez(path, **saved, **{f"step4_hash_draws/{n}": v for n, v in named.items()})
    print("added step4_hash_draws/ to", path)


if __name__ == "__main__":
    repin() if "--repin" in sys.argv else main()
