"""Fine-tuning and prediction speed: ours against Hugging Face transformers on PyTorch CPU
and against keras-hub's ElectraBackbone, the same encoder weights and batches, in one run.

For each case (model size, sequence length, batch) it times, best of `--repeats`
interleaved rounds of `--steps` steps each:
  train    one fine-tuning step of a 2-class classifier on [CLS] (forward, cross-entropy,
           backward, global-norm clip, AdamW with weight decay):
           ours = finetune/training.py's own train step; transformers =
           ElectraForSequenceClassification + torch.optim.AdamW; keras-hub =
           ElectraBackbone + a Dense head, compiled and run with train_on_batch, as a Keras
           user would.
  predict  classifier logits for batches of `--predict_tokens` tokens (64 examples at
           length 128 as in GLUE dev evaluation, 16 at SQuAD's 512):
           ours = finetune/training.py's prediction step; transformers in eval() under
           no_grad; keras-hub predict_on_batch; and our SavedModel export
           (`convert --to=saved_model`) through its serving signature.
Prints seconds per step / examples per second and the ratios (goals: train >= 1.3x both
peers, predict >= 1.5x transformers, SavedModel >= transformers eager), and how much of
our prediction time and of our train step the matmuls alone take (tf.matmul timed at the
model's shapes; for training each dense product's two gradient products too): the floor
at this precision. `--precision=bf16` runs all of them in bfloat16 (Keras'
mixed_bfloat16 policy for ours and keras-hub, torch.autocast for transformers).

    python benchmarks/finetune_speed.py                       # Small at 128 and 512, Base at 128
    python benchmarks/finetune_speed.py --cases=small:128:32 --steps=3
    python benchmarks/finetune_speed.py --precision=bf16
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

NUM_LABELS = 2


def batches(enc, batch, seq, count, seed=0):
    """`count` synthetic batches: ids in the vocabulary, [CLS] first, padding in the last
    eighth of the even examples, two segments, random labels."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ids = rng.integers(1000, enc.vocab_size, (batch, seq)).astype(np.int32)
        ids[:, 0] = 101
        mask = np.ones((batch, seq), np.int32)
        mask[::2, seq - seq // 8:] = 0
        ids *= mask
        seg = np.zeros((batch, seq), np.int32)
        seg[:, seq // 2:] = 1
        out.append({"token_ids": ids, "padding_mask": mask, "segment_ids": seg * mask,
                    "label_ids": rng.integers(0, NUM_LABELS, batch).astype(np.int32)})
    return out


def timer(run_once, data, steps):
    """steps -> seconds per call of run_once over `data` (cycled)."""
    def run(n=steps):
        t = time.time()
        for i in range(n):
            run_once(data[i % len(data)])
        return (time.time() - t) / n
    run(1)  # build / trace / warm up
    return run


# ---------------------------------------------------------------------- ours
def ours(enc, data, pred_data, steps):
    import tensorflow as tf

    from finetune import training
    from finetune.model import classification_model

    model = classification_model(enc, NUM_LABELS)
    opts = training.FinetuneOptions(learning_rate=1e-4, layer_decay=1.0, weight_decay=0.01,
                                    batch_size=len(data[0]["token_ids"]))
    strategy = tf.distribute.get_strategy()

    def loss_fn(logits, batch):
        return tf.keras.losses.sparse_categorical_crossentropy(batch["label_ids"], logits,
                                                               from_logits=True)
    optimizer = training.make_optimizer(model, opts, total_steps=10_000)
    optimizer.build(model.trainable_variables)
    step = training.make_train_step(model, loss_fn, opts, strategy, optimizer)
    tensors = [{k: tf.constant(v) for k, v in b.items()} for b in data]
    train = timer(lambda b: float(step(b)), tensors, steps)
    predict_step = training.make_predict_step(model, strategy)
    inputs = [{k: tf.constant(b[k]) for k in ("token_ids", "segment_ids", "padding_mask")}
              for b in pred_data]
    predict = timer(lambda b: np.asarray(predict_step(b)), inputs, steps)
    return model, train, predict


def encoder_values(model):
    """{our name: array} of a fine-tuning model's embeddings and encoder: what each peer
    is given, so that all run the same weights."""
    from electra_tf.model import weights

    return {n: v.numpy() for n, v in
            weights.network_weights(model.backbone.embeddings, model.backbone).items()}


def saved_model(model, enc, data, steps, tmp):
    """Our SavedModel export of `model`'s encoder + a classifier's logits, served."""
    import tensorflow as tf

    from electra_tf.interop import saved_model as sm

    values = encoder_values(model)
    path = os.path.join(tmp, "saved_model")
    sm.export(enc, values, path)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    inputs = [{k: tf.constant(b[k]) for k in ("token_ids", "segment_ids", "padding_mask")}
              for b in data]
    return timer(lambda b: serve(**b)["sequence_output"].numpy(), inputs, steps)


# ---------------------------------------------------------------------- peers
def hf_state(enc, model):
    """Our backbone's weights as a transformers ElectraModel state dict (electra_tf's own
    converter: the same values in both)."""
    from electra_tf.interop import google_names as gn
    from electra_tf.interop import huggingface as hf

    entries = gn.network_entries(enc, "discriminator", head=False)
    return hf.from_google(gn.convert(entries, encoder_values(model), "to_theirs", "benchmark"),
                          "electra", "electra.")


def matmul_seconds(enc, tokens, batch, seq, rounds=3, backward=False):
    """Seconds the forward's matmuls alone take (the projections, FFN and attention
    products of every layer, timed with tf.matmul at their shapes, best of `rounds`).
    backward: also each dense product's two gradient products (dy @ w^T against a
    materialised w^T, as our dense layers run it, and x^T @ dy), the matmuls of a
    training step (the attention products' gradients are left out: a lower bound)."""
    import keras
    import tensorflow as tf

    h, f, d = enc.hidden_size, enc.intermediate_size, enc.hidden_size // enc.num_heads
    dtype = keras.mixed_precision.global_policy().compute_dtype
    shapes = [((tokens, h), (h, h))] * 4 + [((tokens, h), (h, f)), ((tokens, f), (f, h))]
    if backward:  # x [T, a] @ w [a, b]: dx = dy [T, b] @ w^T [b, a]; dw = x^T [a, T] @ dy
        shapes += [((t, b), (b, a)) for (t, a), (_, b) in shapes]
        shapes += [((a, t), (t, b)) for (t, a), (_, b) in shapes[:6]]
    shapes = [(tf.random.normal(a, dtype=dtype), tf.random.normal(b, dtype=dtype))
              for a, b in shapes]
    heads = batch * enc.num_heads
    q = tf.random.normal((heads, seq, d), dtype=dtype)
    scores = tf.random.normal((heads, seq, seq), dtype=dtype)

    @tf.function
    def layer():
        out = [tf.matmul(a, b) for a, b in shapes]
        out.append(tf.matmul(q, q, transpose_b=True))
        out.append(tf.matmul(scores, q))
        return tf.add_n([tf.reduce_sum(tf.cast(o[:1, :1], tf.float32)) for o in out])
    layer()
    best = float("inf")
    for _ in range(rounds):
        t = time.time()
        for _ in range(enc.num_layers):
            float(layer())
        best = min(best, time.time() - t)
    return best


def transformers_net(enc, model, threads, kind="classifier", num_labels=NUM_LABELS):
    """transformers' ElectraForSequenceClassification (kind "classifier") or
    ElectraForQuestionAnswering ("squad") holding `model`'s encoder weights; only the
    head is left at its initialisation."""
    import torch
    import transformers

    from electra_tf.interop import huggingface as hf

    torch.set_num_threads(threads)
    config = transformers.ElectraConfig(**{k: v for k, v in hf.hf_config(enc, "discriminator")
                                           .items() if k != "architectures"},
                                        num_labels=num_labels)
    cls, head = ((transformers.ElectraForSequenceClassification, "classifier.")
                 if kind == "classifier"
                 else (transformers.ElectraForQuestionAnswering, "qa_outputs."))
    net = cls(config)
    missing, _ = net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                                      for k, v in hf_state(enc, model).items()}, strict=False)
    assert all(k.startswith(head) for k in missing), missing
    return net


