"""The generator + discriminator pair with shared embeddings (and the paper's variants)."""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.configs import ElectraConfig
from electra_tf.kernels import is_fast
from electra_tf.model.backbone import ElectraBackbone
from electra_tf.model.block import layer_classes
from electra_tf.model.layers import (DiscriminatorHead, DisentangledEmbeddings,
                                     ElectraEmbeddings, generator_head, initializer)

MLM_OBJECTIVES = ("bert", "replace_mlm", "all_tokens_mlm")  # the main model predicts tokens


class ElectraPretrainingModel(keras.Model):
    """Holds every pre-training weight; the objective decides how they are used.

    The generator and the discriminator are ElectraBackbones (backbone.py) built on one
    ElectraEmbeddings layer; the heads sit beside them. `fast` is passed to every layer
    (default: the encoder config's speed_path, "fast").

    Default (weight_tying=embeddings, the paper's choice): the two networks share word,
    position and segment embeddings and the embedding LayerNorm; the generator's output
    softmax is the word table plus a bias. Each network has its own embeddings_project
    when its hidden size differs from the embedding size. There is no pooler.

    Variants: weight_tying=none gives the generator its own embeddings; weight_tying=all
    makes the generator the discriminator (same encoder); weight_tying=gdes gives the
    discriminator the word table stop_gradient(E_G) + E_delta (DisentangledEmbeddings).
    No generator network exists for objective=bert or generator=unigram|uniform.
    bert / replace_mlm / all_tokens_mlm add an MLM head on the discriminator (tied to the
    word table); uncorrupted_prob > 0 adds a sentence-level "was this input corrupted"
    head on [CLS].
    """

    def __init__(self, config: ElectraConfig, fast: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        fast = is_fast(config.encoder.speed_path) if fast is None else fast
        enc, task = config.encoder, config.pretraining
        self.embeddings = ElectraEmbeddings.from_encoder_config(enc, fast=fast,
                                                                name="embeddings")
        self.disentangled = None  # weight_tying=gdes: the discriminator's view of them
        disc_emb = self.embeddings
        if task.weight_tying == "gdes":
            disc_emb = self.disentangled = DisentangledEmbeddings(
                self.embeddings, name="discriminator_embeddings")
        self.discriminator = ElectraBackbone.from_encoder_config(
            enc, embeddings=disc_emb, fast=fast, name="discriminator")
        self.discriminator_head = DiscriminatorHead(enc.hidden_size, enc.initializer_range,
                                                    fast=fast,
                                                    name="discriminator_predictions")
        self.generator_embeddings = None
        self.generator = self.generator_head = None
        if task.uses_generator_network:
            gen_emb = self.embeddings
            if task.weight_tying == "none":
                gen_emb = self.generator_embeddings = ElectraEmbeddings.from_encoder_config(
                    enc, fast=fast, name="generator_embeddings")
            if task.weight_tying == "all":
                self.generator = self.discriminator
            else:
                self.generator = ElectraBackbone.from_encoder_config(
                    config.generator_encoder(), embeddings=gen_emb, fast=fast,
                    name="generator")
            self.generator_head = generator_head(enc, gen_emb, fast=fast)
        self.discriminator_mlm_head = None
        if task.objective in MLM_OBJECTIVES:
            self.discriminator_mlm_head = generator_head(enc, self.embeddings, fast=fast,
                                                         name="discriminator_mlm_predictions")
        self.sentence_head = None
        if task.uncorrupted_prob > 0:
            self.sentence_head = layer_classes(fast)["dense"](
                1, kernel_initializer=initializer(enc), name="sentence_predictions")

    @property
    def generator_is_discriminator(self) -> bool:
        return self.generator is not None and self.generator is self.discriminator

    def build(self, input_shape=None):
        length = self.config.pretraining.max_seq_length
        hidden = self.config.encoder.hidden_size  # the backbones are built (functional models)
        if self.generator is not None:
            gen_hidden = self.generator.hidden_dim
            self.generator_head.build((None, length, gen_hidden), (None, None))
        self.discriminator_head.build((None, length, hidden))
        if self.discriminator_mlm_head is not None:
            self.discriminator_mlm_head.build((None, length, hidden), (None, None))
        if self.sentence_head is not None:
            self.sentence_head.build((None, hidden))
        self.built = True

    def generator_logits(self, token_ids, segment_ids, padding_mask, positions, training=None):
        """[B, L] masked ids -> [B, N, V] float32 MLM logits at `positions` [B, N]."""
        hidden = self.generator.encode(token_ids, segment_ids, padding_mask, training=training)
        return ops.cast(self.generator_head(hidden, mask_positions=positions), "float32")

    def discriminator_outputs(self, token_ids, segment_ids, padding_mask, positions=None,
                              training=None) -> dict:
        """One discriminator pass: rtd_logits [B, L]; mlm_logits [B, N, V] at `positions`
        (MLM objectives); sentence_logit [B] (contrastive option)."""
        hidden = self.discriminator.encode(token_ids, segment_ids, padding_mask,
                                           training=training)
        out = {"rtd_logits": ops.cast(self.discriminator_head(hidden), "float32")}
        if self.discriminator_mlm_head is not None and positions is not None:
            out["mlm_logits"] = ops.cast(
                self.discriminator_mlm_head(hidden, mask_positions=positions), "float32")
        if self.sentence_head is not None:
            out["sentence_logit"] = ops.cast(ops.squeeze(self.sentence_head(hidden[:, 0]), -1),
                                             "float32")
        return out

    def discriminator_logits(self, token_ids, segment_ids, padding_mask, training=None):
        """[B, L] ids -> [B, L] float32 replaced-token logits."""
        return self.discriminator_outputs(token_ids, segment_ids, padding_mask,
                                          training=training)["rtd_logits"]

    def call(self, inputs, training=None):
        ids, seg, mask = inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"]
        return self.discriminator_logits(ids, seg, mask, training=training)
