"""The nine GLUE tasks: where their columns are, their labels, and a checked TSV reader.

Files follow the standard GLUE download layout (`<data_dir>/train.tsv`, `dev.tsv`,
`test.tsv`; MNLI has `dev_matched.tsv`/`dev_mismatched.tsv` and the matching test
files). CoLA's train/dev files have no header; MRPC's header starts with a BOM;
STS-B has 10 columns (9 in test). Columns are taken as the original ELECTRA code does.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import sys


class GlueDataError(ValueError):
    """A GLUE file is missing or malformed; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Columns:
    text_a: int
    text_b: int | None = None
    label: int | None = None  # None: no label (test files)
    index: int | None = None  # the submission id column (test files)
    header: bool = True


class LabelOutputs:
    """Outputs of a task with `labels` (class names by id, or None for a regression)."""

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_outputs(self) -> int:
        return 1 if self.is_regression else len(self.labels)


@dataclasses.dataclass(frozen=True)
class GlueTask(LabelOutputs):
    name: str
    labels: tuple[str, ...] | None  # None: regression (STS-B, scores 0..5)
    labelled: Columns  # train and dev files
    test: Columns
    main_metric: str
    metrics: tuple[str, ...]
    eval_sets: tuple[tuple[str, str], ...] = (("dev", "dev.tsv"),)
    # (name, file, GLUE submission file name)
    test_sets: tuple[tuple[str, str, str], ...] = ()
    epochs: int = 3  # paper Table 7: 3, or 10 for RTE and STS-B
    swap_doubling: bool = False  # MRPC and STS-B: train also on (b, a), as the original


def _task(name, labels, labelled, test, main, metrics, submission, **kw):
    kw.setdefault("test_sets", (("test", "test.tsv", submission),))
    return GlueTask(name, labels, labelled, test, main, metrics, **kw)


BINARY = ("0", "1")
NLI2 = ("entailment", "not_entailment")
TASKS: dict[str, GlueTask] = {t.name: t for t in [
    _task("cola", BINARY, Columns(3, None, 1, header=False), Columns(1, index=0), "mcc",
          ("mcc", "accuracy"), "CoLA.tsv"),
    _task("sst-2", BINARY, Columns(0, None, 1), Columns(1, index=0), "accuracy",
          ("accuracy",), "SST-2.tsv"),
    _task("mrpc", BINARY, Columns(3, 4, 0), Columns(3, 4, index=0), "accuracy",
          ("accuracy", "f1"), "MRPC.tsv", swap_doubling=True),
    _task("sts-b", None, Columns(7, 8, 9), Columns(7, 8, index=0), "spearman",
          ("spearman", "pearson"), "STS-B.tsv", epochs=10, swap_doubling=True),
    _task("qqp", BINARY, Columns(3, 4, 5), Columns(1, 2, index=0), "accuracy",
          ("accuracy", "f1"), "QQP.tsv"),
    _task("mnli", ("contradiction", "entailment", "neutral"), Columns(8, 9, -1),
          Columns(8, 9, index=0), "accuracy", ("accuracy",), "",
          eval_sets=(("dev_matched", "dev_matched.tsv"),
                     ("dev_mismatched", "dev_mismatched.tsv")),
          test_sets=(("test_matched", "test_matched.tsv", "MNLI-m.tsv"),
                     ("test_mismatched", "test_mismatched.tsv", "MNLI-mm.tsv"))),
    _task("qnli", NLI2, Columns(1, 2, -1), Columns(1, 2, index=0), "accuracy",
          ("accuracy",), "QNLI.tsv"),
    _task("rte", NLI2, Columns(1, 2, -1), Columns(1, 2, index=0), "accuracy",
          ("accuracy",), "RTE.tsv", epochs=10),
    _task("wnli", BINARY, Columns(1, 2, -1), Columns(1, 2, index=0), "accuracy",
          ("accuracy",), "WNLI.tsv"),
]}
ALIASES = {"sst": "sst-2", "sst2": "sst-2", "sts": "sts-b", "stsb": "sts-b",
           "mnli-m": "mnli", "mnli_m": "mnli"}


