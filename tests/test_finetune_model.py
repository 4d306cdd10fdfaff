"""Layer-wise LR decay, task heads, and loading pre-trained weights into the fine-tuning model."""
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from electra_tf.configs import get_config
from finetune import layerwise_lr, training
from finetune.model import CheckpointError, classification_model, load_pretrained, squad_model


def short(var):
    """The variable path without the model's (auto-numbered) name, which the head's
    variables carry (the backbone's are under its own name, "encoder")."""
    first, rest = var.path.split("/", 1)
    return rest if first.startswith("finetune_model") else var.path


def tiny(**kw):
    return get_config("tiny", vocab_size=112, max_seq_length=16, **kw).encoder


def inputs(batch=3, length=16, seed=0, vocab=112):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    mask[:, length - 4:] = 0
    seg = np.zeros((batch, length), "int32")
    seg[:, 6:length - 4] = 1
    ids[:, 0] = 2
    return {"token_ids": ids, "padding_mask": mask, "segment_ids": seg}


def test_layer_multipliers_paper_and_code():
    model = classification_model(tiny(), 2)  # 2 layers
    L, d = 2, 0.8
    assert [layerwise_lr.multiplier(x, L, d, "paper") for x in (0, 1, 2, 4)] == \
        pytest.approx([d ** 3, d ** 2, d, 1.0])
    # the released code: top layer gets decay^2, embeddings decay^(L+2)
    assert [layerwise_lr.multiplier(x, L, d, "code") for x in (0, 1, 2, 4)] == \
        pytest.approx([d ** 4, d ** 3, d ** 2, 1.0])
    depths = layerwise_lr.variable_depths(model)
    by_path = {short(v): depths[id(v)] for v in model.trainable_variables}
    assert by_path["encoder/embeddings/word_embeddings/embeddings"] == 0
    assert by_path["encoder/embeddings_project/kernel"] == 0
    assert by_path["encoder/layer_0/self_attention_layer/query/kernel"] == 1
    assert by_path["encoder/layer_1/feedforward_output_dense/bias"] == 2
    assert by_path["classifier/output/kernel"] == 4


