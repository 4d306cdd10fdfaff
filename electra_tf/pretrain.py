"""ELECTRA pre-training.

    python -m electra_tf.pretrain --size=small --data=/tmp/electra_data \
        --model_dir=/tmp/electra_small --train_steps=10000

Re-running the same command after an interrupt (Ctrl-C, SIGTERM or kill -9)
continues from the latest checkpoint in --model_dir.
"""
import sys

from absl import app, flags

from electra_tf import cli  # defines --tf_logs
from electra_tf.configs import SIZES, ElectraConfig, parse_overrides  # noqa: F401

FLAGS = flags.FLAGS
flags.DEFINE_enum("size", "small", sorted(SIZES), "Model size (paper Table 6), or tiny for tests.")
flags.DEFINE_string("data", None, "Directory written by data_prep/build_tfrecords.py, or a glob "
                    "of its TFRecord files.")
flags.DEFINE_string("model_dir", None, "Checkpoints, TensorBoard logs and exported networks.")
flags.DEFINE_string("vocab", None, "vocab.txt; default: the one recorded in the data's "
                    "metadata.json.")
flags.DEFINE_integer("train_steps", None, "Total optimisation steps (default: the size's).")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: the size's).")
flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the size's).")
flags.DEFINE_integer("max_seq_length", None, "Sequence length; must match the data.")
flags.DEFINE_integer("warmup_steps", None, "Linear warmup steps (default 10000).")
flags.DEFINE_integer("gradient_accumulation_steps", 1,
                     "Split each replica's batch into this many micro-batches.")
flags.DEFINE_enum("strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy (auto: TPU if --tpu, mirrored on >1 GPU, else one "
                  "device).")
flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu.")
flags.DEFINE_integer("num_cpu_devices", 1, "Split the CPU into this many logical devices "
                     "(CPU-only multi-replica runs and tests).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_bfloat16", "mixed_float16"],
                  "Keras mixed-precision policy (float16 uses a static loss scale).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the forward/backward pass.")
flags.DEFINE_integer("save_every", 1000, "Checkpoint every N steps.")
flags.DEFINE_integer("keep_checkpoints", 5, "Checkpoints to keep.")
flags.DEFINE_integer("log_every", 100, "TensorBoard scalars and a progress line every N steps.")
flags.DEFINE_integer("example_every", 1000, "A corrupted-example text summary every N steps "
                     "(0: never).")
flags.DEFINE_string("probe_data", None, "Held-out TFRecords (a build_tfrecords output or "
                    "glob): at each log step, the effective rank and mean token-pair cosine "
                    "of the discriminator's token vectors on its first 32 examples "
                    "(TensorBoard effective_rank, token_cosine; a collapse shows as ~1, ~1).")
flags.DEFINE_integer("seed", 1234, "Seed of data order, masking and sampling.")
flags.DEFINE_bool("deterministic", False, "Deterministic TF ops (bit-exact resume).")
flags.DEFINE_string("init_checkpoint", None, "Start the weights from this checkpoint "
                    "(continued pre-training; fresh optimizer): a pre-training --model_dir or "
                    "`electra_tf.convert --to=pretraining` output; its config.json's sizes "
                    "replace --size's.")
flags.DEFINE_enum("objective", None, ["electra", "electra_15", "bert", "replace_mlm",
                                       "all_tokens_mlm"],
                  "Pre-training objective (paper Table 5); default electra.")
flags.DEFINE_enum("masking", None, ["random", "span", "strategic"],
                  "Positions to corrupt: random (default), span (SpanBERT-style spans: "
                  "replaced span detection), strategic (rarer tokens more often).")
flags.DEFINE_enum("generator", None, ["mlm", "unigram", "uniform"],
                  "Generator: a trained MLM (default) or a fixed unigram/uniform sampler.")
flags.DEFINE_enum("weight_tying", None, ["none", "embeddings", "all", "gdes"],
                  "Generator/discriminator sharing (default embeddings; all needs "
                  "--config=generator_hidden_size=1.0; gdes: DeBERTaV3's gradient-"
                  "disentangled word table).")
flags.DEFINE_enum("training", None, ["joint", "two_stage", "adversarial"],
                  "Training algorithm (default joint); two_stage needs "
                  "--config=two_stage_steps=N and a full-size generator.")
flags.DEFINE_multi_string("config", [], "Config override NAME=VALUE (any ElectraConfig field, "
                          "e.g. --config=mask_prob=0.25 --config=generator_hidden_size=0.5).")
flags.DEFINE_integer("debug_kill_at_step", None, "Testing: SIGKILL the process after this "
                     "step, as a crash would.")


# Taken from --init_checkpoint's config.json (unless set with --config).
ARCHITECTURE_FIELDS = ("vocab_size", "embedding_size", "hidden_size", "num_layers", "num_heads",
                       "intermediate_size", "max_position_embeddings", "type_vocab_size",
                       "generator_hidden_size", "generator_layers", "layer_norm_epsilon")


