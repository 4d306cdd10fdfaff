"""SQuAD 1.1 / 2.0: JSON -> examples -> doc-stride windows, as the original's qa_tasks."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np


class SquadDataError(ValueError):
    """A SQuAD file is missing or malformed; the message names the file and entry."""


@dataclasses.dataclass
class SquadExample:
    qas_id: str
    question: str
    doc_tokens: list[str]  # whitespace-split context
    answer_text: str | None = None  # training: the first answer
    start_word: int | None = None
    end_word: int | None = None
    is_impossible: bool = False


@dataclasses.dataclass
class WindowInfo:
    """What post-processing needs to map a window back to its example's text."""
    example_index: int
    tokens: list[int]  # token ids of the window ([CLS] q [SEP] doc [SEP])
    token_to_orig: dict[int, int]  # window position -> whitespace word of the context
    max_context: dict[int, bool]


def is_whitespace(c: str) -> bool:
    return c in " \t\r\n" or ord(c) == 0x202F


def read_dataset(path: str) -> list[dict]:
    """The `data` list of a SQuAD JSON file (what the official evaluators read)."""
    if not os.path.isfile(path):
        raise SquadDataError(f"{path} does not exist: pass a SQuAD JSON file "
                             f"(e.g. ../shared/data/squad/dev-v1.1.json)")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise SquadDataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: "
                             f"{e.msg})") from None
    except UnicodeDecodeError as e:
        raise SquadDataError(f"{path}: not UTF-8 text ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SquadDataError(f"{path}: expected a JSON object with a 'data' list (SQuAD format)")
    return data["data"]


def read_examples(path: str, is_training: bool, v2: bool) -> tuple[list[SquadExample], int]:
    """(examples, number skipped) from a SQuAD file. Training answers that cannot be
    recovered from the context are skipped, as the original does."""
    examples, skipped = [], 0
    for ai, article in enumerate(read_dataset(path)):
        for pi, para in enumerate(_get(article, "paragraphs", list, path, f"data[{ai}]")):
            where = f"data[{ai}].paragraphs[{pi}]"
            context = _get(para, "context", str, path, where)
            doc_tokens, char_to_word = [], []
            prev_ws = True
            for c in context:
                if is_whitespace(c):
                    prev_ws = True
                else:
                    if prev_ws:
                        doc_tokens.append(c)
                    else:
                        doc_tokens[-1] += c
                    prev_ws = False
                char_to_word.append(len(doc_tokens) - 1)
            for qi, qa in enumerate(_get(para, "qas", list, path, where)):
                qwhere = f"{where}.qas[{qi}]"
                qas_id = str(_get(qa, "id", (str, int), path, qwhere))
                question = _get(qa, "question", str, path, qwhere)
                ex = SquadExample(qas_id, question, doc_tokens)
                if is_training:
                    ex.is_impossible = bool(qa.get("is_impossible", False)) if v2 else False
                    if not ex.is_impossible:
                        answers = _get(qa, "answers", list, path, qwhere)
                        if not answers:
                            raise SquadDataError(f"{path}: {qwhere} has no answers (a training "
                                                 f"question needs one, or is_impossible=true)")
                        answer = answers[0]
                        text = _get(answer, "text", str, path, qwhere + ".answers[0]")
                        offset = _get(answer, "answer_start", int, path, qwhere + ".answers[0]")
                        if offset < 0 or offset + len(text) - 1 >= len(char_to_word) or not text:
                            skipped += 1
                            continue
                        ex.answer_text = text
                        ex.start_word = char_to_word[offset]
                        ex.end_word = char_to_word[offset + len(text) - 1]
                        actual = " ".join(doc_tokens[ex.start_word:ex.end_word + 1]).lower()
                        if actual.find(" ".join(text.split()).lower()) == -1:
                            skipped += 1
                            continue
                examples.append(ex)
    if not examples:
        raise SquadDataError(f"{path} has no usable questions")
    return examples, skipped


def _get(obj, key, types, path, where):
    if not isinstance(obj, dict) or key not in obj:
        raise SquadDataError(f"{path}: {where} lacks '{key}' (not SQuAD format?)")
    value = obj[key]
    if not isinstance(value, types):
        raise SquadDataError(f"{path}: {where}.{key} has type {type(value).__name__}")
    return value


def _improve_span(doc_ids, start, end, answer_ids):
    """The tightest token span whose tokens equal the tokenized answer, if any."""
    for s in range(start, end + 1):
        for e in range(end, s - 1, -1):
            if doc_ids[s:e + 1] == answer_ids:
                return s, e
    return start, end


def _is_max_context(spans, cur, position):
    best_score, best = None, None
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, i
    return cur == best


def _flatten_pieces(word_pieces: list[list[int]]):
    """A context's word pieces per word -> (pieces, piece -> word, word -> first piece)."""
    doc, tok_to_orig, orig_to_tok = [], [], []
    for wi, pieces in enumerate(word_pieces):
        orig_to_tok.append(len(doc))
        for p in pieces:
            tok_to_orig.append(wi)
            doc.append(p)
    return doc, tok_to_orig, orig_to_tok


def _doc_spans(doc_length: int, max_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """The original's doc-stride windows: (start, length) of at most max_doc pieces, each
    starting doc_stride after the last, until one reaches the end."""
    spans, start = [], 0
    while start < doc_length:
        length = min(doc_length - start, max_doc)
        spans.append((start, length))
        if start + length == doc_length:
            break
        start += min(length, doc_stride)
    return spans


def featurize(examples: list[SquadExample], tokenizer, max_seq_length: int = 512,
              doc_stride: int = 128, max_query_length: int = 64, is_training: bool = False,
              progress: bool = False):
    """(features dict of arrays, [WindowInfo]) with one row per doc-stride window.

    Training rows carry start_positions/end_positions (0 = [CLS] when the answer is
    not in the window or the question is unanswerable) and is_impossible.
    """
    from tqdm import tqdm

    cls, sep = tokenizer.special.cls, tokenizer.special.sep
    questions = tokenizer.tokenize_lines([e.question for e in examples])
    # Tokenize each distinct context's words once.
    contexts: dict[int, list[list[int]]] = {}
    for e in examples:
        if id(e.doc_tokens) not in contexts:
            contexts[id(e.doc_tokens)] = tokenizer.tokenize_lines(e.doc_tokens)
    answers = {}
    if is_training:
        todo = [e for e in examples if not e.is_impossible]
        for e, ids in zip(todo, tokenizer.tokenize_lines([e.answer_text for e in todo])):
            answers[id(e)] = ids
    rows = {k: [] for k in ("token_ids", "padding_mask", "segment_ids")}
    if is_training:
        rows.update(start_positions=[], end_positions=[], is_impossible=[])
    infos = []
    for ei, ex in enumerate(tqdm(examples, desc="windows", disable=not progress)):
        query = questions[ei][:max_query_length]
        doc, tok_to_orig, orig_to_tok = _flatten_pieces(contexts[id(ex.doc_tokens)])
        tok_start = tok_end = None
        if is_training and not ex.is_impossible:
            tok_start = orig_to_tok[ex.start_word]
            tok_end = (orig_to_tok[ex.end_word + 1] - 1 if ex.end_word < len(ex.doc_tokens) - 1
                       else len(doc) - 1)
            tok_start, tok_end = _improve_span(doc, tok_start, tok_end, answers[id(ex)])
        max_doc = max_seq_length - len(query) - 3
        if max_doc < 1:
            raise SquadDataError(f"max_seq_length={max_seq_length} leaves no room for the "
                                 f"context after a {len(query)}-token question")
        spans = _doc_spans(len(doc), max_doc, doc_stride)
        for si, (start, length) in enumerate(spans):
            ids = [cls] + query + [sep]
            seg = [0] * len(ids)
            token_to_orig, max_context = {}, {}
            for i in range(length):
                token_to_orig[len(ids)] = tok_to_orig[start + i]
                max_context[len(ids)] = _is_max_context(spans, si, start + i)
                ids.append(doc[start + i])
                seg.append(1)
            ids.append(sep)
            seg.append(1)
            pad = max_seq_length - len(ids)
            rows["token_ids"].append(ids + [0] * pad)
            rows["padding_mask"].append([1] * len(ids) + [0] * pad)
            rows["segment_ids"].append(seg + [0] * pad)
            if is_training:
                s = e = 0
                if not ex.is_impossible and start <= tok_start and tok_end <= start + length - 1:
                    offset = len(query) + 2
                    s, e = tok_start - start + offset, tok_end - start + offset
                rows["start_positions"].append(s)
                rows["end_positions"].append(e)
                rows["is_impossible"].append(int(ex.is_impossible))
            infos.append(WindowInfo(ei, ids, token_to_orig, max_context))
    return {k: np.asarray(v, np.int32) for k, v in rows.items()}, infos
