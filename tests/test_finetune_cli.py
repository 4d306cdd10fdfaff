"""python -m finetune.run end to end on tiny fixtures: GLUE (classification and
regression, several seeds, test predictions), SQuAD 2.0, and clear errors."""
import json
import os
import random
import shutil

import pytest

from conftest import TEXT, run_cli


def write_glue(directory, task, n_train=48, n_dev=12, seed=0):
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    if task == "rte":
        labels = ["entailment", "not_entailment"]
        head, test_head = "index\tsentence1\tsentence2\tlabel\n", "index\tsentence1\tsentence2\n"
        row = lambda i, a, b: f"{i}\t{a}\t{b}\t{labels[(len(a) + len(b)) % 2]}\n"
        test_row = lambda i, a, b: f"{i}\t{a}\t{b}\n"
    else:  # sts-b: 10 columns, score last
        head = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
                "sentence2\tscore\n")
        test_head = head.replace("\tscore", "")
        row = lambda i, a, b: f"{i}\tg\tf\t2012\t{i}\tn\tn\t{a}\t{b}\t{(len(a) % 6) * 0.8:.3f}\n"
        test_row = lambda i, a, b: f"{i}\tg\tf\t2012\t{i}\tn\tn\t{a}\t{b}\n"
    for split, n in (("train", n_train), ("dev", n_dev), ("test", 7)):
        with open(os.path.join(directory, f"{split}.tsv"), "w") as f:
            f.write(test_head if split == "test" else head)
            for i in range(n):
                a, b = rng.choice(TEXT), rng.choice(TEXT)
                f.write(test_row(i, a, b) if split == "test" else row(i, a, b))
    return directory


def finetune(args, timeout=400):
    result = run_cli(["-m", "finetune.run", "--progress=false", "--batch_size=8",
                      "--max_seq_length=32"] + args, timeout=timeout)
    return result


def test_glue_two_seeds_median_submission_and_tensorboard(tmp_path, trained_pretrainer):
    _, model_dir = trained_pretrainer
    data = write_glue(str(tmp_path / "RTE"), "rte")
    out = str(tmp_path / "out")
    r = finetune(["--task=rte", f"--data_dir={data}", f"--init_checkpoint={model_dir}/discriminator",
                  f"--output_dir={out}", "--num_runs=2", "--epochs=1", "--predict_test"])
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.load(open(os.path.join(out, "results.json")))
    accs = [run["metrics"]["dev/accuracy"] for run in results["runs"]]
    assert len(accs) == 2 and results["median"]["dev/accuracy"] == pytest.approx(sum(accs) / 2)
    assert all(0 <= a <= 100 and (a * 12 / 100) == pytest.approx(round(a * 12 / 100))
               for a in accs)  # accuracy over 12 dev rows
    assert [run["seed"] for run in results["runs"]] == [0, 1]
    # paper recipe for a small-or-smaller model: lr 3e-4, layer decay 0.8, no weight decay
    assert results["options"]["learning_rate"] == 3e-4
    assert results["options"]["layer_decay"] == 0.8
    assert results["options"]["weight_decay"] == 0.0
    assert results["runs"][0]["steps"] == 48 // 8  # one epoch of full batches
    assert "**median**" in open(os.path.join(out, "results.md")).read()
    lines = open(os.path.join(out, "run_1", "submission", "RTE.tsv")).read().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 8
    assert all(l.split("\t")[1] in ("entailment", "not_entailment") for l in lines[1:])
    assert [l.split("\t")[0] for l in lines[1:]] == [str(i) for i in range(7)]
    for i in range(2):
        assert any(f.startswith("events.out.tfevents")
                   for f in os.listdir(os.path.join(out, f"run_{i}")))


