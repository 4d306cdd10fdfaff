"""Fine-tuning on the user's own files: CSV/TSV/JSONL reading, label mapping, the metrics,
finetune.run --task=text_classification end to end on real SST-2 rows written as a CSV,
the raw-text SavedModel in a fresh process that imports only TensorFlow and
tensorflow-text, and finetune.predict."""
import csv
import json
import os

import numpy as np
import pytest

from conftest import ROOT, run_cli, serve_in_fresh_process

SST2 = os.path.join(ROOT, "..", "shared", "data", "glue", "SST-2")
MRPC = os.path.join(ROOT, "..", "shared", "data", "glue", "MRPC")
NAMES = {"0": "negative", "1": "positive"}


def sst2_rows(split, n):
    with open(os.path.join(SST2, f"{split}.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return rows[:n]


def write_csv(path, rows, header=("sentence", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_readers_csv_tsv_jsonl_and_first_seen_labels(tmp_path):
    from finetune import own_data

    cols = own_data.Columns("text", None, "label")
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('text,label\n"a, quoted\ntext",pos\nplain,neg\n\n"x ""y""",pos\n',
                        encoding="utf-8")
    ids = own_data.training_labels(str(csv_path), cols)
    assert ids == {"pos": 0, "neg": 1}  # first-seen order, not sorted
    ex = own_data.read_examples(str(csv_path), cols, False, ids)
    assert [e.text_a for e in ex] == ["a, quoted\ntext", "plain", 'x "y"']
    assert [e.label for e in ex] == [0, 1, 0]
    # the guid names the line the row ends on (a quoted newline spans two lines)
    assert [e.guid.rsplit(":", 1)[1] for e in ex] == ["3", "4", "6"]
    tsv = tmp_path / "a.tsv"
    tsv.write_text('\ufefftext\tlabel\n"not quoted\tneg\n', encoding="utf-8")
    (e,) = own_data.read_examples(str(tsv), cols, False, {"neg": 0})
    assert e.text_a == '"not quoted' and e.label == 0  # GLUE-style: no quoting, BOM dropped
    jl = tmp_path / "a.jsonl"
    jl.write_text('{"text": "one", "label": 2.5, "other": 1}\n\n{"text": "two", "label": -1}\n')
    ex = own_data.read_examples(str(jl), cols, True, None)
    assert [(e.text_a, e.label) for e in ex] == [("one", 2.5), ("two", -1.0)]
    assert ex[1].guid.endswith("a.jsonl:3")


@pytest.mark.parametrize("content,expected", [
    ("text,label\nfine,pos\nbad\n", "a.csv:3: 1 CSV fields, the header has 2"),
    ("text,label\n,pos\n", "a.csv:2: empty 'text'"),
    ("words,label\nfine,pos\n", "a.csv:2: no column 'text' (columns: words, label): pass "
                                "--text_column"),
    ("text,label\nfine,\n", "a.csv:2: empty label"),
    ("", "a.csv has no header line"),
    ("text,label\n", "a.csv has no data rows"),
])
def test_reader_errors_name_file_and_line(tmp_path, content, expected):
    from finetune import own_data

    p = tmp_path / "a.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(own_data.OwnDataError, match=None) as e:
        own_data.read_examples(str(p), own_data.Columns(), False, {"pos": 0})
    assert expected in str(e.value)


def test_reader_errors_encoding_json_unseen_label(tmp_path):
    from finetune import own_data

    p = tmp_path / "a.tsv"
    p.write_bytes("text\tlabel\nok\tpos\ncaf\u00e9\tpos\n".encode("latin-1"))
    with pytest.raises(own_data.OwnDataError, match=r"a.tsv:3: not UTF-8"):
        own_data.read_rows(str(p))
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(own_data.OwnDataError, match=r"a.jsonl:2: not a JSON object"):
        own_data.read_rows(str(p))
    p = tmp_path / "dev.csv"
    p.write_text("text,label\nfine,pos\nodd,maybe\n")
    with pytest.raises(own_data.OwnDataError,
                       match=r"dev.csv:3: label 'maybe' does not occur in the training file"):
        own_data.read_examples(str(p), own_data.Columns(), False, {"pos": 0, "neg": 1})
    p = tmp_path / "a.dat"
    p.write_text("x")
    with pytest.raises(own_data.OwnDataError, match="--format"):
        own_data.read_rows(str(p))


def test_macro_f1_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    from finetune.glue import metrics

    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
        p[:5] = 5  # a class only predicted
        assert metrics.macro_f1(y, p) == pytest.approx(
            sk.f1_score(y, p, average="macro", zero_division=0))


@pytest.fixture(scope="module")
def sst2_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("own")
    train = [(s, NAMES[l]) for s, l in sst2_rows("train", 96)]
    dev = [(s, NAMES[l]) for s, l in sst2_rows("dev", 40)]
    return write_csv(d / "train.csv", train), write_csv(d / "dev.csv", dev), d


def test_text_classification_cli_serving_and_predict(sst2_csv, trained_pretrainer):
    """finetune.run on SST-2 rows as a CSV: labels in first-seen order, accuracy and
    macro-F1, test predictions; the exported SavedModel, loaded where only TensorFlow and
    tensorflow-text are imported, gives finetune.run's labels exactly and its
    probabilities within 1e-5 on the real dev rows; finetune.predict writes the same."""
    train, dev, d = sst2_csv
    _, model_dir = trained_pretrainer
    out = str(d / "out")
    r = run_cli(["-m", "finetune.run", "--task=text_classification", f"--train_file={train}",
                 f"--dev_file={dev}", f"--test_file={dev}", "--text_column=sentence",
                 f"--init_checkpoint={model_dir}/discriminator", f"--output_dir={out}",
                 "--max_seq_length=32", "--batch_size=16", "--epochs=1", "--export_serving",
                 "--save_model", "--progress=false", "--learning_rate=1e-3"])
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.load(open(os.path.join(out, "results.json")))
    first = sst2_rows("train", 1)[0][1]
    assert results["labels"][0] == NAMES[first]  # first-seen order
    assert set(results["median"]) == {"dev/accuracy", "dev/macro_f1"}
    preds = [json.loads(l) for l in open(os.path.join(out, "run_0", "test_predictions.jsonl"))]
    assert len(preds) == 40 and preds[0]["row"] == f"{dev}:2"
    gold = [NAMES[l] for _, l in sst2_rows("dev", 40)]
    acc = 100 * np.mean([p["label"] == g for p, g in zip(preds, gold)])
    assert results["median"]["dev/accuracy"] == pytest.approx(acc)
    probs = np.array([p["probabilities"] for p in preds])
    assert probs.std(axis=0).max() > 1e-4  # the model tells the rows apart

    texts = [s for s, _ in sst2_rows("dev", 40)]
    served = serve_in_fresh_process(os.path.join(out, "run_0", "serving"), texts, d)
    assert served["label"] == [p["label"] for p in preds]
    np.testing.assert_allclose(served["probabilities"], probs, atol=1e-5)

    r = run_cli(["-m", "finetune.predict", f"--model={out}/run_0", f"--input={dev}",
                 "--progress=false"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "40 rows predicted" in r.stdout
    again = [json.loads(l) for l in open(dev + ".predictions.jsonl")]
    assert [p["label"] for p in again] == [p["label"] for p in preds]
    np.testing.assert_allclose([p["probabilities"] for p in again], probs, atol=1e-5)

    # the saved Keras model predicts raw strings with the same probabilities
    import keras
    import tensorflow as tf

    import electra_tf.model.text_classifier  # noqa: F401 (registers the classes)
    model = keras.saving.load_model(os.path.join(out, "run_0", "model.keras"))
    np.testing.assert_allclose(tf.nn.softmax(model.predict(texts, verbose=0)).numpy(), probs,
                               atol=1e-5)


@pytest.mark.slow
def test_text_pair_regression_jsonl(tmp_path, trained_pretrainer):
    """Sentence pairs from JSON Lines (MRPC rows), a numeric label: Pearson and Spearman."""
    _, model_dir = trained_pretrainer
    with open(os.path.join(MRPC, "dev.tsv"), encoding="utf-8-sig") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    paths = {}
    for name, part in (("train", rows[:64]), ("dev", rows[64:96])):
        paths[name] = str(tmp_path / f"{name}.jsonl")
        with open(paths[name], "w") as f:
            for r in part:
                f.write(json.dumps({"a": r[3], "b": r[4], "score": len(r[3]) / 40}) + "\n")
    out = str(tmp_path / "out")
    r = run_cli(["-m", "finetune.run", "--task=text_regression",
                 f"--train_file={paths['train']}", f"--dev_file={paths['dev']}",
                 "--text_column=a", "--text_pair_column=b", "--label_column=score",
                 f"--init_checkpoint={model_dir}/discriminator", f"--output_dir={out}",
                 "--max_seq_length=48", "--batch_size=16", "--epochs=1", "--progress=false"])
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.load(open(os.path.join(out, "results.json")))
    assert set(results["median"]) == {"dev/pearson", "dev/spearman"}
    assert "labels" not in results
