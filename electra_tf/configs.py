"""Configurations, split by concern: the encoder (EncoderConfig), the pre-training
objective and its variants (PretrainingConfig), the optimiser (OptimizerConfig); an
ElectraConfig is one of each. The paper's sizes (Table 6) and `--config NAME=VALUE`."""
from __future__ import annotations

import dataclasses
import json
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid; the message says which and why."""


MASKINGS = ("random", "span", "strategic")
GENERATORS = ("mlm", "unigram", "uniform")
WEIGHT_TYINGS = ("none", "embeddings", "all", "gdes")
TRAININGS = ("joint", "two_stage", "adversarial")


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


class _Section:
    """replace / to_dict / from_dict shared by the config dataclasses."""

    def replace(self, **overrides: Any):
        """A copy with `overrides` applied; unknown names are a ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown {type(self).__name__} field(s) {unknown}; "
                              f"known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        return cls().replace(**d)


@dataclasses.dataclass
class EncoderConfig(_Section):
    """One transformer encoder: all a fine-tuning model needs, and what an exported
    network's config.json holds (plus "network"). The names are the original's."""
    vocab_size: int = 30522
    embedding_size: int = 128
    hidden_size: int = 256
    num_layers: int = 12
    num_heads: int = 4
    intermediate_size: int = 1024
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_epsilon: float = 1e-12
    # how the network is computed, not what: "fast" (our same-maths layers and XLA
    # kernels) or "plain" (Keras' stock layers, kernels op by op); see kernels/__init__.py
    speed_path: str = "fast"

    def validate(self) -> "EncoderConfig":
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers", "num_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            _need(getattr(self, name) >= 1, f"{name}={getattr(self, name)} must be >= 1")
        _need(self.hidden_size % self.num_heads == 0,
              f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")
        for name in ("hidden_dropout", "attention_dropout"):
            _need(0.0 <= getattr(self, name) < 1.0,
                  f"{name}={getattr(self, name)} must be in [0, 1)")
        _need(self.speed_path in ("fast", "plain"),
              f"speed_path={self.speed_path!r} must be fast or plain")
        return self


@dataclasses.dataclass
class PretrainingConfig(_Section):
    """The pre-training objective, its variants and the generator's size."""
    # generator: hidden/FFN/heads scale by generator_hidden_size, depth by generator_layers
    # (the original's get_generator_config; ElectraConfig.generator_encoder).
    generator_hidden_size: float = 0.25
    generator_layers: float = 1.0
    objective: str = "electra"
    mask_prob: float = 0.15
    mask_token_prob: float = 0.85  # of the selected positions, share set to [MASK]
    mask_sampling: str = "with_replacement"  # the original; or "without_replacement"
    max_seq_length: int = 128
    max_predictions_per_seq: int | None = None  # None: int((mask_prob + 0.005) * L)
    gen_weight: float = 1.0
    disc_weight: float = 50.0
    temperature: float = 1.0
    disallow_correct: bool = False
    # ---- variants (paper Section 3.2/3.4, appendix; docs/pretraining.md lists them)
    mask_random_prob: float = 0.0  # of the selected positions, share set to a random token
    #   (BERT's 80/10/10: mask_token_prob=0.8, mask_random_prob=0.1)
    masking: str = "random"  # random (uniform positions) | span (SpanBERT) | strategic
    span_geometric_p: float = 0.2  # span lengths ~ Geometric(p), clipped to max_span_length
    max_span_length: int = 10
    strategic_alpha: float = 0.5  # strategic: position weight ~ unigram_prob(token) ** -alpha
    generator: str = "mlm"  # mlm (a trained generator) | unigram | uniform (no generator net)
    weight_tying: str = "embeddings"  # none | embeddings | all (generator = discriminator)
    #   | gdes (DeBERTaV3: the discriminator's word table is stop_gradient(E_G) + E_delta)
    training: str = "joint"  # joint | two_stage | adversarial
    two_stage_steps: int = 0  # two_stage: generator-only MLM steps before the switch
    adversarial_weight: float = 1.0  # adversarial: weight of the generator's REINFORCE loss
    uncorrupted_prob: float = 0.0  # sentence-level contrastive: share of inputs left intact
    sentence_weight: float = 1.0  # ... and the weight of its "was it corrupted" loss

    @property
    def num_predictions(self) -> int:
        if self.max_predictions_per_seq is not None:
            return self.max_predictions_per_seq
        return int((self.mask_prob + 0.005) * self.max_seq_length)

    @property
    def uses_generator_network(self) -> bool:
        return self.objective != "bert" and self.generator == "mlm"

    def validate(self) -> "PretrainingConfig":
        need = _need
        need(0.0 < self.mask_prob < 1.0, f"mask_prob={self.mask_prob} must be in (0, 1)")
        need(0.0 <= self.mask_token_prob <= 1.0,
             f"mask_token_prob={self.mask_token_prob} must be in [0, 1]")
        need(self.mask_sampling in ("with_replacement", "without_replacement"),
             f"mask_sampling={self.mask_sampling!r}: use with_replacement or without_replacement")
        need(self.max_seq_length >= 8, f"max_seq_length={self.max_seq_length} must be >= 8")
        need(1 <= self.num_predictions <= self.max_seq_length,
             f"max_predictions_per_seq={self.num_predictions} must be in [1, max_seq_length]")
        need(self.temperature > 0, f"temperature={self.temperature} must be > 0")
        need(0 < self.generator_hidden_size <= 1.0,
             f"generator_hidden_size={self.generator_hidden_size} must be in (0, 1]")
        from electra_tf.objectives import OBJECTIVES  # late import: no cycle at module load
        need(self.objective in OBJECTIVES,
             f"objective={self.objective!r}: choose one of {sorted(OBJECTIVES)}")
        need(0.0 <= self.mask_random_prob <= 1.0 - self.mask_token_prob + 1e-9,
             f"mask_random_prob={self.mask_random_prob} must be in [0, 1 - mask_token_prob]")
        for field, choices in (("masking", MASKINGS), ("generator", GENERATORS),
                               ("weight_tying", WEIGHT_TYINGS), ("training", TRAININGS)):
            need(getattr(self, field) in choices,
                 f"{field}={getattr(self, field)!r}: choose one of {', '.join(choices)}")
        need(0.0 < self.span_geometric_p <= 1.0 and self.max_span_length >= 1,
             "span_geometric_p must be in (0, 1] and max_span_length >= 1")
        need(0.0 <= self.uncorrupted_prob < 1.0, "uncorrupted_prob must be in [0, 1)")
        need(self.weight_tying != "gdes" or (self.objective in ("electra", "electra_15")
                                             and self.generator == "mlm"),
             "weight_tying=gdes disentangles the generator's and the discriminator's word "
             "tables: it needs a trained generator and a discriminator (objective=electra or "
             "electra_15, generator=mlm)")
        need(self.generator == "mlm" or self.training == "joint",
             f"training={self.training} needs a trained generator (generator=mlm)")
        return self


@dataclasses.dataclass
class OptimizerConfig(_Section):
    """The original's AdamW, its schedule, clipping, batch and accumulation."""
    learning_rate: float = 5e-4
    train_batch_size: int = 128
    num_train_steps: int = 1_000_000
    num_warmup_steps: int = 10_000
    weight_decay: float = 0.01
    adam_beta_1: float = 0.9
    adam_beta_2: float = 0.999
    adam_epsilon: float = 1e-6
    clip_norm: float = 1.0
    fused_adam: bool = True  # TF's fused Adam kernel (same maths, see optimization.py)
    lr_decay_power: float = 1.0
    gradient_accumulation_steps: int = 1

    def validate(self) -> "OptimizerConfig":
        need = _need
        need(self.train_batch_size >= 1, f"train_batch_size={self.train_batch_size} must be >= 1")
        need(self.num_train_steps >= 1, f"num_train_steps={self.num_train_steps} must be >= 1")
        need(self.num_warmup_steps >= 0, f"num_warmup_steps={self.num_warmup_steps} must be >= 0")
        need(self.learning_rate > 0, f"learning_rate={self.learning_rate} must be > 0")
        for name in ("adam_beta_1", "adam_beta_2"):
            value = getattr(self, name)
            need(0 <= value < 1, f"{name}={value} must be in [0, 1)")
        need(self.gradient_accumulation_steps >= 1,
             f"gradient_accumulation_steps={self.gradient_accumulation_steps} must be >= 1")
        return self


SECTIONS = {"encoder": EncoderConfig, "pretraining": PretrainingConfig,
            "optimizer": OptimizerConfig}
# Every field name is unique across the sections, so `--config NAME=VALUE` and the flat
# config.json of checkpoints written before the split (tests/data/legacy_v1) need no section.
FIELD_SECTION = {f.name: section for section, cls in SECTIONS.items()
                 for f in dataclasses.fields(cls)}


@dataclasses.dataclass
class ElectraConfig:
    """A pre-training run: the discriminator's encoder, the objective, the optimiser."""
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    pretraining: PretrainingConfig = dataclasses.field(default_factory=PretrainingConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    def generator_encoder(self) -> EncoderConfig:
        """The generator's encoder, sized as the original's get_generator_config: hidden
        (and heads, FFN) scaled by generator_hidden_size, depth by generator_layers."""
        e, p = self.encoder, self.pretraining
        hidden = int(round(e.hidden_size * p.generator_hidden_size))
        # A full-width generator keeps the discriminator's heads and FFN (the original's
        # max(1, hidden // 64) and 4 * hidden give the same for every paper size).
        full = hidden == e.hidden_size
        return e.replace(hidden_size=hidden,
                         num_heads=e.num_heads if full else max(1, hidden // 64),
                         intermediate_size=e.intermediate_size if full else 4 * hidden,
                         num_layers=int(round(e.num_layers * p.generator_layers)))

    def get(self, name: str) -> Any:
        """A field by its flat name (as --config and summaries name it)."""
        return getattr(getattr(self, FIELD_SECTION[name]), name)

    def validate(self) -> "ElectraConfig":
        self.encoder.validate()
        self.pretraining.validate()
        self.optimizer.validate()
        e, p, g = self.encoder, self.pretraining, self.generator_encoder()
        _need(p.max_seq_length <= e.max_position_embeddings,
              f"max_seq_length={p.max_seq_length} exceeds max_position_embeddings="
              f"{e.max_position_embeddings}")
        _need(g.num_layers >= 1, f"generator_layers={p.generator_layers} gives a generator "
                                 f"with no layer")
        full_size_generator = (g.hidden_size, g.num_layers) == (e.hidden_size, e.num_layers)
        _need(p.weight_tying != "all" or full_size_generator,
              "weight_tying=all needs a generator of the discriminator's size: "
              "--config=generator_hidden_size=1.0 --config=generator_layers=1.0")
        _need(p.training != "two_stage" or (full_size_generator and p.two_stage_steps > 0
                                            and p.weight_tying != "all"),
              "training=two_stage needs two_stage_steps > 0 and a generator of the "
              "discriminator's size (it initialises the discriminator), untied (not all)")
        return self

    def replace(self, **overrides: Any) -> "ElectraConfig":
        """A copy with `overrides` (flat field names, any section) applied; unknown names
        are a ConfigError."""
        unknown = sorted(set(overrides) - set(FIELD_SECTION))
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; known: "
                              f"{sorted(FIELD_SECTION)}")
        per_section = {s: {} for s in SECTIONS}
        for name, value in overrides.items():
            per_section[FIELD_SECTION[name]][name] = value
        return ElectraConfig(**{s: getattr(self, s).replace(**per_section[s])
                                for s in SECTIONS})

    def to_dict(self) -> dict[str, Any]:
        return {s: getattr(self, s).to_dict() for s in SECTIONS}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ElectraConfig":
        """From to_dict()'s sections, or from the one flat dict of every field that
        checkpoints written before the split hold."""
        if set(d) and set(d) <= set(SECTIONS):
            bad = [s for s in d if not isinstance(d[s], dict)]
            if bad:
                raise ConfigError(f"config section(s) {bad} must be objects")
            return cls(**{s: SECTIONS[s].from_dict(d.get(s, {})) for s in SECTIONS})
        return cls().replace(**d)


def network_encoder(config, which: str) -> EncoderConfig:
    """The EncoderConfig of one network ("discriminator" or "generator") of an
    ElectraConfig; an EncoderConfig (one exported network's) is returned as it is."""
    if isinstance(config, EncoderConfig):
        return config
    if which not in ("discriminator", "generator"):
        raise ValueError(f"network {which!r}: discriminator or generator")
    return config.encoder if which == "discriminator" else config.generator_encoder()


# Paper Table 6 (hyper-parameters of ELECTRA-Small/Base/Large) and Section 3.2
# (generator sizes); shared values are the dataclass defaults above.
SIZES: dict[str, dict[str, Any]] = {
    "small": dict(embedding_size=128, hidden_size=256, num_layers=12, num_heads=4,
                  intermediate_size=1024, generator_hidden_size=0.25, mask_prob=0.15,
                  learning_rate=5e-4, train_batch_size=128, max_seq_length=128,
                  num_train_steps=1_000_000),
    "base": dict(embedding_size=768, hidden_size=768, num_layers=12, num_heads=12,
                 intermediate_size=3072, generator_hidden_size=1.0 / 3.0, mask_prob=0.15,
                 learning_rate=2e-4, train_batch_size=256, max_seq_length=512,
                 num_train_steps=766_000),
    "large": dict(embedding_size=1024, hidden_size=1024, num_layers=24, num_heads=16,
                  intermediate_size=4096, generator_hidden_size=0.25, mask_prob=0.25,
                  learning_rate=2e-4, train_batch_size=2048, max_seq_length=512,
                  num_train_steps=400_000),
    # Not from the paper: a few-thousand-parameter model for tests and smoke runs.
    "tiny": dict(embedding_size=16, hidden_size=32, num_layers=2, num_heads=2,
                 intermediate_size=64, generator_hidden_size=0.5, mask_prob=0.15,
                 learning_rate=1e-3, train_batch_size=8, max_seq_length=32,
                 num_train_steps=100, num_warmup_steps=10),
}


def parse_overrides(items: list[str]) -> dict:
    """NAME=VALUE strings -> typed overrides for ElectraConfig."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--config={item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        if name not in FIELD_SECTION:
            raise ConfigError(f"--config={item!r}: unknown field {name!r}; known: "
                             f"{', '.join(sorted(FIELD_SECTION))}")
        default = getattr(SECTIONS[FIELD_SECTION[name]](), name)
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                out[name] = value.lower() in ("true", "1")
            elif isinstance(default, int) and name != "max_predictions_per_seq":
                out[name] = int(value)
            elif isinstance(default, float):
                out[name] = float(value)
            elif name == "max_predictions_per_seq":
                out[name] = int(value)
            else:
                out[name] = value
        except ValueError:
            raise ConfigError(f"--config={item!r}: {value!r} is not a valid "
                             f"{type(default).__name__}") from None
    return out


def get_config(size: str, **overrides: Any) -> ElectraConfig:
    if size not in SIZES:
        raise ConfigError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    return ElectraConfig().replace(**SIZES[size]).replace(**overrides).validate()
