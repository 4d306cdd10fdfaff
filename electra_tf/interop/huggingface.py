"""Hugging Face ELECTRA / BERT directories (config.json + model.safetensors or
pytorch_model.bin) <-> the original's TF1 names (and through them, ours).

torch is only needed to read pytorch_model.bin; safetensors are read and written with
numpy.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from electra_tf.configs import EncoderConfig, network_encoder


class HFError(ValueError):
    """A Hugging Face directory is missing, unreadable or of another architecture."""


# ------------------------------------------------------------------ reading / writing
def read_dir(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(config.json dict, {key: float32 array}) of a Hugging Face model directory."""
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise HFError(f"{path} has no config.json: pass a Hugging Face model directory "
                      f"(save_pretrained output)")
    with open(config_path) as f:
        try:
            hf_config = json.load(f)
        except json.JSONDecodeError as e:
            raise HFError(f"{config_path}: invalid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(hf_config, dict) or hf_config.get("model_type") not in ("electra", "bert"):
        model_type = hf_config.get("model_type") if isinstance(hf_config, dict) else None
        raise HFError(f"{config_path}: model_type {model_type!r}: only ELECTRA and BERT "
                      f"encoders are supported")
    st = os.path.join(path, "model.safetensors")
    binary = os.path.join(path, "pytorch_model.bin")
    if os.path.isfile(st):
        from safetensors.numpy import load_file
        try:
            state = load_file(st)
        except Exception as e:  # noqa: BLE001
            raise HFError(f"cannot read {st}: {e}") from None
    elif os.path.isfile(binary):
        try:
            import torch
        except ImportError:
            raise HFError(f"{binary} is a PyTorch pickle: install torch to read it, or save "
                          f"the model with safetensors") from None
        state = {k: v.float().numpy() for k, v in
                 torch.load(binary, map_location="cpu", weights_only=True).items()}
    else:
        raise HFError(f"{path} has neither model.safetensors nor pytorch_model.bin "
                      f"(sharded checkpoints: merge them first)")
    return hf_config, {k: np.asarray(v, np.float32) for k, v in state.items()}


def write_dir(path: str, hf_config: dict, state: dict[str, np.ndarray],
              vocab_file: str | None = None, lower_case: bool = True) -> None:
    from safetensors.numpy import save_file

    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2, sort_keys=True)
    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in state.items()},
              os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    if vocab_file:
        import shutil
        shutil.copyfile(vocab_file, os.path.join(path, "vocab.txt"))
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "ElectraTokenizer" if hf_config.get("model_type")
                       == "electra" else "BertTokenizer", "do_lower_case": lower_case}, f)


# ------------------------------------------------------------------ configs
def config_from_hf(hf: dict) -> EncoderConfig:
    """Our EncoderConfig from a Hugging Face ELECTRA or BERT config."""
    model_type = hf.get("model_type")
    if model_type not in ("electra", "bert"):
        raise HFError(f"model_type {model_type!r}: only ELECTRA and BERT encoders are supported")
    act = hf.get("hidden_act", "gelu")
    if act != "gelu":
        raise HFError(f"hidden_act={act!r}: electra_tf uses the exact (erf) GELU, which "
                      f"Hugging Face calls 'gelu'")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise HFError("only absolute position embeddings are supported")
    hidden = hf["hidden_size"]
    dropout = hf.get("hidden_dropout_prob", 0.1)
    fields = dict(vocab_size=hf["vocab_size"], embedding_size=hf.get("embedding_size", hidden),
                  hidden_size=hidden, num_layers=hf["num_hidden_layers"],
                  num_heads=hf["num_attention_heads"], intermediate_size=hf["intermediate_size"],
                  hidden_dropout=dropout,
                  attention_dropout=hf.get("attention_probs_dropout_prob", dropout),
                  max_position_embeddings=hf.get("max_position_embeddings", 512),
                  type_vocab_size=hf.get("type_vocab_size", 2),
                  initializer_range=hf.get("initializer_range", 0.02),
                  layer_norm_epsilon=hf.get("layer_norm_eps", 1e-12))
    return EncoderConfig(**fields)


def hf_config(config, which: str) -> dict:
    """A Hugging Face ElectraConfig dict for our discriminator or generator (`config`: an
    ElectraConfig, or that network's EncoderConfig)."""
    e = network_encoder(config, which)
    arch = "ElectraForPreTraining" if which == "discriminator" else "ElectraForMaskedLM"
    return {"architectures": [arch], "model_type": "electra", "vocab_size": e.vocab_size,
            "embedding_size": e.embedding_size, "hidden_size": e.hidden_size,
            "num_hidden_layers": e.num_layers, "num_attention_heads": e.num_heads,
            "intermediate_size": e.intermediate_size, "hidden_act": "gelu",
            "hidden_dropout_prob": e.hidden_dropout,
            "attention_probs_dropout_prob": e.attention_dropout,
            "max_position_embeddings": e.max_position_embeddings,
            "type_vocab_size": e.type_vocab_size,
            "initializer_range": e.initializer_range,
            "layer_norm_eps": e.layer_norm_epsilon, "pad_token_id": 0,
            "position_embedding_type": "absolute", "summary_type": "first",
            "tie_word_embeddings": True}


