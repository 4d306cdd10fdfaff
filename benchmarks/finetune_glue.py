"""One real GLUE task end to end on CPU: pre-train briefly, fine-tune, score; and the same
fine-tuning from random weights as the peer measured in the same run.

  python benchmarks/finetune_glue.py                       # RTE, ELECTRA-Small sizes
  python benchmarks/finetune_glue.py --task=mrpc --pretrain_steps=0 --init_checkpoint=DIR

Prints wall time and dev score of each and the score difference. Everything goes through the
user-facing CLIs (build_tfrecords, electra_tf.pretrain, finetune.run).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
DIRS = {"rte": "RTE", "mrpc": "MRPC", "cola": "CoLA", "sst-2": "SST-2"}


def sh(args, label):
    t0 = time.time()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{label} failed:\n{r.stderr[-3000:]}")
    seconds = time.time() - t0
    print(f"{label}: {seconds:.0f} s", flush=True)
    return seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="rte", choices=sorted(DIRS))
    p.add_argument("--size", default="small")
    p.add_argument("--work_dir", default="/tmp/electra_ft_bench")
    p.add_argument("--pretrain_steps", type=int, default=300)
    p.add_argument("--pretrain_batch", type=int, default=32)
    p.add_argument("--init_checkpoint", default=None, help="skip pre-training; use this")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--num_runs", type=int, default=1)
    a = p.parse_args()
    vocab = os.path.join(SHARED, "vocab", "vocab.txt")
    data_dir = os.path.join(SHARED, "glue", DIRS[a.task])
    os.makedirs(a.work_dir, exist_ok=True)
    times = {}
    ckpt = a.init_checkpoint
    if ckpt is None:
        records = os.path.join(a.work_dir, "records")
        if not os.path.isdir(records):
            times["prep"] = sh(["data_prep/build_tfrecords.py", "--corpus",
                                os.path.join(SHARED, "corpus"), "--vocab", vocab, "--output",
                                records, "--max_seq_length", str(a.max_seq_length),
                                "--noprogress"], "data prep")
        model_dir = os.path.join(a.work_dir, f"pretrain_{a.size}_{a.pretrain_steps}")
        if not os.path.isdir(os.path.join(model_dir, "discriminator")):
            times["pretrain"] = sh(
                ["-m", "electra_tf.pretrain", f"--size={a.size}", f"--data={records}",
                 f"--model_dir={model_dir}", f"--train_steps={a.pretrain_steps}",
                 f"--batch_size={a.pretrain_batch}",
                 f"--warmup_steps={max(1, a.pretrain_steps // 10)}",
                 f"--max_seq_length={a.max_seq_length}", "--log_every=50"],
                f"pre-train {a.size} {a.pretrain_steps} steps")
        ckpt = os.path.join(model_dir, "discriminator")
    common = ["-m", "finetune.run", f"--task={a.task}", f"--data_dir={data_dir}",
              f"--epochs={a.epochs}", f"--max_seq_length={a.max_seq_length}",
              f"--num_runs={a.num_runs}", "--noprogress"]
    results = {}
    for name, extra in (("pretrained", [f"--init_checkpoint={ckpt}"]),
                        ("random init", [f"--size={a.size}", f"--vocab={vocab}"])):
        out = os.path.join(a.work_dir, f"ft_{a.task}_{name.replace(' ', '_')}")
        shutil.rmtree(out, ignore_errors=True)  # results of an earlier run
        times[name] = sh(common + extra + [f"--output_dir={out}"], f"fine-tune ({name})")
        results[name] = json.load(open(os.path.join(out, "results.json")))
    key = next(iter(results["pretrained"]["median"]))
    print(f"\n| {a.task} ({a.size}, {a.epochs:g} epochs, length {a.max_seq_length}) | "
          f"fine-tune s | {key} (median of {a.num_runs}) |\n|---|---|---|")
    for name in results:
        print(f"| {name} | {times[name]:.0f} | {results[name]['median'][key]:.2f} |")
    diff = results["pretrained"]["median"][key] - results["random init"]["median"][key]
    print(f"\npre-trained minus random init: {diff:+.2f} points"
          + (f"; pre-training took {times['pretrain']:.0f} s" if "pretrain" in times else ""))


if __name__ == "__main__":
    main()
