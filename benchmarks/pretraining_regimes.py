"""Where does pre-training the micro model pay? A factor study at one FLOP budget.

  python benchmarks/pretraining_regimes.py                  # the study, ~80 min on 2 cores
  python benchmarks/pretraining_regimes.py --curve          # then the curve, ~25 min
  python benchmarks/pretraining_regimes.py --runs="electra, glue text, 8k vocab"

Each run pre-trains the micro model of learning_curve.py (4 layers, hidden 128, embedding
64) at the same analytic training FLOPs (--budget_tflops, benchmarks/flops.py) and varies
one factor at a time from a base setting: the objective (ELECTRA / BERT), the corpus (the
bundled general text, or the unlabelled *train* sentences of the bundled GLUE tasks), the
vocabulary (BERT's 30,522, or 8,192 WordPieces learned from the pre-training corpus), the
peak learning rate and warm-up, for ELECTRA the generator's width and the RTD weight, and
(one run) the budget itself, 4x. Random init (the same initial weights, one step at learning rate 0) is a row of its own
for every vocabulary, since the vocabulary changes the model.

Every run is then measured three ways:
- fine-tuning on SST-2 (finetune.run; first 3,000 train rows, length 64, 2 epochs, lr 3e-4,
  no layer decay, 3 seeds), scored on a *selection split* (1,000 other SST-2 train rows
  of >= 8 words, never pre-trained on) and on the GLUE dev set. The dev set is given to
  finetune.run as an unlabelled test file, so its labels are only read here, to score;
- a frozen-feature linear probe: logistic regression on the encoder's mean-pooled and
  [CLS] vectors after every layer (embeddings included), same rows, same two scores;
- the representation: raw and mean-centred effective rank of every layer's token vectors
  on the held-out probe batch (shard 0 of the pre-training data, never trained on), and
  the pre-training scalars (MLM/RTD loss, AUC) over time.
Choices (the best regime, below) are made on the selection split only; dev is reported.
No GLUE dev sentence is in any pre-training corpus (checked, exact match).

--curve then takes the regime of the best pre-trained run (selection-split median), and
fine-tunes its ELECTRA and BERT runs at 1/8, 1/4, 1/2 and 1 of the budget (checkpoints on
each run's schedule) on SST-2 and --second_task, against random init.

State is WORK_DIR/regimes.json; every finished step is skipped when re-run, so an
interrupted study loses at most the step in progress. The table (WORK_DIR/regimes.md) is
rewritten after every step, and --json (benchmarks/pretraining_helps.json) holds every
row's per-seed dev scores keyed by run name, random init included.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]
from learning_curve import MICRO, ROOT, SHARED, log, read_scalars, sh  # noqa: E402

GLUE = os.path.join(SHARED, "glue")
VOCAB_SIZE = 8192
# the fine-tuning recipe of learning_curve.py, fixed before this study (not tuned here);
# MRPC without swap doubling, so that it costs what SST-2 does
FT_ARGS = ["--epochs=2", "--max_seq_length=64", "--learning_rate=3e-4", "--layer_decay=1.0",
           "--max_train_examples=3000"]
FRACTIONS = (0.125, 0.25, 0.5, 1.0)

# GLUE tasks: (folder, sentence columns, label column, header, metric, selection rows)
TASKS = {
    "sst-2": ("SST-2", (0,), 1, True, "accuracy", 1000),
    "mrpc": ("MRPC", (3, 4), 0, True, "accuracy", 600),
    "cola": ("CoLA", (3,), 1, False, "mcc", 1000),
}
TRAIN_ROWS = 3000  # the first rows of train.tsv fine-tune; the selection split comes after


def R(name, objective="electra", corpus="glue", vocab="8k", lr=5e-4, warmup=0.1, gen=0.25,
      rtd=50.0, budget=1.0):
    """One run's settings; `budget` multiplies --budget_tflops (the budget factor)."""
    return dict(name=name, objective=objective, corpus=corpus, vocab=vocab, lr=lr,
                warmup=warmup, gen=gen, rtd=rtd, budget=budget)


