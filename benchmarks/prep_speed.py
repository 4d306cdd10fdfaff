"""Examples/s of our data prep vs a pure-Python BERT FullTokenizer pipeline doing the
same packing and serialisation on the same corpus, in the same run.

    python benchmarks/prep_speed.py --corpus ../shared/data/corpus \
        --vocab ../shared/data/vocab/vocab.txt
"""
import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def peer(files, vocab, max_len, out_path):
    """The original's single-process pipeline: FullTokenizer + ExampleBuilder + writer."""
    import tensorflow as tf
    from official.nlp.tools import tokenization as ref

    from electra_tf.data import packing, records

    tok = ref.FullTokenizer(vocab, do_lower_case=True)
    tok.wordpiece_tokenizer.max_input_chars_per_word = 200
    cls, sep = tok.vocab["[CLS]"], tok.vocab["[SEP]"]
    n = 0
    with tf.io.TFRecordWriter(out_path) as w:
        for path in files:
            rng = random.Random(hashlib.sha256(path.encode()).hexdigest())
            lines = [ln.strip() for ln in open(path, encoding="utf-8", errors="replace")]
            ids = (tok.convert_tokens_to_ids(tok.tokenize(ln)) if ln else None for ln in lines)
            for first, second in packing.pack_lines(ids, max_len, rng):
                w.write(records.encode_example(
                    packing.to_features(first, second, max_len, cls, sep)))
                n += 1
    return n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", default="../shared/data/corpus")
    p.add_argument("--vocab", default="../shared/data/vocab/vocab.txt")
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--num_workers", type=int, default=0)
    args = p.parse_args()
    # Both pipelines need TensorFlow (the peer to write TFRecords, as the original
    # script does); import it once, outside both timings. The peer's tokenizer module
    # is imported here too, so neither timing includes module imports.
    import tensorflow  # noqa: F401
    import tensorflow_text  # noqa: F401
    from official.nlp.tools import tokenization  # noqa: F401

    from electra_tf.data import prep

    files = prep.find_input_files(args.corpus)
    tmp = tempfile.mkdtemp()
    try:
        t = time.time()
        meta = prep.build(args.corpus, os.path.join(tmp, "ours"),
                          prep.PrepOptions(vocab=args.vocab, max_seq_length=args.max_seq_length),
                          num_workers=args.num_workers, progress=False)
        ours_s = time.time() - t
        t = time.time()
        n_peer = peer(files, args.vocab, args.max_seq_length, os.path.join(tmp, "peer.tfrecord"))
        peer_s = time.time() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours_eps, peer_eps = meta["num_examples"] / ours_s, n_peer / peer_s
    print(f"corpus: {len(files)} files, {sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB; "
          f"cores: {os.cpu_count()}")
    workers = args.num_workers or prep.auto_workers(
        sum(os.path.getsize(f) for f in files))
    how = (f"{workers} worker processes" if workers > 1
           else f"1 process, tokenizing in {os.cpu_count()} threads")
    print(f"ours (tf-text, {how}): "
          f"{meta['num_examples']} examples in {ours_s:.1f} s = {ours_eps:.0f} ex/s")
    print(f"peer (pure-Python FullTokenizer, 1 process): {n_peer} examples in {peer_s:.1f} s "
          f"= {peer_eps:.0f} ex/s")
    print(f"speed-up: {ours_eps / peer_eps:.2f}x (target >= 5x)")


if __name__ == "__main__":
    sys.exit(main())
