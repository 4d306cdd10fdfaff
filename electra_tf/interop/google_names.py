"""Our weight names <-> the original ELECTRA's TF1 names (the hub every format maps through).

The original (google-research/electra, model/modeling.py) names, with kernels [in, out]:

    electra/embeddings/{word,position,token_type}_embeddings, electra/embeddings/LayerNorm/*
    <scope>/embeddings_project/{kernel,bias}            scope: electra | generator
    <scope>/encoder/layer_N/attention/self/{query,key,value}/{kernel,bias}
    <scope>/encoder/layer_N/attention/output/dense/*, .../attention/output/LayerNorm/*
    <scope>/encoder/layer_N/intermediate/dense/*, .../output/dense/*, .../output/LayerNorm/*
    generator_predictions/{dense/*, LayerNorm/*, output_bias}
    discriminator_predictions/{dense,dense_1}/*

Ours (electra_tf/model/weights.py) keep keras-hub's layout: attention kernels are
[hidden, heads, head_dim] / [heads, head_dim, hidden]; the rest is the same numbers.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

import numpy as np

from electra_tf.configs import network_encoder


@dataclasses.dataclass(frozen=True)
class Entry:
    ours: str
    theirs: str
    to_ours: Callable[[np.ndarray], np.ndarray]
    to_theirs: Callable[[np.ndarray], np.ndarray]


def _same(x):
    return x


def _split_heads(heads):
    return lambda x: x.reshape(x.shape[0], heads, -1) if x.ndim == 2 else x.reshape(heads, -1)


def _merge_heads(x):
    return x.reshape(x.shape[0], -1) if x.ndim == 3 else x.reshape(-1)


def _split_out(heads):
    return lambda x: x.reshape(heads, -1, x.shape[-1])


def _merge_out(x):
    return x.reshape(-1, x.shape[-1])


def embeddings_entries(ours: str = "embeddings", theirs: str = "electra/embeddings"):
    pairs = [("word_embeddings/embeddings", "word_embeddings"),
             ("position_embeddings/embeddings", "position_embeddings"),
             ("token_type_embeddings/embeddings", "token_type_embeddings"),
             ("layer_norm/gamma", "LayerNorm/gamma"), ("layer_norm/beta", "LayerNorm/beta")]
    return [Entry(f"{ours}/{a}", f"{theirs}/{b}", _same, _same) for a, b in pairs]


def encoder_entries(ours: str, theirs: str, num_layers: int, num_heads: int,
                    project: bool) -> list[Entry]:
    """One encoder: ours `<ours>/...` <-> theirs `<theirs>/embeddings_project`, `<theirs>/encoder/...`."""
    out = []
    if project:
        out += [Entry(f"{ours}/embeddings_project/{n}", f"{theirs}/embeddings_project/{n}",
                      _same, _same) for n in ("kernel", "bias")]
    for i in range(num_layers):
        o, t = f"{ours}/layer_{i}", f"{theirs}/encoder/layer_{i}"
        for proj in ("query", "key", "value"):
            for n in ("kernel", "bias"):
                out.append(Entry(f"{o}/self_attention_layer/{proj}/{n}",
                                 f"{t}/attention/self/{proj}/{n}", _split_heads(num_heads),
                                 _merge_heads))
        out.append(Entry(f"{o}/self_attention_layer/attention_output/kernel",
                         f"{t}/attention/output/dense/kernel", _split_out(num_heads),
                         _merge_out))
        pairs = [("self_attention_layer/attention_output/bias", "attention/output/dense/bias"),
                 ("self_attention_layer_norm/gamma", "attention/output/LayerNorm/gamma"),
                 ("self_attention_layer_norm/beta", "attention/output/LayerNorm/beta"),
                 ("feedforward_intermediate_dense/kernel", "intermediate/dense/kernel"),
                 ("feedforward_intermediate_dense/bias", "intermediate/dense/bias"),
                 ("feedforward_output_dense/kernel", "output/dense/kernel"),
                 ("feedforward_output_dense/bias", "output/dense/bias"),
                 ("feedforward_layer_norm/gamma", "output/LayerNorm/gamma"),
                 ("feedforward_layer_norm/beta", "output/LayerNorm/beta")]
        out += [Entry(f"{o}/{a}", f"{t}/{b}", _same, _same) for a, b in pairs]
    return out


def discriminator_head_entries(ours: str = "discriminator_predictions"):
    return [Entry(f"{ours}/{a}/{n}", f"discriminator_predictions/{a}/{n}", _same, _same)
            for a in ("dense", "dense_1") for n in ("kernel", "bias")]


def generator_head_entries(ours: str = "generator_predictions"):
    pairs = [("intermediate_dense/kernel", "dense/kernel"), ("intermediate_dense/bias", "dense/bias"),
             ("intermediate_layer_norm/gamma", "LayerNorm/gamma"),
             ("intermediate_layer_norm/beta", "LayerNorm/beta"), ("output_bias", "output_bias")]
    return [Entry(f"{ours}/{a}", f"generator_predictions/{b}", _same, _same) for a, b in pairs]


def pretraining_entries(config) -> list[Entry]:
    """Every weight of our pre-training model (an ElectraConfig) <-> the original's names."""
    disc, gen = config.encoder, config.generator_encoder()
    return (embeddings_entries()
            + encoder_entries("discriminator", "electra", disc.num_layers, disc.num_heads,
                              disc.hidden_size != disc.embedding_size)
            + encoder_entries("generator", "generator", gen.num_layers, gen.num_heads,
                              gen.hidden_size != gen.embedding_size)
            + discriminator_head_entries() + generator_head_entries())


