"""The paper's MLM baselines and ablations (Section 3.4, Table 5).

objective=bert: masked language modelling with the full-size (discriminator) network
  only; masking 85% [MASK] / 15% kept as the released code, or BERT's 80/10/10 with
  --config=mask_token_prob=0.8 --config=mask_random_prob=0.1.
objective=replace_mlm: the masked positions are filled with generator samples instead
  of [MASK]; the main network does MLM on them.
objective=all_tokens_mlm: as replace_mlm, but the main network predicts every token,
  with a copy mechanism: p(x_t) = D * 1[x_t = input_t] + (1 - D) * p_MLM(x_t), D the
  sigmoid of the discriminator head.
"""
from __future__ import annotations

from keras import ops

from electra_tf import masking
from electra_tf.objectives.common import mlm_sums, softmax_xent
from electra_tf.objectives.electra import ElectraObjective


class BertObjective(ElectraObjective):
    name = "bert"

    def denominators(self, p):
        return {"mlm": ops.sum(p.mlm_weights)}

    def loss_terms(self, model, p, seed, training=True, phase=None):
        out = model.discriminator_outputs(p.token_ids, p.segment_ids, p.padding_mask,
                                          positions=p.positions, training=training)
        xent = softmax_xent(out["mlm_logits"], p.mlm_ids, fused=self.fused)
        w = p.mlm_weights
        terms = {"mlm": (1.0, ops.sum(w * xent), None)}
        sums = mlm_sums("mlm", out["mlm_logits"], p.mlm_ids, w, xent)
        length = p.token_ids.shape[1]
        selected = ops.cast(ops.sum(masking.slot_onehot(p.positions, w, length), axis=1) > 0,
                            "int32")
        return terms, sums, {"fake_ids": p.token_ids, "labels": selected}


class ReplaceMLMObjective(ElectraObjective):
    name = "replace_mlm"

    def denominators(self, p):
        dens = {"mlm": ops.sum(p.mlm_weights), "main_mlm": ops.sum(p.mlm_weights)}
        return dens

    def loss_terms(self, model, p, seed, training=True, phase=None):
        c = self.corrupt(model, p, seed, training)
        w = p.mlm_weights
        out = model.discriminator_outputs(c["fake_ids"], p.segment_ids, p.padding_mask,
                                          positions=p.positions, training=training)
        xent = softmax_xent(out["mlm_logits"], p.mlm_ids, fused=self.fused)
        terms = {"mlm": (self.config.pretraining.gen_weight, ops.sum(w * c["xent"]), None),
                 "main_mlm": (1.0, ops.sum(w * xent), None)}
        sums = mlm_sums("mlm", c["logits"], p.mlm_ids, w, c["xent"], c["sampled"])
        sums.update(mlm_sums("main_mlm", out["mlm_logits"], p.mlm_ids, w, xent))
        return terms, sums, {"fake_ids": c["fake_ids"], "labels": c["labels"]}


class AllTokensMLMObjective(ElectraObjective):
    name = "all_tokens_mlm"

    def denominators(self, p):
        return {"mlm": ops.sum(p.mlm_weights),
                "all_tokens": ops.sum(ops.cast(p.padding_mask, "float32"))}

    def loss_terms(self, model, p, seed, training=True, phase=None):
        c = self.corrupt(model, p, seed, training)
        w = p.mlm_weights
        batch, length = ops.shape(p.token_ids)[0], p.token_ids.shape[1]
        every = ops.broadcast_to(ops.arange(length, dtype="int32")[None, :], (batch, length))
        out = model.discriminator_outputs(c["fake_ids"], p.segment_ids, p.padding_mask,
                                          positions=every, training=training)
        log_p_mlm = -softmax_xent(out["mlm_logits"], p.original_ids, fused=self.fused)  # [B, L]
        d = out["rtd_logits"]
        log_copy = -ops.softplus(-d)  # log D
        log_gen = -ops.softplus(d) + log_p_mlm  # log (1 - D) + log p_MLM
        copyable = ops.equal(c["fake_ids"], p.original_ids)
        log_p = ops.where(copyable, ops.logaddexp(log_copy, log_gen), log_gen)
        mask = ops.cast(p.padding_mask, "float32")
        loss = -log_p
        terms = {"mlm": (self.config.pretraining.gen_weight, ops.sum(w * c["xent"]), None),
                 "all_tokens": (1.0, ops.sum(mask * loss), None)}
        sums = mlm_sums("mlm", c["logits"], p.mlm_ids, w, c["xent"], c["sampled"])
        sums.update(mlm_sums("all_tokens", out["mlm_logits"], p.original_ids, mask, loss))
        return terms, sums, {"fake_ids": c["fake_ids"], "labels": c["labels"]}
