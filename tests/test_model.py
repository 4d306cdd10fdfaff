import numpy as np
import tensorflow as tf

from electra_tf.configs import get_config
from electra_tf.model import weights
from electra_tf.model.pretraining import ElectraPretrainingModel
from electra_tf.objectives import ElectraObjective
from electra_tf.tokenization import SpecialIds
from tests.test_masking import make_batch

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)


def tiny_model(fast=None, **kw):
    cfg = get_config("tiny", vocab_size=100, max_seq_length=64, **kw)
    model = ElectraPretrainingModel(cfg, fast=fast)
    model.build()
    return cfg, model


def tiny_layers(fast):
    """(number of encoder blocks in both networks, every sub-layer) of a tiny model built
    `fast` or plain."""
    cfg, model = tiny_model(fast=fast)
    blocks = cfg.encoder.num_layers + cfg.generator_encoder().num_layers
    return blocks, list(model._flatten_layers(include_self=False, recursive=True))


def test_sizes_follow_paper_table_6():
    small = get_config("small")
    g = small.generator_encoder()
    assert (g.hidden_size, g.num_heads, g.intermediate_size, g.num_layers) == (64, 1, 256, 12)
    assert (g.vocab_size, g.embedding_size) == (30522, 128)  # shared with the discriminator
    assert small.pretraining.num_predictions == 19
    base = get_config("base")
    assert base.generator_encoder().hidden_size == 256
    large = get_config("large")
    assert (large.pretraining.mask_prob, large.encoder.num_layers,
            large.encoder.hidden_size) == (0.25, 24, 1024)
    assert large.generator_encoder().num_heads == 4


def test_embeddings_are_shared_variables():
    cfg, model = tiny_model()
    assert model.generator.embeddings is model.discriminator.embeddings
    table = model.embeddings.word_embeddings.embeddings
    # the MLM head's softmax is the same variable as the input word table
    assert model.generator_head.token_embedding.embeddings is table
    paths = [v.path for v in model.trainable_variables]
    assert len(paths) == len(set(paths))
    assert sum("word_embeddings" in p for p in paths) == 1
    # own projections: generator hidden 16 == embedding 16 -> none; discriminator 32 -> one
    assert model.generator.embeddings_projection is None
    assert model.discriminator.embeddings_projection is not None
    assert not any("pooler" in p for p in paths)


def test_no_gradient_from_discriminator_into_generator():
    cfg, model = tiny_model()
    obj = ElectraObjective(cfg, SPECIAL)
    batch = make_batch(b=4, length=64)
    p = obj.prepare(batch, seed=0)
    gen_vars = [v for n, v in weights.pretraining_weights(model).items()
                if n.startswith(("generator/", "generator_predictions/"))]
    with tf.GradientTape() as tape:
        terms, _, _ = obj.loss_terms(model, p, seed=0, training=False)
        disc_loss = terms["disc"][1]
    grads = tape.gradient(disc_loss, gen_vars)
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0 for g in grads)
    with tf.GradientTape() as tape:
        terms, _, _ = obj.loss_terms(model, p, seed=0, training=False)
        mlm = terms["mlm"][1]
    grads = tape.gradient(mlm, gen_vars)
    assert all(g is not None for g in grads)


def test_exact_gelu_and_post_ln_blocks():
    from electra_tf.model.layers import gelu_exact
    from scipy.special import erf

    x = np.linspace(-4, 4, 17).astype(np.float32)
    np.testing.assert_allclose(np.asarray(gelu_exact(x)), 0.5 * x * (1 + erf(x / np.sqrt(2))),
                               atol=1e-6)
    cfg, model = tiny_model()
    block = model.discriminator.transformer_layers[0]
    assert block._self_attention_layer_norm.epsilon == 1e-12
    assert block._feedforward_intermediate_dense.activation is gelu_exact


def test_padding_does_not_change_real_token_outputs():
    cfg, model = tiny_model()
    ids = np.array([[2, 10, 11, 3] + [0] * 60], np.int32)
    mask = (ids > 0).astype(np.int32)
    other = ids.copy()
    other[0, 10:] = 50  # junk behind the padding mask
    a = model.discriminator_logits(ids, np.zeros_like(ids), mask)
    b = model.discriminator_logits(other, np.zeros_like(ids), mask)
    np.testing.assert_allclose(np.asarray(a)[0, :4], np.asarray(b)[0, :4], atol=1e-5)
