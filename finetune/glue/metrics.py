"""GLUE metrics (numpy): accuracy, F1, macro-F1, Matthews correlation, Pearson, Spearman."""
from __future__ import annotations

import numpy as np


def accuracy(labels, preds) -> float:
    labels, preds = np.asarray(labels), np.asarray(preds)
    return float(np.mean(labels == preds))


def f1(labels, preds, positive: int = 1) -> float:
    """F1 of the positive class (GLUE's MRPC/QQP F1)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    tp = np.sum((preds == positive) & (labels == positive))
    fp = np.sum((preds == positive) & (labels != positive))
    fn = np.sum((preds != positive) & (labels == positive))
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return float(2 * precision * recall / (precision + recall))


def macro_f1(labels, preds) -> float:
    """Unweighted mean over the classes (those in labels or predictions) of each class's
    F1, as scikit-learn's f1_score(average="macro", zero_division=0)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    classes = np.union1d(labels, preds)
    return float(np.mean([f1(labels, preds, positive=c) for c in classes]))


def mcc(labels, preds) -> float:
    """Matthews correlation of binary labels (0 when undefined, as scikit-learn)."""
    labels, preds = np.asarray(labels).astype(bool), np.asarray(preds).astype(bool)
    tp = float(np.sum(preds & labels))
    tn = float(np.sum(~preds & ~labels))
    fp = float(np.sum(preds & ~labels))
    fn = float(np.sum(~preds & labels))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(xc * xc) * np.sum(yc * yc))
    return float(np.sum(xc * yc) / denom) if denom > 0 else 0.0


def rank(x) -> np.ndarray:
    """1-based ranks; ties get the average of the ranks they span."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x, y) -> float:
    return pearson(rank(x), rank(y))


METRICS = {"accuracy": accuracy, "f1": f1, "macro_f1": macro_f1, "mcc": mcc, "pearson": pearson,
           "spearman": spearman}


def compute(names, labels, preds) -> dict[str, float]:
    """{name: value * 100} for the named metrics (GLUE reports percentages)."""
    return {name: 100.0 * METRICS[name](labels, preds) for name in names}
