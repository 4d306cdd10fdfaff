"""Fine-tuning hyper-parameter defaults: the paper's Table 7, or the released code's.

| | paper (default) | released code (--recipe=code) |
|---|---|---|
| learning rate | 3e-4 Small, 1e-4 Base, 5e-5 Large | 1e-4 Small, 1e-4 Base, 5e-5 Large |
| layer-wise decay | 0.8 Small/Base, 0.9 Large; top layer decay^1 | same rates; top layer decay^2 |
| weight decay | 0 | 0.01 |
| warmup / schedule | 10%, linear decay | same |
| batch / max length | 32 / 128 (SQuAD 512, stride 128, query 64) | same |
| epochs | 3; 10 for RTE and STS-B; 2 for SQuAD | same |
"""
from __future__ import annotations

import dataclasses

RECIPES = ("paper", "code")
LEARNING_RATE = {"paper": {"small": 3e-4, "base": 1e-4, "large": 5e-5},
                 "code": {"small": 1e-4, "base": 1e-4, "large": 5e-5}}
LAYER_DECAY = {"small": 0.8, "base": 0.8, "large": 0.9}
WEIGHT_DECAY = {"paper": 0.0, "code": 0.01}


@dataclasses.dataclass(frozen=True)
class Recipe:
    learning_rate: float
    layer_decay: float
    layer_decay_mode: str
    weight_decay: float
    warmup_proportion: float = 0.1
    batch_size: int = 32


def size_of(config) -> str:
    """small/base/large from the encoder's hidden size (tiny/other -> small's recipe)."""
    if config.hidden_size >= 1024:
        return "large"
    if config.hidden_size >= 768:
        return "base"
    return "small"


def get_recipe(name: str, size: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"--recipe={name!r}: choose one of {', '.join(RECIPES)}")
    if size not in LAYER_DECAY:
        size = "small"
    return Recipe(learning_rate=LEARNING_RATE[name][size], layer_decay=LAYER_DECAY[size],
                  layer_decay_mode=name, weight_decay=WEIGHT_DECAY[name])
