"""Dynamic masking, as the original's pretrain_helpers.mask, in keras.ops.

Candidates are non-pad tokens other than [CLS], [SEP] and [MASK]. Each example
gets num_to_predict = max(1, min(N, round(num_tokens * mask_prob))) slots
(N = max_predictions_per_seq); slot positions are drawn uniformly over the
candidates, with replacement as in the original (default) or without. Of the
selected slots, mask_token_prob (85%) put [MASK] at their position and the rest
keep the original token; no random tokens. Unused slots point at position 0
([CLS]), carry weight 0 and, as in the original, never update position 0.
"""
from __future__ import annotations

import dataclasses

from keras import ops

from electra_tf import random_ops


@dataclasses.dataclass
class MaskedBatch:
    token_ids: object        # [B, L] ids after masking (generator input)
    original_ids: object     # [B, L]
    segment_ids: object      # [B, L]
    padding_mask: object     # [B, L] 1 for real tokens
    positions: object        # [B, N] masked positions (0 for unused slots)
    mlm_ids: object          # [B, N] original ids at positions (0 for unused)
    mlm_weights: object      # [B, N] float32, 1 for used slots
    slot_first: object       # [B, N] float32, 1 for the first slot of each distinct position
    example_index: object    # [B] int64 stream positions (the seeds' source)


def candidates_mask(token_ids, padding_mask, special):
    ok = ops.cast(padding_mask, "bool")
    for token in (special.cls, special.sep, special.mask, special.pad):
        ok = ops.logical_and(ok, ops.not_equal(token_ids, token))
    return ok


def num_to_predict(padding_mask, mask_prob, max_predictions):
    num_tokens = ops.sum(ops.cast(padding_mask, "float32"), axis=-1)
    n = ops.cast(ops.round(num_tokens * mask_prob), "int32")
    return ops.maximum(1, ops.minimum(max_predictions, n))


def slot_onehot(positions, weights, length):
    """[B, N] positions -> [B, N, L] one-hot of the used slots, never at position 0."""
    onehot = ops.one_hot(positions, length, dtype="float32") * weights[:, :, None]
    not_first = ops.cast(ops.arange(length) > 0, "float32")
    return onehot * not_first[None, None, :]


def first_occurrence(positions, weights):
    """[B, N]: 1 where a used slot is the first slot holding its position."""
    n = ops.shape(positions)[1]
    same = ops.cast(ops.equal(positions[:, :, None], positions[:, None, :]), "float32")
    earlier = ops.cast(ops.arange(n)[None, :] < ops.arange(n)[:, None], "float32")  # [i, j]: j < i
    dup_before = ops.sum(same * earlier[None] * weights[:, None, :], axis=-1)
    return weights * ops.cast(ops.equal(dup_before, 0.0), "float32")


def scatter_tokens(token_ids, positions, tokens, slot_weights):
    """Writes tokens[b, n] at positions[b, n] for slots with slot_weights 1, never at
    position 0. Like the original's scatter_update, several slots at one position
    write the floor of their mean (exact when they carry the same token; callers
    pass one slot per position otherwise). Returns (new ids, [B, L] int32 updated)."""
    length = token_ids.shape[1]
    onehot = ops.cast(slot_onehot(positions, slot_weights, length), "int32")
    count = ops.sum(onehot, axis=1)
    updated = ops.minimum(count, 1)
    values = ops.sum(onehot * ops.cast(tokens, "int32")[:, :, None], axis=1)
    values = ops.floor_divide(values, ops.maximum(count, 1))
    new_ids = ops.where(updated > 0, values, ops.cast(token_ids, "int32"))
    return new_ids, updated


def sample_positions(cand, n, sampling, seeds, log_weight=None):
    """[B, n] positions among the candidates, uniformly (or proportionally to
    exp(log_weight)), with or without replacement (Gumbel argmax / top-k)."""
    length = cand.shape[1]
    neg_inf = ops.full(ops.shape(cand), -1e9, dtype="float32")
    if sampling == "with_replacement":
        u = random_ops.per_example_uniform(seeds, (n, length))
        g = random_ops.gumbel_noise(u)
        if log_weight is not None:
            g = g + log_weight[:, None, :]
        scores = ops.where(cand[:, None, :], g, neg_inf[:, None, :])
        return ops.cast(ops.argmax(scores, axis=-1), "int32")
    u = random_ops.per_example_uniform(seeds, (length,))
    g = random_ops.gumbel_noise(u)
    if log_weight is not None:
        g = g + log_weight
    _, positions = ops.top_k(ops.where(cand, g, neg_inf), k=n)
    return ops.cast(positions, "int32")


