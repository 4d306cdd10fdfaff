"""Micro-scale comparison of pre-training objectives at equal compute (CPU, bounded time).

For each objective: a short calibration run measures seconds per step, the step count is
set so every objective gets the same pre-training time, the model is pre-trained on
../shared/data/corpus, then fine-tuned on a real GLUE task with several seeds. Prints a
table (objective, steps, time, final MLM/RTD metrics, dev score median) to record in
benchmarks/RESULTS.md.

  python benchmarks/objectives_micro.py --objectives=electra,bert --seconds=300
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
# A micro model (not a paper size): 4 layers, hidden 128, embedding 64, generator 1/4.
MICRO = ["--size=small", "--config=embedding_size=64", "--config=hidden_size=128",
         "--config=num_layers=4", "--config=num_heads=2", "--config=intermediate_size=512"]
GLUE_DIRS = {"sst-2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "rte": "RTE"}


def sh(args, label, env_extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT, **(env_extra or {}))
    t0 = time.time()
    r = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True,
                       text=True)
    if r.returncode:
        sys.exit(f"{label} failed:\n{r.stderr[-3000:]}")
    return r.stdout, time.time() - t0


def last_metrics(stdout: str) -> dict:
    """The last progress line of a pre-training run, parsed."""
    lines = [l for l in stdout.splitlines() if l.startswith("step ")]
    m = re.search(r"loss ([\d.naninf]+)\s+mlm ([\d.nan]+) acc ([\d.nan]+)\s+disc ([\d.nan]+) "
                  r"auc ([\d.nan]+).*?([\d.]+) ex/s", lines[-1])
    keys = ("loss", "mlm_loss", "mlm_acc", "disc_loss", "disc_auc", "ex_per_s")
    return {k: float(v) for k, v in zip(keys, m.groups())}


def pretrain(objective, records, work, steps, batch, length, warmup, extra=(), log_every=50):
    model_dir = os.path.join(work, f"pt_{objective}_{steps}")
    args = (["-m", "electra_tf.pretrain", f"--data={records}", f"--model_dir={model_dir}",
             f"--objective={objective}", f"--train_steps={steps}", f"--batch_size={batch}",
             f"--max_seq_length={length}", f"--warmup_steps={warmup}",
             f"--log_every={max(1, min(log_every, steps))}", "--example_every=0",
             "--save_every=100000"]
            + MICRO + list(extra))
    shutil.rmtree(model_dir, ignore_errors=True)  # a stale dir would resume, not train
    out, seconds = sh(args, f"pre-train {objective}")
    with open(model_dir + ".log", "w") as f:  # the whole progress log, for the curves
        f.write(out)
    return model_dir, seconds, last_metrics(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objectives", default="electra,bert")
    p.add_argument("--seconds", type=float, default=300.0, help="pre-training time each")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--learning_rate", type=float, default=5e-4)
    p.add_argument("--task", default="sst-2", choices=sorted(GLUE_DIRS))
    p.add_argument("--max_train_examples", type=int, default=4000)
    p.add_argument("--finetune_epochs", type=float, default=2.0)
    p.add_argument("--finetune_length", type=int, default=64)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--work_dir", default="/tmp/electra_objectives_micro")
    a = p.parse_args()
    os.makedirs(a.work_dir, exist_ok=True)
    vocab = os.path.join(SHARED, "vocab", "vocab.txt")
    records = os.path.join(a.work_dir, f"records_{a.max_seq_length}")
    if not os.path.isdir(records):
        sh(["data_prep/build_tfrecords.py", "--corpus", os.path.join(SHARED, "corpus"),
            "--vocab", vocab, "--output", records, "--max_seq_length", str(a.max_seq_length),
            "--noprogress"], "data prep")
    lr = [f"--learning_rate={a.learning_rate}"]
    rows = []
    for obj in a.objectives.split(","):
        # calibration: throughput of steps 21-40 of a 40-step run (the first 20 include
        # graph building); whole-process times would count start-up, not compute
        _, _, calib = pretrain(obj, records, a.work_dir, 40, a.batch_size, a.max_seq_length, 1,
                               lr, log_every=20)
        per_step = a.batch_size / calib["ex_per_s"]
        steps = max(20, int(a.seconds / per_step))
        print(f"{obj}: {per_step:.2f} s/step -> {steps} steps", flush=True)
        model_dir, seconds, metrics = pretrain(obj, records, a.work_dir, steps, a.batch_size,
                                               a.max_seq_length, max(1, steps // 10), lr)
        out = os.path.join(a.work_dir, f"ft_{obj}_{a.task}")
        shutil.rmtree(out, ignore_errors=True)
        sh(["-m", "finetune.run", f"--task={a.task}",
            f"--data_dir={os.path.join(SHARED, 'glue', GLUE_DIRS[a.task])}",
            f"--init_checkpoint={model_dir}/discriminator", f"--output_dir={out}",
            f"--num_runs={a.seeds}", f"--epochs={a.finetune_epochs}",
            f"--max_seq_length={a.finetune_length}",
            f"--max_train_examples={a.max_train_examples}", "--noprogress"],
           f"fine-tune {obj}")
        res = json.load(open(os.path.join(out, "results.json")))
        key = next(iter(res["median"]))
        scores = [r["metrics"][key] for r in res["runs"]]
        rows.append((obj, steps, seconds, metrics, key, scores))
        print(f"{obj}: {key} runs {scores}", flush=True)
    print(f"\nPre-training {a.seconds:.0f} s of steps each (wall time below includes start-up "
          f"and graph building) (batch {a.batch_size} x {a.max_seq_length}, "
          f"micro model {' '.join(MICRO[1:])}); fine-tuning {a.task} "
          f"({a.max_train_examples} train examples, {a.finetune_epochs:g} epochs, length "
          f"{a.finetune_length}), {a.seeds} seeds\n")
    print("| objective | pre-train steps | steady ex/s | wall s | final MLM loss / acc | final "
          "RTD loss / AUC | dev " + rows[0][4] + " per seed | median |")
    print("|---|---|---|---|---|---|---|---|")
    for obj, steps, seconds, m, key, scores in rows:
        rtd = (f"{m['disc_loss']:.3f} / {m['disc_auc']:.3f}" if m["disc_loss"] == m["disc_loss"]
               else "-")
        print(f"| {obj} | {steps} | {m['ex_per_s']:.0f} | {seconds:.0f} | "
              f"{m['mlm_loss']:.3f} / {m['mlm_acc']:.3f} | "
              f"{rtd} | {', '.join(f'{s:.1f}' for s in scores)} | "
              f"**{statistics.median(scores):.1f}** |")


if __name__ == "__main__":
    main()
