"""Fine-tuning's step under tf.distribute (mixed precision, the clipped update shared
with pre-training), run by the one training loop (electra_tf/loop.py), and batched
prediction. Tasks (finetune/tasks.py) supply a model, features and a per-example loss."""
from __future__ import annotations

import dataclasses
import sys
import time
import weakref

import numpy as np
import tensorflow as tf

from electra_tf import loop, optimization
from electra_tf.train_step import (FLOAT16_LOSS_SCALE, compute_gradients, learning_rate,
                                   seed_states, sum_clip_apply)
from finetune import batching, layerwise_lr


class FinetuneError(loop.TrainingError):
    """Fine-tuning cannot go on; the message says why."""


@dataclasses.dataclass(kw_only=True)
class FinetuneOptions(loop.RunOptions):
    learning_rate: float
    layer_decay: float
    layer_decay_mode: str = "paper"
    weight_decay: float = 0.0
    warmup_proportion: float = 0.1
    batch_size: int = 32
    epochs: float = 3.0
    clip_norm: float = 1.0
    log_every: int = 50


def num_train_steps(num_examples: int, batch_size: int, epochs: float) -> int:
    """As the original: int(examples / batch * epochs), full batches only."""
    return int(num_examples / batch_size * epochs)


def make_optimizer(model, opts: FinetuneOptions, total_steps: int):
    schedule = optimization.WarmupLinearDecay(
        opts.learning_rate, total_steps, int(round(opts.warmup_proportion * total_steps)))
    mult = (layerwise_lr.multiplier_fn(model, opts.layer_decay, opts.layer_decay_mode)
            if opts.layer_decay != 1.0 else None)
    return optimization.AdamWeightDecay(schedule, weight_decay_rate=opts.weight_decay,
                                        lr_multiplier=mult)


def keras_optimizer(model, opts: FinetuneOptions, total_steps: int):
    """The fine-tuning optimizer for Keras' own `compile()/fit()`: the same AdamWeightDecay,
    schedule and layer-wise decay as `train`, with its global-norm clip done by Keras."""
    optimizer = make_optimizer(model, opts, total_steps)
    optimizer.global_clipnorm = opts.clip_norm
    optimizer.keras_fit = True  # Keras sums the replicas' gradients, not our loop
    return optimizer


def train_dataset(features: dict[str, np.ndarray], opts: FinetuneOptions,
                  start: int = 0) -> tf.data.Dataset:
    """The training batches `train` runs (from step `start`): the examples shuffled by
    the seed, reshuffled every epoch, full batches, each cut to its longest example.
    `fit()` gets the same stream from `keras_batches`."""
    n = len(next(iter(features.values())))
    ds = tf.data.Dataset.from_tensor_slices(features)
    ds = ds.shuffle(n, seed=opts.seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(opts.batch_size, drop_remainder=True).skip(start)
    return ds.map(batching.trim).prefetch(2)


def keras_batches(ds: tf.data.Dataset, label: str = "label") -> tf.data.Dataset:
    """(features, label) pairs of a `train_dataset` for Keras' `fit()`."""
    return ds.map(lambda b: ({k: v for k, v in b.items() if k != label}, b[label]))


def make_train_step(model, loss_fn, opts: FinetuneOptions, strategy: tf.distribute.Strategy,
                    optimizer):
    """batch -> the global batch's loss, after one optimisation step (one graph; batches
    of other lengths reuse it: `reduce_retracing` turns the length into a dynamic axis
    after the second one seen, instead of a trace per length; inside `train`'s loop it
    is traced once, with the stream's dynamic length)."""
    fp16 = opts.mixed_precision == "mixed_float16"
    variables = model.trainable_variables

    def replica_step(batch):
        with tf.GradientTape() as tape:
            outputs = model(batch, training=True)
            loss = tf.reduce_sum(loss_fn(outputs, batch)) / opts.batch_size
        grads = compute_gradients(tape, loss, variables, FLOAT16_LOSS_SCALE if fp16 else None)
        sum_clip_apply(optimizer, grads, variables, opts.clip_norm)
        return loss

    @tf.function(reduce_retracing=True)
    def step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return step


_predict_steps: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def make_predict_step(model, strategy: tf.distribute.Strategy):
    """batch (token_ids, segment_ids, padding_mask) -> per-replica outputs (one graph, any
    length; see make_train_step). One per model and strategy: every prediction of one
    model (MNLI's two dev sets, the test sets) reuses the traced graph."""
    steps = _predict_steps.setdefault(model, {})
    if id(strategy) not in steps:
        steps[id(strategy)] = (strategy, _predict_step(model, strategy))
    return steps[id(strategy)][1]


def _predict_step(model, strategy):
    model = weakref.ref(model)  # the cache above must not keep the model alive

    @tf.function(reduce_retracing=True)
    def step(batch):
        return strategy.run(lambda b: model()({k: b[k] for k in batching.TOKEN_FEATURES},
                                              training=False),
                            args=(batch,))
    return step


def train(model, features: dict[str, np.ndarray], loss_fn, opts: FinetuneOptions,
          strategy: tf.distribute.Strategy, writer=None, label: str = "",
          checkpoint_dir: str | None = None, save_every: int = 0,
          kill_at_step: int | None = None) -> dict:
    """Fine-tunes `model` in place (loop.run); returns {"steps", "loss", "seconds"}.

    loss_fn(outputs, batch) -> [B] per-example losses (float32). The step loss is
    their sum over the global batch divided by the global batch size.

    checkpoint_dir: model, optimizer and dropout RNG state are saved there every
    `save_every` steps and on Ctrl-C / SIGTERM, and a checkpoint found there is resumed
    (the data position is the step: the batch stream is a function of the seed).
    kill_at_step: testing, SIGKILL this process after that step.
    """
    n = len(next(iter(features.values())))
    total = num_train_steps(n, opts.batch_size, opts.epochs)
    if total < 1:
        raise FinetuneError(f"{n} training examples give no full batch of {opts.batch_size} in "
                            f"{opts.epochs} epoch(s): lower --batch_size or add data")
    replicas = strategy.num_replicas_in_sync
    if opts.batch_size % replicas:
        raise FinetuneError(f"--batch_size={opts.batch_size} must be divisible by the "
                            f"{replicas} replicas")
    with strategy.scope():
        optimizer = make_optimizer(model, opts, total)
        optimizer.build(model.trainable_variables)
    manager = _resume(model, optimizer, checkpoint_dir, label) if checkpoint_dir else None
    start = int(optimizer.iterations.numpy())
    iterator = iter(strategy.experimental_distribute_dataset(
        train_dataset(features, opts, start)))
    step = make_train_step(model, loss_fn, opts, strategy, optimizer)
    run = _FinetuneRun(optimizer, lambda: {"loss": step(next(iterator))}, opts, total, writer,
                       label)
    settings = loop.LoopSettings(
        total_steps=total, log_every=opts.log_every, save_every=save_every,
        save_at_end=False, kill_at_step=kill_at_step, error=FinetuneError,
        nan_hint="Lower --learning_rate or use --mixed_precision=none", label=f" of{label}")
    t0 = time.time()
    try:
        finished = loop.run(run, manager, settings)
    finally:
        run.bar.close()
    if not finished:
        raise KeyboardInterrupt
    return {"steps": total, "loss": run.last_loss, "seconds": time.time() - t0}


def _resume(model, optimizer, checkpoint_dir: str, label: str):
    """The manager of a fine-tuning run's checkpoints, its latest one restored."""
    checkpoint = tf.train.Checkpoint(weights=list(model.weights), optimizer=optimizer,
                                     dropout_rng=seed_states(model))
    manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=1)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"fine-tune{label}: resumed from {manager.latest_checkpoint} at step "
              f"{int(optimizer.iterations.numpy())}", flush=True)
    return manager