# In the order they run: the in-domain regime with a learned vocabulary and its BERT twin
# first, then one factor at a time (the factors of ELECTRA on the in-domain text with
# BERT's vocabulary, which fine-tunes better from random init than the learned 8k one).
RUNS = [
    R("random init, glue 8k", objective="random"),
    R("bert, glue text, 8k vocab", objective="bert"),
    R("electra, glue text, 8k vocab"),
    R("random init, bert vocab", objective="random", corpus="general", vocab="bert"),
    R("electra, general text, bert vocab", corpus="general", vocab="bert"),
    R("bert, glue text, bert vocab", objective="bert", vocab="bert"),
    R("electra, glue text, bert vocab", vocab="bert"),
    R("electra, glue bert, generator 1/8", vocab="bert", gen=0.125),
    R("electra, glue bert, rtd weight 10", vocab="bert", rtd=10.0),
    R("electra, glue bert, lr 2e-4", vocab="bert", lr=2e-4),
    R("electra, glue bert, lr 1e-4", vocab="bert", lr=1e-4),
    R("bert, general text, bert vocab", objective="bert", corpus="general", vocab="bert"),
    R("bert, glue bert, lr 2e-4", objective="bert", vocab="bert", lr=2e-4),
    R("electra, glue bert, warm-up 50%", vocab="bert", warmup=0.5),
    R("bert, glue bert, 4x budget", objective="bert", vocab="bert", budget=4.0),
    R("random init, general 8k", objective="random", corpus="general"),
    R("electra, general text, 8k vocab", corpus="general"),
]


def slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def read_rows(path, header):
    """(header row or None, rows) of a GLUE TSV, read as finetune.run reads it."""
    from finetune.glue.tasks import read_tsv

    rows = read_tsv(path)
    return (rows[0], rows[1:]) if header else (None, rows)


def write_rows(path, header, rows):
    """GLUE's layout: tab-joined fields, no quoting (as read_rows and finetune read them)."""
    with open(path, "w", encoding="utf-8") as f:
        for r in ([header] if header else []) + rows:
            f.write("\t".join(r) + "\n")


def task_split(task):
    """(train rows, selection rows, dev rows) of a task; the selection split: a fixed
    sample of the train rows after the first TRAIN_ROWS (SST-2: phrases of >= 8 words,
    closer to the dev sentences than its many short phrases)."""
    folder, cols, _, header, _, n = TASKS[task]
    _, train = read_rows(os.path.join(GLUE, folder, "train.tsv"), header)
    _, dev = read_rows(os.path.join(GLUE, folder, "dev.tsv"), header)
    rest = [r for r in train[TRAIN_ROWS:] if task != "sst-2" or len(r[0].split()) >= 8]
    selection = random.Random(0).sample(rest, min(n, len(rest)))
    return train[:TRAIN_ROWS], selection, dev


def finetune_dir(work, task):
    """A GLUE folder for finetune.run: train.tsv = the training rows, dev.tsv = the
    selection split, test.tsv = the real dev rows without labels (scored here)."""
    out = os.path.join(work, "glue", task)
    if os.path.isfile(os.path.join(out, "test.tsv")):
        return out
    folder, cols, label, header, _, _ = TASKS[task]
    head, _ = read_rows(os.path.join(GLUE, folder, "train.tsv"), header)
    train, selection, dev = task_split(task)
    os.makedirs(out, exist_ok=True)
    write_rows(os.path.join(out, "train.tsv"), head, train)
    write_rows(os.path.join(out, "dev.tsv"), head, selection)
    # the test layouts finetune/glue/tasks.py reads: index, then the sentence column(s)
    if task == "mrpc":
        test = [[str(i), r[1], r[2], r[3], r[4]] for i, r in enumerate(dev)]
        test_head = ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    else:
        test = [[str(i), r[cols[0]]] for i, r in enumerate(dev)]
        test_head = ["index", "sentence"]
    write_rows(os.path.join(out, "test.tsv"), test_head, test)
    return out


