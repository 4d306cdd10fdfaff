"""Analytic training FLOPs of one pre-training step (matmuls only; training = 3 x forward).

Shared by pretrain_speed.py (achieved FLOP/s) and learning_curve.py (equal-compute budgets).
"""


def encoder_flops(seq, hidden, ffn, layers, embedding):
    """Forward FLOPs of one sequence through an encoder (and its embeddings_project)."""
    per_layer = 2 * seq * (4 * hidden * hidden + 2 * hidden * ffn) + 2 * 2 * seq * seq * hidden
    project = 2 * seq * embedding * hidden if hidden != embedding else 0
    return layers * per_layer + project


def mlm_head_flops(predictions, hidden, embedding, vocab):
    """dense(hidden -> embedding) + the tied softmax over the vocabulary, per prediction."""
    return 2 * predictions * (hidden * embedding + embedding * vocab)


def train_flops(cfg, batch, seq, objective=None):
    """Training FLOPs of one step of `batch` sequences: ELECTRA (generator + discriminator
    + both heads) or, for objective "bert", the one network and its MLM head."""
    objective = objective or cfg.pretraining.objective
    d, n = cfg.encoder, cfg.pretraining.num_predictions
    e, v = d.embedding_size, d.vocab_size
    fwd = encoder_flops(seq, d.hidden_size, d.intermediate_size, d.num_layers, e)
    if objective == "bert":
        fwd += mlm_head_flops(n, d.hidden_size, e, v)
    else:
        g = cfg.generator_encoder()
        fwd += encoder_flops(seq, g.hidden_size, g.intermediate_size, g.num_layers, e)
        fwd += mlm_head_flops(n, g.hidden_size, e, v)
        fwd += 2 * seq * (d.hidden_size * d.hidden_size + d.hidden_size)  # RTD head
    return 3 * fwd * batch
