"""The parts of a train step that pre-training (trainer.py) and fine-tuning
(finetune/training.py) share, so the two cannot drift apart: gradients (with an
optional static float16 loss scale), cross-replica sum -> global-norm clip -> apply,
the learning rate for logging, and the dropout RNG states a checkpoint must hold.
"""
from __future__ import annotations

import tensorflow as tf

from electra_tf import optimization
from electra_tf.kernels import keras_internals

FLOAT16_LOSS_SCALE = 2.0 ** 12  # static: float16 gradients of these models fit under it


def compute_gradients(tape, loss, variables, loss_scale=None) -> list:
    """d loss / d variables (zeros where unconnected). With a (static) loss scale the
    backward pass starts from loss_scale instead of 1 (as if the loss were scaled, so
    float16 gradients do not underflow) and the result is divided back."""
    seed = None if loss_scale is None else tf.cast(loss_scale, loss.dtype)
    grads = tape.gradient(loss, variables, output_gradients=seed)
    grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
             for g, v in zip(grads, variables)]
    if loss_scale is not None:
        grads = [g / loss_scale for g in grads]
    return grads


def sum_clip_apply(optimizer, grads: list, variables: list, clip_norm: float):
    """In a replica context: sums `grads` over replicas, clips them to global norm
    `clip_norm` and applies them; returns the global norm before clipping."""
    ctx = tf.distribute.get_replica_context()
    grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    grads, norm = optimization.clip_by_global_norm(grads, clip_norm)
    optimizer.apply(grads, variables)
    return norm


def learning_rate(optimizer) -> float:
    """The learning rate of the optimizer's current step (its schedule at `iterations`)."""
    return float(optimizer.learning_rate)


def seed_states(model) -> list:
    """The state variables of every dropout seed generator in `model`: a resumed run must
    draw the same masks. Listed in the order checkpoints have always held them (Keras'
    layer traversal; its public `non_trainable_variables` lists them in another order,
    which would hand old checkpoints' states to the wrong layers)."""
    states = []
    for layer in keras_internals.flatten_layers(model):
        gen = getattr(layer, "seed_generator", None)
        if gen is not None and hasattr(gen, "state"):
            states.append(gen.state.value)
    return states
