"""Fine-tune a discriminator on GLUE, SQuAD, your own text files or CoNLL tags, and report
the paper's metrics.

  python -m finetune.run --task=rte --data_dir=../shared/data/glue/RTE \
      --init_checkpoint=/tmp/electra_small/discriminator --output_dir=/tmp/ft_rte
  python -m finetune.run --task=squad_v1 --train_file=train-v1.1.json \
      --predict_file=../shared/data/squad/dev-v1.1.json --init_checkpoint=... --output_dir=...
  python -m finetune.run --task=text_classification --train_file=train.csv \
      --dev_file=dev.csv --text_column=sentence --label_column=label --init_checkpoint=... \
      --output_dir=... --export_serving
  python -m finetune.run --task=token_classification --train_file=train.conll \
      --dev_file=dev.conll --init_checkpoint=... --output_dir=...

The tasks are finetune/tasks.py and the training loop electra_tf/loop.py; this file is
what every task shares around them: seeds and their median, resume after an interrupt,
TensorBoard, results.json, saved models.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time

from absl import app, flags

from electra_tf import cli  # defines --tf_logs
from finetune import flags as _flags  # noqa: F401 (defines this program's flags)
from finetune.tasks import UsageError

FLAGS = flags.FLAGS
# what a finished run in results.json was trained and scored on: a change re-runs it
DATA_FLAGS = ("data_dir", "train_file", "dev_file", "test_file", "predict_file", "format",
              "text_column", "text_pair_column", "label_column", "tag_column",
              "max_train_examples", "swap_doubling", "skip_bad_rows", "lower_case",
              "doc_stride", "max_query_length")


def _model_config(vocab_tokens: int | None):
    from electra_tf.configs import get_config
    from finetune.model import load_config, resolve_checkpoint

    config, source = None, None
    if FLAGS.init_checkpoint:
        _, config_path = resolve_checkpoint(FLAGS.init_checkpoint)
        if config_path:
            config, source = load_config(config_path), config_path
    if config is None:
        if not FLAGS.size:
            raise UsageError("pass --size (small|base|large|tiny): there is no checkpoint "
                             "config.json to take the model sizes from")
        config = get_config(FLAGS.size).encoder
        if vocab_tokens:
            config = config.replace(vocab_size=vocab_tokens)
        source = f"--size={FLAGS.size}"
    elif FLAGS.size:
        want = get_config(FLAGS.size).encoder
        if (want.hidden_size, want.num_layers) != (config.hidden_size, config.num_layers):
            raise UsageError(f"--size={FLAGS.size} does not match the checkpoint ({source}: "
                             f"hidden {config.hidden_size}, {config.num_layers} layers); "
                             f"drop --size")
    if FLAGS.speed_path:
        config = config.replace(speed_path=FLAGS.speed_path)
    return config, source


def _vocab_path() -> str:
    from finetune.model import resolve_checkpoint

    ckpt_vocab = None
    if FLAGS.init_checkpoint:
        prefix, config_path = resolve_checkpoint(FLAGS.init_checkpoint)
        for d in filter(None, [os.path.dirname(config_path or ""), os.path.dirname(prefix)]):
            if os.path.isfile(os.path.join(d, "vocab.txt")):
                ckpt_vocab = os.path.join(d, "vocab.txt")
                break
    if FLAGS.vocab and ckpt_vocab:
        from electra_tf.tokenization import vocab_hash
        if vocab_hash(FLAGS.vocab) != vocab_hash(ckpt_vocab):
            raise UsageError(f"--vocab={FLAGS.vocab} differs from the checkpoint's vocabulary "
                             f"{ckpt_vocab}: the token ids would not match the embeddings; "
                             f"drop --vocab")
    vocab = FLAGS.vocab or ckpt_vocab
    if vocab is None:
        raise UsageError("pass --vocab PATH/vocab.txt (the checkpoint directory has none)")
    return vocab


def _check_flags() -> None:
    if not FLAGS.task or not FLAGS.output_dir:
        raise UsageError("--task and --output_dir are required")
    if FLAGS.num_runs < 1:
        raise UsageError(f"--num_runs={FLAGS.num_runs} must be >= 1")
    for name in ("learning_rate", "epochs"):
        if getattr(FLAGS, name) is not None and getattr(FLAGS, name) <= 0:
            raise UsageError(f"--{name}={getattr(FLAGS, name)} must be > 0")
    for name in ("batch_size", "eval_batch_size"):
        if getattr(FLAGS, name) < 1:
            raise UsageError(f"--{name}={getattr(FLAGS, name)} must be >= 1")
    if not 0 <= FLAGS.warmup_proportion < 1:
        raise UsageError(f"--warmup_proportion={FLAGS.warmup_proportion} must be in [0, 1)")
    if FLAGS.max_seq_length is not None and FLAGS.max_seq_length < 8:
        raise UsageError(f"--max_seq_length={FLAGS.max_seq_length} must be >= 8")


def _save(model, task, run_dir: str, vocab: list[str], max_len: int) -> None:
    """--save_model (model.keras) and --export_serving (serving/) of a trained run."""
    from electra_tf.model.preprocessor import ElectraTextClassifierPreprocessor

    pre = ElectraTextClassifierPreprocessor(vocab, FLAGS.lower_case, max_len)
    info = task.serving()
    if FLAGS.save_model:
        if info["kind"] != "token_classification":
            model.preprocessor = pre  # raw strings in, as the served model
        model.save(os.path.join(run_dir, "model.keras"))
        with open(os.path.join(run_dir, "task.json"), "w") as f:
            json.dump(dict(info, sequence_length=max_len, lowercase=FLAGS.lower_case), f,
                      indent=2)
        model.preprocessor = None
        print(f"model: {os.path.join(run_dir, 'model.keras')}", flush=True)
    if FLAGS.export_serving:
        from electra_tf import serving
        serving.export(model, os.path.join(run_dir, "serving"), info, preprocessor=pre)
        print(f"serving SavedModel: {os.path.join(run_dir, 'serving')}", flush=True)


@dataclasses.dataclass
class _Setup:
    """What every run of one command shares."""
    task: object
    strategy: object
    config: object  # the encoder's EncoderConfig
    source: str  # where the config came from
    vocab: list
    max_len: int
    opts: object  # training.FinetuneOptions


def _set_up() -> _Setup:
    """Flags -> task (its data loaded), strategy, model config and options. Every refusal
    comes here, before the output directory is made."""
    _check_flags()
    from finetune import tasks
    task = tasks.get_task(FLAGS.task, FLAGS)
    if (FLAGS.save_model or FLAGS.export_serving) and not task.servable:
        raise UsageError(f"--save_model / --export_serving: not for {task.name} (text "
                         f"classification, regression and tagging tasks)")
    if FLAGS.num_cpu_devices:
        from electra_tf.distribution import split_cpu
        split_cpu(FLAGS.num_cpu_devices)
    import keras

    from electra_tf import tokenization
    from electra_tf.distribution import make_strategy
    from finetune import recipe as recipes

    strategy = make_strategy(FLAGS.strategy, FLAGS.tpu)
    cli.quiet_xla()
    if FLAGS.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(FLAGS.mixed_precision)
    vocab_path = _vocab_path()
    vocab = tokenization.load_vocab(vocab_path)
    config, source = _model_config(len(vocab))
    max_len = FLAGS.max_seq_length or task.max_seq_length
    if max_len > config.max_position_embeddings:
        raise UsageError(f"--max_seq_length={max_len} exceeds the model's "
                         f"max_position_embeddings={config.max_position_embeddings}")
    if len(vocab) != config.vocab_size:
        raise UsageError(f"vocab {vocab_path} has {len(vocab)} tokens but the model "
                         f"({source}) has vocab_size={config.vocab_size}: use the "
                         f"checkpoint's vocab.txt")
    opts = _options(config, task)
    print(f"task {task.name}: model from {source} ({recipes.size_of(config)} recipe "
          f"'{FLAGS.recipe}'), lr {opts.learning_rate:g}, layer decay {opts.layer_decay:g} "
          f"({opts.layer_decay_mode}), weight decay {opts.weight_decay:g}, batch "
          f"{opts.batch_size}, {opts.epochs:g} epochs, length {max_len}, "
          f"{strategy.num_replicas_in_sync} replica(s)", flush=True)
    tokenizer = tokenization.WordPieceTokenizer(vocab_path, FLAGS.lower_case, FLAGS.lower_case)
    task.load(tokenizer, max_len)  # data once for all runs; bad data stops here
    return _Setup(task, strategy, config, source, vocab, max_len, opts)


def _options(config, task):
    """The fine-tuning options: the recipe's for this model size, overridden by flags."""
    from finetune import recipe as recipes, training

    rec = recipes.get_recipe(FLAGS.recipe, recipes.size_of(config))
    return training.FinetuneOptions(
        learning_rate=FLAGS.learning_rate or rec.learning_rate,
        layer_decay=FLAGS.layer_decay if FLAGS.layer_decay is not None else rec.layer_decay,
        layer_decay_mode=rec.layer_decay_mode,
        weight_decay=FLAGS.weight_decay if FLAGS.weight_decay is not None else rec.weight_decay,
        warmup_proportion=FLAGS.warmup_proportion, batch_size=FLAGS.batch_size,
        epochs=FLAGS.epochs if FLAGS.epochs is not None else task.epochs,
        mixed_precision=FLAGS.mixed_precision, log_every=FLAGS.log_every,
        progress=FLAGS.progress)


