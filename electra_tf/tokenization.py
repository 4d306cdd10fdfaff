"""WordPiece vocabularies and tokenizers (tensorflow-text) with BERT's rules."""
from __future__ import annotations

import dataclasses
import hashlib
import os

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# FullTokenizer maps words of over 200 characters to [UNK]; tf-text counts bytes.
MAX_BYTES_PER_WORD = 200


class VocabError(ValueError):
    """The vocabulary file is missing or unusable."""


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    pad: int
    unk: int
    cls: int
    sep: int
    mask: int


def load_vocab(path: str) -> list[str]:
    """Reads a one-token-per-line WordPiece vocabulary, checking it is usable."""
    if not os.path.isfile(path):
        raise VocabError(f"vocab file {path} does not exist: pass --vocab PATH/vocab.txt "
                         f"(one WordPiece token per line)")
    try:
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n").rstrip("\r") for line in f]
    except UnicodeDecodeError as e:
        raise VocabError(f"vocab file {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} "
                         f"at offset {e.start}): pass a WordPiece vocab.txt") from None
    if any("\x00" in t for t in tokens):
        raise VocabError(f"vocab file {path} holds NUL bytes: not a WordPiece vocab.txt")
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise VocabError(f"vocab file {path} is empty")
    missing = [t for t in SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise VocabError(f"vocab file {path} lacks the special token(s) {missing}: "
                         f"a BERT/ELECTRA WordPiece vocab needs {list(SPECIAL_TOKENS)}")
    return tokens


def special_ids(tokens: list[str]) -> SpecialIds:
    index = {t: i for i, t in enumerate(tokens)}
    return SpecialIds(pad=index["[PAD]"], unk=index["[UNK]"], cls=index["[CLS]"],
                      sep=index["[SEP]"], mask=index["[MASK]"])


def vocab_hash(path: str) -> str:
    """sha256 of the vocabulary's tokens (line endings normalised)."""
    return hashlib.sha256("\n".join(load_vocab(path)).encode("utf-8")).hexdigest()


class WordPieceTokenizer:
    """Text -> WordPiece ids, equal to BERT's FullTokenizer.

    lower_case and strip_accents follow the ELECTRA flags: the default (both on)
    is BERT-uncased; no_lower_case with no_strip_accents is BERT-cased.
    """

    def __init__(self, vocab_path: str | None, lower_case: bool = True,
                 strip_accents: bool = True, tokens: list[str] | None = None):
        """vocab_path: a vocab.txt; or None with `tokens`, the vocabulary's tokens."""
        import tensorflow as tf
        import tensorflow_text as tf_text

        self.vocab = load_vocab(vocab_path) if tokens is None else list(tokens)
        if tokens is not None:
            missing = [t for t in SPECIAL_TOKENS if t not in self.vocab]
            if missing:
                raise VocabError(f"the vocabulary lacks the special token(s) {missing}")
        self.special = special_ids(self.vocab)
        self.lower_case = lower_case
        self.strip_accents = strip_accents
        self._tf = tf
        self._text = tf_text
        # tf-text's FastBertTokenizer lower-cases with NFKD-like compatibility
        # folding (it turns "¾" into "3⁄4" and "″" into "′′"), which BERT does not,
        # so BERT's cleaning, lower-casing and NFD accent stripping run here and
        # FastWordpieceTokenizer does BERT's whitespace/punctuation/CJK split and the
        # greedy longest-match-first WordPiece in one linear-time op (faster than
        # BertTokenizer's, and unlike BertTokenizer's split it treats every Unicode
        # space separator, e.g. U+3000, as whitespace, as BERT does).
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            self.vocab, suffix_indicator="##", max_bytes_per_word=MAX_BYTES_PER_WORD,
            token_out_type=tf.int64, unknown_token="[UNK]", no_pretokenization=False,
            support_detokenization=False)
        # One graph for the whole pipeline: eager ragged ops cost more in Python
        # overhead and hold the GIL, the graph releases it (threads tokenize in parallel).
        self._tokenize = tf.function(self._tokenize_graph,
                                     input_signature=[tf.TensorSpec([None], tf.string)])

    def _preprocess(self, texts):
        tf, tf_text = self._tf, self._text
        # BERT's _clean_text: drop NUL, U+FFFD and control/format characters
        # (tab, newline and carriage return are whitespace, kept).
        texts = tf.strings.regex_replace(texts, r"[\x{0}\x{fffd}]|[^\t\n\r\P{Cc}]|\p{Cf}", "")
        if self.lower_case:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.strip_accents:
            texts = tf_text.normalize_utf8(texts, "NFD")
            texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
        return texts

    def _tokenize_graph(self, texts):
        return self._wordpiece.tokenize(self._preprocess(texts))

    @property
    def wordpiece(self):
        """The tensorflow-text tokenizer (a tf.Module: a SavedModel must track it)."""
        return self._wordpiece

    def graph_tokenize(self, texts):
        """`tokenize` as plain ops, for use inside another graph (tf.data, a SavedModel)."""
        return self._tokenize_graph(texts)

    def tokenize(self, texts):
        """[batch] strings -> RaggedTensor [batch, (tokens)] of int64 ids."""
        return self._tokenize(self._tf.convert_to_tensor(texts, self._tf.string))

    def tokenize_lines(self, lines: list[str], batch_size: int = 2048) -> list[list[int]]:
        """Ids per line, tokenized `batch_size` lines per graph call (bounded memory)."""
        out: list[list[int]] = []
        for i in range(0, len(lines), batch_size):
            out.extend(self.tokenize(lines[i:i + batch_size]).to_list())
        return out
