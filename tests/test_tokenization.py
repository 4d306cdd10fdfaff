import os

import pytest

from electra_tf import tokenization
from tests.conftest import SHARED_VOCAB

needs_bert_vocab = pytest.mark.skipif(not os.path.isfile(SHARED_VOCAB),
                                      reason="../shared/data/vocab/vocab.txt not present")

# Hand-checked against BERT's FullTokenizer (uncased vocab): token strings.
HAND_CHECKED = [
    ("Hello, World!", ["hello", ",", "world", "!"]),
    ("unaffable", ["una", "##ffa", "##ble"]),
    ("Café naïve RÉSUMÉ", ["cafe", "naive", "resume"]),
    ("北京", ["北", "京"]),
    ("don't stop-gap", ["don", "'", "t", "stop", "-", "gap"]),
    ("xqzjvbk", ["x", "##q", "##z", "##j", "##vb", "##k"]),
    ("zero\u200bwidth", ["zero", "##wi", "##dt", "##h"]),  # U+200B is dropped
    ("a" * 201, ["[UNK]"]),
]


@needs_bert_vocab
@pytest.mark.parametrize("text,tokens", HAND_CHECKED)
def test_hand_checked_uncased(text, tokens):
    tok = tokenization.WordPieceTokenizer(SHARED_VOCAB)
    vocab = {t: i for i, t in enumerate(tok.vocab)}
    assert tok.tokenize_lines([text]) == [[vocab[t] for t in tokens]]


@needs_bert_vocab
@pytest.mark.parametrize("lower", [True, False])
def test_equals_reference_full_tokenizer(lower):
    """Reference: the original BERT FullTokenizer (pure Python, tf-models copy)."""
    from official.nlp.tools import tokenization as ref

    lines = ["The Allied landing at 9 ° 25 ′ 45 ″ S, ¾ of the men ‑ M-28.",
             "Ελληνικά Кириллица 日本語のテキスト", "Tab\tand\x00control\ufffdchars",
             "ÀÉÎÕÜ ß ﬁ ligature", "emoji 😀 and #hashtags @users", "Ｆｕｌｌｗｉｄｔｈ １２３",
             "Mr. O'Neill's 3.5% e-mail — “quoted” …",
             # every Unicode space separator (Zs) is whitespace for BERT; tf-text's
             # BertTokenizer split kept U+3000 inside words
             "ideographic\u3000space no\u00a0break thin\u2009space ogham\u1680mark"]
    reference = ref.FullTokenizer(SHARED_VOCAB, do_lower_case=lower)
    reference.wordpiece_tokenizer.max_input_chars_per_word = 200  # ELECTRA's value
    ours = tokenization.WordPieceTokenizer(SHARED_VOCAB, lower_case=lower, strip_accents=lower)
    expected = [reference.convert_tokens_to_ids(reference.tokenize(s)) for s in lines]
    assert ours.tokenize_lines(lines) == expected


@needs_bert_vocab
def test_no_strip_accents_keeps_accents_but_lowercases():
    tok = tokenization.WordPieceTokenizer(SHARED_VOCAB, lower_case=True, strip_accents=False)
    vocab = {t: i for i, t in enumerate(tok.vocab)}
    # "café" keeps its accent, and the uncased vocab has no "##é": the word is [UNK];
    # lower-casing still applies ("CAT" -> "cat").
    assert tok.tokenize_lines(["CAFÉ CAT"]) == [[vocab["[UNK]"], vocab["cat"]]]


def test_vocab_errors(tmp_path):
    with pytest.raises(tokenization.VocabError, match="does not exist"):
        tokenization.load_vocab(str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("[PAD]\nhello\n")
    with pytest.raises(tokenization.VocabError, match=r"lacks the special token"):
        tokenization.load_vocab(str(bad))


def test_special_ids_and_hash(tiny_vocab, tmp_path):
    tokens = tokenization.load_vocab(tiny_vocab)
    s = tokenization.special_ids(tokens)
    assert (s.pad, s.unk, s.cls, s.sep, s.mask) == (0, 1, 2, 3, 4)
    crlf = tmp_path / "v.txt"
    crlf.write_bytes(open(tiny_vocab, "rb").read().replace(b"\n", b"\r\n"))
    assert tokenization.vocab_hash(str(crlf)) == tokenization.vocab_hash(tiny_vocab)


def _corpus_lines(limit=None):
    from electra_tf.data import prep

    corpus = os.path.join(os.path.dirname(SHARED_VOCAB), "..", "corpus")
    if not os.path.isdir(corpus):
        pytest.skip("../shared/data/corpus not present")
    lines = []
    for path in prep.find_input_files(corpus):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines += [line.strip() for line in f if line.strip()]
    return lines[:limit] if limit else lines


def _check_against_reference(lines):
    from official.nlp.tools import tokenization as ref

    reference = ref.FullTokenizer(SHARED_VOCAB, do_lower_case=True)
    reference.wordpiece_tokenizer.max_input_chars_per_word = 200
    ours = tokenization.WordPieceTokenizer(SHARED_VOCAB)
    got = ours.tokenize_lines(lines)  # batches internally
    bad = [i for i, line in enumerate(lines)
           if got[i] != reference.convert_tokens_to_ids(reference.tokenize(line))]
    assert not bad, f"{len(bad)} lines differ, e.g. {lines[bad[0]][:80]!r}"


@needs_bert_vocab
def test_equals_reference_on_real_corpus_lines():
    """The first 3,000 non-blank lines of the bundled corpus (Gutenberg books)."""
    _check_against_reference(_corpus_lines(3000))


@needs_bert_vocab
@pytest.mark.slow
def test_equals_reference_on_whole_bundled_corpus():
    """All ~114k non-blank lines of ../shared/data/corpus (about 15 s)."""
    _check_against_reference(_corpus_lines())
