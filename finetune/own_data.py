"""Fine-tuning on your own labelled text: CSV, TSV or JSON Lines files.

  python -m finetune.run --task=text_classification --train_file=train.csv \
      --dev_file=dev.csv --text_column=sentence --label_column=label ...

Each file is a table with named columns: CSV (a header line, RFC 4180 quoting), TSV (a
header line, tab-separated, no quoting, as GLUE's files) or JSON Lines (one object per
line; the columns are its keys). The format comes from the extension (.csv, .tsv/.txt,
.jsonl/.json) or --format. A text column, an optional second text column (sentence
pairs: [CLS] A [SEP] B [SEP]) and a label column are read by name.

Classification labels are strings, mapped to class ids in the order the training file
first shows them (saved with the model and in results.json); a dev label the training
file never shows is an error. Regression labels are numbers, used as they are (squared
error loss). Every refused row names file:line and the fix.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys

import numpy as np

from finetune.glue.tasks import Example, LabelOutputs

FORMATS = ("csv", "tsv", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl",
              ".json": "jsonl", ".ndjson": "jsonl"}
KINDS = ("text_classification", "text_regression")


class OwnDataError(ValueError):
    """A user data file is missing or malformed; the message names file:line and the fix."""


@dataclasses.dataclass(frozen=True)
class Columns:
    text: str = "text"
    text_pair: str | None = None
    label: str = "label"


@dataclasses.dataclass(frozen=True)
class TextTask(LabelOutputs):
    """A classification or regression task on the user's files (the attributes the GLUE
    code reads: finetune/glue/classification.py evaluates and trains either)."""
    name: str  # text_classification | text_regression
    labels: tuple[str, ...] | None  # class names by id; None for regression
    epochs: int = 3
    swap_doubling: bool = False

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("pearson", "spearman") if self.is_regression else ("accuracy", "macro_f1")


def file_format(path: str, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise OwnDataError(f"--format={fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise OwnDataError(f"{path}: cannot tell the format from the extension {ext!r}: "
                           f"name it .csv, .tsv or .jsonl, or pass --format")
    return EXTENSIONS[ext]


def _text(path: str) -> str:
    """The file as text (UTF-8; a BOM is dropped); a decoding error names its line."""
    if not os.path.isfile(path):
        raise OwnDataError(f"{path} does not exist: pass an existing file")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise OwnDataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}): "
                           f"save the file as UTF-8") from None


def read_rows(path: str, fmt: str | None = None) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) of every non-blank data row of a table file."""
    fmt = file_format(path, fmt)
    text = _text(path)
    rows = []
    if fmt == "jsonl":
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise OwnDataError(f"{path}:{line_no}: not a JSON object ({e.msg}): JSON Lines "
                                   f"files hold one object per line") from None
            if not isinstance(obj, dict):
                raise OwnDataError(f"{path}:{line_no}: a JSON {type(obj).__name__}, not an "
                                   f"object: JSON Lines files hold one object per line")
            rows.append((line_no, obj))
    else:
        csv.field_size_limit(sys.maxsize)
        kw = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
        reader = csv.reader(io.StringIO(text, newline=""), **kw)
        try:
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise OwnDataError(f"{path} has no header line: the first line must name "
                                   f"the columns")
            header = [h.strip() for h in header]
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    raise OwnDataError(
                        f"{path}:{reader.line_num}: {len(row)} {fmt.upper()} fields, the header "
                        f"has {len(header)}: fix the row"
                        + (" (a tab inside a text?)" if fmt == "tsv" else
                           " (quote fields that hold commas)"))
                rows.append((reader.line_num, dict(zip(header, row))))
        except csv.Error as e:
            raise OwnDataError(f"{path}:{reader.line_num}: malformed {fmt.upper()} ({e}): fix "
                               f"the row") from None
    if not rows:
        raise OwnDataError(f"{path} has no data rows")
    return rows


def _cell(path: str, line_no: int, row: dict, column: str, flag: str):
    if column not in row:
        raise OwnDataError(f"{path}:{line_no}: no column {column!r} (columns: "
                           f"{', '.join(map(str, row))}): pass {flag}=<name>")
    return row[column]


def text_cell(path, line_no, row, column, flag) -> str:
    value = _cell(path, line_no, row, column, flag)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise OwnDataError(f"{path}:{line_no}: empty {column!r}: fill it in or remove the row")
    if not isinstance(value, str):
        value = str(value)
    return value


