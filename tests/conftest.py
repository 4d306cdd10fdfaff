import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_VOCAB = os.path.join(ROOT, "..", "shared", "data", "vocab", "vocab.txt")

WORDS = ("the a of and to in is was he she it that his her with as for on by at from "
         "king queen castle river night day old new man woman house road city war ship "
         "said came went saw made had were be not but which one all there they this").split()
TEXT = [
    "The old king went to the castle by the river.",
    "She said that the night was old and the day was new.",
    "A man and a woman came from the city to the house.",
    "The ship was made in the war, and it went on the river.",
    "He saw the queen at the castle; she was not there.",
    "They had one house in the city, which was old.",
]


def write_vocab(path):
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    chars = list("abcdefghijklmnopqrstuvwxyz.,;'")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + chars + pieces
    with open(path, "w") as f:
        f.write("\n".join(dict.fromkeys(tokens)) + "\n")
    return path


def write_corpus(directory, docs=40, seed=0):
    import random

    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    for fi in range(2):
        with open(os.path.join(directory, f"part{fi}.txt"), "w") as f:
            for _ in range(docs // 2):
                for _ in range(rng.randint(2, 8)):
                    f.write(rng.choice(TEXT) + "\n")
                f.write("\n")
    return directory


@pytest.fixture(scope="session")
def tiny_vocab(tmp_path_factory):
    return write_vocab(str(tmp_path_factory.mktemp("vocab") / "vocab.txt"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, tiny_vocab):
    """A built TFRecord dataset of length-32 examples over the tiny vocab."""
    from electra_tf.data import prep

    base = tmp_path_factory.mktemp("data")
    corpus = write_corpus(str(base / "corpus"))
    out = str(base / "records")
    prep.build(corpus, out, prep.PrepOptions(vocab=tiny_vocab, max_seq_length=32),
               num_shards=2, num_workers=1, progress=False)
    return out


def run_cli(args, timeout=300, env=None):
    """Runs a CLI in a fresh interpreter; returns CompletedProcess (text)."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    # the commands' own default (quiet, electra_tf/cli.py), not this process's setting
    full_env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env)


def make_trainer(data, vocab_file, model_dir, options=None, size="tiny", **overrides):
    """A Trainer on the default strategy over `data` (a build_tfrecords output): the
    `size` config with the vocabulary's size and `overrides`; TrainOptions from `options`
    (quiet, no text summaries unless given)."""
    import tensorflow as tf

    from electra_tf.configs import get_config
    from electra_tf.data.records import resolve_data_files
    from electra_tf.tokenization import load_vocab, special_ids
    from electra_tf.trainer import TrainOptions, Trainer

    vocab = load_vocab(vocab_file)
    config = get_config(size, **dict({"vocab_size": len(vocab)}, **overrides))
    files, _ = resolve_data_files(data)
    options = dict({"progress": False, "example_every": 0}, **(options or {}))
    return Trainer(config, tf.distribute.get_strategy(), files, special_ids(vocab), vocab_file,
                   TrainOptions(model_dir=str(model_dir), **options))


@pytest.fixture(scope="session")
def trained_pretrainer(tmp_path_factory, tiny_data, tiny_vocab):
    """(Trainer, model_dir): a tiny pre-training run of 2 steps, exported and checkpointed,
    with TensorBoard scalars and a corrupted-example text summary."""
    model_dir = str(tmp_path_factory.mktemp("pretrain"))
    trainer = make_trainer(tiny_data, tiny_vocab, model_dir,
                           dict(save_every=2, log_every=1, example_every=2),
                           num_train_steps=2, num_warmup_steps=1)
    trainer.train()
    return trainer, model_dir


def serve_in_fresh_process(serving_dir, texts, cwd):
    """The served model's outputs ({name: nested lists}, strings decoded) for `texts`, in
    a fresh interpreter that imports only TensorFlow and tensorflow-text (asserted: not
    electra_tf, finetune or keras_hub), without this checkout on its path."""
    import json

    code = (
        "import sys, json, tensorflow as tf, tensorflow_text\n"
        f"serve = tf.saved_model.load({str(serving_dir)!r}).signatures['serving_default']\n"
        f"out = serve(text=tf.constant({list(texts)!r}))\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in "
        "('electra_tf', 'finetune', 'keras_hub')]\n"
        "def plain(v):\n"
        "    v = v.numpy()\n"
        "    return [plain_s(x) for x in v.tolist()] if v.dtype == object else v.tolist()\n"
        "def plain_s(x):\n"
        "    return [plain_s(y) for y in x] if isinstance(x, list) else x.decode()\n"
        "print(json.dumps({k: plain(v) for k, v in out.items()}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=str(cwd), env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])
