"""The bad-input suite: every user-facing program fed malformed input of every kind ends
with one `error:` line naming the file or flag, a non-zero exit and no traceback, and
leaves no half-written output behind. Each program's cases run in one interpreter
(tests/cli_cases.py), so the suite costs a few program start-ups, not one per case.
benchmarks/RESULTS.md records how many cases there are."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TEXT


def run_cases(module, cases, timeout=600):
    """[(argv, expected text in the error line, output path that must not be left)]:
    runs them all in one interpreter and checks each."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    r = subprocess.run([sys.executable, "-m", "tests.cli_cases", module],
                       input=json.dumps([{"argv": argv, "output": output}
                                         for argv, _, output in cases]), capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    failures = []
    for (argv, expected, output), res in zip(cases, results):
        lines = [ln for ln in res["stderr"].strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
        ok = (res["code"] not in (0, "traceback") and "Traceback" not in res["stderr"]
              and (last.startswith("error:") or last.startswith("FATAL Flags parsing error"))
              and expected in last)
        if ok and res["left_output"]:
            ok, last = False, last + f"   [left {output} behind]"
        if not ok:
            failures.append(f"{argv}\n   expected {expected!r}, exit {res['code']}:\n   "
                            + ("\n   ".join(lines[-12:]) or "(nothing on stderr)"))
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, tiny_data, tiny_vocab):
    """A directory of malformed inputs, each named for what is wrong with it."""
    import numpy as np
    import tensorflow as tf

    d = tmp_path_factory.mktemp("bad")

    def write(rel, data):
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(data, bytes) else p.write_text)(data)
        return str(p)

    write("empty_corpus/a.txt", "")
    write("binary_corpus/a.txt", bytes(np.random.default_rng(0).integers(0, 256, 4000,
                                                                         dtype=np.uint8)))
    write("latin1_corpus/a.txt", "\n".join(TEXT).replace("old", "\u00e9t\u00e9")
          .encode("latin-1"))
    write("binary_vocab.txt", b"\x00\xff\xfe garbage \x00" * 20)
    write("empty_vocab.txt", "")
    write("garbage/x.tfrecord", b"this is not a tfrecord at all" * 10)
    with tf.io.TFRecordWriter(str(d / "other_features.tfrecord")) as w:
        w.write(tf.train.Example(features=tf.train.Features(feature={
            "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"hi"]))}))
            .SerializeToString())
    (d / "other_features").mkdir()
    shutil.move(str(d / "other_features.tfrecord"), str(d / "other_features" / "x.tfrecord"))
    shutil.copytree(tiny_data, d / "truncated")
    shard = sorted((d / "truncated").glob("*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:30])
    shutil.copytree(tiny_data, d / "bad_metadata")
    (d / "bad_metadata" / "metadata.json").write_text("{not json")
    with open(tiny_vocab) as f:  # same size, other tokens: the records' ids mean other words
        write("other_vocab.txt", f.read().replace("castle", "fortress"))
    return d


def test_build_tfrecords_bad_input(bad, tiny_vocab, tiny_data, tmp_path):
    out = str(tmp_path / "out")
    base = ["--vocab", tiny_vocab, "--output", out, "--max_seq_length=32", "--num_workers=1",
            "--noprogress"]
    run_cases("data_prep/build_tfrecords.py", [
        (["--corpus", str(bad / "missing")] + base, "no input text files", out),
        (["--corpus", str(bad / "empty_corpus")] + base, "empty_corpus", out),
        (["--corpus", str(bad / "binary_corpus")] + base, "a.txt", out),
        (["--corpus", str(bad / "latin1_corpus")] + base, "a.txt", out),
        (["--corpus", str(bad / "empty_corpus"), "--vocab", str(bad / "none.txt"),
          "--output", out], "none.txt does not exist", out),
        (["--corpus", str(bad / "latin1_corpus"), "--vocab", str(bad / "binary_vocab.txt"),
          "--output", out], "binary_vocab.txt", out),
        (["--corpus", str(bad / "latin1_corpus"), "--vocab", str(bad / "empty_vocab.txt"),
          "--output", out], "empty_vocab.txt", out),
        (["--corpus", str(bad / "latin1_corpus"), "--vocab", tiny_vocab, "--output", out,
          "--max_seq_length=4"], "--max_seq_length=4", out),
        (["--corpus", str(bad / "latin1_corpus"), "--vocab", tiny_vocab, "--output", out,
          "--num_workers=-3"], "--num_workers", out),
        (["--verify", f"--output={bad / 'garbage'}"], "x.tfrecord", None),
        (["--verify", f"--output={bad / 'truncated'}"], "pretrain_data-00000", None),
        (["--verify", f"--output={bad / 'missing'}"], "missing", None),
    ])


def test_pretrain_bad_input(bad, tiny_data, tiny_vocab, trained_pretrainer, tmp_path):
    md = str(tmp_path / "md")
    base = [f"--model_dir={md}", "--size=tiny", "--train_steps=2"]
    data = f"--data={tiny_data}"
    _, pretrained = trained_pretrainer
    no_index = tmp_path / "no_index"
    shutil.copytree(os.path.join(pretrained, "discriminator"), no_index)
    os.remove(no_index / "weights.index")
    run_cases("electra_tf.pretrain", [
        ([f"--data={bad / 'missing'}"] + base, "missing", md),
        ([f"--data={bad / 'garbage'}", f"--vocab={tiny_vocab}"] + base,
         "x.tfrecord is not a readable TFRecord", md),
        ([f"--data={bad / 'other_features'}", f"--vocab={tiny_vocab}"] + base,
         "x.tfrecord does not hold pre-training examples", md),
        ([f"--data={bad / 'truncated'}"] + base, "pretrain_data-00000", md),
        ([f"--data={bad / 'bad_metadata'}", f"--vocab={tiny_vocab}"] + base,
         "metadata.json", md),
        ([data, "--max_seq_length=64"] + base, "max_seq_length", md),
        ([data, f"--vocab={bad / 'other_vocab.txt'}"] + base, "other_vocab.txt", md),
        ([data, f"--vocab={bad / 'binary_vocab.txt'}"] + base, "binary_vocab.txt", md),
        ([data, "--config=vocab_size=50"] + base, "vocab_size=50", md),
        ([data, "--config=bogus=1"] + base, "bogus", md),
        ([data, "--config=mask_prob=abc"] + base, "mask_prob=abc", md),
        ([data, "--config=mask_prob=2"] + base, "mask_prob=2", md),
        ([data, "--config=mask_prob"] + base, "NAME=VALUE", md),
        ([data, "--batch_size=0"] + base, "batch_size", md),
        ([data, "--learning_rate=-1"] + base, "learning_rate", md),
        ([data, "--save_every=0"] + base, "--save_every=0", md),
        ([data, "--objective=gan"] + base, "objective", md),
        ([data, f"--init_checkpoint={tmp_path / 'nothing'}"] + base, "nothing", md),
        ([data, f"--init_checkpoint={no_index}"] + base, "no_index", md),
        ([data, f"--init_checkpoint={pretrained}", "--config=hidden_size=64",
          "--config=num_heads=2"] + base, "shape", md),
    ])


def squad_file(path, qas=None, context=" ".join(TEXT), raw=None):
    if raw is None:
        raw = json.dumps({"version": "v2.0", "data": [{"paragraphs": [
            {"context": context, "qas": qas}]}]})
    path.write_text(raw)
    return str(path)


def test_finetune_bad_input(bad, tiny_vocab, trained_pretrainer, tmp_path):
    from tests.test_finetune_cli import write_glue

    _, pretrained = trained_pretrainer
    export = os.path.join(pretrained, "discriminator")
    out = str(tmp_path / "out")
    glue = write_glue(str(tmp_path / "RTE"), "rte")
    bad_label = write_glue(str(tmp_path / "BAD_LABEL"), "rte")
    with open(os.path.join(bad_label, "train.tsv"), "a") as f:
        f.write("99\tA sentence.\tAnother one.\tmaybe\n")
    latin1 = write_glue(str(tmp_path / "LATIN1"), "rte")
    with open(os.path.join(latin1, "dev.tsv"), "ab") as f:
        f.write("98\tcaf\u00e9\tna\u00efve\tentailment\n".encode("latin-1"))
    no_train = write_glue(str(tmp_path / "NO_TRAIN"), "rte")
    os.remove(os.path.join(no_train, "train.tsv"))
    no_dev = write_glue(str(tmp_path / "NO_DEV"), "rte")
    os.remove(os.path.join(no_dev, "dev.tsv"))
    bad_config = tmp_path / "bad_config"
    shutil.copytree(export, bad_config)
    (bad_config / "config.json").write_text("{")
    bad_sizes = tmp_path / "bad_sizes"
    shutil.copytree(export, bad_sizes)
    cfg = json.loads((bad_sizes / "config.json").read_text())
    (bad_sizes / "config.json").write_text(json.dumps(dict(cfg, hidden_size=48)))
    ok_q = {"id": "q1", "question": "which one was old", "is_impossible": False,
            "answers": [{"text": "king", "answer_start": " ".join(TEXT).index("king")}]}
    squad = {
        "no_data": squad_file(tmp_path / "no_data.json", raw=json.dumps({"version": "v2.0"})),
        "truncated": squad_file(tmp_path / "truncated.json", raw='{"data": [{"paragr'),
        "no_question": squad_file(tmp_path / "no_question.json",
                                  [{"id": "q1", "answers": ok_q["answers"]}]),
        "outside": squad_file(tmp_path / "outside.json", [dict(
            ok_q, answers=[{"text": "king", "answer_start": 10_000}])]),
        "mismatch": squad_file(tmp_path / "mismatch.json", [dict(
            ok_q, answers=[{"text": "dragon", "answer_start": 4}])]),
    }
    ft = ["--progress=false", "--batch_size=8", "--max_seq_length=32", "--epochs=1",
          f"--output_dir={out}"]
    init = f"--init_checkpoint={export}"
    other_vocab = str(bad / "other_vocab.txt")
    short_row = write_glue(str(tmp_path / "SHORT_ROW"), "rte")
    with open(os.path.join(short_row, "dev.tsv"), "a") as f:
        f.write("99\tonly one column\n")
    cases = [
        (["--task=rte", f"--data_dir={glue}", init, f"--vocab={other_vocab}"] + ft,
         "differs from the checkpoint's vocabulary", out),
        (["--task=rte", f"--data_dir={tmp_path}/missing", "--size=tiny",
          f"--vocab={tiny_vocab}"] + ft, "is not a directory", out),
        (["--task=glue9", f"--data_dir={glue}", "--size=tiny", f"--vocab={tiny_vocab}"] + ft,
         "unknown task 'glue9': choose a GLUE task", out),
        (["--task=rte", f"--data_dir={glue}", f"--init_checkpoint={tmp_path}/nothing"] + ft,
         "does not exist", out),
        (["--task=rte", f"--data_dir={short_row}", "--size=tiny", f"--vocab={tiny_vocab}"] + ft,
         "dev.tsv:14: expected at least 4 tab-separated columns", out),
        (["--task=rte", f"--data_dir={bad_label}", init] + ft, "train.tsv:50", out),
        (["--task=rte", f"--data_dir={latin1}", init] + ft, "dev.tsv", out),
        (["--task=rte", f"--data_dir={no_train}", init] + ft, "train.tsv", out),
        (["--task=rte", f"--data_dir={no_dev}", init] + ft, "dev.tsv", out),
        (["--task=rte", f"--data_dir={glue}", f"--init_checkpoint={bad_config}"] + ft,
         "config.json", out),
        (["--task=rte", f"--data_dir={glue}", f"--init_checkpoint={bad_sizes}"] + ft,
         "shape", out),
        (["--task=rte", f"--data_dir={glue}", init] + ft + ["--learning_rate=-1"],
         "--learning_rate=-1", out),
        (["--task=rte", f"--data_dir={glue}", init] + ft + ["--max_seq_length=1000"],
         "--max_seq_length=1000", out),
        (["--task=rte", f"--data_dir={glue}", init] + ft + ["--epochs=0"], "--epochs=0", out),
        (["--task=rte", f"--data_dir={glue}", init] + ft + ["--batch_size=0"],
         "--batch_size=0", out),
        (["--task=rte", f"--data_dir={glue}", "--size=tiny",
          f"--vocab={bad / 'binary_vocab.txt'}"] + ft, "binary_vocab.txt", out),
    ]
    for name, path in squad.items():
        cases.append((["--task=squad_v2", f"--train_file={path}", f"--predict_file={path}",
                       init] + ft, os.path.basename(path), out))
    cases += own_data_cases(tmp_path, init, ft, out)
    run_cases("finetune.run", cases)


def own_data_cases(tmp_path, init, ft, out):
    """--task=text_classification / text_regression / token_classification on broken
    files: each error names file:line and the fix."""
    def w(name, text, encoding="utf-8"):
        p = tmp_path / name
        p.write_bytes(text.encode(encoding))
        return str(p)

    good = w("good.csv", "text,label\nthe old king,pos\nthe new queen,neg\n")
    conll_good = w("good.conll", "the\tO\nking\tB-person\n\nthe\tO\n")
    bad = {  # file name -> content
        "nocol.csv": "words,label\na,pos\nb,neg\n",
        "empty.csv": "text,label\na,pos\n ,neg\n",
        "unseen.csv": "text,label\na,pos\nb,maybe\n",
        "fields.csv": "text,label\na,pos\nb,neg,extra\n",
        "bad.jsonl": '{"text": "a", "label": 1}\n{"text"\n',
        "onelabel.csv": "text,label\na,pos\nb,pos\n",
        "onecol.conll": "the\tO\nking\n",
        "badtag.conll": "the\tO\nking\tPERSON\n",
    }
    f = {name: w(name, text) for name, text in bad.items()}
    f["latin1.csv"] = w("latin1.csv", "text,label\nna\u00efve,pos\n", "latin-1")
    tc = ["--task=text_classification", init] + ft
    tg = ["--task=token_classification", init] + ft

    def train_dev(train, dev):
        return [f"--train_file={train}", f"--dev_file={dev}"]
    return [
        (tc + train_dev(f["nocol.csv"], good), "nocol.csv:2: no column 'text'", out),
        (tc + train_dev(f["empty.csv"], good), "empty.csv:3: empty 'text'", out),
        (tc + train_dev(good, f["unseen.csv"]),
         "unseen.csv:3: label 'maybe' does not occur in the training file", out),
        (tc + train_dev(f["fields.csv"], good), "fields.csv:3: 3 CSV fields, the header has 2",
         out),
        (tc + train_dev(good, f["latin1.csv"]), "latin1.csv:2: not UTF-8", out),
        (tc + train_dev(f["bad.jsonl"], good), "bad.jsonl:2: not a JSON object", out),
        (["--task=text_regression", init] + ft + train_dev(good, good),
         "good.csv:2: label 'pos' is not a number", out),
        (tc + [f"--train_file={good}"], "needs --train_file and --dev_file", out),
        (tc + train_dev(f["onelabel.csv"], good), "1 distinct label(s)", out),
        (tg + train_dev(f["onecol.conll"], conll_good), "onecol.conll:2: 1 column(s)", out),
        (tg + train_dev(f["badtag.conll"], conll_good), "badtag.conll:2: tag 'PERSON' is not O",
         out),
        (["--task=squad_v1", "--predict_file=x.json", init, "--export_serving"] + ft,
         "not for squad_v1", out),
    ]


def test_predict_bad_input(tmp_path):
    """finetune.predict: no served model, a missing input, a missing column (found
    before the model loads, so a stand-in model directory serves)."""
    fake = tmp_path / "serving"
    fake.mkdir()
    (fake / "saved_model.pb").write_bytes(b"")
    (fake / "task.json").write_text(json.dumps({"kind": "text_classification",
                                                "labels": ["a", "b"], "text_pair": False,
                                                "text_column": "sentence"}))
    rows = tmp_path / "rows.csv"
    rows.write_text("text,label\nfine,a\n")
    out = str(rows) + ".predictions.jsonl"
    cases = [
        ([f"--model={tmp_path}/nothing", f"--input={rows}"], "is not a served model", out),
        ([f"--model={fake}", f"--input={tmp_path}/missing.csv"], "does not exist", out),
        ([f"--model={fake}", f"--input={rows}"], "rows.csv:2: no column 'sentence'", out),
        ([f"--model={fake}", f"--input={rows}", "--text_column=label", "--format=xml"],
         "--format", out),
    ]
    run_cases("finetune.predict", cases)


def test_convert_bad_input(bad, tiny_vocab, trained_pretrainer, tmp_path):
    import tensorflow as tf

    _, pretrained = trained_pretrainer
    export = os.path.join(pretrained, "discriminator")
    out = str(tmp_path / "out")
    hf_bad_json = tmp_path / "hf_bad_json"
    hf_bad_json.mkdir()
    (hf_bad_json / "config.json").write_text("{oops")
    hf_gpt = tmp_path / "hf_gpt"
    hf_gpt.mkdir()
    (hf_gpt / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    hf_no_weights = tmp_path / "hf_no_weights"
    hf_no_weights.mkdir()
    (hf_no_weights / "config.json").write_text(json.dumps(
        {"model_type": "electra", "vocab_size": 112, "hidden_size": 32, "embedding_size": 16,
         "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}))
    not_electra = tmp_path / "not_electra"
    ckpt = tf.train.Checkpoint(v=tf.Variable([1.0, 2.0]))
    not_electra_prefix = ckpt.write(str(not_electra / "model.ckpt"))
    bad_config = tmp_path / "bad_config"
    shutil.copytree(export, bad_config)
    cfg = json.loads((bad_config / "config.json").read_text())
    (bad_config / "config.json").write_text(json.dumps(dict(cfg, hidden_size=15)))
    misshaped = tmp_path / "misshaped"
    shutil.copytree(export, misshaped)
    (misshaped / "config.json").write_text(json.dumps(dict(cfg, intermediate_size=48)))
    run_cases("electra_tf.convert", [
        (["--from=hf", f"--input={hf_bad_json}", "--to=discriminator", f"--output={out}"],
         "config.json", out),
        (["--from=hf", f"--input={hf_gpt}", "--to=discriminator", f"--output={out}"],
         "gpt2", out),
        (["--from=hf", f"--input={hf_no_weights}", "--to=discriminator", f"--output={out}"],
         "hf_no_weights", out),
        (["--from=google", f"--input={not_electra_prefix}", "--to=discriminator",
          f"--output={out}"], "not an ELECTRA checkpoint", out),
        (["--from=google", f"--input={tmp_path / 'none.ckpt'}", "--to=discriminator",
          f"--output={out}"], "none.ckpt", out),
        (["--from=ours", f"--input={bad_config}", "--to=hf", f"--output={out}"],
         "hidden_size=15", out),
        (["--from=ours", f"--input={misshaped}", "--to=hf", f"--output={out}"],
         "shape", out),
        (["--from=ours", f"--input={tmp_path}", "--to=hf", f"--output={out}"],
         "holds no electra_tf checkpoint", out),
        (["--from=ours", f"--input={export}", "--to=pretraining", f"--output={out}"],
         "holds only the discriminator", out),
        (["--from=ours", f"--input={export}", "--to=onnx", f"--output={out}"], "--to", out),
        (["--from=ours", f"--input={export}", "--to=hf", f"--output={out}",
          f"--vocab={tmp_path / 'none.txt'}"], "none.txt", out),
        (["--from=ours", f"--input={export}", "--to=keras_hub", f"--output={out}",
          f"--vocab={bad / 'binary_vocab.txt'}"], "binary_vocab.txt", out),
    ])