class _FinetuneRun:
    """The fine-tuning steps as a loop.Task: one graph call per step (a batch's length
    changes from step to step), a progress bar, and the mean loss of every log_every
    steps on the bar and TensorBoard."""

    def __init__(self, optimizer, one_step, opts: FinetuneOptions, total: int, writer,
                 label: str):
        from tqdm import tqdm

        self.optimizer, self.opts, self.total, self.writer = optimizer, opts, total, writer
        self.runner = loop.steps_runner(one_step, graph_loop=False)
        self.bar = tqdm(total=total, initial=self.step, desc=f"fine-tune{label}",
                        disable=not opts.progress, file=sys.stderr, mininterval=2.0,
                        dynamic_ncols=True)
        self.losses, self.last_loss = [], float("nan")

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def steps_until_boundary(self, step: int) -> None:
        return None

    def run_steps(self, n: int):
        return self.runner(n, progress=self.bar.update)

    def end_chunk(self, sums: dict, n: int, seconds: float) -> None:
        self.losses.append((float(sums["loss"]), n))
        step = self.step
        if step % self.opts.log_every and step < self.total:
            return
        self.last_loss = sum(s for s, _ in self.losses) / sum(k for _, k in self.losses)
        self.losses = []
        self.bar.set_postfix(loss=f"{self.last_loss:.4f}")
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar("train/loss", self.last_loss)
                tf.summary.scalar("train/learning_rate", learning_rate(self.optimizer))


def predict(model, features: dict[str, np.ndarray], strategy: tf.distribute.Strategy,
            batch_size: int = 64) -> dict[str, np.ndarray]:
    """model(batch, training=False) over every example; outputs in the examples' order.

    The examples run shortest first, each batch cut to its longest example
    (batching.py); per-position outputs (a tagger's [B, L, C]) are padded back with
    zeros to the features' length. Under several replicas the last batch is padded with copies
    to a multiple of their number, and the copies dropped.
    """
    n = len(next(iter(features.values())))
    replicas = strategy.num_replicas_in_sync
    batch_size = max(replicas, batch_size - batch_size % replicas)
    order = batching.length_order(features)
    pad = (-n) % replicas
    order = np.concatenate([order, np.repeat(order[-1:], pad)])
    sorted_features = {k: features[k][order] for k in batching.TOKEN_FEATURES}
    # repeat(): the iterator never hits end-of-sequence (which TF logs noisily)
    min_length = getattr(getattr(model, "head", None), "beam_size", 1)  # top-k positions
    ds = tf.data.Dataset.from_tensor_slices(sorted_features).batch(batch_size)
    ds = ds.map(lambda b: batching.trim(b, min_length)).repeat()
    step = make_predict_step(model, strategy)

    chunks: dict[str, list] = {}
    iterator = iter(strategy.experimental_distribute_dataset(ds))
    for _ in range(-(-(n + pad) // batch_size)):
        out = step(next(iterator))
        if not isinstance(out, dict):
            out = {"output": out}
        for k, v in out.items():
            chunks.setdefault(k, []).extend(
                np.asarray(t) for t in strategy.experimental_local_results(v))
    inverse = np.argsort(order[:n])
    length = features["token_ids"].shape[1]
    for k, v in chunks.items():
        if len({c.shape[1:] for c in v}) > 1:  # a per-position axis, cut per batch
            chunks[k] = [np.pad(c, [(0, 0), (0, length - c.shape[1])]
                                + [(0, 0)] * (c.ndim - 2)) for c in v]
    return {k: np.concatenate(v)[:n][inverse] for k, v in chunks.items()}
