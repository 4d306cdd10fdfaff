"""The speed path: same maths as Keras' stock layers and TF's ops, cheaper on CPU.

  fusion.py        XLA-compiled element-wise kernels (`xla_fused`), on TensorFlow
  elementwise.py   erf GELU (+ bias), hashed dropout, LayerNorm (+ residual dropout/add)
  dense.py         dense layers as one 2-D matmul with a faster input gradient
  attention.py     self-attention with 2-D projections and an additive mask
  cross_entropy.py the MLM softmax cross-entropy and the Gumbel-max sampling kernels
  adam.py          the AdamWeightDecay step as TF's fused Adam kernels
  keras_internals.py  the other uses of Keras' private API, each with its reason

One setting chooses the path: `EncoderConfig.speed_path` (`--config=speed_path=plain`
on `pretrain`, `--speed_path` on `finetune.run`), saved in every config.json:

  "fast"   these layers and kernels (default);
  "plain"  Keras' stock layers (Dense, EinsumDense, MultiHeadAttention,
           LayerNormalization, Dropout, keras.activations.gelu) and the loss kernels
           op by op: the reference the fast path is tested against
           (tests/test_reference_parity.py runs the whole step both ways).

Variables, their names and checkpoints are the same on both paths. The fused Adam
step is its own setting (`OptimizerConfig.fused_adam`, `--config=fused_adam=false`).
What reaches into Keras' or TF's private API is here, each use with its reason beside it.
"""
from __future__ import annotations

SPEED_PATHS = ("fast", "plain")


def is_fast(speed_path: str) -> bool:
    if speed_path not in SPEED_PATHS:
        raise ValueError(f"speed_path={speed_path!r}: choose one of {SPEED_PATHS}")
    return speed_path == "fast"
