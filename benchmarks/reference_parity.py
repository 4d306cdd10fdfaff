"""Our pre-training against the independent PyTorch reference (tests/reference/), two ways:

1. Trajectory: a micro model (4 layers, hidden 128, embedding 64, 2 heads, FFN 512,
   length 128, generator 1/4 wide) trained `--steps` steps on the bundled corpus by ours,
   the reference in float32 and the reference in float64, from the same initial weights,
   on the same corruption stream (our masking and generator samples are the references'
   inputs), dropout off. Prints the losses side by side every `--log_every` steps and the
   deviations of ours and of the float32 reference from the float64 one (the control:
   two float32 trajectories of the same maths drift apart by rounding alone); then the
   effective rank and token-pair cosine of ours' and the float64 reference's
   discriminator on a fixed batch at those steps (does the reference collapse as ours
   does? electra_tf/representation.py).
2. Speed: the reference's train step (transformers + torch CPU, its default SDPA
   attention, `--threads` threads, dropout 0.1, Gumbel sampling inside the step) and ours
   at ELECTRA-Small, batch 32 x 128, built first, then timed in interleaved rounds (best
   round each): what a PyTorch user would run instead.

    python benchmarks/reference_parity.py               # ~18 min on 2 cores
    python benchmarks/reference_parity.py --skip_speed  # the 300-step trajectory only
    python benchmarks/reference_parity.py --step_table  # per-step errors of the tests' cases
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # tf.function conversion notices

from electra_tf import representation  # noqa: E402
from tests import reference_parity as rp  # noqa: E402

MICRO = dict(size="small", num_layers=4, hidden_size=128, embedding_size=64, num_heads=2,
             intermediate_size=512, generator_hidden_size=0.25, max_seq_length=128)


def build_data(corpus, vocab, out):
    from electra_tf.data import prep

    if not os.path.isfile(os.path.join(out, "metadata.json")):
        prep.build(corpus, out, prep.PrepOptions(vocab=vocab, max_seq_length=128),
                   num_shards=4, progress=False)
    return out


def _weight_deviation(cfg, values, truth, lrs):
    """Per variable max |diff| / (max |w| + sum_t 3.16 lr_t), as the tests measure it, of
    `values` ({reference parameter name: array}) against the `truth` reference:
    (largest, its variable, median over variables)."""
    reach = sum(lrs) * (1 - cfg.optimizer.adam_beta_1) / np.sqrt(1 - cfg.optimizer.adam_beta_2)
    errs = {k: float(np.max(np.abs(values[k] - v)) / (np.max(np.abs(v)) + reach))
            for k, v in rp.flat(truth.state()).items()}
    worst = max(errs, key=errs.get)
    return errs[worst], worst, float(np.median(list(errs.values())))


def trajectory(args, data, tmp):
    """Ours and the float32 reference, each against a float64 reference run (the same
    maths without float32 rounding) on the same corruption: if ours drifts from it no more
    than the float32 reference does, the drift is float32 chaos, not a difference."""
    import keras
    import torch

    keras.utils.set_random_seed(args.seed)
    trainer = rp.make_trainer(data, args.vocab, os.path.join(tmp, "micro"), args.steps,
                              train_batch_size=args.batch_size, learning_rate=args.lr,
                              num_warmup_steps=args.warmup, **MICRO)
    cfg = trainer.config
    ours = rp.OurStep(trainer)
    ref = rp.build_reference(cfg, ours.named_values())
    ref64 = rp.build_reference(cfg, ours.named_values(), dtype=torch.float64)
    print(f"trajectory: micro ELECTRA {args.steps} steps x {args.batch_size}, lr {args.lr}, "
          f"warm-up {args.warmup}, dropout off, seed {args.seed} (each loss is the step's, "
          f"before its update)")
    print(f"{'step':>5} {'ours':>10} {'ref fp32':>10} {'ref fp64':>10}   "
          f"{'ours-64':>8} {'fp32-64':>8}   {'ours mlm':>9} {'fp64 mlm':>9}   "
          f"{'ours disc':>9} {'fp64 disc':>9}")
    dev_ours, dev_ref, lrs, ranks = [], [], [], []
    probe = representation.probe_batch(data, cfg.pretraining.max_seq_length)
    t0 = time.time()
    for i, batch in enumerate(rp.batches(trainer, args.steps)):
        corruption, _, _, _ = ours.corruption(batch)
        o = ours.step(batch)
        r = ref.step(corruption)
        r64 = ref64.step(corruption)
        lrs.append(r64["learning_rate"])
        dev_ours.append(abs(o["loss"] - r64["total"]) / abs(r64["total"]))
        dev_ref.append(abs(r["total"] - r64["total"]) / abs(r64["total"]))
        if (i + 1) % args.log_every == 0 or i == 0:
            mlm = o["mlm_loss"] / o["mlm_count"]
            disc = o["disc_loss"] / o["disc_count"]
            print(f"{i + 1:>5} {o['loss']:>10.5f} {r['total']:>10.5f} {r64['total']:>10.5f}   "
                  f"{dev_ours[-1]:>8.1e} {dev_ref[-1]:>8.1e}   {mlm:>9.5f} {r64['mlm']:>9.5f}"
                  f"   {disc:>9.5f} {r64['disc']:>9.5f}", flush=True)
            ranks.append((i + 1, probe_measures(trainer, probe),
                          probe_measures(ref64, probe)))
    print("the discriminators' token vectors on a fixed batch (the first 32 examples): "
          "effective rank / mean token-pair cosine")
    print(f"{'step':>5} {'ours':>14} {'ref fp64':>14}")
    for step, o, r in ranks:
        print(f"{step:>5} {o['effective_rank']:>7.2f} {o['token_cosine']:>6.3f} "
              f"{r['effective_rank']:>7.2f} {r['token_cosine']:>6.3f}")
    print(f"loss deviation from the float64 reference over {args.steps} steps: ours largest "
          f"{max(dev_ours):.2e} median {np.median(dev_ours):.2e}; float32 reference largest "
          f"{max(dev_ref):.2e} median {np.median(dev_ref):.2e}")
    for name, values in (("ours", rp.flat(rp.to_reference(cfg, ours.named_values()))),
                         ("float32 reference", rp.flat(ref.state()))):
        worst, var, median = _weight_deviation(cfg, values, ref64, lrs)
        print(f"weights after {args.steps} steps, {name} vs float64: largest {worst:.2e} "
              f"({var}), median over variables {median:.2e}")
    print(f"({time.time() - t0:.0f} s)")


def probe_measures(model, probe) -> dict:
    """Effective rank and token cosine of a discriminator's sequence output on `probe`:
    ours (a Trainer) or the reference (its HF ElectraForPreTraining)."""
    ids, seg, mask = probe["input_ids"], probe["segment_ids"], probe["input_mask"]
    if hasattr(model, "disc"):  # the PyTorch reference
        import torch

        with torch.no_grad():
            hidden = model.disc.electra(
                input_ids=torch.as_tensor(ids, dtype=torch.long),
                attention_mask=torch.as_tensor(mask, dtype=torch.long),
                token_type_ids=torch.as_tensor(seg, dtype=torch.long)).last_hidden_state
        hidden = hidden.double().numpy()
    else:
        hidden = np.asarray(model.model.discriminator.encode(ids, seg, mask, training=False))
    return representation.measures(hidden, mask)


def step_table(tmp):
    """The per-step parity of every case the tests run (tests/test_reference_parity.py,
    the same harness, tiny data and seed), as a markdown table of the worst errors."""
    import pathlib

    from electra_tf.data import prep
    from tests import test_reference_parity as t
    from tests.conftest import write_corpus, write_vocab

    class Dirs:  # what the tests' tmp_path_factory gives _run
        def mktemp(self, name):
            return pathlib.Path(tempfile.mkdtemp(prefix=name, dir=tmp))

    vocab = write_vocab(os.path.join(tmp, "vocab.txt"))
    data = os.path.join(tmp, "tiny_records")
    prep.build(write_corpus(os.path.join(tmp, "corpus")), data,
               prep.PrepOptions(vocab=vocab, max_seq_length=32), num_shards=2, num_workers=1,
               progress=False)

    def short(name):
        for a, b in (("discriminator.electra.", "disc."), ("generator.electra.", "gen."),
                     ("encoder.layer.", "L"), (".weight", ""), ("attention.self.", "attn.")):
            name = name.replace(a, b)
        return name

    print("| case | path | worst loss term | worst gradient (variable) | weights after 1st "
          "update | after 20 steps (variable) | max grad norm |")
    print("|---|---|---|---|---|---|---|")
    for fast in (True, False):
        for objective, tying in t.CASES:
            run = t._run(objective, tying, fast, data, vocab, Dirs())
            ref = run["ref_terms"]
            term = max(abs(v - ref[k]) / abs(ref[k]) for k, v in run["our_terms"].items())
            grads = rp.flat(run["ref_grads"])
            g_err, g_name = t._worst(run["our_grads"], grads, t.gradient_scale(grads))
            w = [t._worst(*run[f"weights_{n}"], t.weight_scale(run, n)) for n in (2, t.STEPS)]
            print(f"| {objective}, {tying} | {'fast' if fast else 'plain'} | {term:.1e} | "
                  f"{g_err:.1e} ({short(g_name)}) | {w[0][0]:.1e} | {w[1][0]:.1e} "
                  f"({short(w[1][1])}) | {max(run['norms']):.1f} |", flush=True)


def speed(args, tmp):
    import torch

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from pretrain_speed import ours as ours_timer
    from pretrain_speed import write_synthetic

    from electra_tf.configs import get_config
    from electra_tf.model import weights
    from electra_tf.model.pretraining import ElectraPretrainingModel
    from tests.reference.electra_torch import Corruption

    torch.set_num_threads(args.threads)
    batch, seq = 32, 128
    cfg = get_config("small", train_batch_size=batch, max_seq_length=seq)
    write_synthetic(os.path.join(tmp, "synthetic.tfrecord"), 4 * batch, seq)
    ours_run = ours_timer(cfg, tmp, args.vocab)
    model = ElectraPretrainingModel(cfg)
    model.build()
    values = {n: v.numpy() for n, v in weights.pretraining_weights(model).items()}
    ref = rp.build_reference(cfg, values, attention="sdpa")
    rng = np.random.default_rng(0)
    n = cfg.pretraining.num_predictions
    ids = rng.integers(1000, 30000, (batch, seq))
    positions = np.sort(rng.choice(np.arange(1, seq - 1), (batch, n)), axis=1)
    masked = ids.copy()
    np.put_along_axis(masked, positions, 103, axis=1)
    corruption = Corruption(original_ids=ids, masked_ids=masked,
                            segment_ids=np.zeros_like(ids), input_mask=np.ones_like(ids),
                            positions=positions, mlm_weights=np.ones((batch, n), np.float32))
    ref.step(corruption)  # warm-up

    def ref_run(steps):
        t = time.time()
        for _ in range(steps):
            ref.step(corruption)
        return (time.time() - t) / steps

    rounds = {"ours": [], "ref": []}
    for r in range(args.repeats):
        rounds["ours"].append(ours_run(args.speed_steps))
        rounds["ref"].append(ref_run(args.speed_steps))
        print(f"round {r + 1}/{args.repeats}: ours {rounds['ours'][-1]:.3f} s/step, "
              f"PyTorch reference {rounds['ref'][-1]:.3f} s/step", flush=True)
    o, p = min(rounds["ours"]), min(rounds["ref"])
    print(f"machine: {os.cpu_count()} CPU cores; TF {tf.__version__}, torch {torch.__version__} "
          f"({args.threads} threads)")
    print(f"ELECTRA-Small train step, batch {batch}x{seq}, best of {args.repeats} rounds of "
          f"{args.speed_steps} steps: ours {o:.3f} s/step, PyTorch reference {p:.3f} s/step")
    print(f"speed ratio (PyTorch / ours): {p / o:.2f}x (goal >= 1.3x)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "data", "corpus"))
    p.add_argument("--vocab", default=os.path.join(ROOT, "..", "shared", "data", "vocab",
                                                   "vocab.txt"))
    p.add_argument("--data", default=None, help="built TFRecords (default: build to a temp dir)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--log_every", type=int, default=25)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--speed_steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--step_table", action="store_true",
                   help="only the per-step parity table of the tests' cases (~3 min)")
    p.add_argument("--skip_trajectory", action="store_true")
    p.add_argument("--skip_speed", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.step_table:
            return step_table(tmp)
        if not args.skip_trajectory:
            data = args.data or build_data(args.corpus, args.vocab, os.path.join(tmp, "data"))
            trajectory(args, data, tmp)
        if not args.skip_speed:
            speed(args, tmp)


if __name__ == "__main__":
    sys.exit(main())
