"""Fine-tuning and evaluation speed on the real data: GLUE dev evaluation, GLUE training
batches and SQuAD prediction, ours against transformers (PyTorch CPU) and keras-hub, the
same weights and the same tokenized examples, in one run.

finetune_speed.py times full-length synthetic batches (the per-token speed); here the
examples are real, so what each stack does with padding counts:
  ours          finetune/training.py as `finetune.run` runs it: training batches cut to
                their longest example, prediction shortest-first in trimmed batches
                (finetune/batching.py); timed warm, and the first call (tracing and
                compiling) reported apart.
  ours, padded  the same code with the trimming and sorting switched off (the A/B).
  transformers  dynamic padding (each batch padded to its longest, dataset order):
                what `Trainer` does with its default `DataCollatorWithPadding`; and padded
                to max_seq_length, the default of transformers' run_glue.py example.
  keras-hub     ElectraBackbone + a dense head at max_seq_length: its preprocessors pad
                every example to `sequence_length`.
SQuAD: ours runs our SQuAD head (beam of 20 starts x 20 ends, as the original) and
its post-processing (timed apart); transformers' ElectraForQuestionAnswering (two
logits per position) and keras-hub's backbone + Dense(2) only run the encoder, so they
do less work than ours.

    python benchmarks/real_data_speed.py                  # SST-2, MRPC, SQuAD 1.1 (200 questions)
    python benchmarks/real_data_speed.py --tasks=sst-2 --squad_questions=0
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")  # --data_dir

import numpy as np  # noqa: E402

import finetune_speed as fs  # noqa: E402  (the peers' networks come from there)

GLUE_DIRS = {"sst-2": "SST-2", "mrpc": "MRPC", "cola": "CoLA", "rte": "RTE"}


def best_of(fn, repeats):
    """(seconds of the first call, best of `repeats` further calls)."""
    t = time.time()
    fn()
    first = time.time() - t
    times = []
    for _ in range(repeats):
        t = time.time()
        fn()
        times.append(time.time() - t)
    return first, min(times)


def chunks(features, batch, order=None):
    order = np.arange(len(features["token_ids"])) if order is None else order
    return [{k: v[order[i:i + batch]] for k, v in features.items()}
            for i in range(0, len(order), batch)]


def cut(batch, length=None):
    """The batch's token features cut to `length` (default: its longest example)."""
    length = length or int(batch["padding_mask"].sum(axis=1).max())
    return {k: v[:, :length] if v.ndim == 2 else v for k, v in batch.items()}


class Padded:
    """Switches our trimming and sorting off (the A/B's "padded" side)."""

    def __enter__(self):
        from finetune import batching

        self.saved = batching.trim, batching.length_order
        batching.trim = lambda b, min_length=1: b
        batching.length_order = lambda f: np.arange(len(f["token_ids"]))

    def __exit__(self, *exc):
        from finetune import batching

        batching.trim, batching.length_order = self.saved


# ---------------------------------------------------------------------- peers
def hf_predict(net, batches):
    import torch

    net.eval()
    with torch.inference_mode():
        for b in batches:
            net(input_ids=torch.from_numpy(b["token_ids"].astype(np.int64)),
                attention_mask=torch.from_numpy(b["padding_mask"].astype(np.int64)),
                token_type_ids=torch.from_numpy(b["segment_ids"].astype(np.int64)))


def hf_train_step(net):
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)

    def step(b):
        net.train()
        out = net(input_ids=torch.from_numpy(b["token_ids"].astype(np.int64)),
                  attention_mask=torch.from_numpy(b["padding_mask"].astype(np.int64)),
                  token_type_ids=torch.from_numpy(b["segment_ids"].astype(np.int64)),
                  labels=torch.from_numpy(b["label"].astype(np.int64)))
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    return step


