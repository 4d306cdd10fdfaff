"""The collapse measures (electra_tf/representation.py) against hand-computed values."""
import numpy as np
import pytest

from electra_tf.representation import (effective_rank, mean_token_cosine, measures,
                                       token_vectors)


def test_effective_rank_extremes_and_a_hand_computed_case():
    assert effective_rank(np.eye(8)) == pytest.approx(8.0)
    assert effective_rank(3.0 * np.eye(5, 16)) == pytest.approx(5.0)  # N < H: rank N
    assert effective_rank(np.tile([[1.0, 2.0, 3.0]], (10, 1))) == pytest.approx(1.0)
    # singular values 2 and 1: p = (0.8, 0.2), exp(-(0.8 ln 0.8 + 0.2 ln 0.2)) = 1.6494
    assert effective_rank(np.diag([2.0, 1.0])) == pytest.approx(
        np.exp(-(0.8 * np.log(0.8) + 0.2 * np.log(0.2))))
    assert effective_rank(np.diag([2.0, 1.0])) == pytest.approx(1.6494, abs=1e-4)


def test_mean_token_cosine_equals_the_pairwise_loop():
    v = np.random.default_rng(0).normal(size=(9, 5))
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    loop = [u[i] @ u[j] for i in range(9) for j in range(9) if i != j]
    assert mean_token_cosine(v) == pytest.approx(np.mean(loop), abs=1e-12)
    assert mean_token_cosine(np.tile([[0.5, -1.0]], (4, 1))) == pytest.approx(1.0)
    assert mean_token_cosine(np.array([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(-1.0)
    assert mean_token_cosine(np.eye(3)) == pytest.approx(0.0)


def test_measures_use_only_non_pad_tokens():
    hidden = np.zeros((2, 3, 4))
    hidden[0, 0], hidden[0, 1], hidden[1, 0] = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]
    hidden[:, 2] = 7.0  # padding: must not count
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    assert token_vectors(hidden, mask).shape == (3, 4)
    m = measures(hidden, mask)
    assert m["effective_rank"] == pytest.approx(3.0)
    assert m["token_cosine"] == pytest.approx(0.0)


def test_probe_data_of_another_length_is_a_one_line_error(tiny_data, tmp_path):
    from electra_tf.data.records import DataError
    from electra_tf.representation import probe_batch

    batch = probe_batch(tiny_data, 32)
    assert batch["input_ids"].shape[1] == 32 and len(batch["input_ids"]) >= 1
    with pytest.raises(DataError, match="--probe_data=.*length 64"):
        probe_batch(tiny_data, 64)
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="holds no examples"):
        probe_batch(str(empty), 32)
