"""SQuAD fine-tuning: loss, prediction files and official metrics."""
from __future__ import annotations

import json
import math
import os

import tensorflow as tf

from finetune import training
from finetune.squad import data as squad_data
from finetune.squad import metrics as squad_metrics
from finetune.squad import postprocess as squad_postprocess

ANSWERABLE_WEIGHT = 0.5  # the original's answerable_weight


def loss_fn(v2: bool):
    """(start + end) / 2 (+ 0.5 * answerability sigmoid cross-entropy for 2.0)."""
    def fn(out, batch):
        start = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=batch["start_positions"], logits=out["start_logits"])
        end = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=batch["end_positions"], logits=out["end_logits"])
        loss = (start + end) / 2.0
        if v2:
            loss += ANSWERABLE_WEIGHT * tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.cast(batch["is_impossible"], tf.float32),
                logits=out["answerable_logit"])
        return loss
    return fn


def predict_and_evaluate(model, strategy, predict_file: str, examples, features, infos,
                         vocab, v2: bool, output_dir: str, batch_size: int = 32,
                         n_best_size: int = 20, max_answer_length: int = 30,
                         lower_case: bool = True) -> dict[str, float]:
    """Writes predictions.json (+ null_odds.json for 2.0, nbest_predictions.json) in the
    official format and returns the official metrics of exactly those files.

    SQuAD 2.0: a question is predicted unanswerable where its answerability logit (the
    "no answer" logit) is > 0, and its predictions.json entry is then "" (as BERT's and
    the original's code write it); null_odds.json holds P(no answer) = sigmoid(logit),
    what the official evaluate-v2.0.py takes as --na-prob-file. The metrics are the
    official script's on these two files at its default --na-prob-thresh 1.0 (which
    leaves the written answers as they are): `exact`/`f1` are the score of the file as
    submitted, `best_exact`/`best_f1` (and their thresholds, probabilities) its sweep.
    """
    results = training.predict(model, features, strategy, batch_size)
    preds, null_logits, nbest = squad_postprocess.write_predictions(
        examples, infos, results, vocab, v2, n_best_size, max_answer_length, lower_case)
    os.makedirs(output_dir, exist_ok=True)
    _dump(nbest, os.path.join(output_dir, "nbest_predictions.json"))
    dataset = squad_data.read_dataset(predict_file)
    if v2:
        preds = squad_postprocess.apply_null_threshold(preds, null_logits, 0.0)
        na_probs = {q: float(1.0 / (1.0 + math.exp(-z))) for q, z in null_logits.items()}
        _dump(preds, os.path.join(output_dir, "predictions.json"))
        _dump(na_probs, os.path.join(output_dir, "null_odds.json"))
        return squad_metrics.evaluate_v2(dataset, preds, na_probs)
    _dump(preds, os.path.join(output_dir, "predictions.json"))
    return squad_metrics.evaluate_v1(dataset, preds)


def _dump(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
