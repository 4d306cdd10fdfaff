"""What a pre-training checkpoint holds, and restoring it: exact resume and warm starts.

A checkpoint holds every model weight under an explicit name (model/weights.py: Keras 3
layers do not expose all sub-layers to tf.train.Checkpoint's object graph), the
optimizer (slots and step), the dropout seed generators' states (Keras' own
checkpointing does not track them; a resumed run must draw the same masks), and the
input iterator's state with a fingerprint of the data and input settings it belongs to.

The input stream is a deterministic function of (files, seed, batch), so the position
is the step. Restoring the iterator's state costs the same at any step; where there is
none to use (a checkpoint written before it was kept, a strategy whose distributed
iterator cannot be saved: tf.distribute's multi-replica iterators, other data or
settings), the resumed run skips the records the restored steps consumed instead, which
costs time in proportion to the step.
"""
from __future__ import annotations

import os

import tensorflow as tf

from electra_tf.model import weights
from electra_tf.train_step import seed_states


def pretraining_checkpoint(model, optimizer, directory: str, keep: int):
    """(tf.train.Checkpoint, CheckpointManager writing `directory`/checkpoints)."""
    checkpoint = tf.train.Checkpoint(weights=weights.pretraining_weights(model),
                                     optimizer=optimizer, dropout_rng=seed_states(model))
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(directory, "checkpoints"),
                                         max_to_keep=keep)
    return checkpoint, manager


def restore_latest(checkpoint, manager) -> str | None:
    """Restores the model, optimizer and dropout states of the manager's latest
    checkpoint, every object matched; its path or None. The input iterator is restored
    apart (restore_input), only where its state fits: restoring through `checkpoint`
    itself would also restore into any iterator attached to it later (TF's deferred
    restoration), fitting or not."""
    latest = manager.latest_checkpoint
    if latest:
        model_state = tf.train.Checkpoint(weights=checkpoint.weights,
                                          optimizer=checkpoint.optimizer,
                                          dropout_rng=checkpoint.dropout_rng)
        model_state.read(latest).assert_existing_objects_matched()
    return latest


INPUT_STATE = "input/.ATTRIBUTES/ITERATOR_STATE"
INPUT_FINGERPRINT = "input_fingerprint/.ATTRIBUTES/VARIABLE_VALUE"
INPUT_SKIP = "input_skip/.ATTRIBUTES/VARIABLE_VALUE"


def input_fingerprint(files: list[str], **settings) -> str:
    """What an input iterator's saved state is valid for: the files (names and sizes) and
    the settings that shape the stream (seed, batch, length, shuffle buffer, ...)."""
    lines = [f"{os.path.basename(f)} {os.path.getsize(f)}" for f in files]
    lines += [f"{k}={settings[k]}" for k in sorted(settings)]
    return "\n".join(lines)


def saved_input(path: str, fingerprint: str) -> tuple[str, int]:
    """("ok", skip) if the checkpoint at `path` holds an input iterator state for
    `fingerprint`, from a pipeline built to skip `skip` steps' batches (a state restores
    only into the same pipeline); ("none", 0) if it holds none; ("other", 0) if it holds
    one for other data or settings."""
    names = {name for name, _ in tf.train.list_variables(path)}
    if not {INPUT_STATE, INPUT_FINGERPRINT, INPUT_SKIP} <= names:
        return "none", 0
    saved = tf.train.load_variable(path, INPUT_FINGERPRINT)
    saved = saved.decode() if isinstance(saved, bytes) else str(saved)
    if saved != fingerprint:
        return "other", 0
    return "ok", int(tf.train.load_variable(path, INPUT_SKIP))


def keep_input(checkpoint, iterator, fingerprint: str, skip: int) -> bool:
    """Makes `checkpoint` save `iterator`'s state from now on, with the fingerprint and
    the skip its pipeline was built with; False where the iterator cannot be saved
    (tf.distribute's multi-replica iterators are not trackable)."""
    try:
        tf.train.Checkpoint(input=iterator)
    except ValueError:
        return False
    checkpoint.input = iterator
    checkpoint.input_fingerprint = tf.Variable(fingerprint, trainable=False)
    checkpoint.input_skip = tf.Variable(skip, dtype=tf.int64, trainable=False)
    return True


def forget_input(checkpoint) -> None:
    """Stops `checkpoint` saving the input iterator (keep_input undone)."""
    for name in ("input", "input_fingerprint", "input_skip"):
        if hasattr(checkpoint, name):
            delattr(checkpoint, name)


def restore_input(path: str, iterator) -> None:
    tf.train.Checkpoint(input=iterator).read(path).assert_existing_objects_matched()


def resume_input(checkpoint, manager, strategy, dataset_fn, fingerprint: str, step: int):
    """(iterator, skip): the input iterator of a run restored at `step`, after the
    batches its steps consumed, and how many steps' batches its pipeline skips. The
    iterator is restored from the latest checkpoint's state where that has one for
    `fingerprint`, else built to skip. `dataset_fn(skip)` is the function
    `distribute_datasets_from_function` takes, for a stream after `skip` steps' batches.
    From now on `checkpoint` saves the iterator where it can (keep_input)."""
    latest = manager.latest_checkpoint
    saved, saved_skip = saved_input(latest, fingerprint) if latest else ("none", 0)
    # a saved state restores only into a pipeline built as the saving run's was
    skip = saved_skip if saved == "ok" else step
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn(skip)))
    kept = keep_input(checkpoint, iterator, fingerprint, skip)
    if saved == "ok" and kept:
        restore_input(latest, iterator)
    elif saved == "ok":  # saved under another one-replica strategy; this one's iterator
        # cannot be restored (tf.distribute's MirroredStrategy on one device)
        skip = step
        iterator = iter(strategy.distribute_datasets_from_function(dataset_fn(skip)))
    elif saved == "other" and step:
        print(f"note: the data or input settings differ from {latest}'s: the stream starts "
              f"after skipping the {step} steps' batches of these data", flush=True)
    return iterator, skip


def init_weights(model, path: str) -> None:
    """Every model weight (not the optimizer) from a checkpoint with pre-training names:
    a pre-training --model_dir, a .../ckpt-N prefix, or `convert --to=pretraining` output."""
    from electra_tf.interop import ours

    prefix, _ = ours.resolve(path)  # the one place that knows our checkpoint layouts
    weights.assign(weights.pretraining_weights(model), weights.read(prefix),
                   f"--init_checkpoint={path}")
