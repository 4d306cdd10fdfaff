"""Checkpoint conversion: Google's TF1 ELECTRA and Hugging Face ELECTRA/BERT in; Hugging
Face, keras-hub and SavedModel out.

  # Google's released checkpoint -> our pre-training model (continued pre-training) ...
  python -m electra_tf.convert --from=google --input=electra_small/electra_small \
      --to=pretraining --output=/tmp/electra_small_google --vocab=electra_small/vocab.txt
  # ... or its discriminator alone (fine-tuning)
  python -m electra_tf.convert --from=google --input=... --to=discriminator --output=...
  # Hugging Face ElectraForPreTraining (+ ElectraForMaskedLM) / ElectraModel / BertModel dirs
  python -m electra_tf.convert --from=hf --input=hf_disc --generator=hf_gen --to=pretraining ...
  # ours -> Hugging Face (config.json + model.safetensors), keras-hub preset, SavedModel
  python -m electra_tf.convert --input=/tmp/electra_small --to=hf --output=/tmp/electra_hf
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from electra_tf import cli  # defines --tf_logs

FLAGS = flags.FLAGS
flags.DEFINE_enum("from", "ours", ["google", "hf", "ours"],
                  "Input format: google (TF1 checkpoint prefix), hf (Hugging Face directory), "
                  "ours (pre-training --model_dir, exported network, or convert output).")
flags.DEFINE_string("input", None, "Checkpoint prefix or directory to convert.")
flags.DEFINE_string("generator", None, "--from=hf --to=pretraining: the ElectraForMaskedLM "
                    "directory of the generator.")
flags.DEFINE_enum("to", None, ["pretraining", "discriminator", "generator", "hf", "keras_hub",
                               "preset", "saved_model"],
                  "Output: one of our formats, or an export (keras_hub: keras-hub's "
                  "ElectraBackbone preset; preset: ours, electra_tf.model.backbone).")
flags.DEFINE_string("output", None, "Output directory.")
flags.DEFINE_string("size", None, "--from=google: a paper size whose head count to use when the "
                    "shapes match it (sizes are otherwise read from the checkpoint).")
flags.DEFINE_multi_string("config", [], "Config override NAME=VALUE (e.g. num_heads=4).")
flags.DEFINE_string("vocab", None, "vocab.txt to store with the output; default: the input's.")
flags.DEFINE_boolean("overwrite", False, "Write into a non-empty --output.")


class UsageError(ValueError):
    pass


def _vocab(default_dir: str | None) -> str | None:
    """--vocab, else the input's vocab.txt, else None; checked to be a WordPiece vocab."""
    from electra_tf.tokenization import load_vocab

    path = None
    if FLAGS.vocab:
        if not os.path.isfile(FLAGS.vocab):
            raise UsageError(f"--vocab={FLAGS.vocab} does not exist")
        path = FLAGS.vocab
    elif default_dir and os.path.isfile(os.path.join(default_dir, "vocab.txt")):
        path = os.path.join(default_dir, "vocab.txt")
    if path:
        load_vocab(path)  # a VocabError names the file
    return path


def _check_vocab(vocab: str | None, config) -> None:
    if vocab is None:
        print("note: no vocab.txt stored with the output (pass --vocab)", file=sys.stderr)
        return
    from electra_tf.tokenization import load_vocab
    n = len(load_vocab(vocab))
    if n != config.vocab_size:
        raise UsageError(f"--vocab={vocab} has {n} tokens but the weights have vocab_size="
                         f"{config.vocab_size}: pass the checkpoint's vocabulary")


