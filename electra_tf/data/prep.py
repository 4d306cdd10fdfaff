"""Raw text -> tokenized, packed, sharded TFRecords (the engine behind build_tfrecords.py).

Work is split into units (a file, or a chunk of a large file cut at a blank
line), each with its own seeded RNG, so the output is identical whatever the
number of workers. Units run in worker processes (large corpora) or in this
process with tokenization in threads overlapping packing (small corpora, where a
worker's TensorFlow import would cost more than it saves); either way the parent
writes their examples round-robin into the shards in unit order.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import glob
import hashlib
import itertools
import multiprocessing
import os
import random
import shutil
import sys
import time

import numpy as np

from electra_tf.data import packing, records

CHUNK_BYTES = 1 << 20  # large files are cut into ~1 MB units at document breaks
PROCESS_BYTES = 64 << 20  # corpus bytes per worker process when --num_workers=0


@dataclasses.dataclass(frozen=True)
class Unit:
    path: str
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class PrepOptions:
    vocab: str
    max_seq_length: int = 128
    lower_case: bool = True
    strip_accents: bool = True
    blanks_separate_docs: bool = True
    seed: int = 12345
    encoding_errors: str = "auto"  # or "strict" / "replace" / "ignore" (see _read_lines)


def find_input_files(corpus: str) -> list[str]:
    """A file, a directory (recursive) or a glob -> sorted list of files."""
    if os.path.isfile(corpus):
        return [corpus]
    if os.path.isdir(corpus):
        files = [os.path.join(root, name)
                 for root, dirs, names in os.walk(corpus)
                 for name in names if not name.startswith(".")]
    else:
        files = [f for f in glob.glob(corpus, recursive=True) if os.path.isfile(f)]
    files = sorted(files)
    if not files:
        raise records.DataError(f"--corpus={corpus}: no input text files found (give a file, "
                                f"a directory or a glob of text files)")
    return files


def split_units(files: list[str], blanks_separate_docs: bool,
                chunk_bytes: int = CHUNK_BYTES) -> list[Unit]:
    """Cuts files into units at blank lines (document breaks) every ~chunk_bytes."""
    units = []
    for path in files:
        size = os.path.getsize(path)
        if not blanks_separate_docs or size <= chunk_bytes:
            units.append(Unit(path, 0, size))
            continue
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        while start < size:
            cut = data.find(b"\n\n", start + chunk_bytes)
            end = size if cut < 0 else cut + 2
            units.append(Unit(path, start, end))
            start = end
    return units


# ----------------------------------------------------------------- worker side
_WORKER: dict = {}


def _init_worker(options: PrepOptions) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from electra_tf.tokenization import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(options.vocab, options.lower_case, options.strip_accents)
    _WORKER.update(options=options, tokenizer=tokenizer,
                   encoder=records.ExampleEncoder(len(tokenizer.vocab)))


STRAY_BYTES = 1e-3  # encoding_errors=auto: at most this share of a unit's bytes replaced


def _read_lines(unit: Unit, encoding_errors: str = "auto") -> list[str]:
    """A unit's lines. A NUL byte (a binary file) is an error. Bytes that are not UTF-8:
    "auto" replaces a few strays (at most 1 in 1,000 bytes; Gutenberg texts have some)
    with U+FFFD and says so, and calls more an error (another encoding); "strict" calls
    any an error; "replace" / "ignore" replace / drop them all."""
    with open(unit.path, "rb") as f:
        f.seek(unit.start)
        data = f.read(unit.end - unit.start)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise records.DataError(f"{unit.path}: a NUL byte at offset {unit.start + nul}: not a "
                                f"text file; leave it out of --corpus")
    if encoding_errors in ("replace", "ignore"):
        return data.decode("utf-8", errors=encoding_errors).splitlines()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        first = e
    text = data.decode("utf-8", errors="replace")
    stray = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    if encoding_errors == "strict" or stray > STRAY_BYTES * len(data):
        raise records.DataError(
            f"{unit.path}: not UTF-8 text (byte 0x{data[first.start]:02x} at offset "
            f"{unit.start + first.start}, {stray} such in {len(data)} bytes): convert it "
            f"(e.g. iconv -f latin1 -t utf-8) or pass --encoding_errors=replace")
    print(f"note: {unit.path}: {stray} byte(s) that are not UTF-8 replaced with U+FFFD "
          f"(first at offset {unit.start + first.start})", file=sys.stderr, flush=True)
    return text.splitlines()


def tokenize_unit(unit: Unit, tokenizer, options: PrepOptions) -> list[list[int] | None]:
    """One unit's lines -> WordPiece ids per line (None for a blank line). Runs TF ops,
    which release the GIL, so several units tokenize in parallel threads."""
    lines = [line.strip() for line in _read_lines(unit, options.encoding_errors)]
    if not options.blanks_separate_docs:
        lines = [line for line in lines if line]
    tokenized = iter(tokenizer.tokenize_lines([line for line in lines if line]))
    return [next(tokenized) if line else None for line in lines]


def pack_unit(unit: Unit, ids: list[list[int] | None], options: PrepOptions, tokenizer,
              encoder: records.ExampleEncoder) -> tuple[list[bytes], np.ndarray, int]:
    """Tokenized unit -> (serialized examples, unigram counts of their tokens, bytes read)."""
    special = tokenizer.special
    seed = f"{options.seed}:{os.path.basename(unit.path)}:{unit.start}"
    rng = random.Random(hashlib.sha256(seed.encode()).hexdigest())
    out, packed = [], []
    length = options.max_seq_length
    for first, second in packing.pack_lines(ids, length, rng):
        out.append(encoder.encode_packed(first, second, length, special.cls, special.sep,
                                         special.pad))
        packed.append(first)
        packed.append(second)
    counts = np.bincount(np.fromiter(itertools.chain.from_iterable(packed), np.int64),
                         minlength=len(tokenizer.vocab))
    counts[special.cls] += len(out)
    counts[special.sep] += sum(2 if second else 1 for second in packed[1::2])
    return out, counts, unit.end - unit.start


def process_unit(unit: Unit) -> tuple[list[bytes], np.ndarray, int]:
    """One unit, in a worker process."""
    options: PrepOptions = _WORKER["options"]
    tokenizer = _WORKER["tokenizer"]
    ids = tokenize_unit(unit, tokenizer, options)
    return pack_unit(unit, ids, options, tokenizer, _WORKER["encoder"])


def _in_process(units: list[Unit], options: PrepOptions, threads: int):
    """Units in this process: tokenization in `threads` threads, `threads` units ahead,
    overlapped with packing in the calling thread. Yields process_unit's results in order."""
    from electra_tf.tokenization import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(options.vocab, options.lower_case, options.strip_accents)
    encoder = records.ExampleEncoder(len(tokenizer.vocab))
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        pending = collections.deque()
        todo = iter(units)
        for unit in itertools.islice(todo, threads + 1):
            pending.append((unit, pool.submit(tokenize_unit, unit, tokenizer, options)))
        while pending:
            unit, future = pending.popleft()
            ids = future.result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(tokenize_unit, nxt, tokenizer, options)))
            yield pack_unit(unit, ids, options, tokenizer, encoder)


