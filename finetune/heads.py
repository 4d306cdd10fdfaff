"""The SQuAD head on the discriminator's hidden states, as the original's fine-tuning code
(Keras' default Glorot-uniform initialisation, like its `tf.layers.dense` calls). The
classification and tagging heads live with their Keras task models
(electra_tf/model/text_classifier.py, token_classifier.py) and are re-exported here.
"""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.model.layers import gelu_exact
from electra_tf.model.text_classifier import ClassificationHead  # noqa: F401 (re-export)
from electra_tf.model.token_classifier import TokenClassificationHead  # noqa: F401

NEG = 1000.0  # the original masks logits with 1000 * (mask - 1)


class SquadHead(keras.layers.Layer):
    """Start logits; end logits conditioned on the start representation; optional
    answerability classifier (SQuAD 2.0), as the original's joint prediction.

    Training (start_positions given): start and end logits, the end logits with the
    gold start (teacher forcing). Inference: the top `beam_size` starts, and for each
    the top `beam_size` ends, as log-probabilities (no per-position outputs, so
    prediction can cut batches to their own length: finetune/batching.py).
    """

    def __init__(self, beam_size: int = 20, answerable: bool = False, hidden_units: int = 512,
                 **kwargs):
        super().__init__(**kwargs)
        self.beam_size = beam_size
        self.answerable = answerable
        self.start_dense = keras.layers.Dense(1, name="start_logits")
        self.end_hidden = keras.layers.Dense(hidden_units, activation=gelu_exact,
                                             name="qa_hidden")
        self.end_dense = keras.layers.Dense(1, name="qa_logits")
        if answerable:
            self.answer_hidden = keras.layers.Dense(hidden_units, activation=gelu_exact,
                                                    name="answerable_hidden")
            self.answer_dense = keras.layers.Dense(1, name="answerable_logit")

    def build(self, input_shape):
        hidden = input_shape[-1]
        self.start_dense.build((None, hidden))
        self.end_hidden.build((None, 2 * hidden))
        self.end_dense.build((None, self.end_hidden.units))
        if self.answerable:
            self.answer_hidden.build((None, 2 * hidden))
            self.answer_dense.build((None, self.answer_hidden.units))
        self.built = True

    def _end_logits(self, start_features, hidden):
        """end_dense(end_hidden(concat[start feature, hidden at each end position]))
        for start features [B, H] (training) or [B, K, H] (the beam): [B, L] or [B, K, L].

        As the original's maths, without building the concatenation: a dense layer of
        a concatenation is the sum of the two halves' products, so the start half is
        multiplied once per start instead of once per (start, end) pair, which was most
        of the head's cost at inference (K=20 starts x L ends x 2H x 512)."""
        layer = self.end_hidden
        dtype = layer.compute_dtype
        kernel = ops.cast(layer.kernel, dtype)
        width = ops.shape(start_features)[-1]
        start_part = ops.matmul(ops.cast(start_features, dtype), kernel[:width])
        end_part = ops.matmul(ops.cast(hidden, dtype), kernel[width:]) + ops.cast(layer.bias,
                                                                                 dtype)
        if len(start_features.shape) == 2:  # [B, 1, U] + [B, L, U]
            x = start_part[:, None, :] + end_part
        else:  # [B, K, 1, U] + [B, 1, L, U]
            x = start_part[:, :, None, :] + end_part[:, None, :, :]
        return ops.cast(ops.squeeze(self.end_dense(layer.activation(x)), -1), "float32")

    def call(self, hidden, inputs, training=None):
        """`inputs`: padding_mask, segment_ids and, in training, start_positions (the end
        logits then use the gold start)."""
        padding_mask, segment_ids = inputs["padding_mask"], inputs["segment_ids"]
        start_positions = inputs.get("start_positions") if training else None
        hidden = ops.cast(hidden, "float32")
        length = ops.shape(hidden)[1]
        # Answers lie in the context (segment 1) or at [CLS] (no answer).
        answer_mask = (ops.cast(padding_mask, "float32") * ops.cast(segment_ids, "float32")
                       + ops.one_hot(0, length))
        penalty = NEG * (answer_mask - 1.0)
        # Logits in float32 under mixed precision (the dense layers compute in 16 bits).
        start_logits = ops.cast(ops.squeeze(self.start_dense(hidden), -1), "float32") + penalty
        out = {}
        if start_positions is not None:
            out["start_logits"] = start_logits
            pick = ops.one_hot(start_positions, length)  # [B, L]
            start_feat = ops.sum(pick[:, :, None] * hidden, axis=1)  # [B, H]
            out["end_logits"] = self._end_logits(start_feat, hidden) + penalty
        else:
            start_log_probs = ops.log_softmax(start_logits, axis=-1)
            top_start_lp, top_start = ops.top_k(start_log_probs, k=self.beam_size)
            pick = ops.one_hot(top_start, length)  # [B, K, L]
            start_feat = ops.einsum("bkl,blh->bkh", pick, hidden)  # [B, K, H]
            end_logits = self._end_logits(start_feat, hidden) + penalty[:, None, :]
            top_end_lp, top_end = ops.top_k(ops.log_softmax(end_logits, axis=-1),
                                            k=self.beam_size)
            out.update(start_top_log_probs=top_start_lp, start_top_index=top_start,
                       end_top_log_probs=top_end_lp, end_top_index=top_end)
        if self.answerable:
            start_p = ops.softmax(start_logits, axis=-1)
            start_feature = ops.sum(start_p[:, :, None] * hidden, axis=1)
            x = ops.concatenate([hidden[:, 0], start_feature], axis=-1)
            out["answerable_logit"] = ops.cast(
                ops.squeeze(self.answer_dense(self.answer_hidden(x)), -1), "float32")
        return out
