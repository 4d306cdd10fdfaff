"""Where a resumed run's input stream starts: restored from the checkpoint's iterator
state (constant time), or, without a usable one, by skipping the consumed records; both
must give the batches an uninterrupted run would have read next."""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_trainer


def stream(files, skip=0, batches=2, shuffle_buffer=10000, batch=8, skip_batches=0):
    """Batches [skip, skip + batches) of the stream make_dataset gives (seed 0)."""
    from electra_tf.data import input_pipeline

    ds = input_pipeline.make_dataset(files, batch, 32, 0, shuffle_buffer,
                                     skip_batches=skip_batches)
    return [{k: v.numpy() for k, v in b.items()} for b in ds.skip(skip).take(batches)]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert sorted(x) == sorted(y)
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.fixture(scope="module")
def files(tiny_data):
    from electra_tf.data.records import resolve_data_files
    return resolve_data_files(tiny_data)[0]


def test_skip_batches_is_the_same_stream_as_skipping_parsed_batches(files):
    assert_same(stream(files, skip_batches=7), stream(files, skip=7))
    assert_same(stream(files, skip_batches=7, shuffle_buffer=5),
                stream(files, skip=7, shuffle_buffer=5))


def next_batches(trainer, n=2):
    return [{k: v.numpy() for k, v in next(trainer.iterator).items()} for _ in range(n)]


def test_resume_restores_the_saved_iterator_state(tiny_data, tiny_vocab, files, tmp_path):
    from electra_tf import checkpoints

    md = tmp_path / "run"
    first = make_trainer(tiny_data, tiny_vocab, md, dict(save_every=3, seed=0),
                         num_train_steps=3)
    first.train()
    latest = first.manager.latest_checkpoint
    assert latest.endswith("ckpt-3")
    names = {n for n, _ in tf.train.list_variables(latest)}
    assert checkpoints.INPUT_STATE in names

    again = make_trainer(tiny_data, tiny_vocab, md, dict(save_every=3, seed=0),
                         num_train_steps=3)
    assert again.restore() == 3
    again._make_iterator()
    assert again._skip_steps == 0  # restored, nothing skipped
    assert_same(next_batches(again), stream(files, skip=3))


def test_other_settings_fall_back_to_skipping(tiny_data, tiny_vocab, files, tmp_path, capsys):
    """A checkpoint's iterator state is for its data and settings: with another shuffle
    buffer the stream is these settings' stream after the restored steps."""
    md = tmp_path / "run"
    make_trainer(tiny_data, tiny_vocab, md, dict(save_every=3, seed=0),
                 num_train_steps=3).train()
    other = make_trainer(tiny_data, tiny_vocab, md, dict(save_every=3, seed=0,
                                                         shuffle_buffer=5),
                         num_train_steps=3)
    other.restore()
    other._make_iterator()
    assert "differ from" in capsys.readouterr().out
    assert other._skip_steps == 3
    assert_same(next_batches(other), stream(files, skip=3, shuffle_buffer=5))


def test_checkpoint_without_iterator_state_skips(tiny_data, tiny_vocab, files, tmp_path):
    """Checkpoints written before the state was kept (tests/data/legacy_v1 is one) resume
    by skipping: here one is made by dropping the state before saving. The run resumed
    that way saves its own state, which a later resume restores (into a pipeline built
    with the same skip: a state restores only into the pipeline that saved it)."""
    from electra_tf import checkpoints

    md = tmp_path / "run"
    opts = dict(save_every=100, seed=0)
    t = make_trainer(tiny_data, tiny_vocab, md, opts, num_train_steps=3)
    t.train()
    checkpoints.forget_input(t.checkpoint)
    path = t.manager.save(checkpoint_number=3)
    assert checkpoints.saved_input(path, "anything") == ("none", 0)
    again = make_trainer(tiny_data, tiny_vocab, md, opts, num_train_steps=3)
    again.restore()
    again._make_iterator()
    assert again._skip_steps == 3
    assert_same(next_batches(again), stream(files, skip=3))

    make_trainer(tiny_data, tiny_vocab, md, opts, num_train_steps=5).train()  # 3 -> 5
    third = make_trainer(tiny_data, tiny_vocab, md, opts, num_train_steps=5)
    assert third.restore() == 5
    third._make_iterator()
    assert third._skip_steps == 3  # restored into the skip-3 pipeline, nothing skipped
    assert_same(next_batches(third), stream(files, skip=5))
