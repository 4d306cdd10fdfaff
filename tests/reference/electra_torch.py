"""ELECTRA's pre-training step in PyTorch: an independent reference for tests and benchmarks.

Written from ../shared/ELECTRA_NOTES.md and the paper (Clark et al., 2020), not from
electra_tf: the encoders are Hugging Face transformers' `ElectraForMaskedLM` (generator)
and `ElectraForPreTraining` (discriminator); the sharing, the losses, the clipping and the
optimizer are written here in torch. Test-only: torch and transformers are never imported
by the package.

What the step does (the original's, google-research/electra):
- Embeddings shared as the original shares them (`weight_tying="embeddings"`): the word,
  position and segment tables and the embedding LayerNorm are the same tensors in both
  networks; each network keeps its own `embeddings_project`. The generator's output layer
  is the shared word table plus its own bias. `"none"`: the generator has its own
  embeddings (its output tied to its own table); `"all"`: the generator's encoder *is* the
  discriminator's (a full-size generator), only its MLM head is its own.
- The corruption is an input: the masked ids, the masked positions and the generator's
  sampled tokens (masking and Gumbel sampling are random; they are tested statistically
  elsewhere). The reference writes the samples into the original ids itself: one sample
  per distinct position, the first slot's (electra_tf's documented deviation from the
  original's floor-average of duplicate slots), never at position 0; a position is
  "replaced" where the written token differs from the original.
- Losses, each averaged as the original (`sum(w * x) / (sum(w) + 1e-6)`):
  MLM = softmax cross-entropy at the masked slots; RTD = sigmoid cross-entropy on every
  non-pad token (electra) or on the masked positions only (electra_15);
  total = gen_weight * MLM + disc_weight * RTD. Baselines (paper Table 5): bert (MLM with
  the discriminator-size network on [MASK]ed input), replace_mlm (MLM of the main network
  on generator-corrupted input, plus the generator's MLM), all_tokens_mlm (the main
  network predicts every token with the copy mechanism
  p(x_t) = D * 1[x_t = input_t] + (1 - D) * p_MLM(x_t), D = sigmoid(RTD head)).
- Optimizer: global-norm clipping, then the original's AdamW without bias correction
  (m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, w -= lr (m / (sqrt v + eps) + wd w), no
  decay on LayerNorm parameters and biases), lr = base * (1 - step/total) *
  min(1, step/warmup) with step counted from 0 (so the first step of a warm-up has lr 0).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import transformers

EPS = 1e-6  # the original's loss denominators: sum(weights) + 1e-6


@dataclasses.dataclass
class Hparams:
    """Everything the reference needs to know, as plain values."""
    objective: str = "electra"  # electra | electra_15 | bert | replace_mlm | all_tokens_mlm
    weight_tying: str = "embeddings"  # none | embeddings | all
    gen_weight: float = 1.0
    disc_weight: float = 50.0
    learning_rate: float = 5e-4
    num_train_steps: int = 1_000_000
    num_warmup_steps: int = 10_000
    weight_decay: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    clip_norm: float = 1.0


@dataclasses.dataclass
class Corruption:
    """One batch and its corruption, [B, L] / [B, N] integer arrays (numpy or torch)."""
    original_ids: object   # [B, L] the data
    masked_ids: object     # [B, L] with [MASK] at the selected positions (generator input)
    segment_ids: object    # [B, L]
    input_mask: object     # [B, L] 1 for real tokens
    positions: object      # [B, N] selected positions (slots with weight 0: ignored)
    mlm_weights: object    # [B, N] 1.0 for used slots
    sampled: object = None  # [B, N] the generator's samples (not for bert)


def _hf_config(sizes: dict, dropout: float, attention: str) -> transformers.ElectraConfig:
    cfg = transformers.ElectraConfig(**dict(sizes, hidden_dropout_prob=dropout,
                                            attention_probs_dropout_prob=dropout))
    cfg._attn_implementation = attention
    return cfg


class ReferencePretrainer:
    """Generator + discriminator in torch, float32 (dropout off unless `dropout` > 0).

    disc_config / gen_config: Hugging Face ElectraConfig dicts (sizes). state: the
    weights as {"discriminator" | "generator" | "discriminator_mlm": {hf_key: array}}
    (ElectraForPreTraining's keys, ElectraForMaskedLM's keys, and for the MLM baselines
    the main network's MLM head as ElectraForMaskedLM `generator_predictions.*` /
    `generator_lm_head.bias`). attention: transformers' attention implementation
    ("eager" for the parity tests; "sdpa", its default, to time what a user would run).
    dtype: torch.float64 gives a high-precision trajectory to measure float32 drift against.
    """

    def __init__(self, hp: Hparams, disc_config: dict, gen_config: dict | None,
                 state: dict[str, dict[str, np.ndarray]], dropout: float = 0.0,
                 attention: str = "eager", dtype=torch.float32):
        torch.manual_seed(0)  # initial values are overwritten below; keeps construction quiet
        self.hp = hp
        self.dtype = dtype

        def build(cls, sizes):
            return cls(_hf_config(sizes, dropout, attention)).to(dtype).train(dropout > 0)

        self.disc = build(transformers.ElectraForPreTraining, disc_config)
        self.gen = None
        if hp.objective != "bert":
            self.gen = build(transformers.ElectraForMaskedLM, gen_config)
            if hp.weight_tying == "embeddings":
                self.gen.electra.embeddings = self.disc.electra.embeddings
            elif hp.weight_tying == "all":
                self.gen.electra = self.disc.electra
        self.disc_mlm = None
        if hp.objective in ("bert", "replace_mlm", "all_tokens_mlm"):
            self.disc_mlm = build(transformers.ElectraForMaskedLM, disc_config)
            self.disc_mlm.electra = self.disc.electra
        self.networks = {"discriminator": self.disc, "generator": self.gen,
                         "discriminator_mlm": self.disc_mlm}
        # Hugging Face's word table has padding_idx=0: no lookup gradient for [PAD]. The
        # original's tf.gather has none of that, and the generator can sample [PAD] into
        # a real position, so the discriminator's lookup of it must train the row.
        for net in (self.disc, self.gen):
            if net is not None:
                net.electra.embeddings.word_embeddings.padding_idx = None
        # Output layers tied to the word table they sit on (before loading, so the
        # tied tensor takes the table's value).
        for net in (self.gen, self.disc_mlm):
            if net is not None:
                net.generator_lm_head.weight = net.electra.embeddings.word_embeddings.weight
        self.load(state)
        self.params = self._unique_parameters()
        self.m = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.v = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.step_count = 0

    # ------------------------------------------------------------------ weights
    def load(self, state: dict[str, dict[str, np.ndarray]]) -> None:
        """Copies every given value into the named parameter (strict: each key must exist
        and each parameter of a network must be given, shared ones through any network)."""
        given = set()
        with torch.no_grad():
            for net_name, values in state.items():
                net = self.networks.get(net_name)
                if net is None:
                    raise KeyError(f"no network {net_name!r} in this reference")
                params = dict(net.named_parameters(remove_duplicate=False))
                for key, value in values.items():
                    if key not in params:
                        raise KeyError(f"{net_name}: no parameter {key}")
                    p = params[key]
                    if tuple(p.shape) != tuple(np.shape(value)):
                        raise ValueError(f"{net_name}.{key}: shape {tuple(p.shape)} vs "
                                         f"{np.shape(value)}")
                    p.copy_(torch.as_tensor(np.asarray(value)).to(p.dtype))
                    given.add(id(p))
        missing = [f"{n}.{k}" for n, net in self.networks.items() if net is not None
                   for k, p in net.named_parameters() if id(p) not in given]
        if missing:
            raise KeyError(f"parameters without a value: {missing[:8]}")

    def _unique_parameters(self) -> dict[str, torch.nn.Parameter]:
        """{"network.hf_key": parameter}, each tensor once (see _named)."""
        return {f"{n}.{k}": p for n, k, p in self._named()}

    def _named(self):
        """(network, key, parameter) of every parameter once, under the first network that
        has it (shared tensors: the discriminator's name); the tied output layer's weight
        (`generator_lm_head.weight`) is the word table itself."""
        seen = set()
        for n, net in self.networks.items():
            if net is not None:
                for k, p in net.named_parameters(remove_duplicate=False):
                    if id(p) not in seen:
                        seen.add(id(p))
                        yield n, k, p

    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """Every parameter of every network, as load() takes it."""
        out = {}
        for n, k, p in self._named():
            out.setdefault(n, {})[k] = p.detach().numpy().copy()
        return out

    def named_grads(self) -> dict[str, dict[str, np.ndarray]]:
        """Gradients keyed like state() (zeros for parameters no loss reached)."""
        out = {}
        for n, k, p in self._named():
            out.setdefault(n, {})[k] = (np.zeros(tuple(p.shape), np.float32) if p.grad is None
                                        else p.grad.numpy().copy())
        return out

    # ------------------------------------------------------------------ forward
    @staticmethod
    def _tensors(c: Corruption) -> dict:
        return {f.name: (None if getattr(c, f.name) is None else
                         torch.as_tensor(np.asarray(getattr(c, f.name))))
                for f in dataclasses.fields(c)}

    @staticmethod
    def write_samples(original, positions, weights, sampled):
        """(fake ids, updated [B, L] bool): sampled[b, n] written at positions[b, n] for used
        slots, the first slot of each distinct position, never at position 0."""
        used = (weights > 0) & (positions != 0)
        same = positions[:, :, None] == positions[:, None, :]  # [B, N, N]
        earlier = torch.ones(same.shape[1:], dtype=torch.bool).tril(-1)  # [n, m]: m < n
        first = used & ~(same & earlier & used[:, None, :]).any(-1)
        rows = torch.arange(original.shape[0])[:, None].expand_as(positions)
        fake = original.clone()
        fake[rows[first], positions[first]] = sampled[first].to(fake.dtype)
        updated = torch.zeros_like(original, dtype=torch.bool)
        updated[rows[first], positions[first]] = True
        return fake, updated

    @staticmethod
    def gumbel_sample(logits):
        """Gumbel-max samples from softmax(logits), no gradient (used when the corruption
        brings no samples of its own, e.g. to time a complete step)."""
        u = torch.rand_like(logits).clamp_(1e-9, 1.0 - 1e-9)
        return torch.argmax(logits.detach() - torch.log(-torch.log(u)), dim=-1)

    @staticmethod
    def _mlm_logits(net, ids, segment_ids, input_mask, positions):
        """Masked-LM logits [B, N, V] at `positions` (the head runs at those slots only)."""
        hidden = net.electra(input_ids=ids, attention_mask=input_mask,
                             token_type_ids=segment_ids).last_hidden_state
        picked = torch.gather(hidden, 1, positions[:, :, None].expand(-1, -1, hidden.shape[-1]))
        return net.generator_lm_head(net.generator_predictions(picked))

    @staticmethod
    def _masked_mean(values, weights):
        return (values * weights).sum() / (weights.sum() + EPS)

    def losses(self, corruption: Corruption) -> dict[str, torch.Tensor]:
        """{term: loss value} and "total" = the weighted sum the step minimises."""
        hp, t = self.hp, self._tensors(corruption)
        orig, seg = t["original_ids"].long(), t["segment_ids"].long()
        mask, pos = t["input_mask"].long(), t["positions"].long()
        w = t["mlm_weights"].to(self.dtype)
        labels_at_slots = torch.gather(orig, 1, pos)  # the original tokens at the slots
        out = {}
        if hp.objective == "bert":
            logits = self._mlm_logits(self.disc_mlm, t["masked_ids"].long(), seg, mask, pos)
            xent = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels_at_slots,
                                                     reduction="none")
            out["mlm"] = self._masked_mean(xent, w)
            out["total"] = out["mlm"]
            return out
        gen_logits = self._mlm_logits(self.gen, t["masked_ids"].long(), seg, mask, pos)
        gen_xent = torch.nn.functional.cross_entropy(gen_logits.transpose(1, 2),
                                                     labels_at_slots, reduction="none")
        out["mlm"] = self._masked_mean(gen_xent, w)
        # Sampling is under stop-gradient: the samples are given (integers) or drawn here.
        sampled = (self.gumbel_sample(gen_logits) if t["sampled"] is None
                   else t["sampled"].long())
        fake, updated = self.write_samples(orig, pos, w, sampled)
        replaced = (updated & (fake != orig)).to(self.dtype)
        if hp.objective in ("electra", "electra_15"):
            rtd_logits = self.disc(input_ids=fake, attention_mask=mask,
                                   token_type_ids=seg).logits
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                rtd_logits, replaced, reduction="none")
            if hp.objective == "electra":
                rtd_w = mask.to(self.dtype)
            else:  # the masked positions only (position 0 is never masked)
                rtd_w = torch.zeros_like(mask, dtype=self.dtype)
                rows = torch.arange(pos.shape[0])[:, None].expand_as(pos)
                used = (w > 0) & (pos != 0)
                rtd_w[rows[used], pos[used]] = 1.0
            out["disc"] = self._masked_mean(bce, rtd_w)
            out["total"] = hp.gen_weight * out["mlm"] + hp.disc_weight * out["disc"]
        elif hp.objective == "replace_mlm":
            logits = self._mlm_logits(self.disc_mlm, fake, seg, mask, pos)
            xent = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels_at_slots,
                                                     reduction="none")
            out["main_mlm"] = self._masked_mean(xent, w)
            out["total"] = hp.gen_weight * out["mlm"] + out["main_mlm"]
        elif hp.objective == "all_tokens_mlm":
            hidden = self.disc.electra(input_ids=fake, attention_mask=mask,
                                       token_type_ids=seg).last_hidden_state
            d = torch.sigmoid(self.disc.discriminator_predictions(hidden))  # P(copy)
            p_mlm = torch.softmax(self.disc_mlm.generator_lm_head(
                self.disc_mlm.generator_predictions(hidden)), dim=-1)
            p_original = torch.gather(p_mlm, 2, orig[:, :, None])[:, :, 0]
            copy = (fake == orig).to(self.dtype)
            p = d * copy + (1.0 - d) * p_original
            out["all_tokens"] = self._masked_mean(-torch.log(p), mask.to(self.dtype))
            out["total"] = hp.gen_weight * out["mlm"] + out["all_tokens"]
        else:
            raise ValueError(f"objective {hp.objective!r} has no reference")
        return out

    # ------------------------------------------------------------------ step
    def learning_rate(self, step: int) -> float:
        hp = self.hp
        decay = 1.0 - min(step, hp.num_train_steps) / hp.num_train_steps
        warmup = min(1.0, step / hp.num_warmup_steps) if hp.num_warmup_steps > 0 else 1.0
        return hp.learning_rate * decay * warmup

    @staticmethod
    def decays(name: str) -> bool:
        """The original excludes LayerNorm parameters and biases from weight decay."""
        return not ("LayerNorm" in name or name.endswith("bias"))

    def backward(self, corruption: Corruption) -> dict[str, float]:
        """Loss values; leaves each parameter's gradient in .grad."""
        for p in self.params.values():
            p.grad = None
        losses = self.losses(corruption)
        losses["total"].backward()
        return {k: float(v.detach()) for k, v in losses.items()}

    def step(self, corruption: Corruption) -> dict[str, float]:
        """One optimisation step; returns the losses, the global norm and the lr used."""
        hp = self.hp
        losses = self.backward(corruption)
        grads = {n: (torch.zeros_like(p) if p.grad is None else p.grad.detach())
                 for n, p in self.params.items()}
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())).item()
        scale = hp.clip_norm / max(norm, hp.clip_norm)
        lr = self.learning_rate(self.step_count)
        with torch.no_grad():
            for n, p in self.params.items():
                g = grads[n] * scale
                self.m[n].mul_(hp.beta_1).add_((1.0 - hp.beta_1) * g)
                self.v[n].mul_(hp.beta_2).add_((1.0 - hp.beta_2) * g * g)
                update = self.m[n] / (torch.sqrt(self.v[n]) + hp.epsilon)
                if hp.weight_decay > 0 and self.decays(n):
                    update = update + hp.weight_decay * p
                p.sub_(lr * update)
        self.step_count += 1
        return dict(losses, grad_norm=norm, learning_rate=lr)
