"""Token classification: entity scores as conlleval / seqeval count them (hand-computed
BIO and IOB1 cases, and seqeval itself on random sequences), CoNLL reading of the real
WNUT-2017 files, word -> first-piece alignment, and finetune.run
--task=token_classification end to end with its served SavedModel."""
import json
import os
import random

import numpy as np
import pytest

from conftest import ROOT, run_cli, serve_in_fresh_process

WNUT = os.path.join(ROOT, "..", "shared", "data", "ner", "wnut17")


@pytest.mark.parametrize("gold,pred,expected", [
    # BIO: one of two entities right (the other has the wrong type)
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]], (50.0, 50.0)),
    # a boundary error is a miss and a false positive
    ([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]], (0.0, 0.0)),
    # IOB1: I- starts an entity after O; B- only between two of one type
    ([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]],
     [["B-PER", "I-PER", "O", "I-LOC", "I-LOC"]], (50.0, 100 / 3)),
    # a type change inside a run splits it; sentences never join
    ([["B-PER", "I-LOC"], ["I-LOC"]], [["B-PER", "B-LOC"], ["B-LOC"]], (100.0, 100.0)),
    ([["O", "O"]], [["B-MISC", "O"]], (0.0, None)),
])
def test_entity_scores_hand_computed(gold, pred, expected):
    from finetune.tagging.metrics import entity_scores

    s = entity_scores(gold, pred)
    precision, recall = expected
    assert s["precision"] == pytest.approx(precision)
    if recall is not None:
        assert s["recall"] == pytest.approx(recall)
        f1 = 0.0 if not precision + recall else 2 * precision * recall / (precision + recall)
        assert s["f1"] == pytest.approx(f1)


def test_entity_scores_equal_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    import warnings

    from finetune.tagging.metrics import entity_scores

    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(500):
            gold = [[rng.choice(tags) for _ in range(rng.randint(1, 9))]
                    for _ in range(rng.randint(1, 4))]
            pred = [[rng.choice(tags) for _ in s] for s in gold]
            ours = entity_scores(gold, pred)
            assert ours["precision"] == pytest.approx(100 * seqeval.precision_score(gold, pred))
            assert ours["recall"] == pytest.approx(100 * seqeval.recall_score(gold, pred))
            assert ours["f1"] == pytest.approx(100 * seqeval.f1_score(gold, pred))


def test_read_wnut17_counts():
    """The README's counts; train.conll's lone-tab lines are sentence breaks."""
    from finetune.tagging import data as conll

    for split, sentences, tokens in (("train", 3394, 62730), ("dev", 1009, 15733),
                                     ("test", 1287, 23394)):
        s = conll.read_conll(os.path.join(WNUT, f"{split}.conll"))
        assert len(s) == sentences and sum(len(x.words) for x in s) == tokens
    tags = conll.tag_set(conll.read_conll(os.path.join(WNUT, "train.conll")), "train")
    assert len(tags) == 13 and tags[0] == "O"


def test_first_piece_alignment_and_cut(tmp_path):
    from electra_tf.tokenization import WordPieceTokenizer
    from finetune.tagging import data as conll

    p = tmp_path / "a.conll"
    p.write_text("-DOCSTART- O\n\nplaying\tB-x\nunbelievably\tI-x\nok\tO\n\n\u200b\tO\nhi\tO\n")
    sentences = conll.read_conll(str(p))
    assert [s.words for s in sentences] == [["playing", "unbelievably", "ok"], ["\u200b", "hi"]]
    tok = WordPieceTokenizer(os.path.join(ROOT, "..", "shared", "data", "vocab", "vocab.txt"))
    tags = ["O", "B-x", "I-x"]
    f, pos = conll.featurize(sentences, tok, 16, tags)
    pieces = tok.tokenize_lines(["playing", "unbelievably", "ok"])
    assert pos[0] == [1, 1 + len(pieces[0]), 1 + len(pieces[0]) + len(pieces[1])]
    row = f["label_ids"][0]
    assert [row[i] for i in pos[0]] == [1, 2, 0]
    assert (row >= 0).sum() == 3  # other pieces, [CLS], [SEP], padding: -1
    assert pos[1][0] == -1  # a word of no pieces (zero-width space) gets no position
    # a cut: only [CLS] + 3 pieces + [SEP] fit in 5
    f, pos = conll.featurize(sentences[:1], tok, 2 + len(pieces[0]) + 1, tags)
    assert pos[0][0] == 1 and pos[0][1:] == [-1, -1]
    logits = np.zeros((1, 16, 3))
    logits[0, 1, 1] = 1.0
    assert conll.word_tags(logits, pos, tags) == [["B-x", "O", "O"]]


