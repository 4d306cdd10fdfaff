"""End-to-end pre-training through the CLI: strategies, resume, TensorBoard, errors."""
import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import ROOT, run_cli

BASE = ["-m", "electra_tf.pretrain", "--size=tiny", "--batch_size=8", "--log_every=2",
        "--save_every=2", "--example_every=2", "--deterministic", "--noalsologtostderr"]
NO_DROPOUT = ["--config=hidden_dropout=0", "--config=attention_dropout=0"]
NOISE = ("cuInit", "absl::InitializeLog", "Compiled cluster using XLA", "Sharding callback",
         "oneDNN", "cpu_feature_guard", "while_loop for converting", "Warning")


def pretrain(data, model_dir, *extra, timeout=300, env=None):
    r = run_cli(BASE + [f"--data={data}", f"--model_dir={model_dir}"] + list(extra),
                timeout=timeout, env=env)
    return r


def weights(model_dir):
    """(latest checkpoint, {name: value} of every model weight)."""
    from electra_tf.model.weights import read

    ckpt = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    values = read(ckpt)
    assert len(values) > 50  # every weight of the tiny pre-training model, by name
    return ckpt, values


def test_train_exports_and_logs(tiny_data, tmp_path):
    md = str(tmp_path / "run")
    r = pretrain(tiny_data, md, "--train_steps=4", "--example_every=3",  # log_every=2
                 f"--probe_data={tiny_data}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "step 4 (100.0%)" in r.stdout
    assert re.search(r"step 4 .* rank \d+\.\d  cos -?[01]\.\d{3}  lr", r.stdout), r.stdout
    # quiet by default: none of TF's / XLA's / absl's internals (electra_tf/cli.py)
    for noise in NOISE:
        assert noise not in r.stdout + r.stderr, (noise, r.stderr[-2000:])
    for sub in ("discriminator", "generator"):
        assert os.path.isfile(os.path.join(md, sub, "weights.index"))
        assert json.load(open(os.path.join(md, sub, "config.json")))["network"] == sub
    tags, texts, text_steps, ranks = set(), [], [], []
    for ev in tf.compat.v1.train.summary_iterator(
            [os.path.join(md, f) for f in os.listdir(md) if "tfevents" in f][0]):
        for v in ev.summary.value:
            tags.add(v.tag)
            if v.tag == "effective_rank":
                ranks.append(float(tf.make_ndarray(v.tensor)))
            if v.tag == "corrupted_example":
                texts.append(tf.make_ndarray(v.tensor).item().decode())
                text_steps.append(ev.step)
    assert text_steps == [3]  # every --example_every steps, between log steps too
    for tag in ("loss", "mlm_loss", "mlm_accuracy", "sampled_mlm_accuracy", "disc_loss",
                "disc_accuracy", "disc_auc", "replaced_fraction", "learning_rate",
                "examples_per_second", "effective_rank", "token_cosine"):
        assert tag in tags, (tag, tags)
    # at each progress line (steps 2, 3, 4), of 32 held-out examples' token vectors
    # (hidden size 32)
    assert len(ranks) == 3 and all(1.0 <= r <= 32.0 for r in ranks), ranks
    assert texts and texts[0].startswith("[CLS]") and "**" in texts[0]


def test_mirrored_two_replicas_matches_one_device(tiny_data, tmp_path):
    a, b = str(tmp_path / "one"), str(tmp_path / "two")
    ra = pretrain(tiny_data, a, "--train_steps=2", "--strategy=one_device", "--save_every=1",
                  *NO_DROPOUT)
    rb = pretrain(tiny_data, b, "--train_steps=2", "--strategy=mirrored",
                  "--num_cpu_devices=2", *NO_DROPOUT)
    assert ra.returncode == 0, ra.stderr[-3000:]
    assert rb.returncode == 0, rb.stderr[-3000:]
    assert "2 replica(s)" in rb.stdout
    _, wa = weights(a)
    _, wb = weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # and the second step did move the weights (the comparison is not vacuous)
    from electra_tf.model.weights import read

    w1 = read(os.path.join(a, "checkpoints", "ckpt-1"))
    moved = sum(not np.allclose(w1[n], wa[n]) for n in wa)
    assert moved > len(wa) // 2


def test_gradient_accumulation_matches_full_batch(tiny_data, tiny_vocab, tmp_path):
    """In process (the accumulation is the Trainer's): 2 micro-batches of 4 = a batch of 8."""
    import keras

    from electra_tf.model.weights import pretraining_weights
    from tests.conftest import make_trainer

    results = []
    for k in (1, 2):
        keras.utils.set_random_seed(1234)  # the same initial weights
        trainer = make_trainer(tiny_data, tiny_vocab, tmp_path / f"k{k}", num_train_steps=2,
                               hidden_dropout=0.0, attention_dropout=0.0,
                               gradient_accumulation_steps=k)
        trainer.train()
        assert trainer.step == 2
        results.append({n: v.numpy() for n, v in pretraining_weights(trainer.model).items()})
    full, accum = results
    for name in full:
        np.testing.assert_allclose(full[name], accum[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_resume_after_kill_equals_uninterrupted(tiny_data, tmp_path):
    full, crashed = str(tmp_path / "full"), str(tmp_path / "crashed")
    assert pretrain(tiny_data, full, "--train_steps=6").returncode == 0
    r = pretrain(tiny_data, crashed, "--train_steps=6", "--debug_kill_at_step=3")
    assert r.returncode == -9  # SIGKILLed after step 3: step-2 checkpoint only
    ckpt, _ = weights(crashed)
    assert ckpt.endswith("ckpt-2")
    r = pretrain(tiny_data, crashed, "--train_steps=6", "--tf_logs")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stdout and "at step 2" in r.stdout
    assert "Sharding callback" in r.stderr  # --tf_logs: the internals are back
    ca, wa = weights(full)
    cb, wb = weights(crashed)
    assert ca.endswith("ckpt-6") and cb.endswith("ckpt-6")
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


@pytest.fixture(scope="module")
def wiki_records(tmp_path_factory):
    """Length-128 records of WikiText-2's test split in BERT's vocabulary: the scale at
    which multi-step graph loops showed their last-bit drift."""
    from electra_tf.data import prep
    from tests.conftest import SHARED_VOCAB

    corpus = os.path.join(os.path.dirname(SHARED_VOCAB), "..", "corpus", "wiki.test.raw")
    if not os.path.isfile(corpus):
        pytest.skip("../shared/data/corpus/wiki.test.raw not present")
    out = str(tmp_path_factory.mktemp("wiki") / "records")
    prep.build(corpus, out, prep.PrepOptions(vocab=SHARED_VOCAB, max_seq_length=128),
               num_shards=2, num_workers=1, progress=False)
    return out


def _assert_same_checkpoints(a_dir, b_dir, steps):
    from electra_tf.model.weights import read

    for step in steps:
        a = read(os.path.join(a_dir, "checkpoints", f"ckpt-{step}"))
        b = read(os.path.join(b_dir, "checkpoints", f"ckpt-{step}"))
        differ = [n for n in a if not np.array_equal(a[n], b[n])]
        assert not differ, f"step {step}: {len(differ)} weights differ, e.g. {differ[:3]}"


def test_deterministic_resume_is_bit_exact_over_a_longer_run(tiny_data, tmp_path):
    """--deterministic, 150 steps in 10-step log intervals, killed at step 60 and resumed
    from step 50 (with the saved input iterator): the checkpoints at 100 and 150 equal
    the uninterrupted run's to the bit."""
    common = ["--train_steps=150", "--batch_size=16", "--log_every=10", "--save_every=50",
              "--example_every=0", "--seed=7"]
    full, crashed = str(tmp_path / "full"), str(tmp_path / "crashed")
    assert pretrain(tiny_data, full, *common).returncode == 0
    assert pretrain(tiny_data, crashed, *common, "--debug_kill_at_step=60").returncode == -9
    r = pretrain(tiny_data, crashed, *common)
    assert r.returncode == 0 and "at step 50" in r.stdout, r.stderr[-3000:]
    _assert_same_checkpoints(full, crashed, (100, 150))


@pytest.mark.slow
def test_deterministic_resume_400_steps_wikitext(wiki_records, tmp_path):
    """WikiText-2 at length 128, BERT's vocabulary, 400 steps, killed at step 30. Before --deterministic ran one step per graph call, checkpoints 300-400 differed
    from the uninterrupted run's by ~3e-5 (multi-step graph loops do not repeat
    bit-exactly; benchmarks/RESULTS.md); every checkpoint must now be equal."""
    common = ["--train_steps=400", "--batch_size=16", "--max_seq_length=128",
              "--log_every=25", "--save_every=25", "--keep_checkpoints=20",
              "--example_every=0", "--seed=7"]
    full, crashed = str(tmp_path / "full"), str(tmp_path / "crashed")
    assert pretrain(wiki_records, full, *common, timeout=900).returncode == 0
    r = pretrain(wiki_records, crashed, *common, "--debug_kill_at_step=30", timeout=900)
    assert r.returncode == -9
    r = pretrain(wiki_records, crashed, *common, timeout=900)
    assert r.returncode == 0 and "at step 25" in r.stdout, r.stderr[-3000:]
    _assert_same_checkpoints(full, crashed, range(100, 401, 25))


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes(tiny_data, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    md = str(tmp_path / "mw")
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT,
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                      "index": i}}))
        procs.append(subprocess.Popen(
            [sys.executable] + BASE + [f"--data={tiny_data}", f"--model_dir={md}",
                                       "--train_steps=2", "--strategy=multi_worker"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=240))
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert "2 replica(s)" in outs[0][0] and "step 2 (100.0%)" in outs[0][0]
    ckpt, _ = weights(md)
    assert ckpt.endswith("ckpt-2")


def test_non_finite_loss_stops_with_the_step(tiny_data, tmp_path):
    """(Bad data, flags and configs: tests/test_bad_input.py.)"""
    r = pretrain(tiny_data, str(tmp_path / "nan"), "--train_steps=6", "--learning_rate=1e12",
                 "--config=clip_norm=1e30", "--config=num_warmup_steps=0")
    assert r.returncode != 0 and "NaN/inf at step" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_progress_line_shows_only_the_objectives_metrics():
    from electra_tf.summaries import progress_line

    nan = float("nan")
    bert = {"loss": 9.87654, "mlm_loss": 9.87654, "mlm_accuracy": 0.01234, "disc_loss": nan,
            "disc_auc": nan, "learning_rate": 1e-4, "examples_per_second": 12.34}
    line = progress_line(10, 40, bert)
    assert line == ("step 10 (25.0%)  loss 9.8765  mlm 9.8765  acc 0.012  lr 1.00e-04  "
                    "12.3 ex/s")
    assert "nan" not in line
    electra = dict(bert, loss=40.0, disc_loss=0.5, disc_auc=0.75)
    assert "disc 0.5000  auc 0.750" in progress_line(10, 40, electra)


def test_corrupt_record_mid_run_saves_and_names_the_file(tiny_data, tiny_vocab, tmp_path):
    """A truncated shard met mid-run: a checkpoint at the last finished step, then one
    DataError line naming the file; build_tfrecords.py --verify names it too."""
    import shutil

    from electra_tf.data.records import DataError
    from tests.conftest import make_trainer

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    shard = sorted(data.glob("*.tfrecord"))[1]
    shard.write_bytes(shard.read_bytes()[:-40])  # the last record cut short
    r = run_cli(["data_prep/build_tfrecords.py", "--verify", f"--output={data}"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"error: {shard}: record " in r.stderr and "rebuild" in r.stderr, r.stderr
    r = run_cli(["data_prep/build_tfrecords.py", "--verify", f"--output={tiny_data}"])
    assert r.returncode == 0 and "every record of 2 file(s)" in r.stdout, r.stderr
    # a small shuffle buffer, so the cut record is read a few steps in, not at the start
    trainer = make_trainer(str(data), tiny_vocab, tmp_path / "run",
                           dict(shuffle_buffer=4, save_every=100, log_every=1),
                           num_train_steps=50)
    with pytest.raises(DataError) as info:
        trainer.train()
    message = str(info.value)
    assert str(shard) in message and "\n" not in message
    step = trainer.step
    assert 0 < step < 50 and f"stopped at step {step} and saved a checkpoint" in message
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith(
        f"ckpt-{step}")