def test_regression_task_code_recipe_under_mirrored(tmp_path, trained_pretrainer):
    _, model_dir = trained_pretrainer
    data = write_glue(str(tmp_path / "STS-B"), "sts-b", n_train=16)
    out = str(tmp_path / "out")
    r = finetune(["--task=sts-b", f"--data_dir={data}", f"--init_checkpoint={model_dir}",
                  f"--output_dir={out}", "--epochs=1", "--recipe=code", "--predict_test",
                  "--strategy=mirrored", "--num_cpu_devices=2"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 replica(s)" in r.stdout
    results = json.load(open(os.path.join(out, "results.json")))
    assert set(results["median"]) == {"dev/spearman", "dev/pearson"}
    assert results["options"]["weight_decay"] == 0.01 and results["options"]["learning_rate"] == 1e-4
    assert results["runs"][0]["steps"] == 32 // 8  # 16 rows doubled (swapped pairs)
    scores = [float(l.split("\t")[1]) for l in
              open(os.path.join(out, "run_0", "submission", "STS-B.tsv")).read().splitlines()[1:]]
    assert len(scores) == 7 and all(0.0 <= s <= 5.0 for s in scores)


def test_squad_v2_bfloat16_writes_official_files(tmp_path, trained_pretrainer):
    _, model_dir = trained_pretrainer
    qas = []
    for i, sent in enumerate(TEXT[:4]):
        word = sent.split()[2]
        qas.append({"id": f"a{i}", "question": "which one was old", "is_impossible": False,
                    "answers": [{"text": word, "answer_start": " ".join(TEXT).index(word)}]})
    qas.append({"id": "n0", "question": "was the ship new", "is_impossible": True, "answers": []})
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": " ".join(TEXT),
                                                          "qas": qas}]}]}))
    out = str(tmp_path / "out")
    r = finetune(["--task=squad_v2", f"--train_file={path}", f"--predict_file={path}",
                  f"--init_checkpoint={model_dir}/discriminator", f"--output_dir={out}",
                  "--epochs=2", "--batch_size=4", "--max_seq_length=48", "--doc_stride=16",
                  "--max_query_length=8", "--beam_size=4", "--mixed_precision=mixed_bfloat16"])
    assert r.returncode == 0, r.stderr[-2000:]
    preds = json.load(open(os.path.join(out, "run_0", "predictions.json")))
    odds = json.load(open(os.path.join(out, "run_0", "null_odds.json")))
    assert set(preds) == set(odds) == {q["id"] for q in qas}
    assert all(p in " ".join(TEXT) for p in preds.values())  # spans of the context, or ""
    assert all(0.0 <= p <= 1.0 for p in odds.values())  # P(no answer): --na-prob-file's form
    nbest = json.load(open(os.path.join(out, "run_0", "nbest_predictions.json")))
    for q, p in preds.items():  # "" exactly where the no-answer probability exceeds 1/2
        assert (p == "") == (odds[q] > 0.5), (q, p, odds[q])
        assert p == "" or p == next(e["text"] for e in nbest[q] if e["text"])
    # The files score exactly what was reported, by the official v2.0 logic (Model
    # Garden's copy of evaluate-v2.0.py, run as `--na-prob-file null_odds.json`).
    official = pytest.importorskip("official.nlp.tools.squad_evaluate_v2_0")
    dataset = json.load(open(path))["data"]
    ref = official.evaluate(dataset, preds, odds)
    metrics = json.load(open(os.path.join(out, "results.json")))["median"]
    assert {"exact", "f1", "HasAns_exact", "NoAns_exact", "best_exact", "best_f1"} <= set(metrics)
    for k in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
        assert metrics[k] == pytest.approx(ref[k], abs=1e-9), k
    assert metrics["best_exact"] == pytest.approx(ref["final_exact"], abs=1e-9)
    assert metrics["best_f1"] == pytest.approx(ref["final_f1"], abs=1e-9)
    # and without --na-prob-file (the answers as written): the same exact / f1
    plain = official.evaluate(dataset, preds)
    assert metrics["exact"] == pytest.approx(plain["exact"]) and \
        metrics["f1"] == pytest.approx(plain["f1"])


def test_interrupted_run_continues_where_it_stopped(tmp_path, trained_pretrainer):
    """kill -9 in the middle of a run; the same command again resumes it from its last
    checkpoint and ends where an uninterrupted run ends; once more, it keeps every
    finished run from results.json and trains nothing."""
    _, model_dir = trained_pretrainer
    data = write_glue(str(tmp_path / "RTE"), "rte")
    args = ["--task=rte", f"--data_dir={data}", f"--init_checkpoint={model_dir}/discriminator",
            "--num_runs=2", "--epochs=2", "--save_every=4"]  # 12 steps per run
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    r = finetune(args + [f"--output_dir={full}"])
    assert r.returncode == 0, r.stderr[-2000:]
    r = finetune(args + [f"--output_dir={cut}", "--debug_kill_at_step=6"])
    assert r.returncode == -9  # killed after step 6 of run 0: its step-4 checkpoint is left
    # another command (other learning rate) into a copy does not resume that checkpoint
    other = str(tmp_path / "other")
    shutil.copytree(cut, other)
    r = finetune(args + [f"--output_dir={other}", "--learning_rate=1e-4",
                         "--debug_kill_at_step=1"])
    assert r.returncode == -9 and "resumed" not in r.stdout
    assert "holds a run of other settings; starting afresh" in r.stdout
    r = finetune(args + [f"--output_dir={cut}"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed from" in r.stdout and "at step 4" in r.stdout
    a = json.load(open(os.path.join(full, "results.json")))["runs"]
    b = json.load(open(os.path.join(cut, "results.json")))["runs"]
    assert [x["metrics"] for x in a] == [x["metrics"] for x in b]
    assert not os.path.exists(os.path.join(cut, "run_0", "checkpoints"))  # done: removed
    r = finetune(args + [f"--output_dir={cut}"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("finished earlier, kept from") == 2 and "resumed" not in r.stdout
    assert json.load(open(os.path.join(cut, "results.json")))["runs"] == b
    # other data (here: another sequence length) is another command: nothing is kept
    from finetune import results as bookkeeping
    saved = json.load(open(os.path.join(cut, "results.json")))
    same = {k: saved[k] for k in ("task", "init_checkpoint", "model", "data", "options")}
    assert len(bookkeeping.finished_runs(os.path.join(cut, "results.json"), same, 0, 2)[0]) == 2
    other = dict(same, data=dict(same["data"], max_seq_length=24))
    assert bookkeeping.finished_runs(os.path.join(cut, "results.json"), other, 0, 2) == ([], [])
