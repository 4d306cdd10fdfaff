"""The Keras task models: the raw-text preprocessor against fine-tuning's featurization on
real GLUE rows, ElectraTextClassifier / ElectraTokenClassifier with Keras' own
compile/fit/evaluate/predict (lists, NumPy, tf.data, a strategy scope), get_config and
.keras round trips, from_preset on what pre-training and `convert --to=preset` write, and
fit() against finetune.run: the same weights, data, seed, optimizer and schedule give the
same dev predictions."""
import json
import os

import numpy as np
import pytest

from conftest import ROOT, run_cli

GLUE = os.path.join(ROOT, "..", "shared", "data", "glue")
VOCAB = os.path.join(ROOT, "..", "shared", "data", "vocab", "vocab.txt")


def tiny_backbone(vocab_size=30522, **kw):
    from electra_tf.model.backbone import ElectraBackbone

    return ElectraBackbone(vocabulary_size=vocab_size, num_layers=2, num_heads=2,
                           hidden_dim=32, intermediate_dim=64, embedding_dim=16,
                           max_sequence_length=64, **kw)


def test_truncation_closed_form_equals_popping():
    import tensorflow as tf

    from electra_tf.model.preprocessor import pair_lengths
    from finetune.glue.features import truncate_pair

    cases = [(a, b, m) for a in range(14) for b in range(14) for m in range(1, 20)]
    la, lb, mm = (tf.constant(list(c), tf.int64) for c in zip(*cases))
    ka, kb = pair_lengths(la, lb, mm)
    for (a, b, m), x, y in zip(cases, ka.numpy(), kb.numpy()):
        ta, tb = list(range(a)), list(range(b))
        truncate_pair(ta, tb, m)
        assert (len(ta), len(tb)) == (x, y), (a, b, m)


@pytest.mark.parametrize("task,length", [("sst-2", 24), ("mrpc", 40)])
def test_preprocessor_equals_featurize_on_glue_dev(task, length):
    """In-graph ids, segments and masks equal finetune's Python featurization on every
    dev row, single sentences and pairs, at a length that cuts many of them."""
    from electra_tf.model.preprocessor import ElectraTextClassifierPreprocessor
    from electra_tf.tokenization import WordPieceTokenizer
    from finetune.glue import features, tasks

    spec = tasks.get_task(task)
    ex = tasks.read_examples(spec, os.path.join(GLUE, "SST-2" if task == "sst-2" else "MRPC",
                                                "dev.tsv"))
    f = features.featurize(ex, WordPieceTokenizer(VOCAB), length)
    pre = ElectraTextClassifierPreprocessor(VOCAB, sequence_length=length)
    texts = [e.text_a for e in ex]
    x = pre((texts, [e.text_b for e in ex])) if spec.labelled.text_b else pre(texts)
    assert (f["padding_mask"].sum(1) == length).sum() > 20  # truncation is exercised
    for k in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(np.asarray(x[k]), f[k])


def test_text_classifier_fit_evaluate_predict_save_and_config(tmp_path):
    import keras
    import tensorflow as tf

    from electra_tf.model.preprocessor import ElectraTextClassifierPreprocessor
    from electra_tf.model.text_classifier import ElectraTextClassifier

    keras.utils.set_random_seed(0)
    pre = ElectraTextClassifierPreprocessor(VOCAB, sequence_length=24)
    model = ElectraTextClassifier(tiny_backbone(), num_classes=3, preprocessor=pre)
    x = ["a gripping film .", "dull and slow .", "fine", "not bad at all", "bad", "good"]
    y = [2, 0, 1, 2, 0, 2]
    h = model.fit(x, y, batch_size=2, verbose=0)  # Python lists
    assert len(h.history["loss"]) == 1
    model.fit(np.array(x), np.array(y), batch_size=3, verbose=0)  # NumPy
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    loss, acc = model.evaluate(ds, verbose=0)  # tf.data
    logits = model.predict(x, verbose=0)
    assert logits.shape == (6, 3) and np.isfinite(loss)
    assert acc == pytest.approx(np.mean(logits.argmax(1) == np.array(y)))
    # pairs
    model.predict((x, x[::-1]), verbose=0)
    # config and .keras round trips
    config = model.get_config()
    assert config["num_classes"] == 3 and config["preprocessor"]["config"]["sequence_length"] == 24
    clone = ElectraTextClassifier.from_config(config)
    assert [v.shape for v in clone.weights] == [v.shape for v in model.weights]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is ElectraTextClassifier
    np.testing.assert_allclose(loaded.predict(x, verbose=0), logits, atol=1e-6)


def test_token_classifier_fit_masked_and_under_a_strategy(tmp_path):
    import keras
    import tensorflow as tf

    from electra_tf.model.token_classifier import ElectraTokenClassifier

    ids = np.array([[2, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0]], np.int32)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids > 0) * 1}
    y = np.array([[-1, 1, -1, 2, -1, -1], [-1, 0, -1, -1, -1, -1]])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = ElectraTokenClassifier(tiny_backbone(100), num_classes=3)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=30, verbose=0)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (2, 6, 3)
    _, acc = model.evaluate(x, y, verbose=0)
    # the metric counts the 3 tagged positions only (all 12 would give another value)
    tagged = np.argmax(logits, -1)[y >= 0] == y[y >= 0]
    assert acc == pytest.approx(tagged.mean()) and acc == 1.0
    path = str(tmp_path / "t.keras")
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0), logits,
                               atol=1e-6)


