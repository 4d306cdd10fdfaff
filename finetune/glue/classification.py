"""GLUE fine-tuning: data loading, the loss, evaluation and submission files."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from finetune import training
from finetune.glue import features as feats
from finetune.glue import metrics
from finetune.glue import tasks as glue


@dataclasses.dataclass
class GlueData:
    train: dict[str, np.ndarray] | None
    evals: dict[str, dict[str, np.ndarray]]  # eval set name -> features
    tests: dict[str, tuple[list[str], dict[str, np.ndarray], str]]  # name -> (ids, feats, file)


def load(task: glue.GlueTask, data_dir: str, tokenizer, max_seq_length: int,
         train: bool = True, predict_test: bool = False, swap_doubling: bool = True,
         skip_bad_rows: bool = False, max_train_examples: int | None = None) -> GlueData:
    reg = task.is_regression
    train_feats = None
    if train:
        examples = glue.train_examples(task, data_dir, swap_doubling, skip_bad_rows,
                                       max_train_examples or None)
        train_feats = feats.featurize(examples, tokenizer, max_seq_length, reg)
        print(f"{task.name}: {len(examples)} training examples", flush=True)
    evals = {}
    for name, filename in task.eval_sets:
        ex = glue.read_examples(task, os.path.join(data_dir, filename),
                                skip_bad_rows=skip_bad_rows)
        evals[name] = feats.featurize(ex, tokenizer, max_seq_length, reg)
    tests = {}
    if predict_test:
        for name, filename, submission in task.test_sets:
            ex = glue.read_examples(task, os.path.join(data_dir, filename), labelled=False,
                                    skip_bad_rows=skip_bad_rows)
            tests[name] = ([e.guid for e in ex], feats.featurize(ex, tokenizer, max_seq_length,
                                                                 reg), submission)
    return GlueData(train_feats, evals, tests)


def loss_fn(task: glue.GlueTask):
    if task.is_regression:  # squared error on the label / 5, as the original
        return lambda out, batch: tf.square(out[:, 0] - tf.cast(batch["label"], tf.float32))
    return lambda out, batch: tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(batch["label"], tf.int32), logits=out)


def predictions(task: glue.GlueTask, outputs: np.ndarray) -> np.ndarray:
    return outputs[:, 0] if task.is_regression else np.argmax(outputs, axis=-1)


def evaluate(task, model, data: GlueData, strategy, batch_size: int) -> dict[str, float]:
    """{"<eval set>/<metric>": value (percent)} over every dev set of the task."""
    result = {}
    for name, f in data.evals.items():
        out = training.predict(model, f, strategy, batch_size)["output"]
        for metric, value in metrics.compute(task.metrics, f["label"],
                                             predictions(task, out)).items():
            result[f"{name}/{metric}"] = value
    return result


def write_test_predictions(task, model, data: GlueData, strategy, batch_size: int,
                           directory: str) -> list[str]:
    """GLUE submission files (index<TAB>prediction), one per test set."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, (ids, f, filename) in data.tests.items():
        preds = predictions(task, training.predict(model, f, strategy, batch_size)["output"])
        path = os.path.join(directory, filename)
        with open(path, "w") as out:
            out.write("index\tprediction\n")
            for guid, p in zip(ids, preds):
                value = (f"{float(np.clip(p * 5.0, 0.0, 5.0)):.3f}" if task.is_regression
                         else task.labels[int(p)])
                out.write(f"{guid}\t{value}\n")
        paths.append(path)
    return paths