def span_positions(cand, count, n, task, pos_seeds, len_seeds):
    """SpanBERT-style spans: n distinct random starts, lengths ~ Geometric(p) clipped to
    max_span_length, taken in order until `count` tokens are covered; spans stop at
    non-candidates ([SEP], padding). Returns ([B, n] positions in span order, weights)."""
    length = cand.shape[1]
    starts = sample_positions(cand, n, "without_replacement", pos_seeds)  # [B, n]
    u = random_ops.per_example_uniform(len_seeds, (n,))
    p = task.span_geometric_p
    if p >= 1.0:
        lengths = ops.ones_like(u)
    else:
        lengths = ops.floor(ops.log(1.0 - u) / ops.log(1.0 - p)) + 1.0
    lengths = ops.cast(ops.minimum(lengths, float(task.max_span_length)), "int32")
    before = ops.cumsum(lengths, axis=1) - lengths
    take = ops.clip(count[:, None] - before, 0, lengths)  # tokens each span contributes
    t = ops.arange(length)[None, None, :]
    offset = t - starts[:, :, None]  # [B, n, L]
    in_span = (offset >= 0) & (offset < take[:, :, None])
    # a span stops at the first non-candidate after its start
    blocked = ops.cast(ops.logical_not(cand), "int32")[:, None, :] * ops.cast(offset >= 0, "int32")
    first_block = ops.cumsum(blocked, axis=-1)
    in_span = in_span & (first_block == 0)
    covered = ops.any(in_span, axis=1)  # [B, L]
    # order covered positions by (span index, offset): key = first span covering t
    span_idx = ops.argmax(ops.cast(in_span, "int32"), axis=1)  # [B, L]
    key = ops.where(covered, -(ops.cast(span_idx * length, "float32") + ops.cast(t[0], "float32")),
                    ops.full(ops.shape(covered), -1e9, "float32"))
    _, positions = ops.top_k(key, k=n)
    num = ops.minimum(ops.sum(ops.cast(covered, "int32"), axis=1), count)
    weights = ops.cast(ops.arange(n)[None, :] < num[:, None], "float32")
    return ops.cast(positions, "int32"), weights


def mask_batch(batch, config, special, seed, unigram_log_probs=None) -> MaskedBatch:
    """A batch as read from the records (their feature names: input_ids, input_mask,
    segment_ids, example_index) -> a MaskedBatch (the backbone's names from here on)."""
    token_ids = ops.cast(batch["input_ids"], "int32")
    padding_mask = ops.cast(batch["input_mask"], "int32")
    index = batch["example_index"]
    task = config.pretraining
    n = task.num_predictions

    cand = candidates_mask(token_ids, padding_mask, special)
    has_cand = ops.cast(ops.any(cand, axis=-1), "float32")
    count = num_to_predict(padding_mask, task.mask_prob, n)
    weights = ops.cast(ops.arange(n)[None, :] < count[:, None], "float32") * has_cand[:, None]

    pos_seeds = random_ops.example_seeds(seed, index, random_ops.POSITIONS)
    if task.masking == "span":
        positions, weights = span_positions(cand, count, n, task, pos_seeds,
                                            random_ops.example_seeds(seed, index,
                                                                     random_ops.SPAN_LENGTH))
        weights = weights * has_cand[:, None]
    else:
        log_weight = None
        if task.masking == "strategic":
            if unigram_log_probs is None:
                raise ValueError("masking=strategic needs the data's unigram counts "
                                 "(unigram_counts.json from build_tfrecords)")
            # rarer tokens are chosen more often: weight ~ p(token) ** -alpha
            log_weight = -task.strategic_alpha * ops.take(unigram_log_probs, token_ids)
        positions = sample_positions(cand, n, task.mask_sampling, pos_seeds, log_weight)
    positions = positions * ops.cast(weights, "int32")
    mlm_ids = ops.take_along_axis(token_ids, positions, axis=1) * ops.cast(weights, "int32")

    keep_seeds = random_ops.example_seeds(seed, index, random_ops.MASK_OR_KEEP)
    u = random_ops.per_example_uniform(keep_seeds, (n,))
    to_mask = weights * ops.cast(u < task.mask_token_prob, "float32")
    mask_tokens = ops.full_like(positions, special.mask)
    masked_ids, _ = scatter_tokens(token_ids, positions, mask_tokens, to_mask)
    if task.mask_random_prob > 0:  # BERT's 10% random tokens (one per distinct position)
        to_random = first_occurrence(positions, weights) * ops.cast(
            (u >= task.mask_token_prob) &
            (u < task.mask_token_prob + task.mask_random_prob), "float32")
        rand_seeds = random_ops.example_seeds(seed, index, random_ops.RANDOM_TOKEN)
        r = random_ops.per_example_uniform(rand_seeds, (n,))
        random_ids = ops.cast(ops.floor(r * config.encoder.vocab_size), "int32")
        masked_ids, _ = scatter_tokens(masked_ids, positions, random_ids, to_random)
    return MaskedBatch(
        token_ids=masked_ids, original_ids=token_ids,
        segment_ids=ops.cast(batch["segment_ids"], "int32"), padding_mask=padding_mask,
        positions=positions, mlm_ids=mlm_ids, mlm_weights=weights,
        slot_first=first_occurrence(positions, weights), example_index=index)
