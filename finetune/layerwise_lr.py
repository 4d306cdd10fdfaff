"""Layer-wise learning-rate decay (paper Section 4 / Table 7, the original's _get_layer_lrs).

Depths: embeddings (and embeddings_project) 0, encoder layer i -> i + 1, the task
head L + 2. The multiplier of a variable at depth d is

    released code ("code", bug-compatible): decay ** (L + 2 - d)
        -> head 1, top layer decay**2 (the off-by-one acknowledged in electra issue #51)
    paper ("paper", intended):               decay ** max(0, L + 1 - d)
        -> head 1, top layer decay, layer i decay ** (L - i), embeddings decay ** (L + 1)
"""
from __future__ import annotations

MODES = ("paper", "code")


def variable_depths(model) -> dict[int, int]:
    """{id(variable): depth} for every trainable variable of a FinetuneModel."""
    backbone = model.backbone
    num_layers = len(backbone.transformer_layers)
    depths = {}
    for v in backbone.embeddings.trainable_weights:
        depths[id(v)] = 0
    if backbone.embeddings_projection is not None:
        for v in backbone.embeddings_projection.trainable_weights:
            depths[id(v)] = 0
    for i, block in enumerate(backbone.transformer_layers):
        for v in block.trainable_weights:
            depths[id(v)] = i + 1
    for v in model.head.trainable_weights:
        depths[id(v)] = num_layers + 2
    missing = [v.path for v in model.trainable_variables if id(v) not in depths]
    if missing:
        raise ValueError(f"no layer depth for variable(s) {missing}")
    return depths


def multiplier(depth: int, num_layers: int, decay: float, mode: str = "paper") -> float:
    if mode not in MODES:
        raise ValueError(f"layer decay mode {mode!r}: choose one of {MODES}")
    exponent = num_layers + 2 - depth if mode == "code" else max(0, num_layers + 1 - depth)
    return decay ** exponent


def multiplier_fn(model, decay: float, mode: str = "paper"):
    """variable -> LR multiplier, for AdamWeightDecay(lr_multiplier=...)."""
    depths = variable_depths(model)
    num_layers = len(model.backbone.transformer_layers)

    def fn(variable):
        return multiplier(depths[id(variable)], num_layers, decay, mode)
    return fn