def glue_corpus(work):
    """The unlabelled train sentences of the bundled GLUE tasks, one per line, without
    any task's selection split; refuses to write one that holds a dev sentence."""
    path = os.path.join(work, "corpus_glue", "glue_train.txt")
    if os.path.isfile(path):
        return path
    held, lines = set(), []
    for task, (_, cols, _, _, _, _) in TASKS.items():
        _, selection, dev = task_split(task)
        held |= {r[c].strip() for rows in (selection, dev) for r in rows for c in cols}
    _, rte_dev = read_rows(os.path.join(GLUE, "RTE", "dev.tsv"), True)
    held |= {r[c].strip() for r in rte_dev for c in (1, 2)}
    sources = [(TASKS[t][0], TASKS[t][1], TASKS[t][3]) for t in TASKS] + [("RTE", (1, 2), True)]
    dropped = 0
    for folder, cols, header in sources:
        _, rows = read_rows(os.path.join(GLUE, folder, "train.tsv"), header)
        for r in rows:
            for c in cols:
                s = r[c].strip()
                if s in held:  # a dev sentence repeated in train (RTE, MRPC) or selection
                    dropped += 1
                elif s:
                    lines.append(s)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    log(f"glue corpus: {len(lines)} sentences, {sum(len(s.split()) for s in lines):,} words "
        f"({dropped} held-out sentences left out)")
    return path


def build_data(work, corpus, vocab):
    out = os.path.join(work, f"data_{corpus}_{vocab}")
    if not os.path.isfile(os.path.join(out, "metadata.json")):
        src = glue_corpus(work) if corpus == "glue" else os.path.join(SHARED, "corpus")
        v = (["--vocab", os.path.join(SHARED, "vocab", "vocab.txt")] if vocab == "bert"
             else [f"--build_vocab={VOCAB_SIZE}"])
        sh(["data_prep/build_tfrecords.py", "--corpus", src, "--output", out, "--num_shards=8",
            "--overwrite", "--noprogress"] + v, f"data prep {corpus}/{vocab}")
    meta = json.load(open(os.path.join(out, "metadata.json")))
    # shard 0 is held out: the probe batch; training reads the other 7
    return (os.path.join(out, "*-0000[1-7]-of-*.tfrecord"),
            os.path.join(out, "*-00000-of-*.tfrecord"), meta)


def run_config(run, vocab_size):
    from electra_tf.configs import get_config

    objective = "electra" if run["objective"] == "random" else run["objective"]
    return get_config("small", objective=objective, vocab_size=vocab_size,
                      generator_hidden_size=run["gen"], disc_weight=run["rtd"], **MICRO)


def pretrain(a, run, state):
    from flops import train_flops

    train_glob, probe, meta = build_data(a.work_dir, run["corpus"], run["vocab"])
    cfg = run_config(run, meta["vocab_size"])
    per_step = train_flops(cfg, a.batch_size, 128)
    random_init = run["objective"] == "random"
    budget = a.budget_tflops * 1e12 * run.get("budget", 1.0)
    steps = 1 if random_init else max(8, round(budget / per_step / 8) * 8)
    warmup = 1 if random_init else max(1, int(steps * run["warmup"]))
    model_dir = os.path.join(a.work_dir, "runs", slug(run["name"]))
    if not os.path.isdir(os.path.join(model_dir, "discriminator")):
        sh(["-m", "electra_tf.pretrain", "--size=small",
            f"--objective={'electra' if random_init else run['objective']}",
            f"--data={train_glob}", f"--probe_data={probe}", f"--model_dir={model_dir}",
            f"--train_steps={steps}", f"--warmup_steps={warmup}",
            f"--batch_size={a.batch_size}", f"--learning_rate={run['lr']}",
            f"--save_every={max(1, steps // 8)}", "--keep_checkpoints=50",
            f"--log_every={max(1, steps // 40)}", "--example_every=0", f"--seed={a.seed}",
            f"--config=generator_hidden_size={run['gen']}",
            f"--config=disc_weight={run['rtd']}"]
           + [f"--config={k}={v}" for k, v in MICRO.items()],
           f"pre-train {run['name']} ({steps} steps, warm-up {warmup})")
    scalars = read_scalars(model_dir)
    row = state["runs"].setdefault(run["name"], {})
    row.update(settings=run, steps=steps, flops=0 if random_init else per_step * steps,
               model_dir=model_dir, vocab=meta["vocab_file"], probe=probe,
               history={str(s): v for s, v in sorted(scalars.items())},
               final=scalars.get(steps, {}))
    return row


