import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.data import prep, records
from tests.conftest import run_cli, write_corpus


def read_all(directory):
    files = sorted(glob.glob(os.path.join(directory, "*.tfrecord")))
    spec = {k: tf.io.FixedLenFeature([32], tf.int64) for k in records.FEATURES}
    out = []
    for f in files:
        for rec in tf.data.TFRecordDataset(f):
            out.append({k: v.numpy().tolist() for k, v in
                        tf.io.parse_single_example(rec, spec).items()})
    return out


def test_records_are_well_formed(tiny_data, tiny_vocab):
    meta = json.load(open(os.path.join(tiny_data, "metadata.json")))
    examples = read_all(tiny_data)
    assert len(examples) == meta["num_examples"] > 0
    assert meta["max_seq_length"] == 32 and meta["vocab_size"] == len(open(tiny_vocab).read().split())
    for ex in examples:
        n = sum(ex["input_mask"])
        ids = ex["input_ids"]
        assert ex["input_mask"] == [1] * n + [0] * (32 - n)
        assert ids[0] == 2 and ids[n - 1] == 3  # [CLS] ... [SEP]
        assert all(i == 0 for i in ids[n:])     # padding
        seps = [i for i in range(n) if ids[i] == 3]
        assert len(seps) in (1, 2)
        seg = ex["segment_ids"]
        assert seg[:seps[0] + 1] == [0] * (seps[0] + 1)
        assert seg[seps[0] + 1:n] == [1] * (n - seps[0] - 1)
    counts = json.load(open(os.path.join(tiny_data, records.COUNTS_FILE)))
    assert sum(counts) == meta["num_tokens"] == sum(sum(e["input_mask"]) for e in examples)


def test_same_output_for_any_worker_count(tmp_path, tiny_vocab):
    corpus = write_corpus(str(tmp_path / "c"), docs=60, seed=3)
    opts = prep.PrepOptions(vocab=tiny_vocab, max_seq_length=32, seed=7)
    prep.build(corpus, str(tmp_path / "one"), opts, num_shards=3, num_workers=1,
               progress=False)
    prep.build(corpus, str(tmp_path / "two"), opts, num_shards=3, num_workers=2,
               progress=False)
    assert read_all(str(tmp_path / "one")) == read_all(str(tmp_path / "two"))


def test_chunked_large_file_units(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text(("line one\nline two\n\n") * 1000)
    units = prep.split_units([str(path)], True, chunk_bytes=1000)
    assert len(units) > 10
    assert units[0].start == 0 and units[-1].end == os.path.getsize(path)
    data = path.read_bytes()
    for a, b in zip(units, units[1:]):
        assert a.end == b.start and data[a.end - 2:a.end] == b"\n\n"  # cut at doc breaks


def test_cli_refuses_overwrite(tmp_path, tiny_vocab):
    corpus = write_corpus(str(tmp_path / "c"), docs=6)
    out = str(tmp_path / "out")
    args = ["data_prep/build_tfrecords.py", "--corpus", corpus, "--vocab", tiny_vocab,
            "--output", out, "--max_seq_length", "32", "--num_workers", "1", "--noprogress"]
    r = run_cli(args)
    assert r.returncode == 0, r.stderr
    assert "examples" in r.stdout
    r = run_cli(args)
    assert r.returncode != 0 and "--overwrite" in r.stderr and "Traceback" not in r.stderr
    assert run_cli(args + ["--overwrite"]).returncode == 0
    # (missing, empty, binary and non-UTF-8 input: tests/test_bad_input.py)


@pytest.mark.slow
def test_build_vocab(tmp_path):
    corpus = write_corpus(str(tmp_path / "c"), docs=200)
    out = str(tmp_path / "out")
    r = run_cli(["data_prep/build_tfrecords.py", "--corpus", corpus, "--build_vocab", "300",
                 "--output", out, "--max_seq_length", "32", "--num_workers", "1"])
    assert r.returncode == 0, r.stderr
    vocab = open(os.path.join(out, "vocab.txt")).read().split("\n")
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "castle" in vocab and "king" in vocab
    meta = json.load(open(os.path.join(out, "metadata.json")))
    assert np.isfinite(meta["num_examples"])
    # pretrain reads the vocab that metadata.json names: the kept copy, not the temporary
    assert meta["vocab_file"] == os.path.abspath(os.path.join(out, "vocab.txt"))
    from electra_tf.tokenization import vocab_hash
    assert meta["vocab_hash"] == vocab_hash(meta["vocab_file"])


def test_auto_workers_keeps_small_corpora_in_process(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    mb = 1 << 20
    assert prep.auto_workers(9 * mb) == 1       # the bundled corpus: no TF-importing workers
    assert prep.auto_workers(127 * mb) == 1
    assert prep.auto_workers(128 * mb) == 2
    assert prep.auto_workers(10_000 * mb) == 8  # capped at the cores


def test_stray_bytes_are_replaced_other_encodings_refused(tmp_path, capsys):
    """encoding_errors=auto: one stray byte in 4,201 is replaced with a note (two bundled
    Gutenberg books have a few); a Latin-1 file is an error naming file and offset."""
    from electra_tf.data import prep, records

    text = ("the king went to the castle by the river. " * 100).encode()
    stray = tmp_path / "stray.txt"
    stray.write_bytes(text[:2000] + b"\xe8" + text[2000:])
    unit = prep.Unit(str(stray), 0, stray.stat().st_size)
    lines = prep._read_lines(unit)
    assert "\ufffd" in lines[0] and "stray.txt: 1 byte(s)" in capsys.readouterr().err
    with pytest.raises(records.DataError, match=r"stray.txt: not UTF-8 text \(byte 0xe8 at "
                                                r"offset 2000"):
        prep._read_lines(unit, "strict")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9 na\u00efve r\u00e9sum\u00e9\n".encode("latin-1") * 50)
    latin_unit = prep.Unit(str(latin), 0, latin.stat().st_size)
    with pytest.raises(records.DataError, match="latin.txt: not UTF-8 text"):
        prep._read_lines(latin_unit)
    assert prep._read_lines(latin_unit, "ignore")[0] == "caf nave rsum"
    assert prep._read_lines(latin_unit, "replace")[0] == "caf\ufffd na\ufffdve r\ufffdsum\ufffd"


@pytest.mark.slow
def test_build_vocab_replaces_stray_bytes_as_the_records_do(tmp_path):
    """A few stray non-UTF-8 bytes (two bundled Gutenberg books have some) are replaced in
    vocabulary learning too, not an error; a failed build leaves no OUTPUT.vocab."""
    corpus = write_corpus(str(tmp_path / "c"), docs=200)
    part = os.path.join(corpus, "part0.txt")
    data = open(part, "rb").read()
    open(part, "wb").write(data[:2000] + b"\xe8" + data[2000:])
    out = str(tmp_path / "out")
    r = run_cli(["data_prep/build_tfrecords.py", "--corpus", corpus, "--build_vocab", "300",
                 "--output", out, "--max_seq_length", "32", "--num_workers", "1"])
    assert r.returncode == 0, r.stderr
    assert "replaced with U+FFFD" in r.stderr
    assert os.path.isfile(os.path.join(out, "vocab.txt"))
    r = run_cli(["data_prep/build_tfrecords.py", "--corpus", corpus, "--build_vocab", "300",
                 "--output", str(tmp_path / "strict"), "--encoding_errors=strict"])
    assert r.returncode != 0 and "not UTF-8" in r.stderr.strip().splitlines()[-1]
    assert not os.path.exists(str(tmp_path / "strict") + ".vocab")
    assert not os.path.exists(str(tmp_path / "strict"))