def _one_run(i: int, s: _Setup, pretrained, data: dict) -> tuple[dict, dict, str]:
    """Run i (seed --seed + i): train (resuming its checkpoint), evaluate, write test
    predictions, save. (metrics, train stats, its checkpoint directory)."""
    import keras
    import tensorflow as tf

    from finetune import results as bookkeeping, training
    from finetune.model import load_pretrained

    run_dir = os.path.join(FLAGS.output_dir, f"run_{i}")
    keras.utils.set_random_seed(s.opts.seed)
    with s.strategy.scope():
        model = s.task.build_model(s.config)
        if FLAGS.init_checkpoint:
            load_pretrained(model, FLAGS.init_checkpoint, pretrained)
    writer = tf.summary.create_file_writer(run_dir)
    stats = {"steps": 0, "seconds": 0.0}
    checkpoint_dir = bookkeeping.checkpoint_dir(
        run_dir, bookkeeping.command(s.task.name, FLAGS.init_checkpoint, s.source, s.opts, data))
    if s.task.train is not None:
        stats = training.train(model, s.task.train, s.task.loss, s.opts, s.strategy, writer,
                               label=f" run {i + 1}/{FLAGS.num_runs}",
                               checkpoint_dir=checkpoint_dir, save_every=FLAGS.save_every,
                               kill_at_step=FLAGS.debug_kill_at_step)
    t0 = time.time()
    result = s.task.evaluate(model, s.strategy, FLAGS.eval_batch_size, run_dir)
    paths = s.task.write_predictions(model, s.strategy, FLAGS.eval_batch_size, run_dir)
    if paths:
        print(f"test predictions: {', '.join(paths)}", flush=True)
    stats["eval_seconds"] = time.time() - t0
    with writer.as_default(step=stats["steps"]):
        for k, v in result.items():
            tf.summary.scalar(f"eval/{k}", v)
    writer.flush()
    if FLAGS.save_model or FLAGS.export_serving:
        _save(model, s.task, run_dir, s.vocab, s.max_len)
    return result, stats, checkpoint_dir


