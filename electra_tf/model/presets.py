"""Where a task model's backbone and vocabulary come from: `from_preset(dir)` of the task
models reads any of

* a keras-hub preset of our ElectraBackbone (`electra_tf.convert --to=preset`:
  metadata.json, config.json, model.weights.h5, assets/tokenizer/vocabulary.txt);
* one of our checkpoints: an exported discriminator (pre-training's
  <model_dir>/discriminator, `electra_tf.convert --to=discriminator`), a pre-training
  --model_dir, or a ckpt prefix (its config.json and vocab.txt beside it).
"""
from __future__ import annotations

import json
import os


class PresetError(ValueError):
    """A preset directory is missing or unusable; the message says why and what to pass."""


def _keras_hub_vocab(preset: str) -> tuple[str | None, bool]:
    path = os.path.join(preset, "assets", "tokenizer", "vocabulary.txt")
    lowercase = True
    try:
        with open(os.path.join(preset, "tokenizer.json")) as f:
            lowercase = json.load(f)["config"].get("lowercase", True)
    except (OSError, KeyError, json.JSONDecodeError):
        pass
    return (path if os.path.isfile(path) else None), lowercase


def load_backbone(preset: str, load_weights: bool = True, name: str = "encoder"):
    """(ElectraBackbone, vocab.txt path or None, lowercase) for a preset or checkpoint."""
    from electra_tf.interop import ours
    from electra_tf.model import weights
    from electra_tf.model.backbone import ElectraBackbone

    if os.path.isfile(os.path.join(preset, "metadata.json")):
        backbone = ElectraBackbone.from_preset(preset, load_weights=load_weights)
        vocab, lowercase = _keras_hub_vocab(preset)
        return backbone, vocab, lowercase
    try:
        prefix, config_path = ours.resolve(preset)
    except ours.CheckpointError as e:
        raise PresetError(f"{preset}: not a keras-hub preset (no metadata.json) and {e}") \
            from None
    if config_path is None:
        raise PresetError(f"{preset}: no config.json beside the checkpoint to build the "
                          f"backbone from")
    try:
        encoder = ours.discriminator_config(config_path)
        values = ours.discriminator_values(preset) if load_weights else None
    except ours.CheckpointError as e:
        raise PresetError(str(e)) from None
    backbone = ElectraBackbone.from_encoder_config(encoder, name=name)
    if values is not None:
        weights.assign(weights.network_weights(backbone.embeddings, backbone), values,
                       f"preset {preset}")
    vocab = None
    for d in {os.path.dirname(config_path), os.path.dirname(prefix)}:
        if os.path.isfile(os.path.join(d, "vocab.txt")):
            vocab = os.path.join(d, "vocab.txt")
    return backbone, vocab, True
