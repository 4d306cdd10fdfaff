"""Checkpoint interop proven against the reference implementation (Hugging Face
transformers on PyTorch CPU): HF and Google TF1 imports give the reference's logits,
ours -> HF -> ours is exact, BERT encoders give BertModel's hidden states, and the
keras-hub / SavedModel exports reproduce our outputs."""
import numpy as np
import pytest

from conftest import run_cli

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 112  # the tiny test vocabulary's size
DISC = dict(vocab_size=VOCAB, embedding_size=16, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
            hidden_act="gelu")
# the generator as the original sizes it: hidden 1/2, heads max(1, 16 // 64), FFN 4 x hidden
GEN = dict(DISC, hidden_size=16, num_attention_heads=1, intermediate_size=64)


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # LayerNorm/bias too, so every mapping matters
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory, tiny_vocab):
    torch.manual_seed(0)
    disc = perturb(transformers.ElectraForPreTraining(transformers.ElectraConfig(**DISC)), 1)
    gen = perturb(transformers.ElectraForMaskedLM(transformers.ElectraConfig(**GEN)), 2)
    # ELECTRA shares the embeddings between the two networks
    gen.electra.embeddings.load_state_dict(disc.electra.embeddings.state_dict())
    gen.generator_lm_head.weight = gen.electra.embeddings.word_embeddings.weight
    base = tmp_path_factory.mktemp("hf")
    disc.save_pretrained(base / "disc")
    gen.save_pretrained(base / "gen")
    for d in ("disc", "gen"):
        (base / d / "vocab.txt").write_text(open(tiny_vocab).read())
    return disc, gen, base


def batch(seed=0, b=3, length=20):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, VOCAB, (b, length))
    ids[:, 0] = 2
    mask = np.ones((b, length), np.int64)
    mask[1, 14:] = 0
    mask[2, 9:] = 0
    ids = ids * mask
    seg = np.zeros((b, length), np.int64)
    seg[:, 6:] = 1
    seg *= mask
    positions = np.array([[1, 4, 7], [2, 3, 12], [5, 6, 8]])
    return ids, mask, seg, positions


def hf_outputs(disc, gen, ids, mask, seg, positions):
    t = lambda x: torch.tensor(x)
    with torch.no_grad():
        d = disc(input_ids=t(ids), attention_mask=t(mask), token_type_ids=t(seg)).logits.numpy()
        g = gen(input_ids=t(ids), attention_mask=t(mask), token_type_ids=t(seg)).logits.numpy()
    g = np.take_along_axis(g, positions[:, :, None], axis=1)
    return d, g


def our_model(path):
    from electra_tf.interop import ours
    from electra_tf.model import weights

    config, kind, values = ours.read(path)
    named, model = ours.pretraining_variables(config)
    weights.assign(named, values, path)
    return model, values


def our_outputs(model, ids, mask, seg, positions):
    i32 = lambda x: np.asarray(x, np.int32)
    d = np.asarray(model.discriminator_logits(i32(ids), i32(seg), i32(mask)))
    g = np.asarray(model.generator_logits(i32(ids), i32(seg), i32(mask), i32(positions)))
    return d, g


