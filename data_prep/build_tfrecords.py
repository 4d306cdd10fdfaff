"""Raw text -> WordPiece -> packed [CLS] A [SEP] B [SEP] examples -> sharded TFRecords.

    python data_prep/build_tfrecords.py --corpus ../shared/data/corpus \
        --vocab ../shared/data/vocab/vocab.txt --output /tmp/electra_data

Input: a file, a directory (recursive) or a glob of text files, one sentence or
line per line, blank line = document break (--file_is_document: each file is
one document). Output: shards of tf.train.Examples with int64 `input_ids`,
`input_mask`, `segment_ids` of length --max_seq_length, a metadata.json and
the unigram counts of the packed tokens.
"""
import os
import shutil
import sys

from absl import app, flags

from electra_tf import cli  # defines --tf_logs

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", None, "Text file, directory (recursive) or glob of text files.")
flags.DEFINE_string("vocab", None, "WordPiece vocab.txt (BERT uncased for the released models).")
flags.DEFINE_integer("build_vocab", None,
                     "Learn a WordPiece vocabulary of this size from the corpus instead of "
                     "--vocab; written to OUTPUT/vocab.txt.")
flags.DEFINE_string("output", None, "Output directory for the TFRecords and metadata.json.")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per example, [CLS]/[SEP] included.")
flags.DEFINE_integer("num_shards", 8, "Number of output TFRecord files.")
flags.DEFINE_integer("num_workers", 0,
                     "Worker processes; 1: this process, tokenizing in threads; 0: auto "
                     "(one per 64 MB of text, at most one per CPU core; under 128 MB: 1).")
flags.DEFINE_integer("seed", 12345, "Seed of the packing randomness (10% single segment, "
                     "5% short examples, sentence assignment).")
flags.DEFINE_bool("no_lower_case", False, "Keep case (BERT-cased vocabularies).")
flags.DEFINE_bool("no_strip_accents", False, "Keep accents.")
flags.DEFINE_bool("file_is_document", False,
                  "Treat each file as one document; blank lines do not break documents.")
flags.DEFINE_enum("encoding_errors", "auto", ["auto", "strict", "replace", "ignore"],
                  "Bytes that are not UTF-8. auto: a few strays (<= 1 per 1,000 bytes) are "
                  "replaced by U+FFFD with a note, more are an error naming the file; strict: "
                  "any is an error; replace / ignore: replaced / dropped (the original "
                  "BERT/ELECTRA scripts drop them).")
flags.DEFINE_bool("overwrite", False, "Replace an existing, non-empty output directory.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool("verify", False, "Build nothing: read every record of an existing --output "
                  "(or glob) and name the first corrupt or truncated file.")


def verify(output: str) -> None:
    from electra_tf.data import input_pipeline, records

    files, metadata = records.resolve_data_files(output)
    length = (metadata or {}).get("max_seq_length", FLAGS.max_seq_length)
    bad = input_pipeline.find_corrupt_file(files, length)
    if bad:
        raise records.DataError(f"{bad}: rebuild the data with data_prep/build_tfrecords.py "
                                f"--overwrite")
    print(f"{output}: every record of {len(files)} file(s) reads as length-{length} examples")


def main(argv):
    del argv
    cli.start()
    from electra_tf.data import prep, records
    from electra_tf.data.vocab_builder import build_vocab
    from electra_tf.tokenization import VocabError

    if FLAGS.verify:
        if not FLAGS.output:
            sys.exit("error: --verify checks an existing --output (directory or glob)")
        try:
            return verify(FLAGS.output)
        except records.DataError as e:
            sys.exit(f"error: {e}")
    if not FLAGS.corpus or not FLAGS.output:
        sys.exit("error: --corpus and --output are required (see --help)")
    if bool(FLAGS.vocab) == bool(FLAGS.build_vocab):
        sys.exit("error: give exactly one of --vocab PATH or --build_vocab SIZE")
    if FLAGS.max_seq_length < 8:
        sys.exit(f"error: --max_seq_length={FLAGS.max_seq_length} must be >= 8")
    if FLAGS.num_workers < 0:
        sys.exit(f"error: --num_workers={FLAGS.num_workers} must be >= 0 (0: automatic)")
    lower, strip = not FLAGS.no_lower_case, not FLAGS.no_strip_accents
    try:
        vocab = FLAGS.vocab
        if FLAGS.build_vocab:
            if os.path.exists(FLAGS.output) and os.listdir(FLAGS.output) and not FLAGS.overwrite:
                raise FileExistsError(f"output directory {FLAGS.output} exists and is not "
                                      f"empty: pass --overwrite to replace it")
            files = prep.find_input_files(FLAGS.corpus)
            vocab = os.path.join(FLAGS.output + ".vocab", "vocab.txt")
            os.makedirs(os.path.dirname(vocab), exist_ok=True)
            print(f"learning a {FLAGS.build_vocab}-token WordPiece vocabulary ...", flush=True)
            build_vocab(files, FLAGS.build_vocab, vocab, lower, strip, FLAGS.encoding_errors)
        options = prep.PrepOptions(vocab=vocab, max_seq_length=FLAGS.max_seq_length,
                                   lower_case=lower, strip_accents=strip,
                                   blanks_separate_docs=not FLAGS.file_is_document,
                                   seed=FLAGS.seed, encoding_errors=FLAGS.encoding_errors)
        meta = prep.build(FLAGS.corpus, FLAGS.output, options, num_shards=FLAGS.num_shards,
                          num_workers=FLAGS.num_workers, overwrite=FLAGS.overwrite,
                          progress=FLAGS.progress)
        if FLAGS.build_vocab:
            final_vocab = os.path.join(FLAGS.output, "vocab.txt")
            os.replace(vocab, final_vocab)
            os.rmdir(os.path.dirname(vocab))
            # metadata.json names the vocab pretrain reads: the kept copy, not the temporary
            meta["vocab_file"] = os.path.abspath(final_vocab)
            records.write_metadata(FLAGS.output, meta)
    except (records.DataError, VocabError, FileExistsError, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit("interrupted: nothing was written to " + FLAGS.output)
    finally:  # a failed or interrupted --build_vocab leaves no OUTPUT.vocab behind
        if FLAGS.build_vocab and FLAGS.output:
            shutil.rmtree(FLAGS.output + ".vocab", ignore_errors=True)
    print(f"wrote {meta['num_examples']} examples ({meta['num_tokens']} tokens) from "
          f"{meta['input_files']} files to {FLAGS.output} in {meta['seconds']} s")


if __name__ == "__main__":
    app.run(main)
