"""Seconds per step of our full ELECTRA-Small train step vs TF Model Garden's
ElectraPretrainer (official.nlp.modeling) with the same sizes and batch, in one run,
plus achieved FLOP/s as a fraction of a plain tf.matmul measured in the same run.

    python benchmarks/pretrain_speed.py --batch_size=32 --seq_length=128 --steps=8

Both steps are built and warmed up first; then `--repeats` rounds each time the matmul,
our `--steps` steps and Model Garden's, in turn, so a slow spell of the (shared, noisy)
machine hits all three alike. Each is reported as its best round (as timeit does),
with every round printed.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
from flops import train_flops  # noqa: E402


def matmul_timer(n=2048, reps=10):
    """() -> FLOP/s of a plain n x n fp32 tf.matmul."""
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    f = tf.function(lambda: tf.matmul(a, b))
    f().numpy()

    def run():
        t = time.time()
        for _ in range(reps):
            f().numpy()
        return 2 * n ** 3 * reps / (time.time() - t)
    return run


def ours(cfg, data_dir, vocab, jit_compile=False):
    """steps -> seconds per step of our full train step (built and warmed up here)."""
    from electra_tf import distribution
    from electra_tf.tokenization import load_vocab, special_ids
    from electra_tf.trainer import Trainer, TrainOptions

    files = [os.path.join(data_dir, "synthetic.tfrecord")]
    tr = Trainer(cfg, distribution.make_strategy("one_device"), files,
                 special_ids(load_vocab(vocab)), None,
                 TrainOptions(model_dir=os.path.join(data_dir, "m"), shuffle_buffer=64,
                              progress=False, jit_compile=jit_compile))
    tr._make_iterator()
    tr.run_steps(2)  # trace + warm up: the graph loop Trainer.train runs

    def run(steps):
        t = time.time()
        sums, _ = tr.run_steps(steps)
        float(sums["loss"])
        return (time.time() - t) / steps
    return run


def model_garden(cfg, batch, jit_compile=False):
    """steps -> seconds per step of Model Garden's ElectraPretrainer (built here)."""
    import tf_keras
    from official.nlp.modeling import models, networks

    g = cfg.generator_encoder()
    init = tf_keras.initializers.TruncatedNormal(stddev=0.02)
    gen = networks.BertEncoder(
        cfg.encoder.vocab_size, hidden_size=g.hidden_size, num_layers=g.num_layers,
        num_attention_heads=g.num_heads, inner_dim=g.intermediate_size,
        max_sequence_length=512, type_vocab_size=2, embedding_width=cfg.encoder.embedding_size,
        initializer=init, dict_outputs=True)
    d = cfg.encoder
    disc = networks.BertEncoder(
        d.vocab_size, hidden_size=d.hidden_size, num_layers=d.num_layers,
        num_attention_heads=d.num_heads, inner_dim=d.intermediate_size,
        max_sequence_length=512, type_vocab_size=2, embedding_width=cfg.encoder.embedding_size,
        initializer=init, dict_outputs=True, embedding_layer=gen.get_embedding_layer())
    pre = models.ElectraPretrainer(gen, disc, vocab_size=cfg.encoder.vocab_size, num_classes=2,
                                   num_token_predictions=cfg.pretraining.num_predictions,
                                   mlm_activation=tf_keras.activations.gelu,
                                   mlm_initializer=init)
    opt = tf_keras.optimizers.Adam(1e-4, epsilon=1e-6, global_clipnorm=1.0)
    rng = np.random.default_rng(0)
    seq, n = cfg.pretraining.max_seq_length, cfg.pretraining.num_predictions
    inputs = {
        "input_word_ids": tf.constant(rng.integers(1000, 30000, (batch, seq)), tf.int32),
        "input_mask": tf.ones((batch, seq), tf.int32),
        "input_type_ids": tf.zeros((batch, seq), tf.int32),
        "masked_lm_positions": tf.constant(np.sort(rng.choice(
            np.arange(1, seq), (batch, n))), tf.int32),
        "masked_lm_ids": tf.constant(rng.integers(1000, 30000, (batch, n)), tf.int32),
    }

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            out = pre(inputs, training=True)
            mlm = tf_keras.losses.sparse_categorical_crossentropy(
                inputs["masked_lm_ids"], out["lm_outputs"], from_logits=True)
            disc_loss = tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.cast(out["disc_label"], tf.float32), logits=out["disc_logits"])
            loss = tf.reduce_mean(mlm) + 50.0 * tf.reduce_mean(disc_loss)
        grads = tape.gradient(loss, pre.trainable_variables)
        opt.apply_gradients(zip(grads, pre.trainable_variables))
        return loss

    step()
    step()

    def run(steps):
        t = time.time()
        for _ in range(steps):
            loss = step()
        float(loss)
        return (time.time() - t) / steps
    return run