def convert(*args, ok=True):
    r = run_cli(["-m", "electra_tf.convert"] + list(args), timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def imported(hf_models, tmp_path_factory):
    _, _, base = hf_models
    out = str(tmp_path_factory.mktemp("ours") / "pretraining")
    convert("--from=hf", f"--input={base / 'disc'}", f"--generator={base / 'gen'}",
            "--to=pretraining", f"--output={out}")
    return out


def test_hf_import_equals_reference_logits(hf_models, imported):
    disc, gen, _ = hf_models
    ids, mask, seg, pos = batch()
    ref_d, ref_g = hf_outputs(disc, gen, ids, mask, seg, pos)
    model, _ = our_model(imported)
    d, g = our_outputs(model, ids, mask, seg, pos)
    valid = mask.astype(bool)
    np.testing.assert_allclose(d[valid], ref_d[valid], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(g, ref_g, atol=1e-4, rtol=1e-4)
    assert model.config.encoder.embedding_size == 16 and model.config.encoder.hidden_size == 32
    assert model.discriminator.embeddings_projection is not None  # embedding != hidden


def test_round_trip_ours_hf_ours_is_exact_and_loads_in_transformers(hf_models, imported,
                                                                    tmp_path):
    disc, gen, _ = hf_models
    convert(f"--input={imported}", "--to=hf", f"--output={tmp_path / 'hf'}")
    # transformers loads our export and gives the original model's logits
    d2 = transformers.ElectraForPreTraining.from_pretrained(tmp_path / "hf" / "discriminator")
    g2 = transformers.ElectraForMaskedLM.from_pretrained(tmp_path / "hf" / "generator")
    ids, mask, seg, pos = batch(1)
    ref = hf_outputs(disc, gen, ids, mask, seg, pos)
    again = hf_outputs(d2.eval(), g2.eval(), ids, mask, seg, pos)
    np.testing.assert_array_equal(ref[0], again[0])
    np.testing.assert_array_equal(ref[1], again[1])
    # and back to ours: every weight bit-identical
    convert("--from=hf", f"--input={tmp_path / 'hf' / 'discriminator'}",
            f"--generator={tmp_path / 'hf' / 'generator'}", "--to=pretraining",
            f"--output={tmp_path / 'back'}")
    _, first = our_model(imported)
    _, back = our_model(str(tmp_path / "back"))
    assert first.keys() == back.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], back[name], err_msg=name)


def google_tf1_names(disc, gen):
    """The original's variable names, written out by hand from the issue's list."""
    d = {k: v.numpy() for k, v in disc.state_dict().items()}
    g = {k: v.numpy() for k, v in gen.state_dict().items()}
    out = {"electra/embeddings/word_embeddings": d["electra.embeddings.word_embeddings.weight"],
           "electra/embeddings/position_embeddings":
               d["electra.embeddings.position_embeddings.weight"],
           "electra/embeddings/token_type_embeddings":
               d["electra.embeddings.token_type_embeddings.weight"],
           "electra/embeddings/LayerNorm/gamma": d["electra.embeddings.LayerNorm.weight"],
           "electra/embeddings/LayerNorm/beta": d["electra.embeddings.LayerNorm.bias"],
           "electra/embeddings_project/kernel": d["electra.embeddings_project.weight"].T,
           "electra/embeddings_project/bias": d["electra.embeddings_project.bias"],
           "discriminator_predictions/dense/kernel": d["discriminator_predictions.dense.weight"].T,
           "discriminator_predictions/dense/bias": d["discriminator_predictions.dense.bias"],
           "discriminator_predictions/dense_1/kernel":
               d["discriminator_predictions.dense_prediction.weight"].T,
           "discriminator_predictions/dense_1/bias":
               d["discriminator_predictions.dense_prediction.bias"],
           "generator_predictions/dense/kernel": g["generator_predictions.dense.weight"].T,
           "generator_predictions/dense/bias": g["generator_predictions.dense.bias"],
           "generator_predictions/LayerNorm/gamma": g["generator_predictions.LayerNorm.weight"],
           "generator_predictions/LayerNorm/beta": g["generator_predictions.LayerNorm.bias"],
           "generator_predictions/output_bias": g["generator_lm_head.bias"]}
    for scope, sd in (("electra", d), ("generator", g)):
        for i in range(2):
            h = f"electra.encoder.layer.{i}."
            t = f"{scope}/encoder/layer_{i}/"
            for n in ("query", "key", "value"):
                out[t + f"attention/self/{n}/kernel"] = sd[h + f"attention.self.{n}.weight"].T
                out[t + f"attention/self/{n}/bias"] = sd[h + f"attention.self.{n}.bias"]
            for ours_, hf_ in (("attention/output/dense", "attention.output.dense"),
                               ("intermediate/dense", "intermediate.dense"),
                               ("output/dense", "output.dense")):
                out[t + ours_ + "/kernel"] = sd[h + hf_ + ".weight"].T
                out[t + ours_ + "/bias"] = sd[h + hf_ + ".bias"]
            for ours_, hf_ in (("attention/output/LayerNorm", "attention.output.LayerNorm"),
                               ("output/LayerNorm", "output.LayerNorm")):
                out[t + ours_ + "/gamma"] = sd[h + hf_ + ".weight"]
                out[t + ours_ + "/beta"] = sd[h + hf_ + ".bias"]
    return out


