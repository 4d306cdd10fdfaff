"""Replaced token detection (ELECTRA) and its variants.

objective=electra: loss = gen_weight * MLM + disc_weight * RTD over every token.
objective=electra_15: the RTD loss only over the masked (selected) positions.
Options (config): generator=unigram|uniform (samples from a fixed distribution, no
generator network), uncorrupted_prob (sentence-level contrastive: inputs left intact and
a "was it corrupted" loss), training=adversarial (REINFORCE generator), training=two_stage
(phase "generator": MLM only; then RTD with the generator frozen; see the trainer).
"""
from __future__ import annotations

from keras import ops

from electra_tf import masking, random_ops
from electra_tf.objectives.common import (mlm_sums, rtd_sums, sample_from_distribution,
                                          sample_tokens, sigmoid_xent, softmax_xent, summarize)


class ElectraObjective:
    name = "electra"
    rtd_on_masked_only = False

    def __init__(self, config, special, unigram_log_probs=None):
        self.config = config
        self.fused = config.encoder.speed_path == "fast"  # the loss kernels' speed path
        self.special = special
        self.unigram_log_probs = unigram_log_probs
        if config.pretraining.generator != "mlm":
            import numpy as np

            if config.pretraining.generator == "unigram":
                if unigram_log_probs is None:
                    raise ValueError("generator=unigram needs the data's unigram counts "
                                     "(unigram_counts.json from build_tfrecords)")
                logp = np.asarray(unigram_log_probs, np.float32)
            else:
                logp = np.zeros(config.encoder.vocab_size, np.float32)
            logp = logp.copy()
            for t in (special.pad, special.cls, special.sep, special.mask):
                logp[t] = -1e9  # never sample special tokens
            self.sampling_log_probs = logp

    # ---------------------------------------------------------------- phase 1
    def prepare(self, batch, seed):
        return masking.mask_batch(batch, self.config, self.special, seed,
                                  self.unigram_log_probs)

    def rtd_weights(self, p):
        """[B, L] positions carrying the RTD loss."""
        if self.rtd_on_masked_only:
            length = p.token_ids.shape[1]
            return ops.sum(masking.slot_onehot(p.positions, p.slot_first, length), axis=1)
        return ops.cast(p.padding_mask, "float32")

    def denominators(self, p):
        dens = {"disc": ops.sum(self.rtd_weights(p))}
        if self.config.pretraining.generator == "mlm":
            dens["mlm"] = ops.sum(p.mlm_weights)
            dens["adversarial"] = dens["mlm"]
        if self.config.pretraining.uncorrupted_prob > 0:
            dens["sentence"] = ops.cast(ops.shape(p.token_ids)[0], "float32")
        return dens

    # ---------------------------------------------------------------- phase 2
    def corrupt(self, model, p, seed, training):
        """-> dict(logits, xent, sampled, fake_ids, labels): generator samples at the
        selected positions, labels 1 where the token changed."""
        cfg = self.config.pretraining
        seeds = random_ops.example_seeds(seed, p.example_index, random_ops.GUMBEL)
        out = {}
        if cfg.generator == "mlm":
            logits = model.generator_logits(p.token_ids, p.segment_ids, p.padding_mask,
                                            p.positions, training=training)
            out["logits"] = logits
            out["xent"] = softmax_xent(logits, p.mlm_ids, fused=self.fused)
            sampled = sample_tokens(logits, seeds, cfg.temperature,
                                    p.mlm_ids if cfg.disallow_correct else None,
                                    fused=self.fused)
        else:
            sampled = sample_from_distribution(self.sampling_log_probs, seeds,
                                               p.positions.shape[1:])
        # One sample per distinct position (the original floor-averages the samples of
        # duplicate slots, producing an unrelated token id; we keep the first slot's).
        fake_ids, updated = masking.scatter_tokens(p.original_ids, p.positions, sampled,
                                                   p.slot_first)
        if cfg.uncorrupted_prob > 0:  # sentence-level contrastive: some inputs stay intact
            useeds = random_ops.example_seeds(seed, p.example_index, random_ops.UNCORRUPTED)
            intact = random_ops.per_example_uniform(useeds, (1,))[:, 0] < cfg.uncorrupted_prob
            fake_ids = ops.where(intact[:, None], p.original_ids, fake_ids)
            updated = updated * ops.cast(ops.logical_not(intact), "int32")[:, None]
        labels = updated * ops.cast(ops.not_equal(fake_ids, p.original_ids), "int32")
        out.update(sampled=sampled, fake_ids=fake_ids, labels=labels)
        return out

    def loss_terms(self, model, p, seed, training=True, phase=None):
        """phase "generator" (two-stage, first stage): the MLM term only."""
        cfg = self.config.pretraining
        c = self.corrupt(model, p, seed, training)
        terms, sums = {}, {}
        w = p.mlm_weights
        if "logits" in c:
            terms["mlm"] = (cfg.gen_weight, ops.sum(w * c["xent"]), None)
            sums.update(mlm_sums("mlm", c["logits"], p.mlm_ids, w, c["xent"], c["sampled"]))
        if phase == "generator":
            return terms, sums, {"fake_ids": c["fake_ids"], "labels": c["labels"]}
        if phase == "discriminator":
            terms.pop("mlm", None)  # two-stage, second stage: the generator is frozen
        out = model.discriminator_outputs(c["fake_ids"], p.segment_ids, p.padding_mask,
                                          training=training)
        weights = self.rtd_weights(p)
        labels_f = ops.cast(c["labels"], "float32")
        disc_xent = sigmoid_xent(out["rtd_logits"], labels_f)
        terms["disc"] = (cfg.disc_weight, ops.sum(weights * disc_xent), None)
        sums.update(rtd_sums(out["rtd_logits"], labels_f, weights, disc_xent))
        if cfg.uncorrupted_prob > 0:
            corrupted = ops.cast(ops.sum(c["labels"], axis=-1) > 0, "float32")
            s_xent = sigmoid_xent(out["sentence_logit"], corrupted)
            terms["sentence"] = (cfg.sentence_weight, ops.sum(s_xent), None)
            sums.update(sentence_loss=ops.sum(s_xent),
                        sentence_count=ops.cast(ops.shape(corrupted)[0], "float32"),
                        sentence_correct=ops.sum(ops.cast(
                            ops.equal(ops.cast(out["sentence_logit"] > 0, "float32"),
                                      corrupted), "float32")))
        if cfg.training == "adversarial" and phase is None:
            terms["adversarial"] = (cfg.adversarial_weight,
                                    self._reinforce(c, p, disc_xent), None)
            sums.update(adversarial_loss=terms["adversarial"][1],
                        adversarial_count=ops.sum(w))
        return terms, sums, {"fake_ids": c["fake_ids"], "labels": c["labels"]}

    def _reinforce(self, c, p, disc_xent):
        """REINFORCE for a generator that tries to fool the discriminator (Appendix F):
        reward = the discriminator's loss on the sampled token, minus the batch mean;
        loss = -sum(w * advantage * log p_G(sample))."""
        length = p.token_ids.shape[1]
        onehot = masking.slot_onehot(p.positions, p.mlm_weights, length)  # [B, N, L]
        reward = ops.stop_gradient(ops.sum(onehot * disc_xent[:, None, :], axis=-1))  # [B, N]
        w = p.mlm_weights
        baseline = ops.sum(w * reward) / ops.maximum(ops.sum(w), 1.0)
        log_probs = -softmax_xent(c["logits"], c["sampled"], fused=self.fused)
        return -ops.sum(w * (reward - baseline) * log_probs)

    summarize = staticmethod(summarize)


class Electra15Objective(ElectraObjective):
    """ELECTRA 15%: the discriminator loss only over the masked positions."""
    name = "electra_15"
    rtd_on_masked_only = True