# ------------------------------------------------------------------ names
_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")
IGNORED_KEYS = re.compile(r"(position_ids|pooler\.|generator_lm_head\.weight|cls\.|"
                          r"rel_pos|\.num_batches_tracked)")


def to_google(state: dict[str, np.ndarray], scope: str) -> tuple[dict[str, np.ndarray], list]:
    """HF keys -> the original's TF1 names ([in, out] kernels). `scope` is the encoder's
    TF1 scope (electra | generator); embeddings always go to electra/embeddings, as the
    original shares them. Returns (values, ignored keys)."""
    out, ignored = {}, []
    for key, value in state.items():
        k = re.sub(r"^(electra|bert)\.", "", key)
        if IGNORED_KEYS.search(k):
            ignored.append(key)
            continue
        name = _google_name(k, scope)
        if name is None:
            ignored.append(key)
            continue
        tname, transpose = name
        out[tname] = value.T if transpose else value
    return out, sorted(ignored)


def _google_name(k: str, scope: str):
    m = re.match(r"embeddings\.(\w+)\.weight$", k)
    if m and m.group(1) in _TABLES:
        return f"electra/embeddings/{m.group(1)}", False
    if k.startswith("embeddings.LayerNorm."):
        return f"electra/embeddings/LayerNorm/{_ln(k)}", False
    if k.startswith("embeddings_project."):
        return f"{scope}/embeddings_project/{_kb(k)}", k.endswith(".weight")
    m = re.match(r"encoder\.layer\.(\d+)\.(.+)$", k)
    if m:
        rest = m.group(2)
        if ".LayerNorm." in rest:
            path = rest.rsplit(".LayerNorm.", 1)[0].replace(".", "/") + f"/LayerNorm/{_ln(rest)}"
            return f"{scope}/encoder/layer_{m.group(1)}/{path}", False
        path = rest.rsplit(".", 1)[0].replace(".", "/") + "/" + _kb(rest)
        return f"{scope}/encoder/layer_{m.group(1)}/{path}", rest.endswith(".weight")
    m = re.match(r"discriminator_predictions\.(dense|dense_prediction)\.(weight|bias)$", k)
    if m:
        layer = "dense" if m.group(1) == "dense" else "dense_1"
        return f"discriminator_predictions/{layer}/{_kb(k)}", m.group(2) == "weight"
    if k.startswith("generator_predictions.LayerNorm."):
        return f"generator_predictions/LayerNorm/{_ln(k)}", False
    if k.startswith("generator_predictions.dense."):
        return f"generator_predictions/dense/{_kb(k)}", k.endswith(".weight")
    if k == "generator_lm_head.bias":
        return "generator_predictions/output_bias", False
    return None


def _ln(k):
    return "gamma" if k.endswith(".weight") else "beta"


def _kb(k):
    return "kernel" if k.endswith(".weight") else "bias"


def from_google(values: dict[str, np.ndarray], scope: str, prefix: str) -> dict[str, np.ndarray]:
    """The original's names -> HF keys (`prefix`: "electra." for the ForPreTraining /
    ForMaskedLM classes). Only the embeddings and the `scope` encoder and heads."""
    out = {}
    for name, value in values.items():
        key, transpose = _hf_key(name, scope)
        if key is None:
            continue
        if not key.startswith(("discriminator_predictions", "generator_predictions",
                               "generator_lm_head")):
            key = prefix + key
        out[key] = value.T if transpose else value
    return out


def _hf_key(name: str, scope: str):
    if name.startswith("electra/embeddings/"):
        rest = name[len("electra/embeddings/"):]
        if rest in _TABLES:
            return f"embeddings.{rest}.weight", False
        return f"embeddings.LayerNorm.{'weight' if rest.endswith('gamma') else 'bias'}", False
    if name.startswith(f"{scope}/embeddings_project/"):
        return f"embeddings_project.{_wb(name)}", name.endswith("kernel")
    m = re.match(re.escape(scope) + r"/encoder/layer_(\d+)/(.+)$", name)
    if m:
        rest = m.group(2)
        if "/LayerNorm/" in rest:
            path = rest.rsplit("/LayerNorm/", 1)[0].replace("/", ".")
            return (f"encoder.layer.{m.group(1)}.{path}.LayerNorm."
                    f"{'weight' if rest.endswith('gamma') else 'bias'}"), False
        path = rest.rsplit("/", 1)[0].replace("/", ".")
        return f"encoder.layer.{m.group(1)}.{path}.{_wb(name)}", name.endswith("kernel")
    m = re.match(r"discriminator_predictions/(dense|dense_1)/(kernel|bias)$", name)
    if m and scope == "electra":
        layer = "dense" if m.group(1) == "dense" else "dense_prediction"
        return f"discriminator_predictions.{layer}.{_wb(name)}", m.group(2) == "kernel"
    if scope == "generator" and name.startswith("generator_predictions/"):
        rest = name[len("generator_predictions/"):]
        if rest == "output_bias":
            return "generator_lm_head.bias", False
        if rest.startswith("LayerNorm/"):
            return (f"generator_predictions.LayerNorm."
                    f"{'weight' if rest.endswith('gamma') else 'bias'}"), False
        return f"generator_predictions.dense.{_wb(name)}", rest.endswith("kernel")
    return None, False


def _wb(name):
    return "weight" if name.endswith("kernel") else "bias"

