"""finetune.run's flags (finetune/run.py is the loop that reads them)."""
from __future__ import annotations

from absl import flags

from electra_tf import cli  # noqa: F401 (defines --tf_logs)

TASK_HELP = ("GLUE: cola, sst-2, mrpc, sts-b, qqp, mnli, qnli, rte, wnli; squad_v1, squad_v2; "
             "your files: text_classification, text_regression, token_classification")
FLAGS = flags.FLAGS
flags.DEFINE_string("task", None, f"Task. {TASK_HELP}.")
flags.DEFINE_string("output_dir", None, "Where results, predictions and TensorBoard logs go.")
flags.DEFINE_string("data_dir", None, "GLUE: the task's directory (train.tsv, dev.tsv, test.tsv).")
flags.DEFINE_string("train_file", None, "SQuAD: training JSON (omit to only predict); "
                    "text_*: a CSV/TSV/JSONL file; token_classification: a CoNLL file.")
flags.DEFINE_string("dev_file", None, "text_* / token_classification: the file to score.")
flags.DEFINE_string("test_file", None, "text_* / token_classification: a file to predict "
                    "(labels not needed): <output_dir>/run_<i>/test_predictions.*")
flags.DEFINE_enum("format", None, ["csv", "tsv", "jsonl"],
                  "text_*: the files' format; default: from the extension.")
flags.DEFINE_string("text_column", "text", "text_*: the column holding the text.")
flags.DEFINE_string("text_pair_column", None, "text_*: a second text column (pairs).")
flags.DEFINE_string("label_column", "label", "text_*: the column holding the label.")
flags.DEFINE_integer("tag_column", -1, "token_classification: the column of the tag "
                     "(0-based; default the last); the word is column 0.")
flags.DEFINE_boolean("save_model", False, "Save each run's fine-tuned Keras model (with its "
                     "text preprocessor) as <output_dir>/run_<i>/model.keras.")
flags.DEFINE_boolean("export_serving", False, "Export each run as a SavedModel serving raw "
                     "text: <output_dir>/run_<i>/serving (see electra_tf/serving.py).")
flags.DEFINE_string("predict_file", None, "SQuAD: JSON to predict and score (dev set).")
flags.DEFINE_string("init_checkpoint", None,
                    "Exported discriminator dir (pretraining's <model_dir>/discriminator or "
                    "electra_tf.convert output), a pretraining --model_dir, or a ckpt prefix. "
                    "Omit to fine-tune from random weights (a baseline).")
flags.DEFINE_string("size", None, "small|base|large|tiny: model sizes when the checkpoint has "
                    "no config.json, or for random init; default: the checkpoint's config.")
flags.DEFINE_string("vocab", None, "vocab.txt; default: the checkpoint directory's vocab.txt.")
flags.DEFINE_enum("recipe", "paper", ["paper", "code"],
                  "Hyper-parameter defaults: paper Table 7, or the released code's "
                  "(lr 1e-4 Small, weight decay 0.01, top layer decay^2).")
flags.DEFINE_float("learning_rate", None, "Default: from --recipe and the model size.")
flags.DEFINE_float("layer_decay", None, "Layer-wise LR decay; default 0.8 (0.9 Large).")
flags.DEFINE_float("weight_decay", None, "Default: 0 (paper) / 0.01 (code).")
flags.DEFINE_float("warmup_proportion", 0.1, "Warmup fraction of the steps.")
flags.DEFINE_integer("batch_size", 32, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", 64, "Prediction batch size.")
flags.DEFINE_float("epochs", None, "Default: 3 (10 for RTE and STS-B, 2 for SQuAD).")
flags.DEFINE_integer("max_seq_length", None, "Default: 128 (GLUE), 512 (SQuAD).")
flags.DEFINE_integer("num_runs", 1, "Fine-tune this many seeds; report each and the median.")
flags.DEFINE_integer("seed", 0, "Seed of the first run (run i uses seed + i).")
flags.DEFINE_boolean("predict_test", False, "GLUE: write test-set predictions in the GLUE "
                     "submission format (<output_dir>/run_<i>/submission/).")
flags.DEFINE_boolean("swap_doubling", True, "MRPC/STS-B: also train on each pair swapped.")
flags.DEFINE_boolean("skip_bad_rows", False, "Skip malformed TSV rows (with a warning).")
flags.DEFINE_integer("max_train_examples", None,
                     "Use only the first N training examples (questions for SQuAD, sentences "
                     "for token_classification); MRPC and "
                     "STS-B take the first N rows, then add their N swapped pairs.")
flags.DEFINE_integer("doc_stride", 128, "SQuAD: window stride.")
flags.DEFINE_integer("max_query_length", 64, "SQuAD: question tokens kept.")
flags.DEFINE_integer("max_answer_length", 30, "SQuAD: longest answer span, in tokens.")
flags.DEFINE_integer("n_best_size", 20, "SQuAD: n-best answers kept per question.")
flags.DEFINE_integer("beam_size", 20, "SQuAD: start x end beam at inference.")
flags.DEFINE_enum("speed_path", None, ["fast", "plain"], "How the model is computed: our "
                  "same-maths fast layers and kernels, or Keras' stock layers (the "
                  "reference path); default: the checkpoint config's (fast).")
flags.DEFINE_boolean("lower_case", True, "Lower-case and strip accents (uncased vocab).")
flags.DEFINE_string("strategy", "auto", "auto|one_device|mirrored|multi_worker|tpu")
flags.DEFINE_string("tpu", None, "TPU name/address for --strategy=tpu.")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into N logical devices (testing).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_bfloat16", "mixed_float16"],
                  "Keras mixed-precision policy.")
flags.DEFINE_integer("log_every", 50, "TensorBoard loss every N steps.")
flags.DEFINE_integer("save_every", 500, "Checkpoint the run in progress every N steps (and on "
                     "Ctrl-C / SIGTERM); re-running the same command continues it.")
flags.DEFINE_integer("debug_kill_at_step", None, "Testing: SIGKILL the process after this "
                     "training step of a run.")
flags.DEFINE_boolean("progress", True, "Progress bars.")