def get_task(name: str) -> GlueTask:
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in TASKS:
        raise GlueDataError(f"unknown GLUE task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[key]


@dataclasses.dataclass
class Example:
    guid: str  # "file:line" for labelled data, the index column for test data
    text_a: str
    text_b: str | None
    label: int | float | None  # class id, score / 5 (STS-B), or None (test)


def read_tsv(path: str) -> list[list[str]]:
    """Rows of a GLUE TSV (no quoting, as GLUE files are written); a BOM is dropped."""
    if not os.path.isfile(path):
        raise GlueDataError(f"{path} does not exist: --data_dir must hold the GLUE task's "
                            f"files (train.tsv, dev.tsv, test.tsv)")
    csv.field_size_limit(sys.maxsize)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as e:
        raise GlueDataError(f"{path} is not UTF-8 text ({e}); is it a GLUE .tsv?") from None


def _needed_columns(cols: Columns) -> int:
    idx = [c for c in (cols.text_a, cols.text_b, cols.label, cols.index) if c is not None]
    positive = max([c for c in idx if c >= 0], default=0) + 1
    negative = max([-c for c in idx if c < 0], default=0)
    # a negative (from the end) column must not overlap the text columns
    return positive + negative if negative else positive


def read_examples(task: GlueTask, path: str, labelled: bool = True,
                  swap: bool = False, skip_bad_rows: bool = False) -> list[Example]:
    """Examples of one GLUE file; malformed rows are errors naming file and line."""
    cols = task.labelled if labelled else task.test
    rows = read_tsv(path)
    start = 1 if cols.header else 0
    if cols.header and not rows:
        raise GlueDataError(f"{path} is empty (expected a header line and data rows)")
    need = _needed_columns(cols)
    label_index = {label: i for i, label in enumerate(task.labels or ())}
    examples, bad = [], []
    for line_no, row in enumerate(rows[start:], start=start + 1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        where = f"{path}:{line_no}"
        try:
            if len(row) < need:
                raise GlueDataError(
                    f"{where}: expected at least {need} tab-separated columns for {task.name} "
                    f"({'labelled' if labelled else 'test'} layout), found {len(row)}")
            text_a = row[cols.text_a]
            text_b = row[cols.text_b] if cols.text_b is not None else None
            label = None
            if cols.label is not None:
                raw = row[cols.label].strip()
                if task.is_regression:
                    try:
                        score = float(raw)
                    except ValueError:
                        raise GlueDataError(f"{where}: label {raw!r} is not a number "
                                            f"(STS-B scores are 0..5)") from None
                    if not 0.0 <= score <= 5.0:
                        raise GlueDataError(f"{where}: STS-B score {score} is outside 0..5")
                    label = score / 5.0
                else:
                    if raw not in label_index:
                        raise GlueDataError(f"{where}: label {raw!r} is not one of "
                                            f"{list(task.labels)} for {task.name}")
                    label = label_index[raw]
            guid = row[cols.index] if cols.index is not None else f"{line_no}"
        except GlueDataError as e:
            if not skip_bad_rows:
                raise GlueDataError(f"{e}; fix the row or pass --skip_bad_rows") from None
            bad.append(str(e))
            continue
        if swap:
            text_a, text_b = text_b, text_a
        examples.append(Example(guid, text_a, text_b, label))
    if bad:
        print(f"warning: skipped {len(bad)} malformed row(s) of {path}; first: {bad[0]}",
              file=sys.stderr, flush=True)
    if not examples:
        raise GlueDataError(f"{path} has no examples")
    return examples


def train_examples(task: GlueTask, data_dir: str, swap_doubling: bool = True,
                   skip_bad_rows: bool = False, max_examples: int | None = None
                   ) -> list[Example]:
    """The training set (its first `max_examples` rows if given); MRPC and STS-B are then
    doubled with sentence order swapped (the original's double_unordered, on by default),
    so a limit of N trains on N pairs and their N swaps."""
    path = os.path.join(data_dir, "train.tsv")
    examples = read_examples(task, path, skip_bad_rows=skip_bad_rows)[:max_examples]
    if swap_doubling and task.swap_doubling:
        examples += read_examples(task, path, swap=True,
                                  skip_bad_rows=skip_bad_rows)[:max_examples]
    return examples