def test_google_tf1_checkpoint_import(hf_models, tmp_path, tiny_vocab):
    import tensorflow as tf

    disc, gen, _ = hf_models
    values = google_tf1_names(disc, gen)
    prefix = str(tmp_path / "google" / "model.ckpt")
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.get_variable(n, initializer=v) for n, v in values.items()]
        # optimizer slots and the step, as in the released checkpoints: ignored on import
        variables += [tf.compat.v1.get_variable(n + "/adam_m", initializer=v)
                      for n, v in list(values.items())[:3]]
        variables.append(tf.compat.v1.train.get_or_create_global_step())
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, prefix)
    out = str(tmp_path / "imported")
    r = convert("--from=google", f"--input={prefix}", "--to=pretraining", f"--output={out}",
                f"--vocab={tiny_vocab}", "--config=num_heads=2")
    assert "ignored" in r.stdout
    model, _ = our_model(out)
    ids, mask, seg, pos = batch(2)
    ref_d, ref_g = hf_outputs(disc, gen, ids, mask, seg, pos)
    d, g = our_outputs(model, ids, mask, seg, pos)
    np.testing.assert_allclose(d[mask.astype(bool)], ref_d[mask.astype(bool)], atol=1e-4)
    np.testing.assert_allclose(g, ref_g, atol=1e-4)
    # the discriminator alone, for fine-tuning
    convert("--from=google", f"--input={prefix}", "--to=discriminator",
            f"--output={tmp_path / 'disc_only'}", f"--vocab={tiny_vocab}", "--config=num_heads=2")
    # a wrong head count is a clear error (query kernels cannot be split that way)
    r = convert("--from=google", f"--input={prefix}", "--to=discriminator",
                f"--output={tmp_path / 'bad'}", "--config=num_heads=3", ok=False)
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_bert_encoder_matches_bertmodel(tmp_path):
    from electra_tf.interop import ours
    from electra_tf.model import weights

    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64,
                                  max_position_embeddings=64, hidden_act="gelu")
    torch.manual_seed(3)
    bert = perturb(transformers.BertModel(cfg), 4)
    bert.save_pretrained(tmp_path / "bert")
    r = convert("--from=hf", f"--input={tmp_path / 'bert'}", "--to=discriminator",
                f"--output={tmp_path / 'ours'}")
    assert "encoder only" in r.stdout and "pooler" in r.stdout
    config, kind, values = ours.read(str(tmp_path / "ours"))
    assert config.embedding_size == config.hidden_size == 32  # the network's EncoderConfig
    named, (emb, enc, _) = ours.network_variables(config, "discriminator", head=False)
    weights.assign(named, values, "bert")
    ids, mask, seg, _ = batch(3)
    with torch.no_grad():
        ref = bert(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                   token_type_ids=torch.tensor(seg)).last_hidden_state.numpy()
    i32 = lambda x: np.asarray(x, np.int32)
    got = np.asarray(enc.encode(i32(ids), i32(seg), i32(mask)))
    valid = mask.astype(bool)
    np.testing.assert_allclose(got[valid], ref[valid], atol=1e-4, rtol=1e-4)


