"""SQuAD post-processing, as the original's qa_metrics.write_predictions with joint
(beam) prediction: n-best spans per question, mapped back to the original text,
and for 2.0 the null score from the answerability classifier."""
from __future__ import annotations

import collections
import unicodedata

import numpy as np


# ---------------------------------------------------------------- BERT BasicTokenizer
def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_ws(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text: str, lower_case: bool = True) -> list[str]:
    """BERT's BasicTokenizer: clean, split CJK, lower-case + strip accents, split
    punctuation (what get_final_text aligns predictions against)."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_cjk(cp):
            chars.extend([" ", ch, " "])
        else:
            chars.append(" " if _is_ws(ch) else ch)
    out = []
    for token in "".join(chars).split():
        if lower_case:
            token = "".join(c for c in unicodedata.normalize("NFD", token.lower())
                            if unicodedata.category(c) != "Mn")
        word = []
        for ch in token:
            if _is_punctuation(ch):
                if word:
                    out.append("".join(word))
                    word = []
                out.append(ch)
            else:
                word.append(ch)
        if word:
            out.append("".join(word))
    return out


def get_final_text(pred_text: str, orig_text: str, lower_case: bool = True) -> str:
    """Projects the de-tokenized prediction onto the original text (e.g. "steve smith"
    in "Steve Smith's" -> "Steve Smith"); falls back to orig_text when alignment fails."""
    def strip_spaces(text):
        ns, ns_to_s = [], {}
        for i, c in enumerate(text):
            if c == " ":
                continue
            ns_to_s[len(ns)] = i
            ns.append(c)
        return "".join(ns), ns_to_s

    tok_text = " ".join(basic_tokenize(orig_text, lower_case))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_map = strip_spaces(orig_text)
    tok_ns, tok_map = strip_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_s_to_ns = {v: k for k, v in tok_map.items()}
    s = orig_map.get(tok_s_to_ns.get(start, -1))
    e = orig_map.get(tok_s_to_ns.get(end, -1))
    if s is None or e is None:
        return orig_text
    return orig_text[s:e + 1]


def _softmax(scores):
    if not scores:
        return []
    x = np.exp(np.asarray(scores, np.float64) - max(scores))
    return list(x / x.sum())


Prelim = collections.namedtuple("Prelim", "window start end start_logit end_logit")


def write_predictions(examples, infos, results: dict[str, np.ndarray], vocab: list[str],
                      v2: bool, n_best_size: int = 20, max_answer_length: int = 30,
                      lower_case: bool = True):
    """(predictions {qas_id: text}, null_odds {qas_id: score} (v2), nbest {qas_id: [...]}).

    results: per-window arrays start_top_log_probs [W, K], start_top_index [W, K],
    end_top_log_probs [W, K, K], end_top_index [W, K, K] and (v2) answerable_logit [W].
    For 2.0 the answer is "" when null_odds > threshold (0 by default; the official
    evaluator also searches the best threshold).
    """
    by_example = collections.defaultdict(list)
    for wi, info in enumerate(infos):
        by_example[info.example_index].append(wi)
    predictions, null_odds, all_nbest = {}, {}, {}
    for ei, ex in enumerate(examples):
        prelim, score_null = [], 1e6
        for wi in by_example[ei]:
            info = infos[wi]
            if v2:
                score_null = min(score_null, float(results["answerable_logit"][wi]))
            starts = results["start_top_index"][wi]
            for i, s in enumerate(starts):
                for j, e in enumerate(results["end_top_index"][wi][i]):
                    s, e = int(s), int(e)
                    if s >= len(info.tokens) or e >= len(info.tokens) or s == 0:
                        continue
                    if s not in info.token_to_orig or e not in info.token_to_orig:
                        continue
                    if not info.max_context.get(s, False) or e < s:
                        continue
                    if e - s + 1 > max_answer_length:
                        continue
                    prelim.append(Prelim(wi, s, e, float(results["start_top_log_probs"][wi][i]),
                                         float(results["end_top_log_probs"][wi][i][j])))
        prelim.sort(key=lambda p: p.start_logit + p.end_logit, reverse=True)
        seen, nbest = set(), []
        for p in prelim:
            if len(nbest) >= n_best_size:
                break
            info = infos[p.window]
            tok_text = " ".join(vocab[t] for t in info.tokens[p.start:p.end + 1])
            tok_text = " ".join(tok_text.replace(" ##", "").replace("##", "").strip().split())
            orig = " ".join(ex.doc_tokens[info.token_to_orig[p.start]:
                                          info.token_to_orig[p.end] + 1])
            text = get_final_text(tok_text, orig, lower_case)
            if text in seen:
                continue
            seen.add(text)
            nbest.append((text, p.start_logit, p.end_logit))
        if not nbest:
            nbest.append(("empty", 0.0, 0.0))
        probs = _softmax([s + e for _, s, e in nbest])
        all_nbest[ex.qas_id] = [dict(text=t, probability=float(pr), start_logit=s, end_logit=e)
                                for (t, s, e), pr in zip(nbest, probs)]
        best = next((t for t, _, _ in nbest if t), nbest[0][0])
        predictions[ex.qas_id] = best
        if v2:
            null_odds[ex.qas_id] = float(score_null)
    return predictions, null_odds, all_nbest


def apply_null_threshold(predictions, null_odds, threshold: float = 0.0):
    """SQuAD 2.0 answers: "" where the null score exceeds the threshold."""
    return {q: ("" if null_odds[q] > threshold else t) for q, t in predictions.items()}
