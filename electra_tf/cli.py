"""What every command does first: hide TensorFlow's, XLA's and absl's internal log lines.

On every run TF and XLA print internals a user cannot act on: a cuInit "CUDA error" on
machines without a GPU, oneDNN and CPU-feature notices, "All log messages before
absl::InitializeLog() ..." and "Compiled cluster using XLA!" (XLA's C++ logging, which
TF_CPP_MIN_LOG_LEVEL does not reach), checkpoint "Sharding callback duration" lines, tf.data
and MLIR notices, Python warnings from inside TF/Keras. `start()` hides them; `--tf_logs`
shows them all again (as does setting TF_CPP_MIN_LOG_LEVEL yourself; absl's own
`--verbosity` still applies to absl's Python logging).
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

from absl import flags
from absl import logging as absl_logging

flags.DEFINE_bool("tf_logs", False,
                  "Show TensorFlow / XLA / absl internal log lines (hidden by default).")

_LIBRARIES = r"(tensorflow|tf_keras|keras|keras_hub|tensorflow_text|official|absl)(\.|$)"


def start() -> None:
    """Call first in main(), before TensorFlow is imported (flags are parsed by then).
    Creates no TF device, so --num_cpu_devices / multi-worker set-up can still follow."""
    if flags.FLAGS.tf_logs:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO, WARNING and ERROR lines
    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)  # e.g. functional_saver's INFO
    warnings.filterwarnings("ignore", module=_LIBRARIES)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


_xla_quieted = False


def quiet_xla() -> None:
    """XLA logs two lines through absl's C++ logging on a process's first compilation,
    whatever TF_CPP_MIN_LOG_LEVEL says, and only once: compile one tiny kernel first,
    with the stderr file descriptor muted, so they go nowhere. Call after the devices are
    configured (it runs a TF op); a no-op with --tf_logs and after the first call."""
    global _xla_quieted
    if flags.FLAGS.tf_logs or _xla_quieted:
        return
    import tensorflow as tf

    with _stderr_muted():
        tf.function(lambda x: x + 1.0, jit_compile=True)(tf.zeros(()))
    _xla_quieted = True


@contextlib.contextmanager
def _stderr_muted():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