def test_optimizer_applies_the_multipliers():
    """First AdamW step without bias correction moves each weight by lr * mult * g/(|g|*sqrt(.001)/.1)
    = lr * mult * 3.162...: the ratio of moves between depths is the multiplier ratio."""
    model = classification_model(tiny(hidden_dropout=0.0, attention_dropout=0.0), 2)
    opts = training.FinetuneOptions(learning_rate=1e-3, layer_decay=0.5, warmup_proportion=0.0)
    opt = training.make_optimizer(model, opts, total_steps=1000)
    opt.build(model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    grads = [tf.ones_like(v) for v in model.trainable_variables]
    opt.apply(grads, model.trainable_variables)
    moves = {short(v): float(np.abs(v.numpy() - b).max())
             for v, b in zip(model.trainable_variables, before)}
    lr = 1e-3 * (1 - 0 / 1000)  # step 0 of the schedule: no warmup, no decay yet
    base = lr * 0.1 / (np.sqrt(0.001) + 1e-6)
    assert moves["classifier/output/kernel"] == pytest.approx(base, rel=1e-4)
    assert moves["encoder/layer_1/feedforward_output_dense/kernel"] == pytest.approx(base * 0.5, rel=1e-4)
    assert moves["encoder/layer_0/feedforward_output_dense/kernel"] == pytest.approx(base * 0.25, rel=1e-4)
    assert moves["encoder/embeddings/layer_norm/gamma"] == pytest.approx(base * 0.125, rel=1e-4)


def test_classification_head_is_dense_on_cls():
    model = classification_model(tiny(), 3)
    x = inputs()
    out = model(x, training=False).numpy()
    hidden = model.backbone.encode(x["token_ids"], x["segment_ids"], x["padding_mask"]).numpy()
    k, b = model.head.dense.kernel.numpy(), model.head.dense.bias.numpy()
    np.testing.assert_allclose(out, hidden[:, 0] @ k + b, rtol=1e-5, atol=1e-6)


def test_squad_head_teacher_forcing_and_beam():
    model = squad_model(tiny(hidden_dropout=0.0, attention_dropout=0.0), v2=True, beam_size=3)
    x = inputs(batch=2)
    starts = np.array([7, 9], "int32")
    train = model(dict(x, start_positions=starts), training=True)
    hidden = model.backbone.encode(x["token_ids"], x["segment_ids"], x["padding_mask"]).numpy()
    head = model.head
    answer_mask = x["padding_mask"] * x["segment_ids"]
    answer_mask[:, 0] = 1
    start_logits = train["start_logits"].numpy()
    # positions outside the context (question, padding) are pushed to about -1000
    assert (start_logits[answer_mask == 0] < -900).all()
    assert (start_logits[answer_mask == 1] > -100).all()
    # end logits with the gold start's representation (teacher forcing), by hand
    for b in range(2):
        feat = np.concatenate([np.repeat(hidden[b, starts[b]][None], 16, 0), hidden[b]], -1)
        h = ops.convert_to_numpy(head.end_hidden(feat))
        manual = (h @ head.end_dense.kernel.numpy() + head.end_dense.bias.numpy())[:, 0]
        manual = manual + 1000.0 * (answer_mask[b] - 1)
        np.testing.assert_allclose(train["end_logits"].numpy()[b], manual, rtol=1e-4, atol=1e-3)
    # inference: top starts are valid positions; each beam's ends are the top-k of the
    # teacher-forced end distribution for that start
    pred = model(x, training=False)
    top = pred["start_top_index"].numpy()
    assert all(answer_mask[b, top[b]].all() for b in range(2))
    for b in range(2):
        for i, s in enumerate(top[b]):
            forced = model(dict({k: v[b:b + 1] for k, v in x.items()},
                                start_positions=np.array([s], "int32")), training=True)
            lp = tf.nn.log_softmax(forced["end_logits"][0]).numpy()
            expect = np.sort(lp)[::-1][:3]
            np.testing.assert_allclose(pred["end_top_log_probs"].numpy()[b, i], expect,
                                       rtol=1e-4, atol=1e-4)
    assert pred["answerable_logit"].shape == (2,)


def test_squad_loss_matches_hand_formula():
    from finetune.squad.task import loss_fn

    out = {"start_logits": tf.constant([[0.0, 1.0, 2.0]]),
           "end_logits": tf.constant([[2.0, 0.0, 0.0]]),
           "answerable_logit": tf.constant([0.5])}
    batch = {"start_positions": tf.constant([2]), "end_positions": tf.constant([0]),
             "is_impossible": tf.constant([1])}
    def xent(logits, i):
        logits = np.asarray(logits)
        return -(logits[i] - np.log(np.exp(logits).sum()))
    expect = (xent([0, 1, 2], 2) + xent([2, 0, 0], 0)) / 2 + 0.5 * np.log1p(np.exp(-0.5))
    assert float(loss_fn(True)(out, batch)[0]) == pytest.approx(expect, rel=1e-6)
    assert float(loss_fn(False)(out, batch)[0]) == pytest.approx(
        (xent([0, 1, 2], 2) + xent([2, 0, 0], 0)) / 2, rel=1e-6)


@pytest.mark.parametrize("which", ["export", "model_dir"])
def test_loaded_encoder_equals_pretrained_discriminator(trained_pretrainer, which):
    trainer, model_dir = trained_pretrainer
    path = f"{model_dir}/discriminator" if which == "export" else model_dir
    config = trainer.config.encoder
    model = classification_model(config, 2)
    load_pretrained(model, path)
    x = inputs(vocab=config.vocab_size)
    ours = model.backbone.encode(x["token_ids"], x["segment_ids"], x["padding_mask"]).numpy()
    ref = trainer.model.discriminator.encode(x["token_ids"], x["segment_ids"],
                                             x["padding_mask"]).numpy()
    np.testing.assert_array_equal(ours, ref)
    # and every block was restored (the fresh model's own init would differ)
    fresh = classification_model(config, 2)
    assert not np.allclose(
        fresh.backbone.encode(x["token_ids"], x["segment_ids"], x["padding_mask"]).numpy(), ref)


def test_size_mismatch_names_the_weights(trained_pretrainer):
    _, model_dir = trained_pretrainer
    wrong = get_config("tiny", vocab_size=112, hidden_size=48, max_seq_length=16).encoder
    with pytest.raises(CheckpointError, match=r"shape mismatch: .*embeddings_project/kernel: "
                       r"model \(16, 48\), checkpoint \(16, 32\)"):
        load_pretrained(classification_model(wrong, 2), f"{model_dir}/discriminator")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(classification_model(tiny(), 2), f"{model_dir}/nope")


def ragged_inputs(lengths, full=96, seed=1, vocab=112):
    """Examples of the given real lengths, padded to `full` (padding at the end)."""
    rng = np.random.default_rng(seed)
    n = len(lengths)
    ids = rng.integers(5, vocab, (n, full)).astype("int32")
    mask = (np.arange(full)[None] < np.array(lengths)[:, None]).astype("int32")
    seg = ((np.arange(full)[None] >= np.array(lengths)[:, None] // 3) * mask).astype("int32")
    ids[:, 0] = 2
    return {"token_ids": ids * mask, "padding_mask": mask, "segment_ids": seg}


LENGTHS = [70, 5, 33, 12, 96, 40, 8, 17, 50, 3, 64, 20, 29]


def test_trim_cuts_to_the_longest_example():
    from finetune import batching

    def trimmed(lengths, **kw):
        x = {k: tf.constant(v) for k, v in ragged_inputs(lengths, full=96).items()}
        out = batching.trim(dict(x, label=tf.constant([0, 1, 0])), **kw)
        assert out["label"].shape == (3,)
        assert out["token_ids"].shape == out["segment_ids"].shape == out["padding_mask"].shape
        np.testing.assert_array_equal(out["padding_mask"].numpy().sum(1), lengths)
        return out["token_ids"].shape[1]

    assert trimmed([5, 17, 12]) == 17
    assert trimmed([5, 96, 12]) == 96
    assert trimmed([5, 17, 12], min_length=20) == 20  # the SQuAD head's beam
    assert trimmed([5, 17, 12], min_length=200) == 96
    order = batching.length_order(ragged_inputs(LENGTHS))
    assert [LENGTHS[i] for i in order] == sorted(LENGTHS)


@pytest.mark.parametrize("head", ["classifier", "squad"])
def test_predict_sorted_and_trimmed_equals_full_length(head):
    """training.predict runs the examples shortest first, each batch cut to its longest
    example: outputs in the original order, equal to the model on the full-length
    padded inputs (float rounding only)."""
    config = tiny(hidden_dropout=0.0, attention_dropout=0.0)
    model = (classification_model(config, 3) if head == "classifier"
             else squad_model(config, v2=True, beam_size=3))
    x = ragged_inputs(LENGTHS)
    got = training.predict(model, x, tf.distribute.get_strategy(), batch_size=4)
    full = model(x, training=False)
    full = full if isinstance(full, dict) else {"output": full}
    assert set(got) == set(full)
    for k, v in full.items():
        v = ops.convert_to_numpy(v)
        if k.endswith("index"):  # equal scores may swap places; compare the scores' order
            assert (got[k] == v).mean() > 0.95, k
        else:
            np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-4, err_msg=k)


def test_train_on_trimmed_batches_equals_full_length(monkeypatch):
    """Fine-tuning on batches cut to their longest example gives the weights that the
    full-length batches give (dropout off; float rounding only)."""
    import keras

    from finetune import batching
    from finetune.glue.classification import loss_fn
    from finetune.glue.tasks import get_task

    config = tiny(hidden_dropout=0.0, attention_dropout=0.0)
    x = ragged_inputs(LENGTHS * 2)
    x["label"] = np.arange(len(LENGTHS) * 2, dtype="int32") % 2
    opts = training.FinetuneOptions(learning_rate=1e-3, layer_decay=0.8, batch_size=4,
                                    epochs=1.0, progress=False)
    traced = []
    results = []
    for trim in (batching.trim, lambda batch: batch):
        def recorded(batch, trim=trim):  # train() must cut its batches through batching
            traced.append(trim)
            return trim(batch)
        monkeypatch.setattr(batching, "trim", recorded)
        keras.utils.set_random_seed(7)
        model = classification_model(config, 2)
        training.train(model, x, loss_fn(get_task("rte")), opts, tf.distribute.get_strategy())
        results.append([v.numpy() for v in model.weights])
    assert len(traced) == 2
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(*results))
    assert worst < 1e-4, worst
