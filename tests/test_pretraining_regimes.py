"""benchmarks/pretraining_regimes.py keeps held-out data held out: no GLUE dev sentence
and no selection-split sentence is in its pre-training text, the selection split is not
among the fine-tuning rows, and finetune.run is given the dev set without its labels."""
import os
import sys

import pytest

from tests.conftest import ROOT

GLUE = os.path.join(ROOT, "..", "shared", "data", "glue")
pytestmark = pytest.mark.skipif(not os.path.isdir(GLUE), reason="needs ../shared/data/glue")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def test_held_out_sentences_stay_out_of_pretraining(tmp_path):
    import pretraining_regimes as pr

    text = set(open(pr.glue_corpus(str(tmp_path))).read().splitlines())
    assert len(text) > 50_000  # the SST-2 train phrases are in it
    for task, (folder, cols, _, header, _, _) in pr.TASKS.items():
        train, selection, dev = pr.task_split(task)
        held = {r[c].strip() for rows in (selection, dev) for r in rows for c in cols}
        assert not held & text, task
        assert {r[cols[0]].strip() for r in train[:50]} & text  # ordinary train rows are kept
        assert not {tuple(r) for r in selection} & {tuple(r) for r in train}, task
    _, rte_dev = pr.read_rows(os.path.join(GLUE, "RTE", "dev.tsv"), True)
    assert not {r[1].strip() for r in rte_dev} & text


@pytest.mark.parametrize("task", ["sst-2", "mrpc"])
def test_finetune_folder_gives_dev_unlabelled(tmp_path, task):
    import pretraining_regimes as pr
    from finetune.glue import tasks as glue

    folder = pr.finetune_dir(str(tmp_path), task)
    t = glue.get_task(task)
    train, selection, dev = pr.task_split(task)
    assert len(glue.read_examples(t, os.path.join(folder, "train.tsv"))) == pr.TRAIN_ROWS
    sel = glue.read_examples(t, os.path.join(folder, "dev.tsv"))
    assert [e.text_a for e in sel] == [r[pr.TASKS[task][1][0]] for r in selection]
    test = glue.read_examples(t, os.path.join(folder, "test.tsv"), labelled=False)
    assert [e.label for e in test] == [None] * len(dev)
    assert [e.text_a for e in test] == [r[pr.TASKS[task][1][0]] for r in dev]


def test_verdict_compares_worst_seed_with_random_init_of_the_same_vocabulary(tmp_path):
    import json

    import pretraining_regimes as pr

    def row(objective, corpus, vocab, dev):
        return {"settings": pr.R("x", objective=objective, corpus=corpus, vocab=vocab),
                "sst-2": {"dev": dev, "selection": dev}}
    results = {"runs": {
        "random, glue 8k": row("random", "glue", "8k", [60.0, 62.0, 61.0]),
        "random, bert": row("random", "general", "bert", [70.0, 74.0, 72.0]),
        "bert, glue 8k": row("bert", "glue", "8k", [62.5, 63.0, 64.0]),     # 62.5 > 62
        "electra, glue 8k": row("electra", "glue", "8k", [61.0, 70.0, 70.0]),  # 61 < 62
        "electra, glue bert": row("electra", "glue", "bert", [73.0, 75.0, 75.0]),  # < 74
        "electra, general 8k": row("electra", "general", "8k", [99.0, 99.0, 99.0]),  # none
    }}
    v = pr.verdict(results)
    assert v == {"bert, glue 8k": {"sst-2": [62.5, 62.0, True]},
                 "electra, glue 8k": {"sst-2": [61.0, 62.0, False]},
                 "electra, glue bert": {"sst-2": [73.0, 74.0, False]}}
    path = tmp_path / "h.json"
    path.write_text(json.dumps(results))
    assert pr.check(str(path)) == 0
    del results["runs"]["bert, glue 8k"]
    path.write_text(json.dumps(results))
    assert pr.check(str(path)) == 1
