import numpy as np
import pytest
from keras import ops

from electra_tf import masking
from electra_tf.configs import get_config
from electra_tf.tokenization import SpecialIds

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)


def make_batch(b=64, length=64, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((b, length), np.int32)
    mask = np.zeros((b, length), np.int32)
    for i in range(b):
        n = rng.integers(10, length + 1)
        ids[i, :n] = rng.integers(5, 100, n)
        ids[i, 0], ids[i, n - 1] = SPECIAL.cls, SPECIAL.sep
        ids[i, n // 2] = SPECIAL.sep
        mask[i, :n] = 1
    return {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids),
            "example_index": np.arange(b, dtype=np.int64) + 1000 * seed}


@pytest.mark.parametrize("sampling", ["with_replacement", "without_replacement"])
def test_masking_rules_and_statistics(sampling):
    cfg = get_config("tiny", max_seq_length=64, mask_sampling=sampling)
    batch = make_batch()
    n_slots = cfg.pretraining.num_predictions
    assert n_slots == int((0.15 + 0.005) * 64)
    orig_ids, n_mask, n_kept, n_selected = batch["input_ids"], 0, 0, 0
    for rep in range(8):
        batch["example_index"] = np.arange(64, dtype=np.int64) + 64 * rep
        m = masking.mask_batch(batch, cfg, SPECIAL, seed=1)
        pos, w = np.asarray(m.positions), np.asarray(m.mlm_weights)
        new = np.asarray(m.token_ids)
        counts = np.round(batch["input_mask"].sum(1) * cfg.pretraining.mask_prob).astype(int)
        assert (w.sum(1) == np.clip(counts, 1, n_slots)).all()       # num_to_predict
        for i in range(64):
            used = pos[i, w[i] > 0]
            assert (pos[i, w[i] == 0] == 0).all()
            # never special tokens or padding
            assert not np.isin(orig_ids[i, used], [0, 2, 3, 4]).any()
            assert (batch["input_mask"][i, used] == 1).all()
            if sampling == "without_replacement":
                assert len(set(used.tolist())) == len(used)
            assert (np.asarray(m.mlm_ids)[i, w[i] > 0] == orig_ids[i, used]).all()
            changed = np.nonzero(new[i] != orig_ids[i])[0]
            assert set(changed.tolist()) <= set(used.tolist())         # only selected change
            assert (new[i, changed] == SPECIAL.mask).all()              # ... to [MASK] only
            distinct = set(used.tolist())
            n_selected += len(distinct)
            n_mask += len(changed)
            n_kept += len(distinct) - len(changed)
    frac_mask = n_mask / n_selected
    # 85% [MASK] per slot; a position selected twice is masked if any slot says so
    lo = 0.80 if sampling == "without_replacement" else 0.82
    assert lo < frac_mask < 0.90, frac_mask
    assert n_kept > 0


def test_masks_depend_on_example_index_not_on_batch_split():
    cfg = get_config("tiny", max_seq_length=64)
    batch = make_batch(b=8)
    same = {k: np.repeat(v[:1], 8, axis=0) for k, v in batch.items()}
    same["example_index"] = np.arange(8, dtype=np.int64)
    m = masking.mask_batch(same, cfg, SPECIAL, seed=3)
    pos = np.asarray(m.positions)
    assert len({tuple(p) for p in pos}) == 8   # same text, different stream index: differ
    full = masking.mask_batch(batch, cfg, SPECIAL, seed=3)
    half = masking.mask_batch({k: v[4:] for k, v in batch.items()}, cfg, SPECIAL, seed=3)
    np.testing.assert_array_equal(np.asarray(full.positions)[4:], np.asarray(half.positions))
    other_seed = masking.mask_batch(batch, cfg, SPECIAL, seed=4)
    assert not np.array_equal(np.asarray(full.positions), np.asarray(other_seed.positions))


def test_scatter_tokens_like_the_original():
    ids = np.array([[2, 10, 11, 12, 3]], np.int32)
    pos = np.array([[1, 3, 3, 0]], np.int32)
    tokens = np.array([[50, 60, 60, 70]], np.int32)
    w = np.array([[1, 1, 1, 1]], np.float32)
    new, updated = masking.scatter_tokens(ids, pos, tokens, w)
    # position 0 is never written; duplicates with equal tokens write that token
    assert np.asarray(new).tolist() == [[2, 50, 11, 60, 3]]
    assert np.asarray(updated).tolist() == [[0, 1, 0, 1, 0]]
    first = masking.first_occurrence(ops.convert_to_tensor(pos), ops.convert_to_tensor(w))
    assert np.asarray(first).tolist() == [[1, 1, 0, 1]]


def test_example_without_candidates_gets_no_prediction():
    cfg = get_config("tiny", max_seq_length=8)
    batch = {"input_ids": np.array([[2, 3, 0, 0, 0, 0, 0, 0]], np.int32),
             "input_mask": np.array([[1, 1, 0, 0, 0, 0, 0, 0]], np.int32),
             "segment_ids": np.zeros((1, 8), np.int32),
             "example_index": np.array([0], np.int64)}
    m = masking.mask_batch(batch, cfg, SPECIAL, seed=0)
    assert float(np.asarray(m.mlm_weights).sum()) == 0
    assert np.asarray(m.token_ids).tolist() == batch["input_ids"].tolist()
