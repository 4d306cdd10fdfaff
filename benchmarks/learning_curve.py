"""Does pre-training help? ELECTRA vs BERT vs random init, fine-tuned, along the budget.

  python benchmarks/learning_curve.py                 # ~75 min on 2 CPU cores
  python benchmarks/learning_curve.py --hours=4       # a 3.2x larger pre-training budget

A micro model (4 layers, hidden 128, embedding 64, 2 heads, FFN 512, length 128; ELECTRA's
generator 1/4 wide) pre-trains on the bundled corpus with --objective=electra and
--objective=bert at equal analytic training FLOPs (benchmarks/flops.py), keeping a
checkpoint at 1/8, 1/4, 1/2 and all of the budget (one run per objective: the points
are on its learning-rate schedule, not separately annealed runs). Every point, and
random init (the same initial weights), is fine-tuned on GLUE tasks with several seeds;
the fine-tuning learning rate and layer decay are picked once, by a small sweep on SST-2
from the two final checkpoints, and applied to every row. A third run, ELECTRA with a
long warm-up (half the run instead of 10%), tests whether the representation collapse
is a warm-up effect; its final point is fine-tuned too.

The discriminator's (BERT: the MLM encoder's) effective rank and token-pair cosine on a
held-out batch (pretrain --probe_data: shard 0 of the built data, never trained on)
are logged during pre-training and tabulated at every point. The table is rewritten
after every finished point (WORK_DIR/learning_curve.md, .json) and every step is
skipped when its output exists, so an interrupted run loses at most the step in
progress: re-run the same command. At the end: the table, and a plot (--plot).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), ROOT]
MICRO = {"embedding_size": 64, "hidden_size": 128, "num_layers": 4, "num_heads": 2,
         "intermediate_size": 512}
GLUE_DIRS = {"sst-2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "rte": "RTE"}
FRACTIONS = (0.125, 0.25, 0.5, 1.0)
ELECTRA_STEPS_PER_HOUR = 1280  # the default 1.25 h -> 1,600 ELECTRA steps of batch 32
SWEEP = ((1e-4, 0.8), (3e-4, 0.8), (1e-4, 1.0), (3e-4, 1.0))  # (lr, layer decay)
SCALARS = ("mlm_loss", "mlm_accuracy", "sampled_mlm_accuracy", "disc_loss", "disc_auc",
           "replaced_fraction", "effective_rank", "token_cosine", "examples_per_second")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(args, label):
    env = dict(os.environ, PYTHONPATH=ROOT)
    t0 = time.time()
    r = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True,
                       text=True)
    if r.returncode:
        sys.exit(f"{label} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    log(f"{label}: {time.time() - t0:.0f} s")
    return r.stdout


def micro_config(objective):
    from electra_tf.configs import get_config

    return get_config("small", objective=objective, **MICRO)


def read_scalars(model_dir) -> dict[int, dict[str, float]]:
    """{step: {tag: value}} from a pre-training run's TensorBoard events."""
    import tensorflow as tf

    out = {}
    for path in sorted(glob.glob(os.path.join(model_dir, "events.out.tfevents.*"))):
        for ev in tf.compat.v1.train.summary_iterator(path):
            for v in ev.summary.value:
                if v.tag in SCALARS + ("loss", "learning_rate"):
                    out.setdefault(ev.step, {})[v.tag] = float(tf.make_ndarray(v.tensor))
    return out