def auto_workers(total_bytes: int) -> int:
    """Worker processes for num_workers=0: one per 64 MB, at most one per core. Each costs a
    TensorFlow import (seconds), so under 2 x 64 MB the corpus runs in this process
    (tokenizing in threads)."""
    return max(1, min(os.cpu_count() or 1, total_bytes // PROCESS_BYTES))


# ----------------------------------------------------------------- parent side
def build(corpus: str, output_dir: str, options: PrepOptions, num_shards: int = 8,
          num_workers: int = 0, overwrite: bool = False, progress: bool = True) -> dict:
    """Builds the dataset; returns its metadata. Writes to a temporary directory and
    renames it at the end, so an interrupted run leaves no half-built dataset."""
    from electra_tf import tokenization

    if num_shards < 1:
        raise ValueError(f"--num_shards={num_shards} must be >= 1")
    if os.path.exists(output_dir) and os.listdir(output_dir):
        if not overwrite:
            raise FileExistsError(f"output directory {output_dir} exists and is not empty: "
                                  f"pass --overwrite to replace it")
    vocab_tokens = tokenization.load_vocab(options.vocab)
    files = find_input_files(corpus)
    units = split_units(files, options.blanks_separate_docs)
    total_bytes = sum(u.end - u.start for u in units)
    num_workers = num_workers or auto_workers(total_bytes)
    num_workers = max(1, min(num_workers, len(units)))

    tmp_dir = output_dir.rstrip("/") + ".partial"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    names = [records.SHARD_PATTERN.format(i, num_shards) for i in range(num_shards)]
    start = time.time()
    try:
        n_examples, counts = _write_shards(units, options, num_workers,
                                           [os.path.join(tmp_dir, n) for n in names],
                                           len(vocab_tokens), _progress(total_bytes, progress))
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    if n_examples == 0:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise records.DataError(f"--corpus={corpus}: the input files hold no text")

    metadata = {
        "max_seq_length": options.max_seq_length,
        "num_examples": n_examples,
        "num_tokens": int(counts.sum()),
        "vocab_file": os.path.abspath(options.vocab),
        "vocab_hash": tokenization.vocab_hash(options.vocab),
        "vocab_size": len(vocab_tokens),
        "lower_case": options.lower_case,
        "strip_accents": options.strip_accents,
        "blanks_separate_docs": options.blanks_separate_docs,
        "seed": options.seed,
        "files": names,
        "input_files": len(files),
        "seconds": round(time.time() - start, 2),
    }
    with open(os.path.join(tmp_dir, records.COUNTS_FILE), "w") as f:
        import json
        json.dump(counts.tolist(), f)
    records.write_metadata(tmp_dir, metadata)
    if os.path.exists(output_dir):
        shutil.rmtree(output_dir)
    os.replace(tmp_dir, output_dir)
    return metadata


def _write_shards(units, options: PrepOptions, num_workers: int, paths: list[str],
                  vocab_size: int, bar) -> tuple[int, np.ndarray]:
    """Tokenizes and packs every unit (in this process, or in `num_workers` worker
    processes) and writes the examples round-robin to the shards at `paths`; returns
    (examples written, token counts over the vocabulary)."""
    import tensorflow as tf

    writers = [tf.io.TFRecordWriter(p) for p in paths]
    counts = np.zeros(vocab_size, np.int64)
    n_examples, pool = 0, None
    try:
        if num_workers == 1:
            results = _in_process(units, options, threads=os.cpu_count() or 1)
        else:
            pool = multiprocessing.get_context("spawn").Pool(
                num_workers, initializer=_init_worker, initargs=(options,))
            results = pool.imap(process_unit, units)
        for examples, unit_counts, nbytes in results:
            for ex in examples:
                writers[n_examples % len(writers)].write(ex)
                n_examples += 1
            counts += unit_counts
            bar.update(nbytes)
            bar.set_postfix(examples=n_examples)
        if pool is not None:
            pool.close()
            pool.join()
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        for w in writers:
            w.close()
        bar.close()
    return n_examples, counts


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="tokenize+pack",
                disable=not enabled, file=sys.stderr)
