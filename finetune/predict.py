"""Batch-predict a file with a served model (finetune.run --export_serving).

  python -m finetune.predict --model=/tmp/ft/run_0/serving --input=reviews.csv
  # -> reviews.csv.predictions.jsonl: {"row": "reviews.csv:2", "label": ..., "probabilities"}
  python -m finetune.predict --model=/tmp/ner/run_0/serving --input=tweets.conll
  # -> tweets.conll.predictions.conll: each input line plus its predicted tag

Only TensorFlow and tensorflow-text run the model (the SavedModel holds the tokenizer);
the text columns default to the ones the model was fine-tuned with (its task.json).
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from electra_tf import cli  # defines --tf_logs

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A serving SavedModel (finetune.run --export_serving: "
                    "<output_dir>/run_<i>/serving, or that run_<i> directory).")
flags.DEFINE_string("input", None, "File to predict: CSV/TSV/JSONL (classification, "
                    "regression) or CoNLL (tagging; the word is column 0).")
flags.DEFINE_string("output", None, "Default: <input>.predictions.jsonl (.conll for tagging).")
flags.DEFINE_enum("format", None, ["csv", "tsv", "jsonl"], "Default: from the extension.")
flags.DEFINE_string("text_column", None, "Default: the fine-tuning's --text_column.")
flags.DEFINE_string("text_pair_column", None, "Default: the fine-tuning's.")
flags.DEFINE_integer("batch_size", 64, "Rows per model call.")
flags.DEFINE_boolean("progress", True, "Progress bar.")


class PredictError(ValueError):
    pass


def _model_dir(path: str) -> tuple[str, dict]:
    from electra_tf.serving import TASK_FILE

    for d in (path, os.path.join(path, "serving")):
        if os.path.isfile(os.path.join(d, TASK_FILE)) and os.path.isfile(
                os.path.join(d, "saved_model.pb")):
            with open(os.path.join(d, TASK_FILE)) as f:
                return d, json.load(f)
    raise PredictError(f"--model={path} is not a served model (no saved_model.pb and "
                       f"task.json): pass <output_dir>/run_<i>/serving of a finetune.run "
                       f"--export_serving")


def _batches(n: int, size: int, label: str):
    from tqdm import tqdm

    bar = tqdm(total=n, desc=label, disable=not FLAGS.progress, file=sys.stderr,
               mininterval=1.0, unit="row")
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
        bar.update(min(size, n - start))
    bar.close()


def read_text_inputs(task: dict, path: str) -> tuple[list[str], list[str], dict]:
    """(row names, texts, {"text_pair": pairs} or {}) of a CSV/TSV/JSONL input."""
    from finetune import own_data

    text = FLAGS.text_column or task.get("text_column") or "text"
    pair = FLAGS.text_pair_column or task.get("text_pair_column")
    if task.get("text_pair") and not pair:
        raise PredictError("the model classifies text pairs: pass --text_pair_column")
    guids, texts, pairs = [], [], []
    for line_no, row in own_data.read_rows(path, FLAGS.format):
        texts.append(own_data.text_cell(path, line_no, row, text, "--text_column"))
        if pair:
            pairs.append(own_data.text_cell(path, line_no, row, pair, "--text_pair_column"))
        guids.append(f"{path}:{line_no}")
    return guids, texts, ({"text_pair": pairs} if pair else {})


def predict_text(serve, inputs, output: str) -> int:
    import tensorflow as tf

    from finetune import own_data

    guids, texts, extra = inputs
    records = []
    for sl in _batches(len(texts), FLAGS.batch_size, "predict"):
        kw = {"text": tf.constant(texts[sl])}
        kw.update({k: tf.constant(v[sl]) for k, v in extra.items()})
        out = {k: v.numpy() for k, v in serve(**kw).items()}
        for i in range(len(kw["text"])):
            if "score" in out:
                records.append({"score": float(out["score"][i])})
            else:
                records.append({"label": out["label"][i].decode("utf-8"),
                                "label_id": int(out["label_id"][i]),
                                "probabilities": [float(p) for p in out["probabilities"][i]]})
    own_data.write_predictions(output, guids, records)
    return len(records)


def predict_tags(serve, sentences, output: str) -> int:
    import tensorflow as tf

    from finetune.tagging import data as conll

    predicted = []
    for sl in _batches(len(sentences), FLAGS.batch_size, "predict"):
        out = serve(text=tf.constant([" ".join(s.words) for s in sentences[sl]]))
        for s, row in zip(sentences[sl], out["tag"].numpy()):
            predicted.append([t.decode("utf-8") for t in row[:len(s.words)]])
    conll.write_predictions(output, sentences, predicted)
    return len(sentences)


def run() -> None:
    if not FLAGS.model or not FLAGS.input:
        raise PredictError("--model and --input are required")
    model_dir, task = _model_dir(FLAGS.model)
    if not os.path.isfile(FLAGS.input):
        raise PredictError(f"--input={FLAGS.input} does not exist")
    tagging = task["kind"] == "token_classification"
    output = FLAGS.output or FLAGS.input + (".predictions.conll" if tagging
                                            else ".predictions.jsonl")
    if tagging:  # the input is read and checked before the model loads
        from finetune.tagging import data as conll
        inputs = conll.read_conll(FLAGS.input, labelled=False)
    else:
        inputs = read_text_inputs(task, FLAGS.input)
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer's ops)

    cli.quiet_xla()  # the served graph's XLA kernels log on their first compilation
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    tmp = output + ".partial"  # an interrupted run leaves no output behind
    try:
        n = (predict_tags if tagging else predict_text)(serve, inputs, tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"{n} {'sentences' if tagging else 'rows'} predicted: {output}", flush=True)


def main(argv):
    del argv
    cli.start()
    from finetune.own_data import OwnDataError
    from finetune.tagging.data import TaggingDataError

    try:
        run()
    except (PredictError, OwnDataError, TaggingDataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: no predictions written", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main)