def from_google(overrides):
    from electra_tf.configs import ElectraConfig, get_config
    from electra_tf.interop import google_tf1, ours

    if FLAGS.to not in ("pretraining", "discriminator", "generator"):
        raise UsageError("--from=google converts to --to=pretraining|discriminator|generator "
                         "(export from the result afterwards)")
    values, ignored = google_tf1.read_checkpoint(FLAGS.input)
    base = get_config(FLAGS.size) if FLAGS.size else ElectraConfig()
    config = google_tf1.infer_config(values, base).replace(**overrides).validate()
    if FLAGS.to != "discriminator" and not any(n.startswith("generator/") for n in values):
        raise UsageError(f"{FLAGS.input} has no generator/ weights: use --to=discriminator")
    converted = google_tf1.to_ours(values, config, FLAGS.to, FLAGS.input)
    unused = google_tf1.unused(values, config, FLAGS.to)
    vocab = _vocab(os.path.dirname(FLAGS.input))
    _check_vocab(vocab, config.encoder)
    ours.write(FLAGS.output, config, FLAGS.to, converted, vocab, FLAGS.input)
    print(f"imported {len(converted)} weights ({len(ignored)} optimizer/step variables "
          f"ignored{', unused: ' + ', '.join(unused[:8]) if unused else ''})")
    return config


def from_hf(overrides):
    from electra_tf.configs import ElectraConfig
    from electra_tf.interop import google_names as gn
    from electra_tf.interop import huggingface as hf
    from electra_tf.interop import ours

    if FLAGS.to not in ("pretraining", "discriminator", "generator"):
        raise UsageError("--from=hf converts to --to=pretraining|discriminator|generator")
    hf_cfg, state = hf.read_dir(FLAGS.input)
    enc = hf.config_from_hf(hf_cfg)
    config = ElectraConfig(encoder=enc).replace(
        max_seq_length=min(ElectraConfig().pretraining.max_seq_length,
                           enc.max_position_embeddings)).replace(**overrides)
    vocab = _vocab(FLAGS.input)
    if FLAGS.to == "pretraining":
        if not FLAGS.generator:
            raise UsageError("--to=pretraining needs --generator=DIR (the ElectraForMaskedLM)")
        gen_cfg, gen_state = hf.read_dir(FLAGS.generator)
        gen = hf.config_from_hf(gen_cfg)
        disc = config.encoder
        if (gen.vocab_size, gen.embedding_size) != (disc.vocab_size, disc.embedding_size):
            raise UsageError(f"generator {FLAGS.generator} has vocab/embedding "
                             f"{gen.vocab_size}/{gen.embedding_size}, the discriminator "
                             f"{disc.vocab_size}/{disc.embedding_size}")
        config = config.replace(generator_hidden_size=gen.hidden_size / disc.hidden_size,
                                generator_layers=gen.num_layers / disc.num_layers).validate()
        _check_generator_heads(config, gen)
        values, ignored = hf.to_google(state, "electra")
        gvalues, gignored = hf.to_google(gen_state, "generator")
        for name in [n for n in gvalues if n.startswith("electra/embeddings/")]:
            if not (gvalues[name] == values[name]).all():
                print(f"note: the generator's {name} differs from the discriminator's; the "
                      f"shared embeddings are taken from the discriminator", file=sys.stderr)
            del gvalues[name]
        values.update(gvalues)
        entries = gn.pretraining_entries(config)
        head = True
        ignored += gignored
        target_config = config
    else:  # one network, with its own sizes
        target_config = config.validate().encoder
        scope, head_key = (("generator", "generator_predictions.dense.weight")
                           if FLAGS.to == "generator" else
                           ("electra", "discriminator_predictions.dense.weight"))
        values, ignored = hf.to_google(state, scope)
        head = head_key in state
        entries = gn.network_entries(target_config, FLAGS.to, head=head)
    converted = gn.convert(entries, values, "to_ours", FLAGS.input)
    _check_vocab(vocab, config.encoder)
    ours.write(FLAGS.output, target_config, FLAGS.to, converted, vocab, FLAGS.input, head=head)
    print(f"imported {len(converted)} weights"
          + (f" ({len(ignored)} ignored: {', '.join(ignored[:5])})" if ignored else "")
          + ("" if head else " (no task head in the input: encoder only)"))
    return config


def _check_generator_heads(config, gen):
    derived = config.generator_encoder().num_heads
    if derived != gen.num_heads:
        raise UsageError(f"the generator has {gen.num_heads} attention heads; electra_tf derives "
                         f"{derived} (max(1, hidden // 64), as the original)")


