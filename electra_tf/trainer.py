"""The pre-training loop: tf.distribute, accumulation, two-stage phases, interrupts.
What a checkpoint holds and how it is restored is checkpoints.py; what the loop logs,
summaries.py; what it exports, export.py; the step's parts it shares with fine-tuning
(clip, apply, learning rate), train_step.py."""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import time

import numpy as np
import tensorflow as tf

from electra_tf import (checkpoints, export, objectives, optimization, representation,
                        summaries)
from electra_tf.configs import ElectraConfig
from electra_tf.data import input_pipeline
from electra_tf.data.records import DataError
from electra_tf.masking import MaskedBatch
from electra_tf.model import weights
from electra_tf.model.pretraining import ElectraPretrainingModel
from electra_tf.train_step import (FLOAT16_LOSS_SCALE, compute_gradients, learning_rate,
                                   sum_clip_apply)

LOSS_EPS = 1e-6  # the original's denominators: sum(weights) + 1e-6


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, ...); the message says where and why."""


@dataclasses.dataclass
class TrainOptions:
    model_dir: str
    seed: int = 1234
    save_every: int = 1000
    keep_checkpoints: int = 5
    log_every: int = 100
    example_every: int = 1000
    jit_compile: bool = False
    mixed_precision: str = "none"
    shuffle_buffer: int = 10000
    progress: bool = True
    kill_at_step: int | None = None  # testing: SIGKILL self after this step
    probe_data: str | None = None  # held-out TFRecords: log the representation measures
    deterministic: bool = False  # one step per graph call: bit-identical runs (see _run)


def _split(prepared, k: int, i: int):
    """Micro-batch i of k of a prepared batch (a dataclass of [B, ...] tensors)."""
    fields = {}
    for f in dataclasses.fields(prepared):
        value = getattr(prepared, f.name)
        size = tf.shape(value)[0] // k
        fields[f.name] = value[i * size:(i + 1) * size]
    return type(prepared)(**fields)


class Trainer:
    def __init__(self, config: ElectraConfig, strategy: tf.distribute.Strategy,
                 data_files: list[str], special, vocab_file: str | None,
                 options: TrainOptions, unigram_counts: list[int] | None = None):
        self.config = config
        self.strategy = strategy
        self.options = options
        self.special = special
        self.vocab_file = vocab_file
        self.data_files = data_files
        self.num_replicas = strategy.num_replicas_in_sync
        self.is_chief = _is_chief(strategy)
        # Multi-worker: every worker must write checkpoints; only the chief's count.
        self.write_dir = options.model_dir if self.is_chief else os.path.join(
            options.model_dir, f".worker_{strategy.cluster_resolver.task_id}")
        batch, k = config.optimizer.train_batch_size, config.optimizer.gradient_accumulation_steps
        if batch % (self.num_replicas * k):
            raise ValueError(f"--batch_size={batch} must be divisible by replicas "
                             f"({self.num_replicas}) x gradient_accumulation_steps ({k})")
        self.per_replica_batch = batch // self.num_replicas
        self.seq_length = config.pretraining.max_seq_length
        log_probs = None
        if unigram_counts is not None:  # add-one smoothed corpus unigram distribution
            vocab_size = config.encoder.vocab_size
            counts = np.asarray(unigram_counts, np.float64)[:vocab_size] + 1.0
            counts = np.pad(counts, (0, vocab_size - len(counts)), constant_values=1.0)
            log_probs = np.log(counts / counts.sum()).astype(np.float32)
        self.objective = objectives.get_objective(config, special, log_probs)
        with strategy.scope():
            self.model = ElectraPretrainingModel(config)
            self.model.build()
            self.optimizer = optimization.create_optimizer(config.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.iterator = None  # made after restore(): it starts at the restored step
        self._skip_steps = 0
        self.checkpoint, self.manager = checkpoints.pretraining_checkpoint(
            self.model, self.optimizer, self.write_dir, options.keep_checkpoints)
        self._grad_fns, self._loops = {}, {}  # per training phase (two-stage)
        self._sample_batch = None
        self._probe = None
        if options.probe_data and self.is_chief:
            self._probe = representation.probe_batch(options.probe_data, self.seq_length)

    # ------------------------------------------------------------------ data
    def _dataset_fn(self, ctx: tf.distribute.InputContext):
        batches_per_step = self.num_replicas // ctx.num_input_pipelines
        batch = ctx.get_per_replica_batch_size(self.config.optimizer.train_batch_size)
        return input_pipeline.make_dataset(
            self.data_files, batch, self.seq_length, self.options.seed,
            self.options.shuffle_buffer, ctx, skip_batches=self._skip_steps * batches_per_step)

    def _make_iterator(self):
        """The input stream, after the batches the restored steps consumed: restored from
        the checkpoint's iterator state where it has one for these data and settings,
        else by skipping (checkpoints.py says when and what each costs)."""
        latest = self.manager.latest_checkpoint
        fingerprint = checkpoints.input_fingerprint(
            self.data_files, seed=self.options.seed,
            batch=self.config.optimizer.train_batch_size, length=self.seq_length,
            shuffle_buffer=self.options.shuffle_buffer, replicas=self.num_replicas)
        saved, saved_skip = (checkpoints.saved_input(latest, fingerprint) if latest
                             else ("none", 0))
        # a saved state restores only into a pipeline built as the saving run's was
        self._skip_steps = saved_skip if saved == "ok" else self.step
        self.iterator = iter(self.strategy.distribute_datasets_from_function(self._dataset_fn))
        kept = checkpoints.keep_input(self.checkpoint, self.iterator, fingerprint,
                                      self._skip_steps)
        if saved == "ok" and kept:
            checkpoints.restore_input(latest, self.iterator)
        elif saved == "ok":  # saved under another one-replica strategy; this one's iterator
            # cannot be restored (tf.distribute's MirroredStrategy on one device)
            self._skip_steps = self.step
            self.iterator = iter(self.strategy.distribute_datasets_from_function(
                self._dataset_fn))
        elif saved == "other" and self.step:
            print(f"note: the data or input settings differ from {latest}'s: the stream "
                  f"starts after skipping the {self.step} steps' batches of these data",
                  flush=True)

    # ------------------------------------------------------------------ step
    def phase(self, step: int) -> str | None:
        """Two-stage training: "generator" (MLM only) before two_stage_steps, then
        "discriminator" (generator frozen); None otherwise."""
        if self.config.pretraining.training != "two_stage":
            return None
        return "generator" if step < self.config.pretraining.two_stage_steps else "discriminator"

    def phase_variables(self, phase: str | None) -> list:
        """The variables a phase trains (all, except the other network in two-stage)."""
        m = self.model
        if phase is None:
            return m.trainable_variables
        if phase == "generator":
            frozen = (m.discriminator.transformer_layers
                      + [m.discriminator.embeddings_projection, m.discriminator_head,
                         m.sentence_head])
        else:
            frozen = m.generator.transformer_layers + [m.generator.embeddings_projection,
                                                       m.generator_head, m.generator_embeddings]
        skip = {id(v) for layer in frozen if layer is not None for v in layer.weights}
        if phase == "generator":  # the generator's tied table is the shared one: keep it
            skip -= {id(v) for v in m.embeddings.weights}
        return [v for v in m.trainable_variables if id(v) not in skip]

    def _grad_fn(self, phase):
        if phase not in self._grad_fns:
            self._grad_fns[phase] = tf.function(
                lambda fields, dens: self._grad_fn_impl(fields, dens, phase),
                jit_compile=self.options.jit_compile)
        return self._grad_fns[phase]

    def _run(self, phase, n: int):
        """n optimisation steps: (summed metrics, first non-finite step or -1). One graph
        call runs all n steps, except with options.deterministic, where each step is a
        call of its own: a multi-step graph loop does not repeat bit-exactly from run to
        run on CPU (with oneDNN or Eigen kernels, XLA fusion on or off, one loop iteration
        or one inter-op thread at a time; benchmarks/RESULTS.md), while one step per call
        does."""
        loop = self._loop(phase)
        if not self.options.deterministic:
            return loop(tf.constant(n, tf.int64))
        total, first_bad = None, -1
        for i in range(n):
            sums, bad = loop(tf.constant(1, tf.int64))
            total = sums if total is None else {k: total[k] + sums[k] for k in total}
            if first_bad < 0 and int(bad) >= 0:
                first_bad = i
        return total, first_bad

    def _loop(self, phase):
        if phase not in self._loops:
            self._loops[phase] = tf.function(lambda n: self._loop_impl(n, phase))
        return self._loops[phase]

    def _grad_fn_impl(self, micro_fields, dens, phase=None):
        micro = MaskedBatch(**micro_fields)  # tf.function takes dicts, not dataclasses
        variables = self.phase_variables(phase)
        fp16 = self.options.mixed_precision == "mixed_float16"
        with tf.GradientTape() as tape:
            terms, sums, _ = self.objective.loss_terms(self.model, micro, self.options.seed,
                                                       training=True, phase=phase)
            loss = tf.add_n([weight * num / (dens[name] + LOSS_EPS)
                             for name, (weight, num, _) in terms.items()])
        grads = compute_gradients(tape, loss, variables, FLOAT16_LOSS_SCALE if fp16 else None)
        sums = dict(sums, loss=loss)
        return grads, sums

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

    def _loop_impl(self, num_steps, phase=None):
        """num_steps optimisation steps in one graph; returns summed metrics and the
        first step (0-based in this loop) whose loss was not finite, or -1."""
        def one_step():
            per_replica = self.strategy.run(self.replica_step,
                                            args=(next(self.iterator), phase))
            sums = {n: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                    for n, v in per_replica.items()}
            return sums, tf.logical_not(tf.math.is_finite(sums["loss"]))

        acc, bad = one_step()
        first_bad = tf.where(bad, tf.constant(0, tf.int64), tf.constant(-1, tf.int64))
        for i in tf.range(tf.constant(1, tf.int64), tf.cast(num_steps, tf.int64)):
            sums, bad = one_step()
            acc = {n: acc[n] + sums[n] for n in acc}
            first_bad = tf.where(tf.logical_and(bad, first_bad < 0), i, first_bad)
        return acc, first_bad

    # ------------------------------------------------------------------ run
    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

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
        cfg, opts = self.config, self.options
        total = cfg.optimizer.num_train_steps if num_steps is None else num_steps
        os.makedirs(self.write_dir, exist_ok=True)
        with open(os.path.join(self.write_dir, "config.json"), "w") as f:
            f.write(cfg.to_json())
        if self.vocab_file and self.is_chief:  # fine-tuning from --model_dir finds it here
            shutil.copyfile(self.vocab_file, os.path.join(self.write_dir, "vocab.txt"))
        writer = (tf.summary.create_file_writer(opts.model_dir) if self.is_chief
                  else tf.summary.create_noop_writer())
        if self.is_chief and self.step == 0:
            summaries.log_hparams(writer, cfg)
        self.restore()
        self._make_iterator()
        last = {}
        interrupted = False
        previous_handler = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # save on kill too
        try:
            while self.step < total:
                start_step = self.step
                n = min(opts.log_every - start_step % opts.log_every,
                        opts.save_every - start_step % opts.save_every, total - start_step)
                if opts.example_every:  # end a graph loop where a text summary is due
                    n = min(n, opts.example_every - start_step % opts.example_every)
                phase = self.phase(start_step)
                if phase == "generator":  # do not run past the two-stage switch
                    n = min(n, cfg.pretraining.two_stage_steps - start_step)
                if phase == "discriminator" and start_step == cfg.pretraining.two_stage_steps:
                    self._init_discriminator_from_generator()
                t0 = time.time()
                try:
                    sums, first_bad = self._run(phase, n)
                except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                    raise self._data_failure(e) from None
                elapsed = time.time() - t0
                sums = {k: v.numpy() for k, v in sums.items()}
                if int(first_bad) >= 0:
                    raise TrainingError(
                        f"loss became NaN/inf at step {start_step + int(first_bad) + 1}; "
                        f"the last good checkpoint is {self.manager.latest_checkpoint}. Lower "
                        f"--learning_rate, or use --mixed_precision=mixed_bfloat16 / none")
                last = self._log(writer, sums, n, elapsed)
                if opts.kill_at_step is not None and self.step >= opts.kill_at_step:
                    os.kill(os.getpid(), signal.SIGKILL)
                if self.step % opts.save_every == 0 or self.step >= total:
                    self.manager.save(checkpoint_number=self.step)
                if opts.example_every and self.step % opts.example_every == 0:
                    self._log_example(writer)
        except KeyboardInterrupt:
            interrupted = True
            self.manager.save(checkpoint_number=self.step)
            print(f"interrupted: saved a checkpoint at step {self.step}; re-run the same "
                  f"command to continue", flush=True)
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            writer.flush()
        if not interrupted and self.step >= total:
            self.export(os.path.join(self.write_dir, "discriminator"), "discriminator")
            if self.model.generator is not None:
                self.export(os.path.join(self.write_dir, "generator"), "generator")
        return last

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

    def _init_discriminator_from_generator(self) -> None:
        """Two-stage training's switch: the discriminator starts as the generator."""
        m = self.model
        gen = weights.encoder_weights(m.generator, "encoder")
        disc = weights.encoder_weights(m.discriminator, "encoder")
        for name, var in disc.items():
            var.assign(gen[name])
        if self.is_chief:
            print(f"two-stage: discriminator initialised from the generator at step "
                  f"{self.step}; the generator is frozen from now on", flush=True)

    # ------------------------------------------------------------------ logs
    def _log(self, writer, sums, n, elapsed) -> dict:
        step = self.step
        metrics = self.objective.summarize(sums)
        metrics["loss"] = float(sums["loss"]) / n
        metrics["grad_norm"] = float(sums["grad_norm"]) / n
        metrics["learning_rate"] = learning_rate(self.optimizer)
        batch = self.config.optimizer.train_batch_size
        metrics["examples_per_second"] = n * batch / max(elapsed, 1e-9)
        if self._probe is not None:  # the main network's token vectors on held-out text
            p = self._probe
            hidden = self.model.discriminator.encode(p["input_ids"], p["segment_ids"],
                                                     p["input_mask"], training=False)
            metrics.update(representation.measures(np.asarray(hidden), p["input_mask"]))
        summaries.write_scalars(writer, step, metrics)
        if self.options.progress and self.is_chief:
            print(summaries.progress_line(step, self.config.optimizer.num_train_steps, metrics),
                  flush=True)
        return metrics

    def _log_example(self, writer) -> None:
        """A text summary of one corrupted example, replaced tokens marked."""
        if self.vocab_file is None:
            return
        from electra_tf.tokenization import load_vocab

        if self._sample_batch is None:  # the longest of the stream's first 16 examples
            ds = input_pipeline.make_dataset(self.data_files, 16, self.seq_length,
                                             self.options.seed, shuffle_buffer=1)
            batch = next(iter(ds))
            i = int(np.argmax(np.sum(batch["input_mask"], axis=1)))
            self._sample_batch = {k: v[i:i + 1] for k, v in batch.items()}
            self._vocab = load_vocab(self.vocab_file)
        prepared = self.objective.prepare(self._sample_batch, self.options.seed + self.step)
        _, _, aux = self.objective.loss_terms(self.model, prepared,
                                              self.options.seed + self.step, training=False)
        text = summaries.render_corrupted(np.asarray(prepared.original_ids[0]),
                                np.asarray(aux["fake_ids"][0]), np.asarray(aux["labels"][0]),
                                np.asarray(prepared.input_mask[0]), self._vocab)
        with writer.as_default(step=self.step):
            tf.summary.text("corrupted_example", text)

    # ------------------------------------------------------------------ export
    def export(self, directory: str, which: str) -> str:
        """Writes one network (export.py) and says so."""
        path = export.export_network(self.model, self.config, which, directory, self.vocab_file)
        if self.is_chief:
            print(f"saved the {which} to {directory}", flush=True)
        return path


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and
                                             resolver.task_id == 0 and
                                             "chief" not in resolver.cluster_spec().as_dict())


