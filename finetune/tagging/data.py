"""CoNLL-style files: one word per line with its tag, a blank line between sentences.

  EU	B-ORG
  rejects	O
  German	B-MISC

Columns are split on tabs when the line has one, else on whitespace (CoNLL-2003's
spaces); the word is the first column and the tag the last, or --tag_column. A line
holding only whitespace is a sentence break, and -DOCSTART- lines are skipped.

Each word is WordPiece-tokenized on its own; the sentence is packed as
[CLS] pieces [SEP], and the word's tag is the label of its first piece (the usual
BERT/ELECTRA convention); the other pieces, [CLS], [SEP] and padding carry label -1
(no loss). A sentence longer than the sequence is cut: its last words get no position
and are predicted O (counted in a warning). A word that tokenizes to nothing (control
characters only) is predicted O likewise.
"""
from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

IGNORE = -1


class TaggingDataError(ValueError):
    """A CoNLL file is missing or malformed; the message names file:line and the fix."""


@dataclasses.dataclass
class Sentence:
    words: list[str]
    tags: list[str] | None  # None: unlabelled
    lines: list[list[str]]  # each word's columns as read (written back with predictions)
    line_no: int  # the first word's line


def read_conll(path: str, tag_column: int = -1, labelled: bool = True) -> list[Sentence]:
    if not os.path.isfile(path):
        raise TaggingDataError(f"{path} does not exist: pass an existing CoNLL file")
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        with open(path, "rb") as f:
            line = f.read()[:e.start].count(b"\n") + 1
        raise TaggingDataError(f"{path}:{line}: not UTF-8 text: save the file as "
                               f"UTF-8") from None
    sentences, current = [], None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            current = None
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        cols = [c.strip() for c in cols]
        if cols[0] == "-DOCSTART-":
            current = None
            continue
        tag = None
        if labelled:
            need = tag_column + 1 if tag_column >= 0 else 2
            if len(cols) < max(need, 2) or not cols[tag_column]:
                raise TaggingDataError(
                    f"{path}:{line_no}: {len(cols)} column(s) {cols!r}, expected a word and "
                    f"its tag (column {tag_column}): fix the line, or pass --tag_column")
            tag = cols[tag_column]
        if not cols[0]:
            raise TaggingDataError(f"{path}:{line_no}: empty word: fix the line")
        if current is None:
            current = Sentence([], [] if labelled else None, [], line_no)
            sentences.append(current)
        current.words.append(cols[0])
        current.lines.append(cols)
        if labelled:
            current.tags.append(tag)
    if not sentences:
        raise TaggingDataError(f"{path} has no sentences")
    return sentences


def tag_set(sentences: list[Sentence], path: str) -> list[str]:
    """The tags in first-seen order; each must be O or PREFIX-TYPE (B-, I-, E-, S-)."""
    tags: dict[str, None] = {}
    for s in sentences:
        for i, t in enumerate(s.tags):
            if t not in tags:
                if t != "O" and (len(t) < 3 or t[1] != "-" or t[0] not in "BIES"):
                    raise TaggingDataError(
                        f"{path}:{s.line_no + i}: tag {t!r} is not O or B-/I-/E-/S-TYPE "
                        f"(BIO, IOB1 or IOBES): pass --tag_column if the tag is another "
                        f"column")
                tags[t] = None
    return list(tags)


def check_tags(sentences: list[Sentence], tags: list[str], path: str) -> None:
    known = set(tags)
    for s in sentences:
        for i, t in enumerate(s.tags or []):
            if t not in known:
                raise TaggingDataError(f"{path}:{s.line_no + i}: tag {t!r} does not occur in "
                                       f"the training file (its tags: {', '.join(tags)})")


def featurize(sentences: list[Sentence], tokenizer, max_seq_length: int, tags: list[str],
              path: str = "") -> tuple[dict[str, np.ndarray], list[list[int]]]:
    """Features (token_ids/segment_ids/padding_mask [N, L], label_ids [N, L] with -1 on
    unlabelled positions) and, per sentence, each word's first-piece position (-1: the
    word has none)."""
    words = [w for s in sentences for w in s.words]
    pieces = iter(tokenizer.tokenize_lines(words))
    index = {t: i for i, t in enumerate(tags)}
    cls, sep = tokenizer.special.cls, tokenizer.special.sep
    n = len(sentences)
    ids = np.zeros((n, max_seq_length), np.int32)
    labels = np.full((n, max_seq_length), IGNORE, np.int32)
    mask = np.zeros((n, max_seq_length), np.int32)
    positions, cut = [], 0
    for r, s in enumerate(sentences):
        row, pos, full = [cls], [], False
        for w in range(len(s.words)):
            p = next(pieces)
            full = full or len(row) + len(p) > max_seq_length - 1  # no later word either
            if full or not p:
                cut += full
                pos.append(-1)
                continue
            pos.append(len(row))
            if s.tags is not None:
                labels[r, len(row)] = index[s.tags[w]]
            row.extend(p)
        row.append(sep)
        ids[r, :len(row)] = row
        mask[r, :len(row)] = 1
        positions.append(pos)
    if cut:
        print(f"warning: {path}: {cut} word(s) beyond --max_seq_length={max_seq_length} "
              f"pieces get no position and are predicted O", file=sys.stderr, flush=True)
    return ({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask,
             "label_ids": labels}, positions)


def word_tags(logits: np.ndarray, positions: list[list[int]], tags: list[str]
              ) -> list[list[str]]:
    """Per sentence, each word's predicted tag (argmax at its first piece; O if none)."""
    out = []
    for row, pos in zip(logits, positions):
        ids = row.argmax(axis=-1)
        out.append([tags[int(ids[p])] if p >= 0 else "O" for p in pos])
    return out


def write_predictions(path: str, sentences: list[Sentence], predicted: list[list[str]]
                      ) -> None:
    """The input's lines with the predicted tag appended as one more column (labelled
    input: word gold predicted, the layout conlleval reads), blank line between
    sentences."""
    with open(path, "w", encoding="utf-8") as f:
        for s, tags in zip(sentences, predicted):
            for cols, tag in zip(s.lines, tags):
                f.write("\t".join(cols + [tag]) + "\n")
            f.write("\n")