class Curve:
    """The runs' state and table: WORK_DIR/learning_curve.json (.md)."""

    def __init__(self, a):
        self.a = a
        self.path = os.path.join(a.work_dir, "learning_curve.json")
        self.state = (json.load(open(self.path)) if os.path.isfile(self.path)
                      else {"runs": {}, "points": {}, "sweep": {}})

    def save(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(self.path + ".tmp", self.path)
        with open(os.path.join(self.a.work_dir, "learning_curve.md"), "w") as f:
            f.write(self.table() + "\n")
        if self.a.plot:
            self.plot()

    def table(self) -> str:
        a, tasks = self.a, self.a.tasks.split(",")
        head = ("| run | point | step | pre-train GFLOPs | train s | MLM loss / acc | "
                "sampled acc | replaced | RTD loss / AUC | eff. rank | token cos | "
                + " | ".join(f"{t} dev per seed | {t} median" for t in tasks) + " |")
        lines = [head, "|---" * (11 + 2 * len(tasks)) + "|"]
        for key, p in self.state["points"].items():
            s = p["scalars"]

            def f(name, fmt):
                v = s.get(name)
                return "-" if v is None or v != v else format(v, fmt)
            cells = [p["run"], p["point"], str(p["step"]), f"{p['flops'] / 1e9:,.0f}",
                     f"{p['train_s']:.0f}", f"{f('mlm_loss', '.3f')} / {f('mlm_accuracy', '.3f')}",
                     f("sampled_mlm_accuracy", ".3f"), f("replaced_fraction", ".3f"),
                     f"{f('disc_loss', '.3f')} / {f('disc_auc', '.3f')}",
                     f("effective_rank", ".1f"), f("token_cosine", ".3f")]
            for t in tasks:
                scores = p.get("finetune", {}).get(t)
                cells += ([", ".join(f"{x:.1f}" for x in scores),
                           f"**{statistics.median(scores):.1f}**"] if scores else ["-", "-"])
            lines.append("| " + " | ".join(cells) + " |")
        sweep = self.state.get("sweep", {})
        if sweep.get("given"):
            lines.append(f"\nFine-tuning: lr {sweep['chosen'][0]:g}, layer decay "
                         f"{sweep['chosen'][1]:g} (given)")
        elif sweep.get("chosen"):
            lines.append(f"\nFine-tuning: lr {sweep['chosen'][0]:g}, layer decay "
                         f"{sweep['chosen'][1]:g} (sweep on sst-2, seed {a.seed}, mean of the "
                         f"final ELECTRA and BERT points: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in sweep["scores"].items()) + ")")
        return "\n".join(lines)

    def plot(self):
        try:
            import matplotlib
            import matplotlib.ticker
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return
        tasks = self.a.tasks.split(",")
        fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            by_run = {}
            for p in self.state["points"].values():
                scores = p.get("finetune", {}).get(task)
                if scores:
                    by_run.setdefault(p["run"], []).append((p["flops"],
                                                            statistics.median(scores)))
            for run, pts in sorted(by_run.items()):
                pts.sort()
                if run == "random init":
                    ax.axhline(pts[0][1], color="gray", linestyle="--", label=run)
                else:
                    ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=run)
            ys = [y for pts in by_run.values() for _, y in pts]
            if ys:  # axhline does not widen the axis: keep random init in view
                ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("pre-training FLOPs (analytic)")
            ax.set_ylabel(f"{task} dev (median of {self.a.seeds} seeds)")
            ax.set_title(task)
            ax.legend(fontsize=8)
        fig.suptitle("Micro model (4 layers, hidden 128) pre-trained on the bundled corpus")
        fig.tight_layout()
        fig.savefig(self.a.plot, dpi=100)
        plt.close(fig)


def build_data(a):
    records = os.path.join(a.work_dir, "records")
    if not os.path.isfile(os.path.join(records, "metadata.json")):
        sh(["data_prep/build_tfrecords.py", "--corpus", os.path.join(SHARED, "corpus"),
            "--vocab", os.path.join(SHARED, "vocab", "vocab.txt"), "--output", records,
            "--num_shards=8", "--overwrite", "--noprogress"], "data prep")
    shards = sorted(glob.glob(os.path.join(records, "*.tfrecord")))
    # shard 0 is held out: the probe batch; training reads the other 7
    return os.path.join(records, "*-0000[1-7]-of-*.tfrecord"), shards[0]


