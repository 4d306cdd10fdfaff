"""Fine-tune a discriminator on a GLUE task or SQuAD and report the paper's metrics.

  python -m finetune.run --task=rte --data_dir=../shared/data/glue/RTE \
      --init_checkpoint=/tmp/electra_small/discriminator --output_dir=/tmp/ft_rte
  python -m finetune.run --task=squad_v1 --train_file=train-v1.1.json \
      --predict_file=../shared/data/squad/dev-v1.1.json --init_checkpoint=... --output_dir=...
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time

from absl import app, flags

from electra_tf import cli  # defines --tf_logs

TASK_HELP = "GLUE: cola, sst-2, mrpc, sts-b, qqp, mnli, qnli, rte, wnli; or squad_v1, squad_v2"
FLAGS = flags.FLAGS
flags.DEFINE_string("task", None, f"Task. {TASK_HELP}.")
flags.DEFINE_string("output_dir", None, "Where results, predictions and TensorBoard logs go.")
flags.DEFINE_string("data_dir", None, "GLUE: the task's directory (train.tsv, dev.tsv, test.tsv).")
flags.DEFINE_string("train_file", None, "SQuAD: training JSON (omit to only predict).")
flags.DEFINE_string("predict_file", None, "SQuAD: JSON to predict and score (dev set).")
flags.DEFINE_string("init_checkpoint", None,
                    "Exported discriminator dir (pretraining's <model_dir>/discriminator or "
                    "electra_tf.convert output), a pretraining --model_dir, or a ckpt prefix. "
                    "Omit to fine-tune from random weights (a baseline).")
flags.DEFINE_string("size", None, "small|base|large|tiny: model sizes when the checkpoint has "
                    "no config.json, or for random init; default: the checkpoint's config.")
flags.DEFINE_string("vocab", None, "vocab.txt; default: the checkpoint directory's vocab.txt.")
flags.DEFINE_enum("recipe", "paper", ["paper", "code"],
                  "Hyper-parameter defaults: paper Table 7, or the released code's "
                  "(lr 1e-4 Small, weight decay 0.01, top layer decay^2).")
flags.DEFINE_float("learning_rate", None, "Default: from --recipe and the model size.")
flags.DEFINE_float("layer_decay", None, "Layer-wise LR decay; default 0.8 (0.9 Large).")
flags.DEFINE_float("weight_decay", None, "Default: 0 (paper) / 0.01 (code).")
flags.DEFINE_float("warmup_proportion", 0.1, "Warmup fraction of the steps.")
flags.DEFINE_integer("batch_size", 32, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", 64, "Prediction batch size.")
flags.DEFINE_float("epochs", None, "Default: 3 (10 for RTE and STS-B, 2 for SQuAD).")
flags.DEFINE_integer("max_seq_length", None, "Default: 128 (GLUE), 512 (SQuAD).")
flags.DEFINE_integer("num_runs", 1, "Fine-tune this many seeds; report each and the median.")
flags.DEFINE_integer("seed", 0, "Seed of the first run (run i uses seed + i).")
flags.DEFINE_boolean("predict_test", False, "GLUE: write test-set predictions in the GLUE "
                     "submission format (<output_dir>/run_<i>/submission/).")
flags.DEFINE_boolean("swap_doubling", True, "MRPC/STS-B: also train on each pair swapped.")
flags.DEFINE_boolean("skip_bad_rows", False, "Skip malformed TSV rows (with a warning).")
flags.DEFINE_integer("max_train_examples", None,
                     "Use only the first N training examples (questions for SQuAD); MRPC and "
                     "STS-B take the first N rows, then add their N swapped pairs.")
flags.DEFINE_integer("doc_stride", 128, "SQuAD: window stride.")
flags.DEFINE_integer("max_query_length", 64, "SQuAD: question tokens kept.")
flags.DEFINE_integer("max_answer_length", 30, "SQuAD: longest answer span, in tokens.")
flags.DEFINE_integer("n_best_size", 20, "SQuAD: n-best answers kept per question.")
flags.DEFINE_integer("beam_size", 20, "SQuAD: start x end beam at inference.")
flags.DEFINE_boolean("lower_case", True, "Lower-case and strip accents (uncased vocab).")
flags.DEFINE_string("strategy", "auto", "auto|one_device|mirrored|multi_worker|tpu")
flags.DEFINE_string("tpu", None, "TPU name/address for --strategy=tpu.")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into N logical devices (testing).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_bfloat16", "mixed_float16"],
                  "Keras mixed-precision policy.")
flags.DEFINE_integer("log_every", 50, "TensorBoard loss every N steps.")
flags.DEFINE_integer("save_every", 500, "Checkpoint the run in progress every N steps (and on "
                     "Ctrl-C / SIGTERM); re-running the same command continues it.")
flags.DEFINE_integer("debug_kill_at_step", None, "Testing: SIGKILL the process after this "
                     "training step of a run.")
flags.DEFINE_boolean("progress", True, "Progress bars.")

SQUAD_TASKS = {"squad_v1": False, "squad_v2": True, "squad": False, "squad1.1": False,
               "squad2.0": True}


class UsageError(ValueError):
    pass


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


def _median(runs: list[dict]) -> dict[str, float]:
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def _table(task: str, runs: list[dict], median: dict[str, float]) -> str:
    keys = list(median)
    lines = [f"| {task} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for i, r in enumerate(runs):
        lines.append(f"| run {i} (seed {FLAGS.seed + i}) | "
                     + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    lines.append("| **median** | " + " | ".join(f"**{median[k]:.2f}**" for k in keys) + " |")
    return "\n".join(lines)


def _command(task: str, source, opts) -> dict:
    """What makes two fine-tuning runs the same, as results.json holds it (JSON types)."""
    return json.loads(json.dumps({"task": task, "init_checkpoint": FLAGS.init_checkpoint,
                                  "model": source, "options": vars(opts)}))


def _checkpoint_dir(run_dir: str, command: dict) -> str:
    """run_<i>/checkpoints, emptied first if it holds another command's run (a checkpoint
    is resumed only by the command that wrote it; command.json beside it says which)."""
    directory = os.path.join(run_dir, "checkpoints")
    marker = os.path.join(directory, "command.json")
    if os.path.isdir(directory):
        try:
            with open(marker) as f:
                same = json.load(f) == command
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            print(f"note: {directory} holds a run of other settings; starting afresh",
                  flush=True)
            shutil.rmtree(directory)
    os.makedirs(directory, exist_ok=True)
    with open(marker, "w") as f:
        json.dump(command, f, indent=2)
    return directory


def _finished_runs(results_path: str, task: str, source, opts) -> tuple[list, list]:
    """(metrics, stats) of the runs a results.json of the same command already holds
    (same task, model and options; run i with seed --seed + i), so a re-run after an
    interrupt trains only what is missing; ([], []) otherwise."""
    if not os.path.isfile(results_path):
        return [], []
    try:
        with open(results_path) as f:
            previous = json.load(f)
    except (OSError, json.JSONDecodeError):
        return [], []

    def settings(options):  # the seed is per run, checked below
        return {k: v for k, v in options.items() if k != "seed"}

    current = _command(task, source, opts)
    if (any(previous.get(k) != current[k] for k in ("task", "init_checkpoint", "model"))
            or settings(previous.get("options", {})) != settings(current["options"])):
        return [], []
    runs, stats = [], []
    for i, entry in enumerate(previous.get("runs", [])[:FLAGS.num_runs]):
        if entry.get("seed") != FLAGS.seed + i:
            break
        runs.append(entry["metrics"])
        stats.append({k: v for k, v in entry.items() if k != "metrics"})
    return runs, stats


def run() -> None:
    if not FLAGS.task or not FLAGS.output_dir:
        raise UsageError("--task and --output_dir are required")
    task_name = FLAGS.task.lower()
    is_squad = task_name in SQUAD_TASKS
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
    if FLAGS.num_cpu_devices:
        from electra_tf.distribution import split_cpu
        split_cpu(FLAGS.num_cpu_devices)
    import keras
    import tensorflow as tf

    from electra_tf import tokenization
    from electra_tf.distribution import make_strategy
    from finetune import recipe as recipes, training
    from finetune.glue import tasks as glue
    from finetune.model import (classification_model, load_pretrained, read_pretrained,
                                squad_model)

    if not is_squad:
        task = glue.get_task(task_name)
        if not FLAGS.data_dir:
            raise UsageError(f"--data_dir is required for GLUE task {task.name}")
        if not os.path.isdir(FLAGS.data_dir):
            raise UsageError(f"--data_dir={FLAGS.data_dir} is not a directory")
    elif not FLAGS.predict_file and not FLAGS.train_file:
        raise UsageError("SQuAD needs --predict_file (and --train_file to fine-tune)")
    strategy = make_strategy(FLAGS.strategy, FLAGS.tpu)
    cli.quiet_xla()
    if FLAGS.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(FLAGS.mixed_precision)
    vocab_path = _vocab_path()
    vocab = tokenization.load_vocab(vocab_path)
    config, source = _model_config(len(vocab))
    max_len = FLAGS.max_seq_length or (512 if is_squad else 128)
    if max_len > config.max_position_embeddings:
        raise UsageError(f"--max_seq_length={max_len} exceeds the model's "
                         f"max_position_embeddings={config.max_position_embeddings}")
    if len(vocab) != config.vocab_size:
        raise UsageError(f"vocab {vocab_path} has {len(vocab)} tokens but the model "
                         f"({source}) has vocab_size={config.vocab_size}: use the "
                         f"checkpoint's vocab.txt")
    size = recipes.size_of(config)
    rec = recipes.get_recipe(FLAGS.recipe, size)
    epochs = FLAGS.epochs
    if epochs is None:
        epochs = 2.0 if is_squad else float(task.epochs)
    opts = training.FinetuneOptions(
        learning_rate=FLAGS.learning_rate or rec.learning_rate,
        layer_decay=FLAGS.layer_decay if FLAGS.layer_decay is not None else rec.layer_decay,
        layer_decay_mode=rec.layer_decay_mode,
        weight_decay=FLAGS.weight_decay if FLAGS.weight_decay is not None else rec.weight_decay,
        warmup_proportion=FLAGS.warmup_proportion, batch_size=FLAGS.batch_size, epochs=epochs,
        mixed_precision=FLAGS.mixed_precision, log_every=FLAGS.log_every,
        progress=FLAGS.progress)
    tokenizer = tokenization.WordPieceTokenizer(vocab_path, FLAGS.lower_case, FLAGS.lower_case)
    print(f"task {task_name}: model from {source} ({size} recipe '{FLAGS.recipe}'), "
          f"lr {opts.learning_rate:g}, layer decay {opts.layer_decay:g} ({opts.layer_decay_mode}),"
          f" weight decay {opts.weight_decay:g}, batch {opts.batch_size}, {epochs:g} epochs, "
          f"length {max_len}, {strategy.num_replicas_in_sync} replica(s)", flush=True)

    # ---- data (once for all runs)
    if is_squad:
        from finetune.squad import data as squad_data
        from finetune.squad import task as squad
        v2 = SQUAD_TASKS[task_name]
        train_feats = None
        if FLAGS.train_file:
            ex, skipped = squad_data.read_examples(FLAGS.train_file, True, v2)
            if FLAGS.max_train_examples:
                ex = ex[:FLAGS.max_train_examples]
            train_feats, _ = squad_data.featurize(ex, tokenizer, max_len, FLAGS.doc_stride,
                                                  FLAGS.max_query_length, True, FLAGS.progress)
            print(f"{len(ex)} training questions ({skipped} skipped: answer not found in the "
                  f"context), {len(train_feats['input_ids'])} windows", flush=True)
        eval_data = None
        if FLAGS.predict_file:
            ex, _ = squad_data.read_examples(FLAGS.predict_file, False, v2)
            feats, infos = squad_data.featurize(ex, tokenizer, max_len, FLAGS.doc_stride,
                                                FLAGS.max_query_length, False, FLAGS.progress)
            eval_data = (ex, feats, infos)
        loss = squad.loss_fn(v2)
    else:
        from finetune.glue import classification
        data = classification.load(task, FLAGS.data_dir, tokenizer, max_len, True,
                                   FLAGS.predict_test, FLAGS.swap_doubling, FLAGS.skip_bad_rows,
                                   FLAGS.max_train_examples)
        train_feats = data.train
        loss = classification.loss_fn(task)

    # ---- runs (the output directory only now: bad data above leaves nothing behind)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    pretrained = read_pretrained(FLAGS.init_checkpoint) if FLAGS.init_checkpoint else None
    results_path = os.path.join(FLAGS.output_dir, "results.json")
    runs, train_stats = _finished_runs(results_path, task_name, source, opts)
    for i in range(len(runs)):
        print(f"run {i} (seed {FLAGS.seed + i}): finished earlier, kept from {results_path}",
              flush=True)
    for i in range(len(runs), FLAGS.num_runs):
        seed = FLAGS.seed + i
        run_dir = os.path.join(FLAGS.output_dir, f"run_{i}")
        keras.utils.set_random_seed(seed)
        opts.seed = seed
        with strategy.scope():
            model = (squad_model(config, SQUAD_TASKS[task_name], FLAGS.beam_size) if is_squad
                     else classification_model(config, task.num_outputs))
            if FLAGS.init_checkpoint:
                load_pretrained(model, FLAGS.init_checkpoint, pretrained)
        writer = tf.summary.create_file_writer(run_dir)
        label = f" run {i + 1}/{FLAGS.num_runs}"
        stats = {"steps": 0, "seconds": 0.0}
        checkpoint_dir = _checkpoint_dir(run_dir, _command(task_name, source, opts))
        if train_feats is not None:
            stats = training.train(model, train_feats, loss, opts, strategy, writer, label,
                                   checkpoint_dir, FLAGS.save_every, FLAGS.debug_kill_at_step)
        t0 = time.time()
        if is_squad:
            result = {}
            if eval_data is not None:
                result = squad.predict_and_evaluate(
                    model, strategy, FLAGS.predict_file, *eval_data, vocab,
                    SQUAD_TASKS[task_name], run_dir, FLAGS.eval_batch_size, FLAGS.n_best_size,
                    FLAGS.max_answer_length, FLAGS.lower_case)
                result = {k: float(v) for k, v in result.items()
                          if "thresh" not in k and not k.endswith("total")}
        else:
            result = classification.evaluate(task, model, data, strategy, FLAGS.eval_batch_size)
            if FLAGS.predict_test:
                paths = classification.write_test_predictions(
                    task, model, data, strategy, FLAGS.eval_batch_size,
                    os.path.join(run_dir, "submission"))
                print(f"test predictions: {', '.join(paths)}", flush=True)
        stats["eval_seconds"] = time.time() - t0
        with writer.as_default(step=stats["steps"]):
            for k, v in result.items():
                tf.summary.scalar(f"eval/{k}", v)
        writer.flush()
        runs.append(result)
        train_stats.append(dict(stats, seed=seed))
        print(f"run {i} (seed {seed}): " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()),
              flush=True)
        summary = {"task": task_name, "init_checkpoint": FLAGS.init_checkpoint,
                   "model": source, "recipe": FLAGS.recipe, "options": vars(opts),
                   "runs": [dict(metrics=r, **s) for r, s in zip(runs, train_stats)],
                   "median": _median(runs) if runs and runs[0] else {}}
        with open(results_path, "w") as f:  # after every run: nothing lost on interrupt
            json.dump(summary, f, indent=2)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # the run is in results.json now
    if runs and runs[0]:
        table = _table(task_name, runs, _median(runs))
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
    from finetune.squad.data import SquadDataError
    from finetune.training import FinetuneError

    existed = bool(FLAGS.output_dir) and os.path.exists(FLAGS.output_dir)
    try:
        run()
    except (UsageError, ConfigError, VocabError, GlueDataError, CheckpointError,
            SquadDataError, FinetuneError) as e:
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
