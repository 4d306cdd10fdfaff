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
    input_ids: object        # [B, L] ids after masking (generator input)
    original_ids: object     # [B, L]
    segment_ids: object      # [B, L]
    input_mask: object       # [B, L]
    positions: object        # [B, N] masked positions (0 for unused slots)
    mlm_ids: object          # [B, N] original ids at positions (0 for unused)
    mlm_weights: object      # [B, N] float32, 1 for used slots
    slot_first: object       # [B, N] float32, 1 for the first slot of each distinct position
    example_index: object    # [B] int64 stream positions (the seeds' source)


def candidates_mask(input_ids, input_mask, special):
    ok = ops.cast(input_mask, "bool")
    for token in (special.cls, special.sep, special.mask, special.pad):
        ok = ops.logical_and(ok, ops.not_equal(input_ids, token))
    return ok


def num_to_predict(input_mask, mask_prob, max_predictions):
    num_tokens = ops.sum(ops.cast(input_mask, "float32"), axis=-1)
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


def scatter_tokens(input_ids, positions, tokens, slot_weights):
    """Writes tokens[b, n] at positions[b, n] for slots with slot_weights 1, never at
    position 0. Like the original's scatter_update, several slots at one position
    write the floor of their mean (exact when they carry the same token; callers
    pass one slot per position otherwise). Returns (new ids, [B, L] int32 updated)."""
    length = input_ids.shape[1]
    onehot = ops.cast(slot_onehot(positions, slot_weights, length), "int32")
    count = ops.sum(onehot, axis=1)
    updated = ops.minimum(count, 1)
    values = ops.sum(onehot * ops.cast(tokens, "int32")[:, :, None], axis=1)
    values = ops.floor_divide(values, ops.maximum(count, 1))
    new_ids = ops.where(updated > 0, values, ops.cast(input_ids, "int32"))
    return new_ids, updated


def mask_batch(batch, config, special, seed) -> MaskedBatch:
    input_ids = ops.cast(batch["input_ids"], "int32")
    input_mask = ops.cast(batch["input_mask"], "int32")
    index = batch["example_index"]
    length = input_ids.shape[1]
    n = config.num_predictions

    cand = candidates_mask(input_ids, input_mask, special)
    has_cand = ops.cast(ops.any(cand, axis=-1), "float32")
    count = num_to_predict(input_mask, config.mask_prob, n)
    weights = ops.cast(ops.arange(n)[None, :] < count[:, None], "float32") * has_cand[:, None]

    neg_inf = ops.full_like(ops.cast(input_mask, "float32"), -1e9)
    pos_seeds = random_ops.example_seeds(seed, index, random_ops.POSITIONS)
    if config.mask_sampling == "with_replacement":
        u = random_ops.per_example_uniform(pos_seeds, (n, length))
        scores = ops.where(cand[:, None, :], random_ops.gumbel_noise(u), neg_inf[:, None, :])
        positions = ops.cast(ops.argmax(scores, axis=-1), "int32")
    else:  # Gumbel top-k: n distinct positions
        u = random_ops.per_example_uniform(pos_seeds, (length,))
        scores = ops.where(cand, random_ops.gumbel_noise(u), neg_inf)
        _, positions = ops.top_k(scores, k=n)
        positions = ops.cast(positions, "int32")
    positions = positions * ops.cast(weights, "int32")
    mlm_ids = ops.take_along_axis(input_ids, positions, axis=1) * ops.cast(weights, "int32")

    keep_seeds = random_ops.example_seeds(seed, index, random_ops.MASK_OR_KEEP)
    u = random_ops.per_example_uniform(keep_seeds, (n,))
    to_mask = weights * ops.cast(u < config.mask_token_prob, "float32")
    mask_tokens = ops.full_like(positions, special.mask)
    masked_ids, _ = scatter_tokens(input_ids, positions, mask_tokens, to_mask)
    return MaskedBatch(
        input_ids=masked_ids, original_ids=input_ids,
        segment_ids=ops.cast(batch["segment_ids"], "int32"), input_mask=input_mask,
        positions=positions, mlm_ids=mlm_ids, mlm_weights=weights,
        slot_first=first_occurrence(positions, weights), example_index=index)
