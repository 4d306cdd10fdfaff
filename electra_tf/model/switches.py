"""The speed path's two switches, read from the environment when a model is built/traced.

- `ELECTRA_TF_FAST_LAYERS=0`: build Keras' stock sublayers (Dense, EinsumDense,
  MultiHeadAttention, LayerNormalization, Dropout) and the plain erf GELU instead of
  the cheaper same-maths subclasses (elementwise.py, dense.py, attention.py). Variables,
  names and checkpoints are identical either way; this is the plain path the fast one
  is tested against (tests/test_reference_parity.py runs the whole step both ways).
- `ELECTRA_TF_XLA_FUSION=0`: run the XLA-fused element-wise kernels (fusion.py) op by op.
"""
from __future__ import annotations

import os

FAST_LAYERS_ENV = "ELECTRA_TF_FAST_LAYERS"
XLA_FUSION_ENV = "ELECTRA_TF_XLA_FUSION"


def _on(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no")


def fast_layers() -> bool:
    return _on(FAST_LAYERS_ENV)


def xla_fusion() -> bool:
    return _on(XLA_FUSION_ENV)