def keras_hub_net(enc, model, outputs=NUM_LABELS, per_position=False):
    """keras-hub's ElectraBackbone holding `model`'s encoder weights + a Dense head on
    [CLS] (after dropout 0.1) or on every position, compiled with AdamW as a Keras user
    would."""
    import keras

    from electra_tf.interop.keras_hub_export import backbone_values

    backbone = backbone_values(enc, encoder_values(model))
    inputs = {k: keras.Input((None,), dtype="int32", name=k)
              for k in ("token_ids", "segment_ids", "padding_mask")}
    hidden = backbone(inputs)["sequence_output"]
    x = hidden if per_position else keras.layers.Dropout(0.1)(hidden[:, 0])
    net = keras.Model(inputs, keras.layers.Dense(outputs)(x))
    net.compile(optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.01, epsilon=1e-6,
                                                 global_clipnorm=1.0),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return net


def transformers_peer(enc, model, data, pred_data, steps, threads, bf16=False):
    import torch

    net = transformers_net(enc, model, threads)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)
    tensors = [{k: torch.from_numpy(v.astype(np.int64)) for k, v in b.items()} for b in data]
    pred_tensors = [{k: torch.from_numpy(v.astype(np.int64)) for k, v in b.items()}
                    for b in pred_data]

    def train_once(b):
        net.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(input_ids=b["token_ids"], attention_mask=b["padding_mask"],
                      token_type_ids=b["segment_ids"], labels=b["label_ids"])
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return float(out.loss.detach())

    def predict_once(b):
        net.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return net(input_ids=b["token_ids"], attention_mask=b["padding_mask"],
                       token_type_ids=b["segment_ids"]).logits.float().numpy()
    return timer(train_once, tensors, steps), timer(predict_once, pred_tensors, steps)


