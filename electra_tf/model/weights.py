"""Name-keyed weights: one stable name per variable, independent of Keras' object graph.

Keras 3 layers do not expose every sub-layer to tf.train.Checkpoint's object
graph (the encoder's list of blocks is invisible to it), so exported networks
and imported checkpoints use explicit names instead:

    embeddings/word_embeddings/embeddings, embeddings/layer_norm/gamma, ...
    encoder/embeddings_project/kernel, encoder/layer_3/self_attention_layer/query/kernel, ...
    head/dense/kernel, ...

They are written as the dict `weights` of a tf.train.Checkpoint and read back
through the checkpoint's object graph, so a missing weight or a shape mismatch
is reported by name.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

ROOT = "weights"
GDES_DELTA = "discriminator_embeddings/word_delta"  # weight_tying=gdes: E_delta
WORD_TABLE = "embeddings/word_embeddings/embeddings"


class WeightsError(ValueError):
    """Checkpoint weights do not fit the model; the message names the weights."""


def relative(var, layer_name: str) -> str:
    parts = var.path.split("/")
    if layer_name not in parts:
        raise WeightsError(f"variable {var.path} is not under layer {layer_name}")
    return "/".join(parts[parts.index(layer_name) + 1:])


def embedding_weights(embeddings) -> dict:
    return {f"embeddings/{relative(v, embeddings.name)}": v for v in embeddings.weights}


def encoder_weights(backbone, prefix: str = "encoder") -> dict:
    """An ElectraBackbone's own weights (embeddings_project and blocks), not the (shared)
    embeddings."""
    out = {}
    project = backbone.embeddings_projection
    if project is not None:
        for v in project.weights:
            out[f"{prefix}/embeddings_project/{relative(v, project.name)}"] = v
    for block in backbone.transformer_layers:
        for v in block.weights:
            out[f"{prefix}/{block.name}/{relative(v, block.name)}"] = v
    return out


def layer_weights(layer, prefix: str, exclude=()) -> dict:
    skip = {id(v) for v in exclude}
    return {f"{prefix}/{relative(v, layer.name)}": v for v in layer.weights
            if id(v) not in skip}


def network_weights(embeddings, encoder, head=None, exclude=()) -> dict:
    """embeddings/*, encoder/* and (optionally) head/* of one network."""
    out = dict(embedding_weights(embeddings))
    out.update(encoder_weights(encoder))
    if head is not None:
        out.update(layer_weights(head, "head", exclude=list(exclude) + list(embeddings.weights)))
    return out


def pretraining_weights(model) -> dict:
    """Every weight of an ElectraPretrainingModel, by name (each variable once)."""
    out = dict(embedding_weights(model.embeddings))
    if model.disentangled is not None:  # weight_tying=gdes
        out[GDES_DELTA] = model.disentangled.word_delta
    out.update(encoder_weights(model.discriminator, "discriminator"))
    out.update(layer_weights(model.discriminator_head, "discriminator_predictions"))
    shared = list(model.embeddings.weights)
    if model.generator_embeddings is not None:  # weight_tying=none
        out.update({"generator_" + n: v
                    for n, v in embedding_weights(model.generator_embeddings).items()})
        shared += list(model.generator_embeddings.weights)
    if model.generator is not None and not model.generator_is_discriminator:
        out.update(encoder_weights(model.generator, "generator"))
    if model.generator_head is not None:
        out.update(layer_weights(model.generator_head, "generator_predictions", exclude=shared))
    for attr in ("discriminator_mlm_head", "sentence_head"):
        layer = getattr(model, attr)
        if layer is not None:
            out.update(layer_weights(layer, layer.name, exclude=shared))
    return out


def problems(missing: list[str], bad: list[str], show: int = 6) -> str:
    """'missing N weight(s): a, b | shape mismatch: ...' for error messages."""
    def cut(items, sep):
        return sep.join(items[:show]) + (" ..." if len(items) > show else "")
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} weight(s): {cut(missing, ', ')}")
    if bad:
        parts.append(f"shape mismatch: {cut(bad, '; ')}")
    return " | ".join(parts)


def write(prefix: str, named: dict) -> str:
    return tf.train.Checkpoint(**{ROOT: named}).write(prefix)


def read(prefix: str) -> dict[str, np.ndarray]:
    """{name: value} of the `weights` dict in a checkpoint (see module doc)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    try:
        reader = tf.train.load_checkpoint(prefix)
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception as e:  # noqa: BLE001 - missing/corrupt files: one clear line
        raise WeightsError(f"cannot read checkpoint {prefix}: {str(e).splitlines()[0]}") \
            from None
    root = graph.nodes[0]
    node_id = next((c.node_id for c in root.children if c.local_name == ROOT), None)
    if node_id is None:
        raise WeightsError(f"checkpoint {prefix} has no named '{ROOT}' (it was not written by "
                           f"electra_tf's export/convert)")
    out = {}
    for child in graph.nodes[node_id].children:
        attrs = graph.nodes[child.node_id].attributes
        if attrs:
            out[child.local_name] = reader.get_tensor(attrs[0].checkpoint_key)
    return out


def assign(named_vars: dict, values: dict[str, np.ndarray], source: str,
           optional: tuple[str, ...] = ()) -> list[str]:
    """Assigns values to variables by name. Every variable must be present with its
    shape, except names starting with one of `optional`; returns the unused names."""
    missing = [n for n in named_vars if n not in values and not n.startswith(optional)]
    bad = [f"{n}: model {tuple(v.shape)}, checkpoint {tuple(values[n].shape)}"
           for n, v in named_vars.items()
           if n in values and tuple(values[n].shape) != tuple(v.shape)]
    if missing or bad:
        raise WeightsError(f"{source} does not fit the model: {problems(missing, bad)} (is "
                           f"the config the checkpoint's?)")
    for n, v in named_vars.items():
        if n in values:
            v.assign(values[n].astype(v.dtype) if hasattr(values[n], "astype") else values[n])
    return sorted(set(values) - set(named_vars))