def kh_feed(b):
    return {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask")}


# ---------------------------------------------------------------------- cases
def glue_case(task_name, enc, tokenizer, args, rows):
    import tensorflow as tf

    from finetune import batching, training
    from finetune.glue import classification
    from finetune.glue.tasks import get_task
    from finetune.model import classification_model

    task = get_task(task_name)
    data = classification.load(task, os.path.join(DATA, "glue", GLUE_DIRS[task_name]),
                               tokenizer, args.max_seq_length)
    dev = next(iter(data.evals.values()))
    n_dev = len(dev["token_ids"])
    lengths = dev["padding_mask"].sum(axis=1)
    print(f"{task_name} dev: {n_dev} examples, mean length {lengths.mean():.1f}, max "
          f"{lengths.max()} of {args.max_seq_length}", flush=True)
    strategy = tf.distribute.get_strategy()
    model = classification_model(enc, 2)
    eb = args.eval_batch

    # -- evaluation (examples/s over the whole dev set)
    t = {}
    t["ours"] = best_of(lambda: training.predict(model, dev, strategy, eb), args.repeats)
    with Padded():
        t["ours, padded"] = best_of(lambda: training.predict(model, dev, strategy, eb),
                                    args.repeats)
    net = fs.transformers_net(enc, model, args.threads)
    dyn = [cut(b) for b in chunks(dev, eb)]
    full = chunks(dev, eb)
    t["transformers, dynamic padding"] = best_of(lambda: hf_predict(net, dyn), args.repeats)
    t["transformers, max_length"] = best_of(lambda: hf_predict(net, full), args.repeats)
    kh = fs.keras_hub_net(enc, model)
    kh_full = [kh_feed(b) for b in full]
    t["keras-hub"] = best_of(lambda: [kh.predict_on_batch(b) for b in kh_full], args.repeats)
    report(f"{task_name} dev evaluation", "examples/s", n_dev, t, rows)

    # -- training: the same shuffled batches of real examples
    rng = np.random.default_rng(0)
    train = data.train
    idx = rng.permutation(len(train["token_ids"]))[:args.train_batch * args.train_steps]
    batches = chunks(train, args.train_batch, idx)
    print(f"{task_name} train batches: longest example per batch "
          f"{[int(b['padding_mask'].sum(1).max()) for b in batches]}", flush=True)
    t = {}
    opts = training.FinetuneOptions(learning_rate=1e-4, layer_decay=0.8, weight_decay=0.01,
                                    batch_size=args.train_batch)
    loss_fn = classification.loss_fn(task)
    for label, trim in (("ours", batching.trim), ("ours, padded", lambda b: b)):
        optimizer = training.make_optimizer(model, opts, total_steps=10_000)
        optimizer.build(model.trainable_variables)
        step = training.make_train_step(model, loss_fn, opts, strategy, optimizer)
        feeds = [trim({k: tf.constant(v) for k, v in b.items()}) for b in batches]
        t[label] = best_of(lambda: [float(step(b)) for b in feeds], args.repeats)
    net = fs.transformers_net(enc, model, args.threads)
    step = hf_train_step(net)
    for label, feeds in (("transformers, dynamic padding", [cut(b) for b in batches]),
                         ("transformers, max_length", batches)):
        t[label] = best_of(lambda: [step(b) for b in feeds], args.repeats)
    kh = fs.keras_hub_net(enc, model)
    kh_batches = [(kh_feed(b), b["label"]) for b in batches]
    t["keras-hub"] = best_of(lambda: [kh.train_on_batch(*b) for b in kh_batches], args.repeats)
    report(f"{task_name} training, {args.train_steps} batches of {args.train_batch}",
           "steps/s", args.train_steps, t, rows)


def squad_case(enc, tokenizer, args, rows):
    import tensorflow as tf

    from finetune import training
    from finetune.squad import data as squad_data
    from finetune.squad import postprocess
    from finetune.model import squad_model

    path = os.path.join(DATA, "squad", "dev-v1.1.json")
    examples, _ = squad_data.read_examples(path, False, False)
    examples = examples[:args.squad_questions]
    feats, infos = squad_data.featurize(examples, tokenizer, args.squad_length)
    n = len(feats["token_ids"])
    lengths = feats["padding_mask"].sum(axis=1)
    print(f"squad 1.1 dev: {len(examples)} questions, {n} windows, mean length "
          f"{lengths.mean():.1f} of {args.squad_length}", flush=True)
    strategy = tf.distribute.get_strategy()
    model = squad_model(enc, v2=False)
    eb = args.squad_batch
    t, results = {}, {}

    def ours():
        results.update(training.predict(model, feats, strategy, eb))
    t["ours (beam head)"] = best_of(ours, args.repeats)
    with Padded():
        t["ours (beam head), padded"] = best_of(ours, args.repeats)
    vocab = tokenizer.vocab
    post = best_of(lambda: postprocess.write_predictions(examples, infos, results, vocab,
                                                         False), args.repeats)
    net = fs.transformers_net(enc, model, args.threads, kind="squad")
    dyn = [cut(b) for b in chunks(feats, eb)]
    full = chunks(feats, eb)
    t["transformers (span head), dynamic padding"] = best_of(lambda: hf_predict(net, dyn),
                                                             args.repeats)
    t["transformers (span head), max_length"] = best_of(lambda: hf_predict(net, full),
                                                        args.repeats)
    kh = fs.keras_hub_net(enc, model, per_position=True)
    kh_full = [kh_feed(b) for b in full]
    t["keras-hub (span head)"] = best_of(lambda: [kh.predict_on_batch(b) for b in kh_full],
                                         args.repeats)
    report(f"squad 1.1 dev prediction ({n} windows)", "windows/s", n, t, rows)
    print(f"  our post-processing (n-best answers, text alignment): {post[1]:.2f} s, "
          f"{len(examples) / post[1]:.0f} questions/s", flush=True)


def report(title, unit, count, t, rows):
    ours = t[next(iter(t))][1]
    print(f"\n{title} ({unit}; first call in brackets):")
    for label, (first, best) in t.items():
        print(f"  {label:44s} {count / best:8.1f}   ({count / first:.1f})   "
              f"ours {best / ours:.2f}x", flush=True)
    rows.append((title, {label: best / ours for label, (_, best) in t.items()}))


def main():
    global DATA
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default=DATA, help="../shared/data: glue/, squad/, vocab/")
    p.add_argument("--size", default="small")
    p.add_argument("--tasks", default="sst-2,mrpc")
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--eval_batch", type=int, default=64, help="finetune.run's default")
    p.add_argument("--train_batch", type=int, default=32)
    p.add_argument("--train_steps", type=int, default=6)
    p.add_argument("--squad_questions", type=int, default=200)
    p.add_argument("--squad_length", type=int, default=512, help="finetune.run's default")
    p.add_argument("--squad_batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = p.parse_args()
    DATA = args.data_dir

    import warnings

    import tensorflow as tf
    import torch

    from electra_tf import tokenization
    from electra_tf.configs import get_config

    warnings.filterwarnings("ignore", message="Gradients do not exist")  # keras-hub's pooler
    print(f"machine: {os.cpu_count()} CPU cores; TF {tf.__version__}, torch "
          f"{torch.__version__} ({args.threads} threads); ELECTRA-{args.size}; best of "
          f"{args.repeats} passes after a first one", flush=True)
    enc = get_config(args.size).encoder
    tokenizer = tokenization.WordPieceTokenizer(os.path.join(DATA, "vocab", "vocab.txt"))
    rows = []
    for task in filter(None, args.tasks.split(",")):
        glue_case(task, enc, tokenizer, args, rows)
    if args.squad_questions:
        squad_case(enc, tokenizer, args, rows)
    print("\nsummary (each peer's time / ours: > 1 = ours faster):")
    for title, ratios in rows:
        print(f"| {title} | " + " | ".join(f"{k} {v:.2f}x" for k, v in
                                          list(ratios.items())[1:]) + " |")


if __name__ == "__main__":
    sys.exit(main())