def checkpoint_of(row, frac):
    if row["steps"] == 1:
        return os.path.join(row["model_dir"], "discriminator")
    step = max(1, int(row["steps"] * frac))
    return os.path.join(row["model_dir"], "checkpoints", f"ckpt-{step}")


def finetune(a, row, frac, task):
    """[(selection score, dev score)] per seed, from finetune.run on finetune_dir."""
    from finetune.glue import metrics

    point = f"{frac:g}"
    out = os.path.join(a.work_dir, "ft", slug(row["settings"]["name"]), point, task)
    data_dir = finetune_dir(a.work_dir, task)
    results = os.path.join(out, "results.json")
    if not os.path.isfile(results) or len(json.load(open(results))["runs"]) < a.seeds:
        sh(["-m", "finetune.run", f"--task={task}", f"--data_dir={data_dir}",
            f"--init_checkpoint={checkpoint_of(row, frac)}", f"--vocab={row['vocab']}",
            f"--output_dir={out}", f"--num_runs={a.seeds}", "--seed=0", "--predict_test",
            "--noprogress"] + FT_ARGS + (["--noswap_doubling"] if task == "mrpc" else []), f"fine-tune {task}: {row['settings']['name']} @{point}")
    folder, _, label, header, metric, _ = TASKS[task]
    _, _, dev = task_split(task)
    gold = [int(r[label]) for r in dev]
    res = json.load(open(results))
    scores = []
    for i, r in enumerate(res["runs"][:a.seeds]):
        sub = os.path.join(out, f"run_{i}", "submission", f"{folder}.tsv")
        _, pred_rows = read_rows(sub, True)
        preds = [int(p[1]) for p in pred_rows]
        dev_score = metrics.compute([metric], gold, preds)[metric]
        scores.append((r["metrics"][f"dev/{metric}"], dev_score))
    return scores


