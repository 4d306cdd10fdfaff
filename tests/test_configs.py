"""Configs split by concern: every flat name reaches its section, the on-disk forms
(the sections; the one flat dict written before the split) load, and a network's
config.json is that network's EncoderConfig."""
import dataclasses
import json
import os

import pytest

from electra_tf.configs import (FIELD_SECTION, SECTIONS, ConfigError, ElectraConfig,
                                EncoderConfig, OptimizerConfig, PretrainingConfig, get_config,
                                network_encoder, parse_overrides)
from electra_tf.interop import ours
from tests.conftest import ROOT

LEGACY = os.path.join(ROOT, "tests", "data", "legacy_v1")


def test_every_field_in_exactly_one_section():
    names = [f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names)) == len(FIELD_SECTION)
    encoder = {f.name for f in dataclasses.fields(EncoderConfig)}
    assert "mask_prob" not in encoder and "learning_rate" not in encoder
    assert {"hidden_size", "vocab_size", "attention_dropout"} <= encoder


def test_flat_overrides_land_in_their_sections():
    overrides = parse_overrides(["mask_prob=0.25", "hidden_size=64", "num_heads=2",
                                 "learning_rate=1e-3", "fused_adam=false",
                                 "max_predictions_per_seq=7", "weight_tying=none"])
    assert overrides == {"mask_prob": 0.25, "hidden_size": 64, "num_heads": 2,
                         "learning_rate": 1e-3, "fused_adam": False,
                         "max_predictions_per_seq": 7, "weight_tying": "none"}
    c = get_config("tiny", **overrides)
    assert (c.pretraining.mask_prob, c.encoder.hidden_size, c.optimizer.learning_rate) == \
        (0.25, 64, 1e-3)
    assert c.optimizer.fused_adam is False and c.pretraining.num_predictions == 7
    assert c.get("weight_tying") == "none" and c.get("num_heads") == 2
    with pytest.raises(ConfigError, match="unknown field 'mask_probb'"):
        parse_overrides(["mask_probb=0.2"])
    with pytest.raises(ConfigError, match="not a valid int"):
        parse_overrides(["num_layers=two"])
    with pytest.raises(ConfigError, match="unknown EncoderConfig field"):
        EncoderConfig().replace(mask_prob=0.2)


def test_cross_section_rules_still_checked():
    with pytest.raises(ConfigError, match="exceeds max_position_embeddings=64"):
        get_config("tiny", max_position_embeddings=64, max_seq_length=128)
    with pytest.raises(ConfigError, match="divisible by num_heads=3"):
        get_config("tiny", num_heads=3)
    with pytest.raises(ConfigError, match="no layer"):
        get_config("tiny", generator_layers=0.1)
    with pytest.raises(ConfigError, match=r"adam_beta_2=1.0 must be in \[0, 1\)"):
        get_config("tiny", adam_beta_2=1.0)


def test_generator_encoder_is_the_originals_scaling():
    c = get_config("base")
    g = c.generator_encoder()
    # google-research/electra configure_pretraining.get_generator_config: hidden 768/3,
    # heads max(1, hidden // 64), FFN 4 * hidden; embeddings shared
    assert (g.hidden_size, g.num_heads, g.intermediate_size, g.num_layers) == (256, 4, 1024, 12)
    assert (g.embedding_size, g.vocab_size) == (768, 30522)
    assert network_encoder(c, "discriminator") is c.encoder
    assert network_encoder(g, "generator") is g  # one network's own config passes through


def test_sections_round_trip_and_the_pre_split_flat_dict_loads():
    c = get_config("small", mask_prob=0.2, hidden_dropout=0.05, num_train_steps=77)
    d = json.loads(c.to_json())
    assert sorted(d) == ["encoder", "optimizer", "pretraining"]
    assert ElectraConfig.from_dict(d) == c
    with open(os.path.join(LEGACY, "config.json")) as f:
        flat = json.load(f)  # what the code before the split wrote
    old = ElectraConfig.from_dict(flat)

    def section(cls):  # fields added since (speed_path) take their defaults
        return cls(**{f.name: flat[f.name] for f in dataclasses.fields(cls) if f.name in flat})
    assert old.encoder == section(EncoderConfig) and old.encoder.speed_path == "fast"
    assert old.optimizer == section(OptimizerConfig)
    assert old.pretraining == section(PretrainingConfig)
    assert old.pretraining.max_seq_length == 32
    with pytest.raises(ConfigError, match="unknown config field"):
        ElectraConfig.from_dict(dict(flat, not_a_field=1))


def test_legacy_network_exports_give_each_networks_own_encoder():
    """The old exports held the whole flat config: the generator's sizes come from its
    generator_hidden_size, as the old code built it."""
    disc, n1 = ours.load_config(os.path.join(LEGACY, "discriminator", "config.json"))
    gen, n2 = ours.load_config(os.path.join(LEGACY, "generator", "config.json"))
    assert (n1, n2) == ("discriminator", "generator")
    assert isinstance(disc, EncoderConfig) and isinstance(gen, EncoderConfig)
    assert (disc.hidden_size, gen.hidden_size) == (32, 16)  # tiny: generator_hidden_size 0.5
    whole, none = ours.load_config(os.path.join(LEGACY, "config.json"))
    assert none is None and whole.generator_encoder() == gen and whole.encoder == disc


def test_new_network_config_json_is_the_encoder_config(tmp_path):
    """What `ours.write` (and the trainer's export) puts in a network's config.json, and
    that it reads back; a malformed one is a CheckpointError naming the file."""
    import numpy as np

    config = get_config("tiny", vocab_size=40)
    gen = config.generator_encoder()
    named, _ = ours.network_variables(config, "generator")
    values = {n: np.asarray(v) for n, v in named.items()}
    ours.write(str(tmp_path / "g"), config, "generator", values, None, "test")
    with open(tmp_path / "g" / "config.json") as f:
        d = json.load(f)
    assert d == dict(dataclasses.asdict(gen), network="generator")
    assert ours.load_config(str(tmp_path / "g" / "config.json")) == (gen, "generator")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(d, hidden_size=15, num_heads=2)))
    with pytest.raises(ours.CheckpointError, match="bad.json: hidden_size=15 must be divisible"):
        ours.load_config(str(bad))
    bad.write_text("[1, 2]")
    with pytest.raises(ours.CheckpointError, match="not a JSON object"):
        ours.load_config(str(bad))
