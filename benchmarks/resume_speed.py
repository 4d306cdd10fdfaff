"""Time to the first batch when a pre-training run resumes at a large step.

Three ways to put the input stream where a resumed run needs it, on the same synthetic
TFRecords, in one run:
  skip parsed   the stream skipped after batching and parsing (what resume did before)
  skip records  make_dataset(skip_batches=...): the records skipped before parsing (the
                fallback where a checkpoint has no usable iterator state)
  restore       the iterator state a checkpoint holds (checkpoints.py), restored
and checks that all three give the same next batch.

    python benchmarks/resume_speed.py            # ~1-2 min on 2 cores
    python benchmarks/resume_speed.py --step=100000 --files=16
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def write_records(directory, files, per_file, length, vocab=30522, seed=0):
    import numpy as np
    import tensorflow as tf

    from electra_tf.data import records

    rng = np.random.default_rng(seed)
    enc = records.ExampleEncoder(vocab)
    paths = []
    for f in range(files):
        path = os.path.join(directory, records.SHARD_PATTERN.format(f, files))
        with tf.io.TFRecordWriter(path) as w:
            for _ in range(per_file):
                ids = rng.integers(5, vocab, length).tolist()
                w.write(enc.encode({"input_ids": ids, "input_mask": [1] * length,
                                    "segment_ids": [0] * length}))
        paths.append(path)
    return paths


def first_batch(ds_or_it):
    t = time.time()
    it = iter(ds_or_it)
    batch = {k: v.numpy() for k, v in next(it).items()}
    return time.time() - t, batch, it


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--examples_per_file", type=int, default=20000)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--step", type=int, default=20000)
    a = p.parse_args()

    import numpy as np
    import tensorflow as tf

    from electra_tf import checkpoints
    from electra_tf.data import input_pipeline

    tmp = tempfile.mkdtemp(prefix="resume_speed_")
    t = time.time()
    files = write_records(tmp, a.files, a.examples_per_file, a.seq)
    total = a.files * a.examples_per_file
    print(f"{total} synthetic examples of length {a.seq} in {a.files} files "
          f"({time.time() - t:.0f} s to write); resuming at step {a.step} of batch {a.batch} "
          f"= {a.step * a.batch} examples consumed ({a.step * a.batch / total:.1f} epochs)",
          flush=True)

    def dataset(skip_batches=0):
        return input_pipeline.make_dataset(files, a.batch, a.seq, seed=1,
                                           skip_batches=skip_batches)

    t_parsed, b_parsed, _ = first_batch(dataset().skip(a.step))
    t_records, b_records, it = first_batch(dataset(skip_batches=a.step))
    # the state after `a.step + 1` batches, as a checkpoint at that step would hold it
    ckpt = tf.train.Checkpoint(input=it)
    path = ckpt.write(os.path.join(tmp, "ckpt"))
    size = sum(os.path.getsize(f) for f in glob.glob(path + "*"))
    expected_next = {k: v.numpy() for k, v in next(it).items()}

    t = time.time()
    fresh = iter(dataset(skip_batches=a.step))  # the pipeline as it was saved (its skip
    checkpoints.restore_input(path, fresh)      # node's state says it is done skipping)
    b_restored = {k: v.numpy() for k, v in next(fresh).items()}
    t_restore = time.time() - t

    for k in b_parsed:
        np.testing.assert_array_equal(b_parsed[k], b_records[k], err_msg=k)
        np.testing.assert_array_equal(b_restored[k], expected_next[k], err_msg=k)
    rate = a.step * a.batch / t_parsed
    print(f"{'method':<14}{'first batch s':>14}{'vs skip parsed':>16}")
    for name, secs in (("skip parsed", t_parsed), ("skip records", t_records),
                       ("restore", t_restore)):
        print(f"{name:<14}{secs:>14.2f}{t_parsed / secs:>15.1f}x")
    print(f"same batches: yes; iterator state {size / 1e6:.1f} MB per checkpoint "
          f"(shuffle buffer 10000 x {a.seq} tokens)")
    print(f"skip parsed reads {rate:,.0f} examples/s here: at ELECTRA-Small's last step "
          f"(1M x 128 examples) it would take {1e6 * 128 / rate / 60:.0f} min, skip records "
          f"{1e6 * 128 / (a.step * a.batch / t_records) / 60:.0f} min; restore is the same "
          f"at any step")


if __name__ == "__main__":
    main()