def read_examples(path: str, columns: Columns, regression: bool,
                  label_ids: dict[str, int] | None, labelled: bool = True,
                  fmt: str | None = None, rows=None) -> list[Example]:
    """Examples of one file (`rows`: its `read_rows`, when already read). Classification:
    `label_ids` maps label names to class ids (`training_labels` of the training file);
    a label outside it is an error."""
    examples = []
    for line_no, row in read_rows(path, fmt) if rows is None else rows:
        text_a = text_cell(path, line_no, row, columns.text, "--text_column")
        text_b = (text_cell(path, line_no, row, columns.text_pair, "--text_pair_column")
                  if columns.text_pair else None)
        label = None
        if labelled:
            raw = _cell(path, line_no, row, columns.label, "--label_column")
            raw = "" if raw is None else str(raw).strip()
            if not raw:
                raise OwnDataError(f"{path}:{line_no}: empty label {columns.label!r}: fill it "
                                   f"in or remove the row")
            if regression:
                try:
                    label = float(raw)
                except ValueError:
                    raise OwnDataError(f"{path}:{line_no}: label {raw!r} is not a number: "
                                       f"text_regression needs numeric labels (use "
                                       f"--task=text_classification for classes)") from None
            else:
                label = label_ids.get(raw)
                if label is None:
                    raise OwnDataError(f"{path}:{line_no}: label {raw!r} does not occur in the "
                                       f"training file (its labels: "
                                       f"{', '.join(label_ids)}): fix the label or add "
                                       f"training examples of it")
        examples.append(Example(f"{path}:{line_no}", text_a, text_b, label))
    return examples


def training_labels(path: str, columns: Columns, fmt: str | None = None,
                    rows=None) -> dict[str, int]:
    """Label name -> id in the order the training file first shows them (`rows`: its
    `read_rows`, when already read)."""
    ids: dict[str, int] = {}
    for line_no, row in read_rows(path, fmt) if rows is None else rows:
        raw = _cell(path, line_no, row, columns.label, "--label_column")
        raw = "" if raw is None else str(raw).strip()
        if raw and raw not in ids:
            ids[raw] = len(ids)
    if len(ids) < 2:
        raise OwnDataError(f"{path}: {len(ids)} distinct label(s) in column {columns.label!r}: "
                           f"classification needs at least 2 (for numbers use "
                           f"--task=text_regression)")
    return ids


@dataclasses.dataclass
class OwnData:
    task: TextTask
    train: dict[str, np.ndarray]
    evals: dict[str, dict[str, np.ndarray]]
    tests: dict[str, tuple[list[str], dict[str, np.ndarray], str]]


def load(kind: str, train_file: str, dev_file: str, test_file: str | None,
         columns: Columns, tokenizer, max_seq_length: int, fmt: str | None = None,
         max_train_examples: int | None = None) -> OwnData:
    """Reads and featurizes the files (the GlueData layout: dev set "dev", test "test");
    the training file is read once, for its labels and its examples."""
    from finetune.glue import features as feats

    if kind not in KINDS:
        raise OwnDataError(f"--task={kind!r}: choose one of {', '.join(KINDS)}")
    regression = kind == "text_regression"
    rows = read_rows(train_file, fmt)
    label_ids = None if regression else training_labels(train_file, columns, rows=rows)
    task = TextTask(kind, None if regression else tuple(label_ids))
    examples = read_examples(train_file, columns, regression, label_ids, rows=rows)
    examples = examples[:max_train_examples or None]
    train = feats.featurize(examples, tokenizer, max_seq_length, regression)
    print(f"{kind}: {len(examples)} training examples from {train_file}"
          + ("" if regression else f", labels {list(label_ids)}"), flush=True)
    dev = read_examples(dev_file, columns, regression, label_ids, fmt=fmt)
    evals = {"dev": feats.featurize(dev, tokenizer, max_seq_length, regression)}
    tests = {}
    if test_file:
        ex = read_examples(test_file, columns, regression, label_ids, labelled=False, fmt=fmt)
        tests["test"] = ([e.guid for e in ex],
                         feats.featurize(ex, tokenizer, max_seq_length, regression),
                         "test_predictions.jsonl")
    return OwnData(task, train, evals, tests)


def prediction_records(task: TextTask, outputs: np.ndarray) -> list[dict]:
    """Per example: {"label": name, "label_id", "probabilities"} (classification) or
    {"score"} (regression), from the model's logits / outputs."""
    if task.is_regression:
        return [{"score": float(o[0])} for o in outputs]
    z = outputs - outputs.max(axis=-1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    ids = probs.argmax(axis=-1)
    return [{"label": task.labels[int(i)], "label_id": int(i),
             "probabilities": [float(p) for p in row]} for i, row in zip(ids, probs)]


def write_predictions(path: str, guids: list[str], records: list[dict]) -> None:
    """JSON Lines: one {"row": "file:line", ...prediction} per example."""
    with open(path, "w", encoding="utf-8") as f:
        for guid, rec in zip(guids, records):
            f.write(json.dumps({"row": guid, **rec}, ensure_ascii=False) + "\n")