def pretrain(a, curve, name, objective, steps, warmup, train_glob, probe):
    """One pre-training run with a checkpoint at every FRACTIONS point; resumes if cut."""
    model_dir = os.path.join(a.work_dir, name.replace(" ", "_").replace("%", "pct"))
    if not os.path.isdir(os.path.join(model_dir, "discriminator")):
        micro = [f"--config={k}={v}" for k, v in MICRO.items()]
        sh(["-m", "electra_tf.pretrain", "--size=small", f"--objective={objective}",
            f"--data={train_glob}", f"--probe_data={probe}", f"--model_dir={model_dir}",
            f"--train_steps={steps}", f"--warmup_steps={warmup}",
            f"--batch_size={a.batch_size}", f"--learning_rate={a.learning_rate}",
            f"--save_every={max(1, steps // 8)}", "--keep_checkpoints=50",
            f"--log_every={max(1, steps // 40)}", "--example_every=0", f"--seed={a.seed}"]
           + micro, f"pre-train {name} ({steps} steps, warm-up {warmup})")
    scalars = read_scalars(model_dir)
    cfg = micro_config(objective)
    from flops import train_flops
    per_step = train_flops(cfg, a.batch_size, cfg.pretraining.max_seq_length)
    fractions = FRACTIONS if steps > 1 else (1.0,)
    for frac in fractions:
        step = max(1, int(steps * frac))
        key = f"{name}@{step}"
        # training time to this step (no start-up, no graph building): the log intervals'
        # examples over their throughput
        logged = sorted(s for s in scalars if s <= step)
        train_s, prev = 0.0, 0
        for s in logged:
            train_s += (s - prev) * a.batch_size / scalars[s]["examples_per_second"]
            prev = s
        point = curve.state["points"].setdefault(key, {})
        point.update(run=name, point=("init" if steps == 1 else f"{frac:g}"), step=step,
                     flops=0 if steps == 1 else per_step * step, train_s=train_s,
                     scalars=scalars.get(step, {}),
                     checkpoint=os.path.join(model_dir, "checkpoints", f"ckpt-{step}"))
        if steps == 1:  # random init: one step at learning rate 0 leaves the weights as drawn
            point.update(checkpoint=os.path.join(model_dir, "discriminator"), train_s=0.0)
    curve.save()
    return model_dir


def finetune(a, checkpoint, task, out, seeds, extra=()):
    if not os.path.isfile(os.path.join(out, "results.json")) or \
            len(json.load(open(os.path.join(out, "results.json")))["runs"]) < seeds:
        sh(["-m", "finetune.run", f"--task={task}",
            f"--data_dir={os.path.join(SHARED, 'glue', GLUE_DIRS[task])}",
            f"--init_checkpoint={checkpoint}", f"--output_dir={out}", f"--num_runs={seeds}",
            f"--seed={a.seed}", f"--epochs={a.finetune_epochs}",
            f"--max_seq_length={a.finetune_length}",
            f"--max_train_examples={a.max_train_examples}", "--noprogress"] + list(extra),
           f"fine-tune {task} from {os.path.relpath(checkpoint, a.work_dir)}")
    res = json.load(open(os.path.join(out, "results.json")))
    key = next(iter(res["median"]))  # the task's main metric (accuracy, MCC)
    return [r["metrics"][key] for r in res["runs"]]


def sweep(a, curve, finals):
    s = curve.state["sweep"]
    if s.get("chosen"):
        return s["chosen"]
    scores = {}
    for lr, decay in SWEEP:
        runs = []
        for name, ckpt in finals:
            out = os.path.join(a.work_dir, "sweep", f"{name}_lr{lr:g}_decay{decay:g}")
            runs += finetune(a, ckpt, "sst-2", out, 1,
                             [f"--learning_rate={lr}", f"--layer_decay={decay}"])
        scores[f"lr {lr:g} decay {decay:g}"] = statistics.mean(runs)
        log(f"sweep lr {lr:g} decay {decay:g}: {runs}")
    best = max(SWEEP, key=lambda c: scores[f"lr {c[0]:g} decay {c[1]:g}"])
    s.update(chosen=list(best), scores=scores)
    curve.save()
    return best


