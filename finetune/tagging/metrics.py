"""Entity-level precision, recall and F1 as conlleval (and seqeval's default mode) count them.

A chunk (entity) is a maximal run of words of one type: it starts at a B- tag, or at an
I- tag whose type differs from the previous word's or follows O (which is how IOB1 starts
entities, so BIO and IOB1 files both score right; E-/S- of IOBES are understood too),
and it ends where the next word does not continue it. A predicted entity counts as
correct only if its type, first and last word all equal a gold entity's. Sentences are
scored as one sequence with an O between them, so no entity spans two sentences.
"""
from __future__ import annotations


def _split(tag: str) -> tuple[str, str]:
    """"B-PER" -> ("B", "PER"); "O" -> ("O", "_"); a bare "PER" -> ("P", "ER"), as
    conlleval reads tags (prefix character, then the type after the first '-')."""
    if tag == "O":
        return "O", "_"
    prefix = tag[0]
    kind = tag[1:].split("-", 1)[-1] or "_"
    return prefix, kind


def _ends(prev_prefix, prefix, prev_type, kind) -> bool:
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "S", "O"):
        return True
    return prev_prefix not in ("O", ".") and prev_type != kind


def _starts(prev_prefix, prefix, prev_type, kind) -> bool:
    if prefix in ("B", "S"):
        return True
    if prev_prefix in ("E", "S", "O") and prefix in ("E", "I"):
        return True
    return prefix not in ("O", ".") and prev_type != kind


def entities(sentences: list[list[str]]) -> set[tuple[str, int, int]]:
    """{(type, first, last)} over the sentences joined with an O between them."""
    flat: list[str] = []
    for tags in sentences:
        flat.extend(tags)
        flat.append("O")
    found, prev_prefix, prev_type, begin = set(), "O", "", 0
    for i, tag in enumerate(flat + ["O"]):
        prefix, kind = _split(tag)
        if _ends(prev_prefix, prefix, prev_type, kind):
            found.add((prev_type, begin, i - 1))
        if _starts(prev_prefix, prefix, prev_type, kind):
            begin = i
        prev_prefix, prev_type = prefix, kind
    return found


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """{"precision", "recall", "f1"} in percent, micro-averaged over all entities."""
    if [len(s) for s in gold] != [len(s) for s in pred]:
        raise ValueError("gold and predicted tags differ in sentence or word counts")
    g, p = entities(gold), entities(pred)
    correct = len(g & p)
    precision = correct / len(p) if p else 0.0
    recall = correct / len(g) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f1}