def test_from_preset_on_pretraining_export_and_convert_preset(trained_pretrainer, tmp_path):
    from electra_tf.interop import keras_hub_export, ours
    from electra_tf.model import weights
    from electra_tf.model.presets import PresetError
    from electra_tf.model.text_classifier import ElectraTextClassifier
    from electra_tf.model.token_classifier import ElectraTokenClassifier

    _, model_dir = trained_pretrainer
    export = os.path.join(model_dir, "discriminator")
    _, kind, values = ours.read(export)
    values = ours.network_values(values, kind, "discriminator")
    config, _ = ours.load_config(os.path.join(export, "config.json"))
    preset = str(tmp_path / "preset")
    keras_hub_export.export_ours(config, values, os.path.join(export, "vocab.txt"), preset)
    x = ["the old king went to the castle", "she said that the night was old"]
    outs = []
    for source in (export, model_dir, preset):
        model = ElectraTextClassifier.from_preset(source, num_classes=2, sequence_length=16)
        got = weights.network_weights(model.backbone.embeddings, model.backbone)
        for name, v in got.items():
            np.testing.assert_array_equal(v.numpy(), values[name], err_msg=f"{source} {name}")
        outs.append(model.backbone(model.preprocessor(x))["sequence_output"].numpy())
        tagger = ElectraTokenClassifier.from_preset(source, num_classes=5)
        assert tagger.head.num_classes == 5
    np.testing.assert_allclose(outs[0], outs[2], atol=1e-5)
    with pytest.raises(PresetError, match="not a keras-hub preset"):
        ElectraTextClassifier.from_preset(str(tmp_path), num_classes=2)


def test_fit_equals_finetune_run(tmp_path, trained_pretrainer):
    """The same pre-trained weights fine-tuned on the same SST-2 rows through Keras' fit()
    (the shared optimizer, schedule and batch stream) and through finetune.run: the dev
    probabilities agree to float noise and the accuracy exactly."""
    import keras
    import tensorflow as tf

    from electra_tf import tokenization
    from electra_tf.model.text_classifier import ElectraTextClassifier
    from finetune import own_data, training
    from tests.test_own_data import NAMES, sst2_rows, write_csv

    _, model_dir = trained_pretrainer
    init = os.path.join(model_dir, "discriminator")
    train = write_csv(tmp_path / "train.csv", [(s, NAMES[l]) for s, l in sst2_rows("train", 80)])
    dev = write_csv(tmp_path / "dev.csv", [(s, NAMES[l]) for s, l in sst2_rows("dev", 40)])
    out = str(tmp_path / "out")
    r = run_cli(["-m", "finetune.run", "--task=text_classification", f"--train_file={train}",
                 f"--dev_file={dev}", f"--test_file={dev}", "--text_column=sentence",
                 f"--init_checkpoint={init}", f"--output_dir={out}", "--max_seq_length=32",
                 "--batch_size=16", "--epochs=2", "--learning_rate=1e-3", "--progress=false"])
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.load(open(os.path.join(out, "results.json")))
    ref = np.array([json.loads(l)["probabilities"]
                    for l in open(os.path.join(out, "run_0", "test_predictions.jsonl"))])

    opts = training.FinetuneOptions(**results["options"])
    tok = tokenization.WordPieceTokenizer(os.path.join(init, "vocab.txt"))
    data = own_data.load("text_classification", train, dev, None,
                         own_data.Columns("sentence"), tok, 32)
    steps = training.num_train_steps(len(data.train["label"]), opts.batch_size, opts.epochs)
    keras.utils.set_random_seed(opts.seed)  # as finetune.run, before building the model
    model = ElectraTextClassifier.from_preset(init, num_classes=2, preprocessor=None)
    model.compile(optimizer=training.keras_optimizer(model, opts, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    model.fit(training.keras_batches(training.train_dataset(data.train, opts)),
              steps_per_epoch=steps, epochs=1, verbose=0)
    feats = {k: data.evals["dev"][k] for k in ("token_ids", "segment_ids", "padding_mask")}
    probs = tf.nn.softmax(model.predict(feats, verbose=0)).numpy()
    assert ref.std(axis=0).max() > 1e-4  # the rows differ by far more than the tolerance
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    acc = 100 * np.mean(probs.argmax(1) == data.evals["dev"]["label"])
    assert acc == pytest.approx(results["median"]["dev/accuracy"])


def test_docstring_examples_run(trained_pretrainer, tmp_path, monkeypatch):
    """The task models' and the preprocessor's docstring examples, as written (the
    pre-trained path pointed at the test's tiny pre-training)."""
    import re
    import textwrap

    from electra_tf.model import preprocessor, text_classifier, token_classifier

    _, model_dir = trained_pretrainer
    monkeypatch.chdir(ROOT)
    for module in (preprocessor, token_classifier, text_classifier):
        doc = (module.ElectraTextClassifierPreprocessor if module is preprocessor else
               module.ElectraTokenClassifier if module is token_classifier else
               module.ElectraTextClassifier).__doc__
        code = textwrap.dedent(re.search(r"```python\n(.*?)```", doc, re.S).group(1))
        code = code.replace("/tmp/electra_small/discriminator",
                            os.path.join(model_dir, "discriminator"))
        exec(compile(code, module.__name__, "exec"), {})