def probe(a, row, frac):
    """Linear probe (mean-pooled and [CLS], every layer) on SST-2, and each layer's raw and
    mean-centred effective rank on the held-out pre-training batch."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from electra_tf import representation, tokenization
    from finetune.glue import features
    from finetune.glue import tasks as glue
    from finetune.model import classification_model, load_config, load_pretrained, \
        resolve_checkpoint

    ckpt = checkpoint_of(row, frac)
    config = load_config(resolve_checkpoint(ckpt)[1])
    model = classification_model(config, 2)
    load_pretrained(model, ckpt)
    backbone = model.backbone

    def layers(ids, mask, seg):
        x = backbone.embeddings(ids, seg, training=False)
        if backbone.embeddings_projection is not None:
            x = backbone.embeddings_projection(x)
        out = [x]
        for block in backbone.transformer_layers:
            x = block(x, padding_mask=mask, training=False)
            out.append(x)
        return [np.asarray(h) for h in out]

    tok = tokenization.WordPieceTokenizer(row["vocab"])
    sets = {}
    for name, rows in zip(("train", "selection", "dev"), task_split("sst-2")):
        ex = [glue.Example(str(i), r[0], None, int(r[1])) for i, r in enumerate(rows)]
        f = features.featurize(ex, tok, 64)
        feats = {}
        for start in range(0, len(ex), 256):
            sl = slice(start, start + 256)
            m = f["padding_mask"][sl]
            for li, h in enumerate(layers(f["token_ids"][sl], m, f["segment_ids"][sl])):
                mean = (h * m[..., None]).sum(1) / m.sum(1, keepdims=True)
                feats.setdefault(("mean", li), []).append(mean)
                feats.setdefault(("cls", li), []).append(h[:, 0])
        sets[name] = ({k: np.concatenate(v) for k, v in feats.items()}, f["label"])
    out = {}
    for key in sets["train"][0]:
        scaler = StandardScaler().fit(sets["train"][0][key])
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(
            scaler.transform(sets["train"][0][key]), sets["train"][1])
        out[f"{key[0]}{key[1]}"] = [
            100.0 * clf.score(scaler.transform(sets[s][0][key]), sets[s][1])
            for s in ("selection", "dev")]
    batch = representation.probe_batch(row["probe"], 128)
    ranks = []
    for h in layers(batch["input_ids"], batch["input_mask"], batch["segment_ids"]):
        v = representation.token_vectors(h, batch["input_mask"])
        ranks.append([representation.effective_rank(v),
                      representation.effective_rank(v - v.mean(0))])
    return {"scores": out, "ranks": ranks}


class Study:
    def __init__(self, a):
        self.a = a
        self.path = os.path.join(a.work_dir, "regimes.json")
        self.state = (json.load(open(self.path)) if os.path.isfile(self.path)
                      else {"runs": {}})

    def save(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(self.path + ".tmp", self.path)
        with open(os.path.join(self.a.work_dir, "regimes.md"), "w") as f:
            f.write(self.table() + "\n\n" + self.curve_table() + "\n")
        self.write_json()
        self.plot()

    def table(self) -> str:
        head = ("| run | steps | TFLOPs | MLM loss / acc | RTD loss / AUC | rank last layer "
                "raw / centred | probe: best layer (selection) -> selection / dev | "
                "SST-2 selection per seed | median | SST-2 dev per seed | median |")
        lines = [head, "|---" * 10 + "|"]
        for name, row in self.state["runs"].items():
            s = row.get("final", {})

            def f(key, fmt):
                v = s.get(key)
                return "-" if v is None or v != v else format(v, fmt)
            pr = row.get("points", {}).get("1", {}).get("probe")
            probe_cell = rank_cell = "-"
            if pr:
                best = max(pr["scores"], key=lambda k: pr["scores"][k][0])
                probe_cell = (f"{best} -> {pr['scores'][best][0]:.1f} / "
                              f"{pr['scores'][best][1]:.1f}")
                rank_cell = f"{pr['ranks'][-1][0]:.1f} / {pr['ranks'][-1][1]:.1f}"
            ft = row.get("points", {}).get("1", {}).get("sst-2")
            cells = [name, str(row["steps"]), f"{row['flops'] / 1e12:.1f}",
                     f"{f('mlm_loss', '.2f')} / {f('mlm_accuracy', '.3f')}",
                     f"{f('disc_loss', '.3f')} / {f('disc_auc', '.3f')}", rank_cell, probe_cell]
            for j in (0, 1):
                cells += ([", ".join(f"{x[j]:.1f}" for x in ft),
                           f"**{statistics.median(x[j] for x in ft):.1f}**"] if ft
                          else ["-", "-"])
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def curve_table(self) -> str:
        c = self.state.get("curve")
        if not c:
            return ""
        tasks = c["tasks"]
        lines = [f"Learning curve of the regime of '{c['best']}' (chosen on the SST-2 "
                 f"selection split):", "",
                 "| run | point | TFLOPs | " + " | ".join(
                     f"{t} dev per seed | median" for t in tasks) + " |",
                 "|---" * (3 + 2 * len(tasks)) + "|"]
        for name in c["runs"]:
            row = self.state["runs"][name]
            for frac in ([1.0] if row["steps"] == 1 else FRACTIONS):
                pt = row.get("points", {}).get(f"{frac:g}", {})
                cells = [name, "init" if row["steps"] == 1 else f"{frac:g}",
                         f"{row['flops'] * frac / 1e12:.1f}"]
                for t in tasks:
                    sc = pt.get(t)
                    cells += ([", ".join(f"{x[1]:.1f}" for x in sc),
                               f"**{statistics.median(x[1] for x in sc):.1f}**"] if sc
                              else ["-", "-"])
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def plot(self):
        """The curve: dev median (bars: the seeds' range) against pre-training FLOPs."""
        c = self.state.get("curve")
        if not c or not self.a.plot:
            return
        import matplotlib
        import matplotlib.ticker
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(c["tasks"]), figsize=(5.5 * len(c["tasks"]), 4),
                                 squeeze=False)
        for ax, task in zip(axes[0], c["tasks"]):
            for name in c["runs"]:
                row = self.state["runs"][name]
                pts = [(row["flops"] * float(k) / 1e12, [x[1] for x in pt[task]])
                       for k, pt in row.get("points", {}).items() if task in pt]
                if not pts:
                    continue
                if row["steps"] == 1:
                    lo, hi = min(pts[0][1]), max(pts[0][1])
                    ax.axhspan(lo, hi, color="gray", alpha=0.2)
                    ax.axhline(statistics.median(pts[0][1]), color="gray", linestyle="--",
                               label=f"{name} (band: seeds)")
                    continue
                pts.sort()
                xs = [x for x, _ in pts]
                med = [statistics.median(v) for _, v in pts]
                err = [[m - min(v) for m, (_, v) in zip(med, pts)],
                       [max(v) - m for m, (_, v) in zip(med, pts)]]
                ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=name)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("pre-training FLOPs (analytic, TFLOPs)")
            ax.set_ylabel(f"{task} dev (median of {self.a.seeds} seeds; bars: range)")
            ax.set_title(task)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.suptitle(f"Micro model, regime of '{c['best']}'", fontsize=9)
        fig.tight_layout()
        fig.savefig(self.a.plot, dpi=100)
        plt.close(fig)

    def write_json(self):
        if not self.a.json:
            return
        out = {"about": "per-seed GLUE dev scores (and selection-split scores) of "
                        "benchmarks/pretraining_regimes.py; keys: run name, and "
                        "'run name@fraction' for learning-curve points",
               "budget_tflops": self.a.budget_tflops, "runs": {}}
        for name, row in self.state["runs"].items():
            for point, pt in row.get("points", {}).items():
                key = ("random_init" if name == self.state.get("curve", {}).get("random")
                       and point == "1" else name if point == "1" else f"{name}@{point}")
                entry = out["runs"].setdefault(key, {"settings": row["settings"],
                                                     "steps": row["steps"],
                                                     "flops": row["flops"] * float(point)})
                for t in TASKS:
                    if t in pt:
                        entry[t] = {"dev": [x[1] for x in pt[t]],
                                    "selection": [x[0] for x in pt[t]]}
                if "probe" in pt:
                    entry["probe"] = pt["probe"]
                if key == "random_init":
                    out["runs"].setdefault(name, entry)
        out["verdict"] = verdict(out)
        with open(self.a.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


def same_model(a, b) -> bool:
    """Two rows of one architecture and vocabulary (an 8k vocab is the corpus's own)."""
    return a["vocab"] == b["vocab"] and (a["vocab"] == "bert" or a["corpus"] == b["corpus"])


def verdict(results: dict) -> dict:
    """For every pre-trained row and task: does its worst dev seed beat the best seed of
    random init of the same model (vocabulary)? {key: {task: [worst, random best, bool]}}."""
    rows = results["runs"]
    randoms = {k: r for k, r in rows.items() if r["settings"]["objective"] == "random"}
    out = {}
    for key, row in rows.items():
        if row["settings"]["objective"] == "random":
            continue
        base = next((r for r in randoms.values() if same_model(r["settings"],
                                                                row["settings"])), None)
        for task in TASKS:
            if base and task in row and task in base:
                worst, best = min(row[task]["dev"]), max(base[task]["dev"])
                out.setdefault(key, {})[task] = [worst, best, worst > best]
    return out


def check(path) -> int:
    """Prints the rows whose every dev seed beats random init's best; 0 if there is one."""
    v = verdict(json.load(open(path)))
    wins = [(k, t, w, b) for k, ts in v.items() for t, (w, b, ok) in ts.items() if ok]
    for k, t, w, b in wins:
        print(f"{k}: {t} worst seed {w:.1f} > random init's best {b:.1f}")
    if not wins:
        print(f"no pre-trained row's worst dev seed beats random init's best seed "
              f"({sum(len(ts) for ts in v.values())} row/task pairs in {path})")
    return 0 if wins else 1


def measure(a, study, row, frac, tasks, with_probe):
    pt = row.setdefault("points", {}).setdefault(f"{frac:g}", {})
    for t in tasks:
        if t not in pt:
            pt[t] = finetune(a, row, frac, t)
            study.save()
    if with_probe and "probe" not in pt:
        t0 = time.time()
        pt["probe"] = probe(a, row, frac)
        log(f"probe {row['settings']['name']} @{frac:g}: {time.time() - t0:.0f} s")
        study.save()


def curve(a, study):
    runs = study.state["runs"]

    def sel(name):
        ft = runs[name].get("points", {}).get("1", {}).get("sst-2")
        return statistics.median(x[0] for x in ft) if ft else float("-inf")
    trained = [n for n in runs if runs[n]["settings"]["objective"] != "random"]
    best = max(trained, key=sel)
    s = runs[best]["settings"]
    same = lambda r: all(r.get(k, 1.0) == s.get(k, 1.0)  # noqa: E731
                         for k in ("corpus", "vocab", "lr", "warmup", "budget"))
    twins = {obj: next((r["name"] for r in RUNS if r["objective"] == obj and same(r)
                        and (obj != "electra" or (r["gen"], r["rtd"]) == (0.25, 50.0))), None)
             for obj in ("electra", "bert")}
    if s["objective"] == "electra":
        twins["electra"] = best
    rand = next(r["name"] for r in RUNS if r["objective"] == "random" and same_model(r, s))
    names = [n for n in (twins["electra"], twins["bert"], rand) if n]
    tasks = ["sst-2", a.second_task]
    study.state["curve"] = {"best": best, "runs": names, "tasks": tasks, "random": rand}
    log(f"best regime: {best}; curve of {names}")
    for name in names:
        run = next(r for r in RUNS if r["name"] == name)
        row = pretrain(a, run, study.state) if name not in runs or "steps" not in runs[name] \
            else runs[name]
        for frac in ([1.0] if row["steps"] == 1 else FRACTIONS):
            measure(a, study, row, frac, tasks, with_probe=False)
    study.save()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget_tflops", type=float, default=12.0,
                   help="analytic training FLOPs of every pre-training run")
    p.add_argument("--runs", default="", help="';'-separated run names (default: all)")
    p.add_argument("--curve", action="store_true", help="the best regime's learning curve")
    p.add_argument("--second_task", default="mrpc", choices=[t for t in TASKS if t != "sst-2"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work_dir", default="/tmp/electra_regimes")
    p.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "pretraining_helps.json"))
    p.add_argument("--plot", default=os.path.join(ROOT, "benchmarks", "pretraining_regimes.png"))
    p.add_argument("--check", action="store_true",
                   help="only read --json: exit 0 if some pre-trained row's worst dev seed "
                        "beats the best seed of random init of the same vocabulary")
    a = p.parse_args()
    if a.check:
        sys.exit(check(a.json))
    os.makedirs(a.work_dir, exist_ok=True)
    t0 = time.time()
    study = Study(a)
    wanted = [n.strip() for n in a.runs.split(";") if n.strip()]
    unknown = set(wanted) - {r["name"] for r in RUNS}
    if unknown:
        sys.exit(f"error: unknown --runs {sorted(unknown)}; the runs are: "
                 + "; ".join(r["name"] for r in RUNS))
    if not a.curve:
        for run in RUNS:
            if wanted and run["name"] not in wanted:
                continue
            row = pretrain(a, run, study.state)
            study.save()
            measure(a, study, row, 1.0, ["sst-2"], with_probe=True)
        print("\n" + study.table())
    else:
        curve(a, study)
        print("\n" + study.curve_table())
    log(f"done in {(time.time() - t0) / 60:.0f} min")


if __name__ == "__main__":
    main()
