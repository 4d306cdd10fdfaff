"""The pre-training task: its inputs, model, step and metrics, run by loop.py.

What a step does is the objective's (objectives/: masking, sampling, the losses); this
file puts it under tf.distribute: the global batch's loss denominators, gradient
accumulation over micro-batches, the clipped update (train_step.py, shared with
fine-tuning) and the two-stage phases (two_stage.py). What a checkpoint holds and how it
is restored is checkpoints.py; what is logged, summaries.py; what is exported, export.py.
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import tensorflow as tf

from electra_tf import (checkpoints, distribution, export, loop, objectives, optimization,
                        representation, summaries, two_stage)
from electra_tf.configs import ElectraConfig
from electra_tf.data import input_pipeline
from electra_tf.data.records import DataError
from electra_tf.loop import TrainingError  # noqa: F401  (pretrain.py's error type)
from electra_tf.masking import MaskedBatch
from electra_tf.model.pretraining import ElectraPretrainingModel
from electra_tf.train_step import (FLOAT16_LOSS_SCALE, compute_gradients, learning_rate,
                                   sum_clip_apply)

LOSS_EPS = 1e-6  # the original's denominators: sum(weights) + 1e-6


@dataclasses.dataclass(kw_only=True)
class TrainOptions(loop.RunOptions):
    model_dir: str
    seed: int = 1234
    save_every: int = 1000
    keep_checkpoints: int = 5
    example_every: int = 1000
    jit_compile: bool = False
    shuffle_buffer: int = 10000
    kill_at_step: int | None = None  # testing: SIGKILL self after this step
    probe_data: str | None = None  # held-out TFRecords: log the representation measures
    deterministic: bool = False  # one step per graph call: bit-identical runs


def _split(prepared, k: int, i: int):
    """Micro-batch i of k of a prepared batch (a dataclass of [B, ...] tensors)."""
    fields = {}
    for f in dataclasses.fields(prepared):
        value = getattr(prepared, f.name)
        size = tf.shape(value)[0] // k
        fields[f.name] = value[i * size:(i + 1) * size]
    return type(prepared)(**fields)


class Trainer:
    """Pre-trains `config`'s model on `data_files` under `strategy` (loop.Task)."""

    def __init__(self, config: ElectraConfig, strategy: tf.distribute.Strategy,
                 data_files: list[str], special, vocab_file: str | None,
                 options: TrainOptions, unigram_counts: list[int] | None = None):
        self.config, self.strategy, self.options = config, strategy, options
        self.special, self.vocab_file, self.data_files = special, vocab_file, data_files
        self.num_replicas = strategy.num_replicas_in_sync
        self.is_chief = distribution.is_chief(strategy)
        # Multi-worker: every worker must write checkpoints; only the chief's count.
        self.write_dir = options.model_dir if self.is_chief else os.path.join(
            options.model_dir, f".worker_{strategy.cluster_resolver.task_id}")
        batch, k = config.optimizer.train_batch_size, config.optimizer.gradient_accumulation_steps
        if batch % (self.num_replicas * k):
            raise ValueError(f"--batch_size={batch} must be divisible by replicas "
                             f"({self.num_replicas}) x gradient_accumulation_steps ({k})")
        self.seq_length = config.pretraining.max_seq_length
        log_probs = (None if unigram_counts is None else
                     objectives.smoothed_unigram(unigram_counts, config.encoder.vocab_size))
        self.objective = objectives.get_objective(config, special, log_probs)
        with strategy.scope():
            self.model = ElectraPretrainingModel(config)
            self.model.build()
            self.optimizer = optimization.create_optimizer(config.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.iterator = None  # made by train(), after restore(): it starts at the step
        self.checkpoint, self.manager = checkpoints.pretraining_checkpoint(
            self.model, self.optimizer, self.write_dir, options.keep_checkpoints)
        self._grad_fns, self._runners = {}, {}  # per training phase (two-stage)
        self._probe = None
        if options.probe_data and self.is_chief:
            self._probe = representation.probe_batch(options.probe_data, self.seq_length)
        self._example = None
        if options.example_every and vocab_file is not None:
            self._example = summaries.CorruptedExample(data_files, self.seq_length,
                                                       options.seed, vocab_file)
        self._writer = None

    # ------------------------------------------------------------------ data
    def _dataset_fn(self, skip_steps: int):
        def dataset_fn(ctx: tf.distribute.InputContext):
            batches_per_step = self.num_replicas // ctx.num_input_pipelines
            batch = ctx.get_per_replica_batch_size(self.config.optimizer.train_batch_size)
            return input_pipeline.make_dataset(
                self.data_files, batch, self.seq_length, self.options.seed,
                self.options.shuffle_buffer, ctx, skip_batches=skip_steps * batches_per_step)
        return dataset_fn

    def _make_iterator(self):
        """The input stream after the batches the restored steps consumed."""
        fingerprint = checkpoints.input_fingerprint(
            self.data_files, seed=self.options.seed,
            batch=self.config.optimizer.train_batch_size, length=self.seq_length,
            shuffle_buffer=self.options.shuffle_buffer, replicas=self.num_replicas)
        self.iterator, self._skip_steps = checkpoints.resume_input(
            self.checkpoint, self.manager, self.strategy, self._dataset_fn, fingerprint,
            self.step)

    # ------------------------------------------------------------------ step
    def phase(self, step: int) -> str | None:
        return two_stage.phase(self.config, step)

    def phase_variables(self, phase: str | None) -> list:
        return two_stage.trained_variables(self.model, phase)

    def _grad_fn(self, phase):
        if phase not in self._grad_fns:
            self._grad_fns[phase] = tf.function(
                lambda fields, dens: self._micro_gradients(fields, dens, phase),
                jit_compile=self.options.jit_compile)
        return self._grad_fns[phase]

    def _micro_gradients(self, micro_fields, dens, phase=None):
        micro = MaskedBatch(**micro_fields)  # tf.function takes dicts, not dataclasses
        variables = self.phase_variables(phase)
        fp16 = self.options.mixed_precision == "mixed_float16"
        with tf.GradientTape() as tape:
            terms, sums, _ = self.objective.loss_terms(self.model, micro, self.options.seed,
                                                       training=True, phase=phase)
            loss = tf.add_n([weight * num / (dens[name] + LOSS_EPS)
                             for name, (weight, num, _) in terms.items()])
        grads = compute_gradients(tape, loss, variables, FLOAT16_LOSS_SCALE if fp16 else None)
        return grads, dict(sums, loss=loss)

    def gradients(self, prepared: MaskedBatch, dens: dict, phase=None):
        """(gradients of phase_variables(phase), metric sums incl. "loss") of this replica's
        prepared batch, accumulated over gradient_accumulation_steps micro-batches; the
        loss divides by `dens`, the global batch's denominators. Not summed over replicas."""
        k = self.config.optimizer.gradient_accumulation_steps
        grads, sums = None, None
        for i in range(k):
            micro = _split(prepared, k, i) if k > 1 else prepared
            g, s = self._grad_fn(phase)(dict(vars(micro)), dens)
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
            sums = s if sums is None else {n: sums[n] + s[n] for n in sums}
        return grads, sums

    def replica_step(self, batch, phase=None):
        """One optimisation step on this replica's share of the global batch."""
        ctx = tf.distribute.get_replica_context()
        prepared = self.objective.prepare(batch, self.options.seed)
        dens = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                              self.objective.denominators(prepared))
        grads, sums = self.gradients(prepared, dens, phase)
        norm = sum_clip_apply(self.optimizer, grads, self.phase_variables(phase),
                              self.config.optimizer.clip_norm)
        sums["grad_norm"] = norm / self.num_replicas  # summed over replicas below
        return sums

    def _global_step(self, phase):
        per_replica = self.strategy.run(self.replica_step, args=(next(self.iterator), phase))
        return {n: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for n, v in per_replica.items()}

    # ------------------------------------------------------------- loop.Task
    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def steps_until_boundary(self, step: int) -> int | None:
        """To the next text summary and the two-stage switch."""
        limits = [two_stage.steps_in_phase(self.config, step)]
        if self._example is not None:
            limits.append(self.options.example_every - step % self.options.example_every)
        limits = [n for n in limits if n is not None]
        return min(limits) if limits else None

    def run_steps(self, n: int):
        phase = self.phase(self.step)
        if two_stage.is_switch(self.config, self.step):
            two_stage.init_discriminator_from_generator(self.model)
            if self.is_chief:
                print(f"two-stage: discriminator initialised from the generator at step "
                      f"{self.step}; the generator is frozen from now on", flush=True)
        if phase not in self._runners:
            self._runners[phase] = loop.steps_runner(
                lambda: self._global_step(phase), graph_loop=not self.options.deterministic)
        try:
            return self._runners[phase](n)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            raise self._data_failure(e) from None

    def end_chunk(self, sums: dict, n: int, seconds: float) -> None:
        step = self.step
        metrics = self.objective.summarize(sums)
        metrics["loss"] = float(sums["loss"]) / n
        metrics["grad_norm"] = float(sums["grad_norm"]) / n
        metrics["learning_rate"] = learning_rate(self.optimizer)
        metrics["examples_per_second"] = (n * self.config.optimizer.train_batch_size
                                          / max(seconds, 1e-9))
        if self._probe is not None:  # the main network's token vectors on held-out text
            p = self._probe
            hidden = self.model.discriminator.encode(p["input_ids"], p["segment_ids"],
                                                     p["input_mask"], training=False)
            metrics.update(representation.measures(np.asarray(hidden), p["input_mask"]))
        summaries.write_scalars(self._writer, step, metrics)
        if self.options.progress and self.is_chief:
            print(summaries.progress_line(step, self.config.optimizer.num_train_steps, metrics),
                  flush=True)
        self.last_metrics = metrics
        if self._example is not None and step % self.options.example_every == 0:
            self._example.write(self._writer, step, self.model, self.objective)

    # ------------------------------------------------------------------ run
    def restore(self) -> int:
        latest = checkpoints.restore_latest(self.checkpoint, self.manager)
        if latest:
            print(f"resumed from {latest} at step {self.step}", flush=True)
        return self.step

    def init_from(self, path: str) -> None:
        """Initialises every model weight (not the optimizer) from `path`
        (checkpoints.init_weights)."""
        checkpoints.init_weights(self.model, path)

    def train(self, num_steps: int | None = None) -> dict:
        """Trains to step `num_steps` (default: the config's), resuming the latest
        checkpoint; exports both networks at the end. Returns the last logged metrics."""
        cfg, opts = self.config, self.options
        total = cfg.optimizer.num_train_steps if num_steps is None else num_steps
        self._write_run_files()
        self._writer = (tf.summary.create_file_writer(opts.model_dir) if self.is_chief
                        else tf.summary.create_noop_writer())
        if self.is_chief and self.step == 0:
            summaries.log_hparams(self._writer, cfg)
        self.restore()
        self._make_iterator()
        self.last_metrics = {}
        settings = loop.LoopSettings(
            total_steps=total, log_every=opts.log_every, save_every=opts.save_every,
            kill_at_step=opts.kill_at_step, error=TrainingError,
            nan_hint="Lower --learning_rate, or use --mixed_precision=mixed_bfloat16 / none")
        try:
            finished = loop.run(self, self.manager, settings)
        finally:
            self._writer.flush()
        if finished:
            self.export(os.path.join(self.write_dir, "discriminator"), "discriminator")
            if self.model.generator is not None:
                self.export(os.path.join(self.write_dir, "generator"), "generator")
        return self.last_metrics

    def _write_run_files(self) -> None:
        """config.json, and the vocabulary (fine-tuning from --model_dir finds it there)."""
        os.makedirs(self.write_dir, exist_ok=True)
        with open(os.path.join(self.write_dir, "config.json"), "w") as f:
            f.write(self.config.to_json())
        if self.vocab_file and self.is_chief:
            shutil.copyfile(self.vocab_file, os.path.join(self.write_dir, "vocab.txt"))

    def _data_failure(self, error) -> Exception:
        """A record that cannot be read or parsed, met mid-run: save a checkpoint at the
        last finished step (the data position is the step) and name the file. Not a data
        problem (no file is bad): the original error."""
        bad = input_pipeline.find_corrupt_file(self.data_files, self.seq_length)
        if bad is None:
            return error
        checkpoints.forget_input(self.checkpoint)  # a failed read is no place to resume
        self.manager.save(checkpoint_number=self.step)
        return DataError(f"{bad}. The run stopped at step {self.step} and saved a checkpoint "
                         f"there: rebuild the data (data_prep/build_tfrecords.py; --verify "
                         f"checks an output) or leave the file out of --data, then re-run "
                         f"the same command to continue")

    def export(self, directory: str, which: str) -> str:
        """Writes one network (export.py) and says so."""
        path = export.export_network(self.model, self.config, which, directory, self.vocab_file)
        if self.is_chief:
            print(f"saved the {which} to {directory}", flush=True)
        return path
