"""Exporting one network of a pre-training model: what fine-tuning and `convert` read.

A directory with `weights` (a TF checkpoint of explicitly named weights, model/weights.py),
`config.json` (the network's EncoderConfig plus "network": discriminator | generator) and
vocab.txt.
"""
from __future__ import annotations

import json
import os
import shutil

import tensorflow as tf

from electra_tf.configs import network_encoder
from electra_tf.model import weights


def export_network(model, config, which: str, directory: str,
                   vocab_file: str | None = None) -> str:
    """Writes the discriminator or the generator of an ElectraPretrainingModel (its
    embeddings, encoder and head); returns the weights' checkpoint path."""
    if which == "discriminator":
        named = weights.network_weights(model.embeddings, model.discriminator,
                                        model.discriminator_head)
        if model.disentangled is not None:  # weight_tying=gdes: its table is E_G + E_delta
            named[weights.WORD_TABLE] = tf.Variable(model.disentangled.word_table(),
                                                    trainable=False)
    else:
        emb = model.generator_embeddings or model.embeddings
        named = weights.network_weights(emb, model.generator, model.generator_head)
    os.makedirs(directory, exist_ok=True)
    path = weights.write(os.path.join(directory, "weights"), named)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(dict(network_encoder(config, which).to_dict(), network=which), f, indent=2,
                  sort_keys=True)
    if vocab_file:
        shutil.copyfile(vocab_file, os.path.join(directory, "vocab.txt"))
    return path
