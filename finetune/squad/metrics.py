"""The official SQuAD v1.1 and v2.0 evaluation (same normalisation, EM/F1, HasAns/NoAns
and best-threshold search as the official scripts), as functions."""
from __future__ import annotations

import collections
import re
import string


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, squeeze whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _tokens(s):
    return normalize_answer(s).split() if s else []


def exact(gold: str, pred: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(pred))


def _token_f1(g: list[str], p: list[str]) -> float:
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def f1_v1(gold: str, pred: str) -> float:
    """v1.1 F1 (an empty normalised answer scores 0)."""
    return _token_f1(normalize_answer(gold).split(), normalize_answer(pred).split())


def f1_v2(gold: str, pred: str) -> float:
    """v2.0 F1: if either is empty (no answer), 1 when both are, else 0."""
    g, p = _tokens(gold), _tokens(pred)
    if not g or not p:
        return float(g == p)
    return _token_f1(g, p)


def evaluate_v1(dataset: list[dict], predictions: dict[str, str]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent; unanswered questions score 0 (official v1.1)."""
    em = f1 = total = 0.0
    for article in dataset:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                golds = [a["text"] for a in qa["answers"]]
                pred = predictions[qa["id"]]
                em += max(exact(g, pred) for g in golds)
                f1 += max(f1_v1(g, pred) for g in golds)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}


def _best_threshold(preds, scores, na_probs, has_ans):
    num_no_ans = sum(1 for k in has_ans if not has_ans[k])
    cur = best = num_no_ans
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def evaluate_v2(dataset: list[dict], predictions: dict[str, str],
                na_probs: dict[str, float] | None = None,
                na_prob_thresh: float = 1.0) -> dict[str, float]:
    """Official v2.0: exact/f1 (a question counts as "no answer" when its na_prob
    exceeds na_prob_thresh), HasAns_/NoAns_ splits, best_exact/best_f1 and thresholds."""
    has_ans, exact_raw, f1_raw = {}, {}, {}
    for article in dataset:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                qid = qa["id"]
                has_ans[qid] = bool(qa["answers"])  # as the official script (unnormalised)
                golds = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])]
                if not golds:
                    golds = [""]
                if qid not in predictions:
                    continue  # the official script warns and scores nothing for it
                pred = predictions[qid]
                exact_raw[qid] = max(exact(g, pred) for g in golds)
                f1_raw[qid] = max(f1_v2(g, pred) for g in golds)
    if na_probs is None:
        na_probs = {k: 0.0 for k in predictions}

    def thresholded(scores):
        return {q: (float(not has_ans[q]) if na_probs[q] > na_prob_thresh else s)
                for q, s in scores.items()}

    ex_t, f1_t = thresholded(exact_raw), thresholded(f1_raw)

    def block(qids):
        n = len(qids)
        return {"exact": 100.0 * sum(ex_t.get(q, 0.0) for q in qids) / n,
                "f1": 100.0 * sum(f1_t.get(q, 0.0) for q in qids) / n, "total": n}

    if not ex_t:
        raise ValueError("no predictions for any question of the dataset")
    out = block(list(ex_t))  # the official script's total: the answered questions
    has = [q for q in has_ans if has_ans[q]]
    no = [q for q in has_ans if not has_ans[q]]
    if has:
        out.update({f"HasAns_{k}": v for k, v in block(has).items()})
    if no:
        out.update({f"NoAns_{k}": v for k, v in block(no).items()})
    if na_probs:
        out["best_exact"], out["best_exact_thresh"] = _best_threshold(
            predictions, exact_raw, na_probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = _best_threshold(
            predictions, f1_raw, na_probs, has_ans)
    return out
