"""Packs tokenized sentences into [CLS] A [SEP] B [SEP] examples.

A line-for-line port of the original's `ExampleBuilder`
(google-research/electra, build_pretraining_dataset.py) with an explicit,
seeded random.Random instead of the global one, so output is reproducible.
"""
from __future__ import annotations

import random
from typing import Iterable, Iterator


class ExampleBuilder:
    """Turns a stream of tokenized lines (blank = document break) into examples.

    Each example is a (first_segment, second_segment) pair of id lists; use
    `to_features` to add [CLS]/[SEP] and pad.
    """

    def __init__(self, max_length: int, rng: random.Random):
        self._max_length = max_length
        self._target_length = max_length
        self._rng = rng
        self._current_sentences: list[list[int]] = []
        self._current_length = 0

    def add_line(self, token_ids: list[int] | None):
        """Adds one tokenized line; None for a blank line (document break).

        Returns a finished (first, second) example or None.
        """
        if token_ids is None:
            if self._current_length != 0:
                return self._create_example()
            token_ids = []  # the original then tokenizes "" and appends []
        self._current_sentences.append(list(token_ids))
        self._current_length += len(token_ids)
        if self._current_length >= self._target_length:
            return self._create_example()
        return None

    def flush(self):
        """End of input: like the original's add_line("") at the end of a file."""
        return self.add_line(None)

    def _create_example(self):
        rng = self._rng
        # small chance to only have one segment as in classification tasks
        if rng.random() < 0.1:
            first_target = 100000
        else:
            # -3 for the [CLS] and two [SEP] tokens not yet in the text
            first_target = (self._target_length - 3) // 2

        first: list[int] = []
        second: list[int] = []
        for sentence in self._current_sentences:
            # The sentence goes to the first segment if (1) the first segment is
            # empty, (2) it doesn't put the first segment over length or (3) 50%
            # of the time when it does (only while the second segment is empty).
            if (len(first) == 0 or len(first) + len(sentence) < first_target or
                    (len(second) == 0 and len(first) < first_target and rng.random() < 0.5)):
                first += sentence
            else:
                second += sentence

        # trim to max_length, keeping room for [CLS]/[SEP]
        first = first[:self._max_length - 2]
        second = second[:max(0, self._max_length - len(first) - 3)]

        self._current_sentences = []
        self._current_length = 0
        # small chance for a random-length instead of max_length-length example
        if rng.random() < 0.05:
            self._target_length = rng.randint(5, self._max_length)
        else:
            self._target_length = self._max_length
        return first, second


def to_features(first: list[int], second: list[int], max_length: int, cls_id: int,
                sep_id: int, pad_id: int = 0) -> dict[str, list[int]]:
    """[CLS] first [SEP] (second [SEP]) padded to max_length, as _make_tf_example."""
    input_ids = [cls_id] + first + [sep_id]
    segment_ids = [0] * len(input_ids)
    if second:
        input_ids += second + [sep_id]
        segment_ids += [1] * (len(second) + 1)
    input_mask = [1] * len(input_ids)
    pad = max_length - len(input_ids)
    return {"input_ids": input_ids + [pad_id] * pad,
            "input_mask": input_mask + [0] * pad,
            "segment_ids": segment_ids + [0] * pad}


def pack_lines(tokenized_lines: Iterable[list[int] | None], max_length: int,
               rng: random.Random) -> Iterator[tuple[list[int], list[int]]]:
    """All examples from one input unit (a file or a chunk of one), flushed at its end."""
    builder = ExampleBuilder(max_length, rng)
    for ids in tokenized_lines:
        example = builder.add_line(ids)
        if example is not None:
            yield example
    example = builder.flush()
    if example is not None:
        yield example
