"""GLUE and SQuAD metrics against hand-computed values and reference implementations."""
import numpy as np
import pytest

from finetune.glue import metrics
from finetune.squad import metrics as sm


def test_glue_metrics_hand_computed():
    labels, preds = [1, 1, 0, 0, 1], [1, 0, 0, 1, 1]
    # tp=2 tn=1 fp=1 fn=1
    assert metrics.accuracy(labels, preds) == pytest.approx(0.6)
    assert metrics.f1(labels, preds) == pytest.approx(2 / 3)
    assert metrics.mcc(labels, preds) == pytest.approx((2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2))
    assert metrics.mcc([1, 1, 0], [1, 1, 1]) == 0.0  # undefined -> 0
    # ranks with ties: x -> [1, 2.5, 2.5, 4]
    assert metrics.rank([1, 2, 2, 3]).tolist() == [1, 2.5, 2.5, 4]
    assert metrics.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert metrics.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(
        np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1])
    assert metrics.compute(["accuracy"], [1, 0], [1, 1]) == {"accuracy": 50.0}


def test_glue_metrics_match_scipy_and_sklearn():
    scipy_stats = pytest.importorskip("scipy.stats")
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    assert metrics.mcc(y, p) == pytest.approx(sk.matthews_corrcoef(y, p))
    assert metrics.f1(y, p) == pytest.approx(sk.f1_score(y, p))
    a, b = rng.integers(0, 6, 100) / 5.0, rng.normal(size=100)
    assert metrics.spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b)[0])
    assert metrics.pearson(a, b) == pytest.approx(scipy_stats.pearsonr(a, b)[0])


def dataset(qas):
    return [{"paragraphs": [{"context": "c", "qas": [
        {"id": qid, "answers": [{"text": t, "answer_start": 0} for t in golds]}
        for qid, golds in qas]}]}]


def test_squad_normalisation_and_f1_hand_computed():
    assert sm.normalize_answer("The  Cat!") == "cat"
    assert sm.normalize_answer("an apple, a day") == "apple day"
    assert sm.exact("The Denver Broncos", "denver broncos.") == 1.0
    # gold [big, red, dog], pred [red, dog, barked]: P = R = 2/3
    assert sm.f1_v1("the big red dog", "red dog barked") == pytest.approx(2 / 3)
    assert sm.f1_v1("dog", "cat") == 0.0
    assert sm.f1_v2("", "") == 1.0 and sm.f1_v2("", "x") == 0.0


def test_squad_v1_multiple_golds_take_the_max():
    data = dataset([("q1", ["Denver Broncos", "The Broncos"]), ("q2", ["red dog"]),
                    ("q3", ["x"])])
    preds = {"q1": "broncos", "q2": "the big red dog"}  # q3 unanswered: scores 0
    out = sm.evaluate_v1(data, preds)
    # q1: EM with "The Broncos" = 1; q2: EM 0, F1 = 2*(2/3*1)/(2/3+1) = 0.8
    assert out["exact_match"] == pytest.approx(100 * 1 / 3)
    assert out["f1"] == pytest.approx(100 * (1 + 0.8) / 3)


def test_squad_v2_null_threshold_and_best_threshold():
    data = dataset([("a", ["yes"]), ("b", []), ("c", ["no"])])
    preds = {"a": "yes", "b": "something", "c": "wrong"}
    odds = {"a": -2.0, "b": 3.0, "c": 1.0}
    out = sm.evaluate_v2(data, preds, odds, na_prob_thresh=0.0)
    # thresholded: a answered (1), b null & no-answer (1), c null but has answer (0)
    assert out["exact"] == pytest.approx(200 / 3)
    assert out["HasAns_exact"] == 50.0 and out["NoAns_exact"] == 100.0
    # best threshold: sweep odds ascending a(-2): +1, c(1): +0, b(3): -1 -> best after a
    assert out["best_exact"] == pytest.approx(200 / 3) and out["best_exact_thresh"] == -2.0


def test_squad_metrics_match_model_garden_evaluators():
    v1 = pytest.importorskip("official.nlp.tools.squad_evaluate_v1_1")
    v2 = pytest.importorskip("official.nlp.tools.squad_evaluate_v2_0")
    rng = np.random.default_rng(1)
    words = "the a red dog cat ran fast slow . , an big".split()
    qas, preds, odds = [], {}, {}
    for i in range(60):
        golds = [" ".join(rng.choice(words, rng.integers(1, 4))) for _ in range(rng.integers(1, 3))]
        if i % 4 == 0:
            golds = []
        qas.append((f"q{i}", golds))
        preds[f"q{i}"] = "" if i % 5 == 0 else " ".join(rng.choice(words, rng.integers(1, 4)))
        odds[f"q{i}"] = float(rng.normal())
    data = dataset(qas)
    answered = dataset([q for q in qas if q[1]])
    ref1 = v1.evaluate(answered, preds)  # fractions
    ours1 = sm.evaluate_v1(answered, preds)
    assert ours1["exact_match"] == pytest.approx(100 * ref1["exact_match"])
    assert ours1["f1"] == pytest.approx(100 * ref1["final_f1"])
    ref2 = v2.evaluate(data, preds, odds)
    ours2 = sm.evaluate_v2(data, preds, odds)
    for k in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
        assert ours2[k] == pytest.approx(ref2[k]), k
    assert ours2["best_exact"] == pytest.approx(ref2["final_exact"])
    assert ours2["best_f1"] == pytest.approx(ref2["final_f1"])