def network_entries(config, which: str, head: bool = True) -> list[Entry]:
    """One exported network (embeddings/*, encoder/*, head/*) <-> the original's names;
    `config`: an ElectraConfig or the network's EncoderConfig."""
    enc = network_encoder(config, which)
    scope = "electra" if which == "discriminator" else "generator"
    entries = embeddings_entries() + encoder_entries(
        "encoder", scope, enc.num_layers, enc.num_heads, enc.hidden_size != enc.embedding_size)
    if head:
        entries += (discriminator_head_entries("head") if which == "discriminator"
                    else generator_head_entries("head"))
    return entries


class MappingError(ValueError):
    """Weights do not match the expected names/shapes; the message lists them."""


def convert(entries: list[Entry], values: dict[str, np.ndarray], direction: str,
            source: str, expected_shapes: dict[str, tuple] | None = None) -> dict[str, np.ndarray]:
    """Maps `values` (names of one side) to the other side's names.

    direction "to_ours": values keyed by their names; "to_theirs": keyed by ours.
    Missing names and shape mismatches (against expected_shapes of the output side)
    are reported together, by name.
    """
    out, missing, bad = {}, [], []
    for e in entries:
        src, dst = (e.theirs, e.ours) if direction == "to_ours" else (e.ours, e.theirs)
        if src not in values:
            missing.append(src)
            continue
        fn = e.to_ours if direction == "to_ours" else e.to_theirs
        try:
            value = fn(np.asarray(values[src]))
        except ValueError as err:
            bad.append(f"{src} {tuple(np.shape(values[src]))}: {err}")
            continue
        if expected_shapes is not None and dst in expected_shapes and \
                tuple(value.shape) != tuple(expected_shapes[dst]):
            bad.append(f"{src}: expected {tuple(expected_shapes[dst])} (as {dst}), found "
                       f"{tuple(np.shape(values[src]))}")
            continue
        out[dst] = value
    if missing or bad:
        from electra_tf.model.weights import problems
        raise MappingError(f"{source}: {problems(missing, bad)}")
    return out


def count_layers(names, prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"/encoder/layer_(\d+)/")
    found = {int(m.group(1)) for n in names for m in [pat.match(n)] if m}
    return max(found) + 1 if found else 0