def run() -> None:
    from finetune import results as bookkeeping

    s = _set_up()
    # the output directory only now: bad data above leaves nothing behind
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    pretrained = None
    if FLAGS.init_checkpoint:
        from finetune.model import read_pretrained
        pretrained = read_pretrained(FLAGS.init_checkpoint)
    results_path = os.path.join(FLAGS.output_dir, "results.json")
    data = {name: getattr(FLAGS, name) for name in DATA_FLAGS}
    data["max_seq_length"] = s.max_len
    cmd = bookkeeping.command(s.task.name, FLAGS.init_checkpoint, s.source, s.opts, data)
    runs, train_stats = bookkeeping.finished_runs(results_path, cmd, FLAGS.seed,
                                                  FLAGS.num_runs)
    for i in range(len(runs)):
        print(f"run {i} (seed {FLAGS.seed + i}): finished earlier, kept from {results_path}",
              flush=True)
    for i in range(len(runs), FLAGS.num_runs):
        s.opts.seed = FLAGS.seed + i
        result, stats, checkpoint_dir = _one_run(i, s, pretrained, data)
        runs.append(result)
        train_stats.append(dict(stats, seed=s.opts.seed))
        print(f"run {i} (seed {s.opts.seed}): "
              + ", ".join(f"{k} {v:.2f}" for k, v in result.items()), flush=True)
        info = s.task.serving() or {}
        summary = {"task": s.task.name, "init_checkpoint": FLAGS.init_checkpoint, "data": data,
                   "model": s.source, "recipe": FLAGS.recipe, "options": vars(s.opts),
                   **({"labels": info["labels"]} if info.get("labels") else {}),
                   "runs": [dict(metrics=r, **t) for r, t in zip(runs, train_stats)],
                   "median": bookkeeping.median(runs) if runs and runs[0] else {}}
        with open(results_path, "w") as f:  # after every run: nothing lost on interrupt
            json.dump(summary, f, indent=2)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # the run is in results.json now
    if runs and runs[0]:
        table = bookkeeping.table(s.task.name, runs, FLAGS.seed)
        with open(os.path.join(FLAGS.output_dir, "results.md"), "w") as f:
            f.write(table + "\n")
        print(table)
    print(f"results: {results_path}", flush=True)


def main(argv):
    del argv
    cli.start()
    from electra_tf.configs import ConfigError
    from electra_tf.tokenization import VocabError
    from finetune.glue.tasks import GlueDataError
    from finetune.model import CheckpointError
    from finetune.own_data import OwnDataError
    from finetune.squad.data import SquadDataError
    from finetune.tagging.data import TaggingDataError
    from finetune.training import FinetuneError

    existed = bool(FLAGS.output_dir) and os.path.exists(FLAGS.output_dir)
    try:
        run()
    except (UsageError, ConfigError, VocabError, GlueDataError, CheckpointError,
            SquadDataError, OwnDataError, TaggingDataError, FinetuneError) as e:
        # a refused input leaves nothing behind: the output directory goes if this run
        # made it and wrote nothing into it (a weight-shape error comes after it is made)
        if (FLAGS.output_dir and not existed and os.path.isdir(FLAGS.output_dir)
                and not os.listdir(FLAGS.output_dir)):
            os.rmdir(FLAGS.output_dir)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished runs are in --output_dir/results.json; re-run the same "
              "command to continue", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main)