def keras_hub_peer(enc, model, data, pred_data, steps):
    net = keras_hub_net(enc, model)

    def feeds(batches):
        return [({k: b[k] for k in ("token_ids", "segment_ids", "padding_mask")},
                 b["label_ids"]) for b in batches]
    train = timer(lambda f: net.train_on_batch(f[0], f[1]), feeds(data), steps)
    predict = timer(lambda f: net.predict_on_batch(f[0]), feeds(pred_data), steps)
    return train, predict


# ---------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="small:128:32,small:512:8,base:128:8",
                   help="SIZE:LENGTH:BATCH,...")
    p.add_argument("--predict_tokens", type=int, default=8192)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = p.parse_args()
    bf16 = args.precision == "bf16"

    import warnings

    import keras
    import tensorflow as tf
    import torch

    warnings.filterwarnings("ignore", message="Gradients do not exist")  # keras-hub's pooler
    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    from electra_tf.configs import get_config

    print(f"machine: {os.cpu_count()} CPU cores; TF {tf.__version__}, torch "
          f"{torch.__version__} ({args.threads} threads); {args.precision}; best of "
          f"{args.repeats} rounds of "
          f"{args.steps} steps", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            size, seq, batch = case.split(":")
            seq, batch = int(seq), int(batch)
            enc = get_config(size).encoder
            print(f"{size} length {seq}: building and warming up ours, transformers, "
                  f"keras-hub, the SavedModel ...", file=sys.stderr, flush=True)
            train_data = batches(enc, batch, seq, 2)
            n = max(1, args.predict_tokens // seq)
            pred_data = batches(enc, n, seq, 2, seed=1)
            model, o_train, o_pred = ours(enc, train_data, pred_data, args.steps)
            h_train, h_pred = transformers_peer(enc, model, train_data, pred_data, args.steps,
                                                args.threads, bf16)
            k_train, k_pred = keras_hub_peer(enc, model, train_data, pred_data, args.steps)
            s_pred = saved_model(model, enc, pred_data, args.steps, tmp)
            best = {k: [] for k in ("ours", "hf", "kh", "o_p", "h_p", "k_p", "s_p")}
            for r in range(args.repeats):
                for key, run in (("ours", o_train), ("hf", h_train), ("kh", k_train),
                                 ("o_p", o_pred), ("h_p", h_pred), ("k_p", k_pred),
                                 ("s_p", s_pred)):
                    best[key].append(run())
            b = {k: min(v) for k, v in best.items()}
            b["mm"] = matmul_seconds(enc, n * seq, n, seq)
            b["mm_train"] = matmul_seconds(enc, batch * seq, batch, seq, backward=True)
            print(f"\n{size} length {seq}: train batch {batch}, s/step: ours {b['ours']:.3f}, "
                  f"transformers {b['hf']:.3f} ({b['hf'] / b['ours']:.2f}x), keras-hub "
                  f"{b['kh']:.3f} ({b['kh'] / b['ours']:.2f}x); the matmuls alone (forward and "
                  f"backward) {b['mm_train']:.3f} s ({100 * b['mm_train'] / b['ours']:.0f}%)",
                  flush=True)
            print(f"{size} length {seq}: predict batch {n}, examples/s: ours "
                  f"{n / b['o_p']:.1f}, "
                  f"SavedModel {n / b['s_p']:.1f}, transformers {n / b['h_p']:.1f} "
                  f"(ours {b['h_p'] / b['o_p']:.2f}x, SavedModel {b['h_p'] / b['s_p']:.2f}x), "
                  f"keras-hub {n / b['k_p']:.1f} (ours {b['k_p'] / b['o_p']:.2f}x); the matmuls "
                  f"alone {b['mm']:.3f} s of ours {b['o_p']:.3f} s "
                  f"({100 * b['mm'] / b['o_p']:.0f}%)", flush=True)
            rows.append((size, seq, batch, b))
    print(f"\n{args.precision}: | model | length | train batch | train vs transformers | "
          "vs keras-hub | predict vs transformers | SavedModel vs transformers | "
          "predict vs keras-hub | matmuls / our predict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, seq, batch, b in rows:
        print(f"| {size} | {seq} | {batch} | {b['hf'] / b['ours']:.2f}x | "
              f"{b['kh'] / b['ours']:.2f}x | {b['h_p'] / b['o_p']:.2f}x | "
              f"{b['h_p'] / b['s_p']:.2f}x | {b['k_p'] / b['o_p']:.2f}x | "
              f"{100 * b['mm'] / b['o_p']:.0f}% |")


if __name__ == "__main__":
    sys.exit(main())
