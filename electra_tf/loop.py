"""The training loop every task runs, pre-training and fine-tuning alike.

A task (pre-training's Trainer in electra_tf/trainer.py, fine-tuning's run in
finetune/training.py) owns its inputs, model, loss, step and metrics; this module owns
what is the same for all of them:

- `steps_runner`: n optimisation steps, either in one graph call (a `tf.while_loop`
  over the step: no Python between steps) or one graph call per step, with the first
  step whose loss was not finite;
- `run`: the outer loop. It runs the task's steps in chunks that end at the next log,
  save, kill or task boundary, hands each chunk's metrics to the task, saves checkpoints,
  turns SIGTERM into Ctrl-C so that both save one and stop, stops with an error at a
  non-finite loss (naming the last good checkpoint), and, for tests, SIGKILLs its own
  process after a given step.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from typing import Callable, Protocol

import tensorflow as tf


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, ...); the message says where and why."""


def steps_runner(one_step: Callable[[], dict], graph_loop: bool):
    """run(n, progress=None) -> (metric sums as numpy, first non-finite step or -1).

    one_step(): one optimisation step, reading its own batch; returns its metrics
    (summed over the global batch) with "loss". It is traced into a graph here.
    graph_loop: all n steps in one graph call, else one call per step. One call per step
    repeats bit-exactly from run to run on CPU, where a multi-step graph loop does not
    (benchmarks/RESULTS.md); it also stops at the first non-finite step.
    progress(k): called after every k steps done.
    """
    def checked():
        sums = one_step()
        return sums, tf.logical_not(tf.math.is_finite(sums["loss"]))

    if graph_loop:
        @tf.function
        def loop(num_steps):
            acc, bad = checked()
            first_bad = tf.where(bad, tf.constant(0, tf.int64), tf.constant(-1, tf.int64))
            for i in tf.range(tf.constant(1, tf.int64), num_steps):
                sums, bad = checked()
                acc = {k: acc[k] + sums[k] for k in acc}
                first_bad = tf.where(tf.logical_and(bad, first_bad < 0), i, first_bad)
            return acc, first_bad

        def run(n, progress=None):
            sums, first_bad = loop(tf.constant(n, tf.int64))
            if progress is not None:
                progress(n)
            return {k: v.numpy() for k, v in sums.items()}, int(first_bad)
        return run

    step = tf.function(checked)

    def run(n, progress=None):
        total = None
        for i in range(n):
            sums, bad = step()
            total = sums if total is None else {k: total[k] + sums[k] for k in total}
            if progress is not None:
                progress(1)
            if bool(bad):
                return {k: v.numpy() for k, v in total.items()}, i
        return {k: v.numpy() for k, v in total.items()}, -1
    return run


class Task(Protocol):
    """What `run` needs of a task."""

    @property
    def step(self) -> int:
        """Optimisation steps done (the optimizer's `iterations`)."""

    def steps_until_boundary(self, step: int) -> int | None:
        """Steps from `step` to the next one a chunk must end at (a phase switch, a text
        summary), or None."""

    def run_steps(self, n: int) -> tuple[dict, int]:
        """n steps: (metric sums, first non-finite step of the n or -1); see steps_runner."""

    def end_chunk(self, sums: dict, n: int, seconds: float) -> None:
        """After each chunk of n steps (at `self.step`): log, summarise."""


@dataclasses.dataclass(kw_only=True)
class RunOptions:
    """The options every training run has; each task's options add their own."""
    seed: int = 0
    log_every: int = 100
    mixed_precision: str = "none"  # none | mixed_float16 | mixed_bfloat16
    progress: bool = True  # progress output on the terminal


@dataclasses.dataclass
class LoopSettings:
    total_steps: int
    log_every: int
    save_every: int = 0  # 0: no periodic checkpoints
    save_at_end: bool = True
    kill_at_step: int | None = None  # testing: SIGKILL this process after this step
    nan_hint: str = "Lower --learning_rate"
    error: type = TrainingError
    label: str = ""  # names the run in messages: "" or " of run 1/3"


def chunk_size(step: int, settings: LoopSettings, task_limit: int | None) -> int:
    """Steps from `step` to the next log, save, kill or task boundary, or the end."""
    n = min(settings.log_every - step % settings.log_every, settings.total_steps - step)
    if settings.save_every:
        n = min(n, settings.save_every - step % settings.save_every)
    if settings.kill_at_step is not None and step < settings.kill_at_step:
        n = min(n, settings.kill_at_step - step)
    return n if task_limit is None else min(n, task_limit)


def run(task: Task, manager: tf.train.CheckpointManager | None,
        settings: LoopSettings) -> bool:
    """Runs `task` from its current step to settings.total_steps; True when it got there,
    False when interrupted (Ctrl-C or SIGTERM: a checkpoint at the last finished step is
    saved first, when there is a manager)."""
    previous_handler = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # save on kill too
    try:
        while task.step < settings.total_steps:
            start = task.step
            n = chunk_size(start, settings, task.steps_until_boundary(start))
            t0 = time.time()
            sums, first_bad = task.run_steps(n)
            seconds = time.time() - t0
            if first_bad >= 0:
                raise settings.error(_nan_message(start + first_bad + 1, manager, settings))
            task.end_chunk(sums, n, seconds)
            step = task.step
            if settings.kill_at_step is not None and step >= settings.kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)
            if manager is not None and (
                    (settings.save_every and step % settings.save_every == 0)
                    or (settings.save_at_end and step >= settings.total_steps)):
                manager.save(checkpoint_number=step)
    except KeyboardInterrupt:
        if manager is not None:
            manager.save(checkpoint_number=task.step)
            print(f"\ninterrupted: saved a checkpoint{settings.label} at step {task.step}; "
                  f"re-run the same command to continue", file=sys.stderr, flush=True)
        return False
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return True


def _nan_message(step: int, manager, settings: LoopSettings) -> str:
    latest = manager.latest_checkpoint if manager is not None else None
    where = f"; the last good checkpoint is {latest}" if latest else ""
    return f"loss became NaN/inf at step {step}{where}. {settings.nan_hint}"
