"""The pre-training TFRecord format: example encoding and the dataset's metadata.json."""
from __future__ import annotations

import glob
import json
import os

FEATURES = ("input_ids", "input_mask", "segment_ids")
METADATA_FILE = "metadata.json"
COUNTS_FILE = "unigram_counts.json"
FORMAT_VERSION = 1
SHARD_PATTERN = "pretrain_data-{:05d}-of-{:05d}.tfrecord"


class DataError(ValueError):
    """Pre-training data is missing, corrupt or does not fit the model config."""


def encode_example(features: dict[str, list[int]]) -> bytes:
    import tensorflow as tf

    feature = {name: tf.train.Feature(int64_list=tf.train.Int64List(value=features[name]))
               for name in FEATURES}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class ExampleEncoder:
    """`encode_example` without protobuf objects: writes the wire format directly
    (Example > Features > one map entry per feature > Feature.int64_list, packed
    varints) from a table of each token id's varint bytes. Parses to the same
    tf.train.Example as `encode_example`; `encode_packed` is faster than
    `encode_example(packing.to_features(...))`."""

    def __init__(self, vocab_size: int):
        self._table = [_varint(i) for i in range(max(vocab_size, 128))]
        self._heads: dict[tuple[str, int], bytes] = {}

    def _values(self, values: list[int]) -> bytes:
        if values and min(values) >= 0 and max(values) < 128:
            return bytes(values)
        if values and min(values) < 0:
            raise ValueError("token ids, mask and segment ids must be non-negative")
        try:
            return b"".join(map(self._table.__getitem__, values))
        except IndexError:  # an id beyond the vocab size the encoder was built for
            return b"".join(map(_varint, values))

    def _head(self, name: str, payload_len: int) -> bytes:
        head = self._heads.get((name, payload_len))
        if head is None:
            key = name.encode()
            int64_list_len = 1 + len(_varint(payload_len)) + payload_len
            feature_len = 1 + len(_varint(int64_list_len)) + int64_list_len
            entry_len = 2 + len(_varint(len(key))) + len(key) + len(_varint(feature_len)) \
                + feature_len
            head = (b"\x0a" + _varint(entry_len)                    # Features.feature entry
                    + b"\x0a" + _varint(len(key)) + key             # key
                    + b"\x12" + _varint(feature_len)                # value: Feature
                    + b"\x1a" + _varint(int64_list_len)             # Feature.int64_list
                    + b"\x0a" + _varint(payload_len))               # Int64List.value, packed
            self._heads[(name, payload_len)] = head
        return head

    def _example(self, payloads) -> bytes:
        parts = []
        for name, payload in zip(FEATURES, payloads):
            parts += (self._head(name, len(payload)), payload)
        body = b"".join(parts)
        return b"\x0a" + _varint(len(body)) + body                  # Example.features

    def encode(self, features: dict[str, list[int]]) -> bytes:
        return self._example([self._values(features[name]) for name in FEATURES])

    def encode_packed(self, first: list[int], second: list[int], max_length: int, cls_id: int,
                      sep_id: int, pad_id: int = 0) -> bytes:
        """`encode(packing.to_features(...))` without building the feature lists."""
        n = len(first) + len(second) + (3 if second else 2)
        pad = max_length - n
        ids = [cls_id, *first, sep_id, *second, sep_id] if second else [cls_id, *first, sep_id]
        ids = self._values(ids) + self._values([pad_id]) * pad
        mask = b"\x01" * n + b"\x00" * pad
        segments = b"\x00" * (len(first) + 2) + b"\x01" * (n - len(first) - 2) + b"\x00" * pad
        return self._example((ids, mask, segments))


def write_metadata(output_dir: str, metadata: dict) -> None:
    path = os.path.join(output_dir, METADATA_FILE)
    with open(path, "w") as f:
        json.dump(dict(metadata, format_version=FORMAT_VERSION), f, indent=2, sort_keys=True)


def _read_metadata(directory: str) -> dict | None:
    meta_path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(meta_path):
        return None
    try:
        with open(meta_path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{meta_path} is not valid JSON ({e}): re-run "
                        f"data_prep/build_tfrecords.py --overwrite") from None


def resolve_data_files(data: str) -> tuple[list[str], dict | None]:
    """--data (a directory written by build_tfrecords.py, or a glob) -> (files, metadata).

    metadata is None where the files do not come with a metadata.json.
    """
    if os.path.isdir(data):
        files = sorted(glob.glob(os.path.join(data, "*.tfrecord*")))
        if not files:
            raise DataError(f"data directory {data} holds no *.tfrecord files: build them with "
                            f"python data_prep/build_tfrecords.py --output {data}")
        return files, _read_metadata(data)
    files = sorted(glob.glob(data))
    if not files:
        hint = "it does not exist" if not any(c in data for c in "*?[") else "no file matches it"
        raise DataError(f"--data={data}: {hint}; pass the output directory of "
                        f"data_prep/build_tfrecords.py or a glob of its TFRecord files")
    return files, _read_metadata(os.path.dirname(files[0]))


def check_metadata(metadata: dict | None, data: str, max_seq_length: int,
                   vocab_size: int, vocab_hash: str | None = None,
                   vocab_path: str | None = None) -> None:
    """Refuses data built for another sequence length or vocabulary than the config."""
    if metadata is None:
        return
    where = f"data {data} (metadata.json)"
    if metadata.get("max_seq_length") != max_seq_length:
        raise DataError(
            f"{where} was built with max_seq_length={metadata.get('max_seq_length')} but the "
            f"model config has max_seq_length={max_seq_length}: pass "
            f"--max_seq_length={metadata.get('max_seq_length')} or rebuild the data")
    if metadata.get("vocab_size") is not None and metadata["vocab_size"] > vocab_size:
        raise DataError(
            f"{where} uses a vocabulary of {metadata['vocab_size']} tokens but the model "
            f"config has vocab_size={vocab_size}: pass "
            f"--config=vocab_size={metadata['vocab_size']} "
            f"or rebuild the data with the model's vocab")
    if vocab_hash is not None and metadata.get("vocab_hash") not in (None, vocab_hash):
        raise DataError(f"{where} was tokenized with another vocab than "
                        f"{vocab_path or 'the model'}'s (sha256 {metadata['vocab_hash'][:12]}..."
                        f" vs {vocab_hash[:12]}...): pass the data's own vocab "
                        f"({metadata.get('vocab_file', 'see metadata.json')}) or rebuild the "
                        f"data with this one")


def read_unigram_counts(data: str) -> list[int]:
    """The data prep's per-token counts (unigram_counts.json next to the records)."""
    directory = data if os.path.isdir(data) else os.path.dirname(glob.glob(data)[0]
                                                                 if glob.glob(data) else data)
    path = os.path.join(directory, COUNTS_FILE)
    if not os.path.isfile(path):
        raise DataError(f"{path} not found: strategic masking and the unigram generator need "
                        f"the token counts that build_tfrecords writes; rebuild the data")
    with open(path) as f:
        return json.load(f)