def write_synthetic(path, n, seq, seed=0):
    from electra_tf.data import records

    rng = np.random.default_rng(seed)
    with tf.io.TFRecordWriter(path) as w:
        for _ in range(n):
            ids = [101] + rng.integers(1000, 30000, seq - 2).tolist() + [102]
            w.write(records.encode_example({"input_ids": ids, "input_mask": [1] * seq,
                                            "segment_ids": [0] * seq}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--steps", type=int, default=8, help="train steps per timed round")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds (best one counts)")
    p.add_argument("--size", default="small")
    p.add_argument("--vocab", default="../shared/data/vocab/vocab.txt")
    p.add_argument("--jit_compile", action="store_true",
                   help="XLA-compile both train steps (ours: --jit_compile)")
    args = p.parse_args()
    from electra_tf.configs import get_config

    cfg = get_config(args.size, train_batch_size=args.batch_size,
                     max_seq_length=args.seq_length)
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic(os.path.join(tmp, "synthetic.tfrecord"), 4 * args.batch_size,
                        args.seq_length)
        matmul = matmul_timer()
        ours_run = ours(cfg, tmp, args.vocab, args.jit_compile)
        mg_run = model_garden(cfg, args.batch_size, args.jit_compile)
        rounds = {"matmul": [], "ours": [], "mg": []}
        for r in range(args.repeats):
            rounds["matmul"].append(matmul())
            rounds["ours"].append(ours_run(args.steps))
            rounds["mg"].append(mg_run(args.steps))
            print(f"round {r + 1}/{args.repeats}: ours {rounds['ours'][-1]:.3f} s/step, "
                  f"model garden {rounds['mg'][-1]:.3f} s/step, "
                  f"tf.matmul {rounds['matmul'][-1] / 1e9:.1f} GFLOP/s", flush=True)
    mm, ours_s, mg_s = max(rounds["matmul"]), min(rounds["ours"]), min(rounds["mg"])
    flops = train_flops(cfg, args.batch_size, args.seq_length)
    print(f"machine: {os.cpu_count()} CPU cores, TF {tf.__version__}, "
          f"GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    print(f"ELECTRA-{args.size} train step, batch {args.batch_size}x{args.seq_length}"
          f"{', XLA (jit_compile) for both' if args.jit_compile else ''}; "
          f"best of {args.repeats} rounds of {args.steps} steps")
    print(f"ours:         {ours_s:.3f} s/step")
    print(f"model garden: {mg_s:.3f} s/step")
    print(f"speed ratio (model garden / ours): {mg_s / ours_s:.2f}x (goal >= 1.3x)")
    print(f"tf.matmul: {mm / 1e9:.1f} GFLOP/s; ours achieves {flops / ours_s / 1e9:.1f} GFLOP/s "
          f"= {flops / ours_s / mm:.1%} of matmul (goal >= 60%)")


if __name__ == "__main__":
    sys.exit(main())
