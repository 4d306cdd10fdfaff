"""TFRecords -> batches for pre-training: deterministic, seeded, with stream positions."""
from __future__ import annotations

import tensorflow as tf

from electra_tf.data import records


def check_records(files: list[str], max_seq_length: int) -> None:
    """Reads the first record of each file: clear errors for corrupt files or records
    of another sequence length (instead of a failure deep inside tf.data later)."""
    for path in files:
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except (tf.errors.DataLossError, tf.errors.OpError) as e:
            raise records.DataError(f"{path} is not a readable TFRecord file "
                                    f"({type(e).__name__}): rebuild it with "
                                    f"data_prep/build_tfrecords.py") from None
        if first is None:
            continue
        try:
            example = tf.train.Example.FromString(first.numpy())
        except Exception:  # noqa: BLE001 - protobuf's DecodeError, whatever its module
            example = None
        features = {} if example is None else example.features.feature
        missing = [n for n in records.FEATURES
                   if n not in features or features[n].WhichOneof("kind") != "int64_list"]
        if missing:
            raise records.DataError(f"{path} does not hold pre-training examples (no int64 "
                                    f"{missing}): build it with data_prep/build_tfrecords.py")
        length = len(features["input_ids"].int64_list.value)
        if length != max_seq_length:
            raise records.DataError(f"{path} holds examples of length {length} but the model "
                                    f"config has max_seq_length={max_seq_length}: pass "
                                    f"--max_seq_length={length} or rebuild the data")


def feature_spec(max_seq_length: int) -> dict:
    """How a pre-training record parses: int64 `records.FEATURES` of `max_seq_length`."""
    return {name: tf.io.FixedLenFeature([max_seq_length], tf.int64)
            for name in records.FEATURES}


def find_corrupt_file(files: list[str], max_seq_length: int) -> str | None:
    """Reads every record of every file (slow on a large corpus: for error reports and
    --verify); "PATH: record N: what is wrong" for the first bad one, None if all parse."""
    features = feature_spec(max_seq_length)
    for path in files:
        index = 0
        try:
            for serialized in tf.data.TFRecordDataset(path).batch(1024):
                tf.io.parse_example(serialized, features)
                index += int(tf.shape(serialized)[0])
        except tf.errors.OpError as e:
            reason = str(e.message).strip().splitlines()[0]
            return f"{path}: record {index} or the 1,023 after it: {reason}"
    return None


def make_dataset(files: list[str], batch_size: int, max_seq_length: int, seed: int,
                 shuffle_buffer: int = 10000, input_context: tf.distribute.InputContext = None,
                 skip_batches: int = 0) -> tf.data.Dataset:
    """Endless, deterministic (given seed) stream of batches of `batch_size` examples.

    Each example carries `example_index`, its position in the stream (unique over
    input pipelines), from which the objective derives its random draws.
    `skip_batches` starts the stream later (the same batches as skipping them) without
    parsing what it skips.
    """
    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        num_pipelines = input_context.num_input_pipelines
        pipeline_id = input_context.input_pipeline_id
    ds = tf.data.Dataset.from_tensor_slices(files)
    shard_files = num_pipelines > 1 and len(files) >= num_pipelines
    if shard_files:
        ds = ds.shard(num_pipelines, pipeline_id)
    ds = ds.repeat().shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                       block_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if num_pipelines > 1 and not shard_files:
        ds = ds.shard(num_pipelines, pipeline_id)
    ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    ds = ds.enumerate()
    if skip_batches:  # before batch + parse: only the records are read
        ds = ds.skip(skip_batches * batch_size)
    features = feature_spec(max_seq_length)

    def parse(index, serialized):
        parsed = tf.io.parse_example(serialized, features)
        out = {k: tf.cast(v, tf.int32) for k, v in parsed.items()}
        out["example_index"] = index * num_pipelines + pipeline_id
        return out

    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
