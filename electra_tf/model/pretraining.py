"""The generator + discriminator pair with shared embeddings."""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.configs import ElectraConfig
from electra_tf.model.layers import (DiscriminatorHead, ElectraEmbeddings, ElectraEncoder,
                                     generator_head)


class ElectraPretrainingModel(keras.Model):
    """Holds every pre-training weight; the objective decides how they are used.

    Shared between the two networks (the paper's default weight tying): word,
    position and segment embeddings and the embedding LayerNorm; the
    generator's output softmax is the word table plus a bias. Each network has
    its own embeddings_project when its hidden size differs from the
    embedding size. There is no pooler.
    """

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = ElectraEmbeddings(config, name="embeddings")
        gen = config.generator_sizes()
        self.generator = ElectraEncoder(config, self.embeddings, name="generator", **gen)
        self.generator_head = generator_head(config, self.embeddings)
        self.discriminator = ElectraEncoder(
            config, self.embeddings, hidden_size=config.hidden_size,
            num_layers=config.num_layers, num_heads=config.num_heads,
            intermediate_size=config.intermediate_size, name="discriminator")
        self.discriminator_head = DiscriminatorHead(config, name="discriminator_predictions")

    def build(self, input_shape=None):
        length = self.config.max_seq_length
        shape = (None, length)
        self.generator.build(shape)
        self.discriminator.build(shape)
        gen_hidden = self.config.generator_sizes()["hidden_size"]
        self.generator_head.build((None, length, gen_hidden), (None, None))
        self.discriminator_head.build((None, length, self.config.hidden_size))
        self.built = True

    def generator_logits(self, input_ids, segment_ids, input_mask, positions, training=None):
        """[B, L] masked ids -> [B, N, V] float32 MLM logits at `positions` [B, N]."""
        hidden = self.generator(input_ids, segment_ids, input_mask, training=training)
        return ops.cast(self.generator_head(hidden, mask_positions=positions), "float32")

    def discriminator_logits(self, input_ids, segment_ids, input_mask, training=None):
        """[B, L] ids -> [B, L] float32 replaced-token logits."""
        hidden = self.discriminator(input_ids, segment_ids, input_mask, training=training)
        return ops.cast(self.discriminator_head(hidden), "float32")

    def call(self, inputs, training=None):
        ids, seg, mask = inputs["input_ids"], inputs["segment_ids"], inputs["input_mask"]
        return self.discriminator_logits(ids, seg, mask, training=training)
