"""Google's released ELECTRA checkpoints (TF1 format): read, infer sizes, map to ours."""
from __future__ import annotations

import numpy as np

from electra_tf.configs import ElectraConfig
from electra_tf.interop import google_names as gn

OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v")
IGNORED = ("global_step",)


class CheckpointImportError(ValueError):
    """Cannot import the checkpoint; the message names what is wrong."""


def read_checkpoint(path: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """({name: value} of the model variables, [ignored optimizer/step names])."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(path)
    except Exception as e:  # noqa: BLE001 - missing/corrupt: one line
        raise CheckpointImportError(f"cannot read TF checkpoint {path}: {str(e).splitlines()[0]} (pass "
                           f"the prefix, e.g. electra_small/model.ckpt-1000000)") from None
    values, ignored = {}, []
    for name in reader.get_variable_to_shape_map():
        if name.endswith(OPTIMIZER_SUFFIXES) or name in IGNORED or name.startswith("_"):
            ignored.append(name)
            continue
        values[name] = reader.get_tensor(name)
    return values, sorted(ignored)


def infer_config(values: dict[str, np.ndarray], base: ElectraConfig) -> ElectraConfig:
    """The sizes the checkpoint's shapes imply (heads: hidden // 64, as every paper size;
    override with --config=num_heads=N)."""
    if "electra/embeddings/word_embeddings" not in values:
        raise CheckpointImportError("no electra/embeddings/word_embeddings: not an ELECTRA checkpoint "
                           "(expected the original's variable names)")
    vocab, emb = values["electra/embeddings/word_embeddings"].shape
    positions = values["electra/embeddings/position_embeddings"].shape[0]
    types = values["electra/embeddings/token_type_embeddings"].shape[0]
    layers = gn.count_layers(values, "electra")
    if layers == 0:
        raise CheckpointImportError("no electra/encoder/layer_N variables in the checkpoint")
    hidden, inter = values["electra/encoder/layer_0/intermediate/dense/kernel"].shape
    fields = dict(vocab_size=int(vocab), embedding_size=int(emb),
                  max_position_embeddings=int(positions), type_vocab_size=int(types),
                  hidden_size=int(hidden), intermediate_size=int(inter), num_layers=layers,
                  max_seq_length=min(base.pretraining.max_seq_length, int(positions)))
    if base.encoder.hidden_size == hidden and base.encoder.num_layers == layers:
        fields["num_heads"] = base.encoder.num_heads
    else:
        fields["num_heads"] = max(1, int(hidden) // 64)
    gen_layers = gn.count_layers(values, "generator")
    if gen_layers:
        gen_hidden = values["generator/encoder/layer_0/intermediate/dense/kernel"].shape[0]
        fields["generator_hidden_size"] = gen_hidden / hidden
        fields["generator_layers"] = gen_layers / layers
    config = base.replace(**fields)
    if gen_layers:
        g = config.generator_encoder()
        if (g.hidden_size, g.num_layers) != (gen_hidden, gen_layers):
            raise CheckpointImportError(f"generator of {gen_layers} layers x {gen_hidden} cannot be "
                               f"expressed as fractions of the discriminator's")
    return config


def to_ours(values: dict[str, np.ndarray], config: ElectraConfig, target: str,
            source: str) -> dict[str, np.ndarray]:
    """Our names for `target`: "pretraining" (both networks), "discriminator" or
    "generator" (one exported network, with its head)."""
    entries = (gn.pretraining_entries(config) if target == "pretraining"
               else gn.network_entries(config, target))
    return gn.convert(entries, values, "to_ours", source)


def unused(values: dict[str, np.ndarray], config: ElectraConfig, target: str) -> list[str]:
    entries = (gn.pretraining_entries(config) if target == "pretraining"
               else gn.network_entries(config, target))
    used = {e.theirs for e in entries}
    return sorted(n for n in values if n not in used)
