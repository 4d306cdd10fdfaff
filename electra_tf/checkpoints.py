"""What a pre-training checkpoint holds, and restoring it: exact resume and warm starts.

A checkpoint holds every model weight under an explicit name (model/weights.py: Keras 3
layers do not expose all sub-layers to tf.train.Checkpoint's object graph), the
optimizer (slots and step), and the dropout seed generators' states (Keras' own
checkpointing does not track them; a resumed run must draw the same masks). The data
position is the step: the input stream is a deterministic function of (files, seed),
so a resumed run skips the batches already consumed.
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
    """Restores the manager's latest checkpoint, every object matched; its path or None."""
    latest = manager.latest_checkpoint
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    return latest


def init_weights(model, path: str) -> None:
    """Every model weight (not the optimizer) from a checkpoint with pre-training names:
    a pre-training --model_dir, a .../ckpt-N prefix, or `convert --to=pretraining` output."""
    from electra_tf.interop import ours

    prefix, _ = ours.resolve(path)  # the one place that knows our checkpoint layouts
    weights.assign(weights.pretraining_weights(model), weights.read(prefix),
                   f"--init_checkpoint={path}")