def from_ours():
    from electra_tf.configs import network_encoder
    from electra_tf.interop import google_names as gn
    from electra_tf.interop import huggingface as hf
    from electra_tf.interop import ours

    config, kind, values = ours.read(FLAGS.input)
    base_dir = FLAGS.input if os.path.isdir(FLAGS.input) else os.path.dirname(FLAGS.input)
    vocab = _vocab(base_dir)
    if FLAGS.to in ("pretraining", "discriminator", "generator"):
        target = FLAGS.to
        vals = values if target == "pretraining" else ours.network_values(values, kind, target)
        if target == "pretraining" and kind != "pretraining":
            raise UsageError(f"{FLAGS.input} holds only the {kind}")
        ours.write(FLAGS.output, config, target, vals, vocab, FLAGS.input,
                   head=any(n.startswith("head/") for n in vals) or target == "pretraining")
    elif FLAGS.to == "hf":
        ours.check(config, kind, values, FLAGS.input)  # nothing below builds the model
        whiches = ["discriminator", "generator"] if kind == "pretraining" else [kind]
        for which in whiches:
            net = ours.network_values(values, kind, which)
            head = any(n.startswith("head/") for n in net)
            google = gn.convert(gn.network_entries(config, which, head=head), net, "to_theirs",
                                FLAGS.input)
            scope = "electra" if which == "discriminator" else "generator"
            hf_cfg = hf.hf_config(config, which)
            if not head:
                hf_cfg["architectures"] = ["ElectraModel"]
            state = hf.from_google(google, scope, "electra." if head else "")
            out = os.path.join(FLAGS.output, which) if len(whiches) > 1 else FLAGS.output
            hf.write_dir(out, hf_cfg, state, vocab)
            print(f"wrote {hf_cfg['architectures'][0]} to {out}")
    else:
        net = ours.network_values(values, kind, "discriminator")
        config = network_encoder(config, "discriminator")
        if FLAGS.to == "keras_hub":
            if vocab is None:
                raise UsageError("a keras-hub preset needs the vocabulary: pass --vocab")
            from electra_tf.interop import keras_hub_export
            keras_hub_export.export(config, net, vocab, FLAGS.output)
        elif FLAGS.to == "preset":
            from electra_tf.interop import keras_hub_export
            keras_hub_export.export_ours(config, net, vocab, FLAGS.output)
        else:
            from electra_tf.interop import saved_model
            saved_model.export(config, net, FLAGS.output)
        print(f"wrote the discriminator as {FLAGS.to} to {FLAGS.output}")


def run():
    from electra_tf.configs import parse_overrides

    if not FLAGS.input or not FLAGS.to or not FLAGS.output:
        raise UsageError("--input, --to and --output are required")
    if os.path.isdir(FLAGS.output) and os.listdir(FLAGS.output) and not FLAGS.overwrite:
        raise UsageError(f"--output={FLAGS.output} is not empty: pass --overwrite")
    overrides = parse_overrides(FLAGS.config)
    source = FLAGS["from"].value
    if source == "google":
        from_google(overrides)
    elif source == "hf":
        from_hf(overrides)
    else:
        if overrides:
            raise UsageError("--config applies to imports only")
        if FLAGS.to in ("pretraining", "discriminator", "generator", "hf", "keras_hub",
                        "preset", "saved_model"):
            from_ours()
    print(f"done: {FLAGS.output}")


def main(argv):
    del argv
    cli.start()
    from electra_tf.configs import ConfigError
    from electra_tf.interop.google_names import MappingError
    from electra_tf.interop.google_tf1 import CheckpointImportError
    from electra_tf.interop.huggingface import HFError
    from electra_tf.interop.ours import CheckpointError
    from electra_tf.tokenization import VocabError

    try:
        run()
    except (UsageError, ConfigError, MappingError, CheckpointImportError, HFError, CheckpointError,
            VocabError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