def test_keras_hub_preset_and_saved_model_exports(imported, tmp_path, tiny_vocab):
    import keras_hub
    import tensorflow as tf

    from electra_tf.interop import ours

    model, values = our_model(imported)
    ids, mask, seg, _ = batch(4)
    i32 = lambda x: np.asarray(x, np.int32)
    hidden = np.asarray(model.discriminator.encode(i32(ids), i32(seg), i32(mask)))
    logits = np.asarray(model.discriminator_logits(i32(ids), i32(seg), i32(mask)))

    convert(f"--input={imported}", "--to=saved_model", f"--output={tmp_path / 'sm'}")
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"](
        token_ids=tf.constant(i32(ids)), padding_mask=tf.constant(i32(mask)),
        segment_ids=tf.constant(i32(seg)))
    np.testing.assert_allclose(served["sequence_output"].numpy(), hidden, atol=1e-5)
    np.testing.assert_allclose(served["rtd_logits"].numpy(), logits, atol=1e-5)

    convert(f"--input={imported}", "--to=keras_hub", f"--output={tmp_path / 'kh'}",
            f"--vocab={tiny_vocab}")
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path / "kh"))
    net = ours.network_values(values, "pretraining", "discriminator")
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy(),
                                  net["embeddings/word_embeddings/embeddings"])
    np.testing.assert_array_equal(
        backbone.transformer_layers[1].weights[0].numpy(),
        net["encoder/layer_1/self_attention_layer/query/kernel"])
    out = backbone({"token_ids": i32(ids), "segment_ids": i32(seg), "padding_mask": i32(mask)})
    # keras-hub's ElectraBackbone uses tanh-approximate GELU (ours is exact erf): close,
    # not equal
    diff = np.abs(np.asarray(out["sequence_output"]) - hidden)[mask.astype(bool)]
    assert diff.max() < 5e-3
    tokenizer = keras_hub.models.ElectraTokenizer.from_preset(str(tmp_path / "kh"))
    assert tokenizer.vocabulary_size() == VOCAB


def test_continued_pretraining_from_import(imported, tiny_data, tmp_path):
    from electra_tf.interop import ours

    md = str(tmp_path / "continued")
    r = run_cli(["-m", "electra_tf.pretrain", "--size=tiny", f"--data={tiny_data}",
                 f"--model_dir={md}", f"--init_checkpoint={imported}", "--train_steps=2",
                 "--batch_size=4", "--max_seq_length=32", "--log_every=1",
                 "--config=learning_rate=1e-6", "--warmup_steps=0"], timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"initialised weights from {imported}" in r.stdout
    _, _, start = ours.read(imported)
    config, _, after = ours.read(md)
    assert config.encoder.hidden_size == 32  # the imported architecture, not --size=tiny's
    # two steps at lr ~1e-6 stay next to the imported weights (a fresh init would not)
    for name in ("discriminator/layer_1/feedforward_output_dense/kernel",
                 "embeddings/word_embeddings/embeddings"):
        np.testing.assert_allclose(after[name], start[name], atol=1e-4)


def test_import_errors_are_one_line(tmp_path, hf_models):
    _, _, base = hf_models
    r = convert("--from=hf", f"--input={tmp_path}/none", "--to=discriminator",
                f"--output={tmp_path / 'o1'}", ok=False)
    assert r.returncode == 2 and "has no config.json" in r.stderr
    r = convert("--from=hf", f"--input={base / 'disc'}", "--to=pretraining",
                f"--output={tmp_path / 'o2'}", ok=False)
    assert r.returncode == 2 and "needs --generator" in r.stderr
    r = convert("--from=google", f"--input={tmp_path}/missing.ckpt", "--to=pretraining",
                f"--output={tmp_path / 'o3'}", ok=False)
    assert r.returncode == 2 and "cannot read TF checkpoint" in r.stderr
    assert "Traceback" not in r.stderr
