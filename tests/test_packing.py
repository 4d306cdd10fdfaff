import random

import pytest

from electra_tf.data import packing

CLS, SEP = 101, 102


class FixedRng:
    """random.Random stand-in returning scripted values (hand-checked packing)."""

    def __init__(self, randoms, randints=()):
        self.randoms, self.randints = list(randoms), list(randints)

    def random(self):
        return self.randoms.pop(0)

    def randint(self, a, b):
        return self.randints.pop(0)


def test_two_segments_hand_checked():
    # max 16: first target (16 - 3) // 2 = 6. Sentences of 4, 3, 5 tokens (12 >= 16? no),
    # then a 6-token one crosses 16 and closes the example.
    rng = FixedRng([0.5, 0.9, 0.9])  # two-segment; (no 50% coin needed); full length next
    b = packing.ExampleBuilder(16, rng)
    assert b.add_line([1, 2, 3, 4]) is None
    assert b.add_line([5, 6, 7]) is None
    assert b.add_line([8, 9, 10, 11, 12]) is None
    first, second = b.add_line([13, 14, 15, 16, 17, 18])
    # [1..4] starts A; 4+3 < 6 is false, A not empty, B empty and 4 < 6 -> coin 0.9 >= 0.5: B
    assert first == [1, 2, 3, 4]
    # B gets the rest, trimmed to 16 - 4 - 3 = 9 tokens
    assert second == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    feats = packing.to_features(first, second, 16, CLS, SEP)
    assert feats["input_ids"] == [CLS, 1, 2, 3, 4, SEP, 5, 6, 7, 8, 9, 10, 11, 12, 13, SEP]
    assert feats["segment_ids"] == [0] * 6 + [1] * 10
    assert feats["input_mask"] == [1] * 16


def test_single_segment_and_short_target():
    # 0.05 < 0.1 -> one segment; then 0.01 < 0.05 -> next target randint -> 7
    rng = FixedRng([0.05, 0.01], randints=[7])
    b = packing.ExampleBuilder(12, rng)
    b.add_line([1, 2, 3, 4, 5])
    first, second = b.add_line([6, 7, 8, 9, 10, 11, 12, 13])
    assert first == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] and second == []  # trimmed to 12 - 2
    feats = packing.to_features(first, second, 12, CLS, SEP)
    assert feats["input_ids"] == [CLS] + list(range(1, 11)) + [SEP]
    assert feats["segment_ids"] == [0] * 12
    # next example closes at the short target of 7 tokens
    rng.randoms += [0.5, 0.9]
    assert b.add_line([1, 2, 3]) is None
    assert b.add_line([4, 5, 6, 7]) is not None


def test_document_break_flushes_and_padding():
    rng = FixedRng([0.5, 0.9])
    b = packing.ExampleBuilder(16, rng)
    b.add_line([1, 2])
    first, second = b.add_line(None)
    assert (first, second) == ([1, 2], [])
    feats = packing.to_features(first, second, 8, CLS, SEP)
    assert feats == {"input_ids": [CLS, 1, 2, SEP, 0, 0, 0, 0],
                     "input_mask": [1, 1, 1, 1, 0, 0, 0, 0],
                     "segment_ids": [0] * 8}
    assert b.add_line(None) is None  # blank line on an empty builder: nothing


def test_statistics_match_the_original_rates():
    rng = random.Random(0)
    lines = [[7] * rng.randint(5, 30) for _ in range(40000)]
    examples = list(packing.pack_lines(lines, 128, random.Random(1)))
    single = sum(1 for a, b in examples if not b) / len(examples)
    lengths = [len(a) + len(b) + (3 if b else 2) for a, b in examples]
    short = sum(1 for n in lengths if n < 100) / len(examples)
    assert 0.07 < single < 0.14          # 10% single-segment (+ rare empty B)
    assert 0.02 < short < 0.08           # ~5% random-length targets
    assert max(lengths) <= 128


def test_reproducible_with_seed():
    lines = [[i % 50 + 1] * (i % 13 + 1) for i in range(500)]
    a = list(packing.pack_lines(lines, 64, random.Random("s")))
    b = list(packing.pack_lines(lines, 64, random.Random("s")))
    c = list(packing.pack_lines(lines, 64, random.Random("t")))
    assert a == b and a != c


def test_fast_encoder_parses_to_the_reference_example():
    """records.ExampleEncoder writes protobuf bytes by hand; they must parse to exactly the
    tf.train.Example that the protobuf library builds from to_features' lists."""
    import tensorflow as tf

    from electra_tf.data import records

    encoder = records.ExampleEncoder(vocab_size=30522)
    rng = random.Random(0)
    # ids of 1, 2 and 3 varint bytes, beyond the table (5 bytes), and the table's edges
    pool = [0, 1, 127, 128, 16383, 16384, 30521, 30522, 2 ** 33]
    cases = [([5], []), ([127, 128], [16384]), (list(range(120, 140)), [2 ** 33, 30521])]
    for _ in range(50):
        a = [rng.choice(pool) for _ in range(rng.randint(1, 60))]
        b = [rng.choice(pool) for _ in range(rng.randint(0, 60))]
        cases.append((a, b))
    for first, second in cases:
        feats = packing.to_features(first, second, 128, 101, 102)
        reference = tf.train.Example.FromString(records.encode_example(feats))
        for ours in (encoder.encode(feats),
                     encoder.encode_packed(first, second, 128, 101, 102)):
            parsed = tf.train.Example.FromString(ours)
            assert parsed == reference
            values = parsed.features.feature
            assert list(values["input_ids"].int64_list.value) == feats["input_ids"]
            assert list(values["segment_ids"].int64_list.value) == feats["segment_ids"]
    with pytest.raises(ValueError, match="non-negative"):
        encoder.encode({"input_ids": [-1], "input_mask": [1], "segment_ids": [0]})