def write_conll(path, sentences):
    with open(path, "w") as f:
        for s in sentences:
            for cols in s.lines:
                f.write("\t".join(cols) + "\n")
            f.write("\n")
    return str(path)


def test_token_classification_cli_and_serving(tmp_path, trained_pretrainer):
    """finetune.run on WNUT-2017 sentences: entity P/R/F1 equal seqeval's on the written
    dev predictions; the served tagger, loaded with only TensorFlow and tensorflow-text,
    gives the saved Keras model's tags and first-piece probabilities."""
    from finetune.tagging import data as conll

    _, model_dir = trained_pretrainer
    train = write_conll(tmp_path / "train.conll",
                        conll.read_conll(os.path.join(WNUT, "train.conll"))[:270])  # all 13 tags
    dev_s = conll.read_conll(os.path.join(WNUT, "dev.conll"))[:40]
    dev = write_conll(tmp_path / "dev.conll", dev_s)
    out = str(tmp_path / "out")
    r = run_cli(["-m", "finetune.run", "--task=token_classification", f"--train_file={train}",
                 f"--dev_file={dev}", f"--test_file={dev}",
                 f"--init_checkpoint={model_dir}/discriminator", f"--output_dir={out}",
                 "--max_seq_length=48", "--batch_size=32", "--epochs=1",
                 "--learning_rate=2e-3", "--export_serving", "--save_model",
                 "--progress=false"])
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.load(open(os.path.join(out, "results.json")))
    assert set(results["median"]) == {"dev/precision", "dev/recall", "dev/f1"}
    lines = [l.rstrip("\n").split("\t")
             for l in open(os.path.join(out, "run_0", "dev_predictions.conll"))]
    rows = [l for l in lines if l != [""]]
    assert len(rows) == sum(len(s.words) for s in dev_s) and all(len(l) == 3 for l in rows)
    gold, pred, g, p = [], [], [], []
    for l in lines + [[""]]:
        if l == [""]:
            if g:
                gold.append(g), pred.append(p)
            g, p = [], []
        else:
            g.append(l[1]), p.append(l[2])
    from finetune.tagging.metrics import entity_scores
    assert entity_scores(gold, pred)["f1"] == pytest.approx(results["median"]["dev/f1"])
    test_lines = open(os.path.join(out, "run_0", "test_predictions.conll")).read()
    assert test_lines.split("\n")[0].split("\t")[:2] == dev_s[0].lines[0]

    # the saved Keras model's probabilities at each word's first piece ...
    import keras
    import tensorflow as tf

    import electra_tf.model.token_classifier  # noqa: F401
    from electra_tf.tokenization import WordPieceTokenizer
    model = keras.saving.load_model(os.path.join(out, "run_0", "model.keras"))
    tags = results["labels"]
    tok = WordPieceTokenizer(os.path.join(model_dir, "discriminator", "vocab.txt"))
    feats, positions = conll.featurize(dev_s, tok, 48, tags)
    probs = tf.nn.softmax(model.predict({k: feats[k] for k in
                                         ("token_ids", "segment_ids", "padding_mask")},
                                        verbose=0)).numpy()
    keras_tags = conll.word_tags(probs, positions, tags)
    assert keras_tags == pred
    # ... equal the served model's, in a process without our code
    served = serve_in_fresh_process(os.path.join(out, "run_0", "serving"),
                                    [" ".join(s.words) for s in dev_s], tmp_path)
    for i, s in enumerate(dev_s):
        assert served["tag"][i][:len(s.words)] == keras_tags[i]
        for w, p_ in enumerate(positions[i]):
            if p_ >= 0:
                np.testing.assert_allclose(served["probabilities"][i][w], probs[i, p_],
                                           atol=1e-5)