def build_config(vocab_size: int):
    from electra_tf.configs import get_config

    overrides = parse_overrides(FLAGS.config)
    if FLAGS.init_checkpoint:  # continued pre-training: the checkpoint's architecture
        from electra_tf.interop import ours

        _, config_path = ours.resolve(FLAGS.init_checkpoint)
        if config_path:
            loaded, network = ours.load_config(config_path)
            for field in ARCHITECTURE_FIELDS:
                if network is None:  # a pre-training directory: both networks' sizes
                    overrides.setdefault(field, loaded.get(field))
                elif hasattr(loaded, field):  # one exported network: its encoder
                    overrides.setdefault(field, getattr(loaded, field))
    overrides.setdefault("vocab_size", vocab_size)  # the vocab file's, unless overridden
    for flag in ("objective", "masking", "generator", "weight_tying", "training"):
        if getattr(FLAGS, flag) is not None:
            overrides[flag] = getattr(FLAGS, flag)
    for flag, field in [("train_steps", "num_train_steps"), ("batch_size", "train_batch_size"),
                        ("learning_rate", "learning_rate"), ("max_seq_length", "max_seq_length"),
                        ("warmup_steps", "num_warmup_steps"),
                        ("gradient_accumulation_steps", "gradient_accumulation_steps")]:
        value = getattr(FLAGS, flag)
        if value is not None:
            overrides[field] = value
    return get_config(FLAGS.size, **overrides)


def run() -> None:
    import tensorflow as tf
    import keras

    from electra_tf import distribution, tokenization
    from electra_tf.data import input_pipeline, records
    from electra_tf.trainer import Trainer, TrainOptions

    if not FLAGS.data or not FLAGS.model_dir:
        raise ValueError("--data and --model_dir are required (see --help)")
    for name in ("save_every", "log_every", "keep_checkpoints", "num_cpu_devices"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name}={getattr(FLAGS, name)} must be >= 1")
    if FLAGS.num_cpu_devices > 1:
        distribution.split_cpu(FLAGS.num_cpu_devices)
    # Before any other TF op: multi-worker collectives must be configured at start-up.
    strategy = distribution.make_strategy(FLAGS.strategy, FLAGS.tpu)
    cli.quiet_xla()
    keras.utils.set_random_seed(FLAGS.seed)  # weight init and dropout streams
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    files, metadata = records.resolve_data_files(FLAGS.data)
    vocab = FLAGS.vocab or (metadata or {}).get("vocab_file")
    if vocab is None:
        raise ValueError(f"--data={FLAGS.data} has no metadata.json naming its vocab: "
                         f"pass --vocab PATH/vocab.txt")
    vocab_tokens = tokenization.load_vocab(vocab)
    config = build_config(len(vocab_tokens))
    if len(vocab_tokens) != config.encoder.vocab_size:
        raise ValueError(f"vocab {vocab} has {len(vocab_tokens)} tokens but the model config "
                         f"has vocab_size={config.encoder.vocab_size}: pass "
                         f"--config=vocab_size={len(vocab_tokens)}")
    records.check_metadata(metadata, FLAGS.data, config.pretraining.max_seq_length,
                           config.encoder.vocab_size, tokenization.vocab_hash(vocab),
                           vocab_path=vocab)
    input_pipeline.check_records(files, config.pretraining.max_seq_length)
    if FLAGS.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(FLAGS.mixed_precision)
    variant = ", ".join(f"{f}={config.get(f)}" for f in
                        ("objective", "masking", "generator", "weight_tying", "training")
                        if config.get(f) != ElectraConfig().get(f))
    print(f"{FLAGS.size} model{' (' + variant + ')' if variant else ''}, "
          f"{strategy.num_replicas_in_sync} replica(s), "
          f"{len(files)} data file(s), {config.optimizer.num_train_steps} steps of batch "
          f"{config.optimizer.train_batch_size}", flush=True)
    options = TrainOptions(model_dir=FLAGS.model_dir, seed=FLAGS.seed,
                           save_every=FLAGS.save_every, keep_checkpoints=FLAGS.keep_checkpoints,
                           log_every=FLAGS.log_every, example_every=FLAGS.example_every,
                           jit_compile=FLAGS.jit_compile, mixed_precision=FLAGS.mixed_precision,
                           kill_at_step=FLAGS.debug_kill_at_step,
                           probe_data=FLAGS.probe_data, deterministic=FLAGS.deterministic)
    counts = None
    if config.pretraining.masking == "strategic" or config.pretraining.generator == "unigram":
        counts = records.read_unigram_counts(FLAGS.data)
    trainer = Trainer(config, strategy, files, tokenization.special_ids(vocab_tokens), vocab,
                      options, unigram_counts=counts)
    if FLAGS.init_checkpoint and trainer.manager.latest_checkpoint is None:
        trainer.init_from(FLAGS.init_checkpoint)
        print(f"initialised weights from {FLAGS.init_checkpoint}", flush=True)
    trainer.train()


def main(argv):
    del argv
    cli.start()
    from electra_tf.configs import ConfigError
    from electra_tf.data.records import DataError
    from electra_tf.tokenization import VocabError
    from electra_tf.trainer import TrainingError

    try:
        run()
    except (ConfigError, DataError, VocabError, TrainingError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main)
