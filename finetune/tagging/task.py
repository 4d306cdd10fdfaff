"""Token classification: the model, its loss, evaluation and prediction files."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from finetune import training
from finetune.tagging import data as conll
from finetune.tagging import metrics


@dataclasses.dataclass(frozen=True)
class TaggingTask:
    name: str
    labels: tuple[str, ...]  # tags by id
    epochs: int = 3

    @property
    def num_outputs(self) -> int:
        return len(self.labels)


@dataclasses.dataclass
class TaggingData:
    task: TaggingTask
    train: dict[str, np.ndarray]
    # name -> (sentences, features, first-piece positions)
    evals: dict[str, tuple[list, dict[str, np.ndarray], list]]
    tests: dict[str, tuple[list, dict[str, np.ndarray], list]]


def load(train_file: str, dev_file: str, test_file: str | None, tokenizer,
         max_seq_length: int, tag_column: int = -1, max_train_examples: int | None = None
         ) -> TaggingData:
    """The tags in the training file's first-seen order; train, dev and test features."""
    sentences = conll.read_conll(train_file, tag_column)[:max_train_examples or None]
    tags = tuple(conll.tag_set(sentences, train_file))
    train, _ = conll.featurize(sentences, tokenizer, max_seq_length, list(tags), train_file)
    print(f"token_classification: {len(sentences)} training sentences from {train_file},"
          f" tags {list(tags)}", flush=True)
    dev = conll.read_conll(dev_file, tag_column)
    conll.check_tags(dev, list(tags), dev_file)
    feats, pos = conll.featurize(dev, tokenizer, max_seq_length, list(tags), dev_file)
    tests = {}
    if test_file:
        test = conll.read_conll(test_file, tag_column, labelled=False)
        t_feats, t_pos = conll.featurize(test, tokenizer, max_seq_length, list(tags), test_file)
        tests["test"] = (test, t_feats, t_pos)
    return TaggingData(TaggingTask("token_classification", tags), train,
                       {"dev": (dev, feats, pos)}, tests)


def loss_fn(out, batch):
    """Per example: the sum of the labelled positions' cross-entropies (the original's
    tagging loss; the loop divides the batch's sum by the batch size)."""
    labels = tf.cast(batch["label_ids"], tf.int32)
    labels = labels[:, :tf.shape(out)[1]]  # batches are trimmed to their longest example
    keep = tf.cast(labels >= 0, tf.float32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0),
                                                        logits=out)
    return tf.reduce_sum(ce * keep, axis=1)


def predict_tags(task: TaggingTask, model, feats, positions, strategy, batch_size: int):
    logits = training.predict(model, feats, strategy, batch_size)["output"]
    return conll.word_tags(logits, positions, list(task.labels))


def evaluate(task: TaggingTask, model, data: TaggingData, strategy, batch_size: int,
             run_dir: str | None = None) -> dict[str, float]:
    """{"dev/precision", "dev/recall", "dev/f1"} (entity level, percent); with run_dir,
    the dev predictions are written to <run_dir>/dev_predictions.conll."""
    result = {}
    for name, (sentences, feats, positions) in data.evals.items():
        pred = predict_tags(task, model, feats, positions, strategy, batch_size)
        for k, v in metrics.entity_scores([s.tags for s in sentences], pred).items():
            result[f"{name}/{k}"] = v
        if run_dir:
            conll.write_predictions(os.path.join(run_dir, f"{name}_predictions.conll"),
                                    sentences, pred)
    return result


def write_test_predictions(task, model, data: TaggingData, strategy, batch_size: int,
                           directory: str) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, (sentences, feats, positions) in data.tests.items():
        path = os.path.join(directory, f"{name}_predictions.conll")
        conll.write_predictions(path, sentences, predict_tags(task, model, feats, positions,
                                                              strategy, batch_size))
        paths.append(path)
    return paths