def fine_tune_points(a, curve, keys, extra):
    for key in keys:
        pt = curve.state["points"][key]
        for task in a.tasks.split(","):
            if task in pt.get("finetune", {}):
                continue
            out = os.path.join(a.work_dir, "ft", key.replace(" ", "_").replace(",", "")
                               .replace("%", "pct").replace("@", "_") + f"_{task}")
            pt.setdefault("finetune", {})[task] = finetune(a, pt["checkpoint"], task, out,
                                                           a.seeds, extra)
            curve.save()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=1.25,
                   help="scales the pre-training budget (1.25: the whole run ~75 min on 2 "
                        "cores; fine-tuning, ~30 min of it, does not scale)")
    p.add_argument("--tasks", default="sst-2,cola")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=5e-4)
    p.add_argument("--max_train_examples", type=int, default=3000)
    p.add_argument("--finetune_epochs", type=float, default=2.0)
    p.add_argument("--finetune_length", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--finetune_lr", type=float, default=None,
                   help="with --layer_decay: use these instead of the sweep")
    p.add_argument("--layer_decay", type=float, default=None)
    p.add_argument("--long_warmup", type=float, default=0.5,
                   help="warm-up fraction of the extra ELECTRA run (0: skip it)")
    p.add_argument("--work_dir", default="/tmp/electra_learning_curve")
    p.add_argument("--plot", default=os.path.join(ROOT, "benchmarks", "learning_curve.png"))
    a = p.parse_args()
    os.makedirs(a.work_dir, exist_ok=True)
    from flops import train_flops

    t0 = time.time()
    curve = Curve(a)
    train_glob, probe = build_data(a)
    electra_steps = max(80, round(ELECTRA_STEPS_PER_HOUR * a.hours / 40) * 40)
    e_cfg, b_cfg = micro_config("electra"), micro_config("bert")
    budget = train_flops(e_cfg, a.batch_size, 128) * electra_steps
    bert_steps = round(budget / train_flops(b_cfg, a.batch_size, 128) / 40) * 40
    log(f"budget {budget / 1e12:.1f} TFLOPs: ELECTRA {electra_steps} steps, BERT "
        f"{bert_steps} steps of batch {a.batch_size} x 128")
    runs = [("electra", "electra", electra_steps, electra_steps // 10),
            ("bert", "bert", bert_steps, bert_steps // 10),
            ("random init", "electra", 1, 1)]
    for name, objective, steps, warmup in runs:
        pretrain(a, curve, name, objective, steps, warmup, train_glob, probe)
    points = curve.state["points"]
    finals = [(n, points[f"{n}@{s}"]["checkpoint"]) for n, _, s, _ in runs[:2]]
    if a.finetune_lr and a.layer_decay:
        lr, decay = a.finetune_lr, a.layer_decay
        curve.state["sweep"] = {"chosen": [lr, decay], "scores": {}, "given": True}
    else:
        lr, decay = sweep(a, curve, finals)
    extra = [f"--learning_rate={lr}", f"--layer_decay={decay}"]
    long_name = f"electra, warm-up {a.long_warmup:.0%}"
    fine_tune_points(a, curve, [k for k in points if points[k]["run"] != long_name], extra)
    if a.long_warmup > 0:  # after the main curves, which matter more
        pretrain(a, curve, long_name, "electra", electra_steps,
                 int(electra_steps * a.long_warmup), train_glob, probe)
        fine_tune_points(a, curve, [f"{long_name}@{electra_steps}"], extra)
    print("\n" + curve.table())
    log(f"done in {(time.time() - t0) / 60:.0f} min")


if __name__ == "__main__":
    main()
