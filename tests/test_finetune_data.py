"""GLUE readers and sentence-pair featurisation, on real GLUE rows."""
import os

import numpy as np
import pytest

from finetune.glue import features
from finetune.glue import tasks as glue

# Real rows, copied from the GLUE download (ids, quoting and tabs as in the files).
COLA = ("gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
        "gj04\t0\t*\tThe more we study verbs, the crazier they get get.\n")
MRPC = ("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        "1\t702876\t702977\tAmrozi accused his brother, whom he called \"the witness\", of "
        "deliberately distorting his evidence.\tReferring to him as only \"the witness\", "
        "Amrozi accused his brother of deliberately distorting his evidence.\n"
        "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain to Safeway "
        "in 1998 for $ 2.5 billion .\tYucaipa bought Dominick 's in 1995 for $ 693 million "
        "and sold it to Safeway for $ 1.8 billion in 1998 .\n")
STSB = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\t"
        "score\n"
        "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\t"
        "An air plane is taking off.\t5.000\n"
        "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man is playing a large flute."
        "\tA man is playing a flute.\t3.800\n")
MNLI = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
        "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
        "0\t31193\t31193n\tgovernment\t( ( Conceptually ...\t( ( ( Product ...\t(ROOT ...\t"
        "(ROOT ...\tConceptually cream skimming has two basic dimensions - product and "
        "geography.\tProduct and geography are what make cream skimming work. \tneutral\t"
        "neutral\n")
RTE_TEST = ("index\tsentence1\tsentence2\n"
            "0\tMangla was summoned after Madhumita's sister Nidhi Shukla, who was the first "
            "witness in the case.\tShukla is related to Mangla.\n")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cola_has_no_header_and_labels_from_column_1(tmp_path):
    ex = glue.read_examples(glue.get_task("cola"), write(tmp_path, "train.tsv", COLA))
    assert [e.label for e in ex] == [1, 0]
    assert ex[1].text_a == "The more we study verbs, the crazier they get get."
    assert ex[0].text_b is None


def test_mrpc_bom_header_and_swap_doubling(tmp_path):
    write(tmp_path, "train.tsv", MRPC)
    task = glue.get_task("MRPC")
    ex = glue.train_examples(task, str(tmp_path))
    assert len(ex) == 4  # doubled, as the original's double_unordered
    assert ex[0].text_a.startswith("Amrozi accused") and ex[0].label == 1
    assert ex[2].text_a == ex[0].text_b and ex[2].text_b == ex[0].text_a
    assert ex[3].label == 0
    assert len(glue.train_examples(task, str(tmp_path), swap_doubling=False)) == 2
    # --max_train_examples=1: the first row and its swap (the limit applies before doubling)
    one = glue.train_examples(task, str(tmp_path), max_examples=1)
    assert len(one) == 2 and one[0].text_a == ex[0].text_a and one[1].text_a == ex[0].text_b
    assert one[0].label == one[1].label == 1


def test_stsb_ten_columns_regression_label_over_5(tmp_path):
    ex = glue.read_examples(glue.get_task("sts-b"), write(tmp_path, "dev.tsv", STSB))
    assert [e.label for e in ex] == pytest.approx([1.0, 0.76])
    assert ex[1].text_b == "A man is playing a flute."


def test_mnli_label_is_last_column(tmp_path):
    task = glue.get_task("mnli")
    ex = glue.read_examples(task, write(tmp_path, "dev_matched.tsv", MNLI))
    assert ex[0].label == task.labels.index("neutral")
    assert ex[0].text_a.startswith("Conceptually cream skimming")
    assert [n for n, _ in task.eval_sets] == ["dev_matched", "dev_mismatched"]


def test_test_file_keeps_index_for_submission(tmp_path):
    ex = glue.read_examples(glue.get_task("rte"), write(tmp_path, "test.tsv", RTE_TEST),
                            labelled=False)
    assert ex[0].guid == "0" and ex[0].label is None
    assert ex[0].text_b == "Shukla is related to Mangla."


def test_malformed_rows_name_file_and_line(tmp_path):
    path = write(tmp_path, "train.tsv", "index\tsentence1\tsentence2\tlabel\n"
                 "0\ta\tb\tentailment\n1\tonly two\n")
    with pytest.raises(glue.GlueDataError, match=r"train.tsv:3: expected at least 4"):
        glue.read_examples(glue.get_task("rte"), path)
    ex = glue.read_examples(glue.get_task("rte"), path, skip_bad_rows=True)
    assert len(ex) == 1
    bad_label = write(tmp_path, "dev.tsv", "index\ts1\ts2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(glue.GlueDataError, match=r"dev.tsv:2: label 'maybe' is not one of"):
        glue.read_examples(glue.get_task("rte"), bad_label)
    with pytest.raises(glue.GlueDataError, match="does not exist"):
        glue.read_examples(glue.get_task("rte"), str(tmp_path / "nope.tsv"))
    with pytest.raises(glue.GlueDataError, match="unknown GLUE task"):
        glue.get_task("glue")


SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "glue")


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="shared GLUE data not present")
@pytest.mark.parametrize("name,dev_rows", [("CoLA", 1043), ("SST-2", 872), ("MRPC", 408),
                                           ("RTE", 277)])
def test_shared_glue_files_read_completely(name, dev_rows):
    task = glue.get_task(name)
    dev = glue.read_examples(task, os.path.join(SHARED, name, "dev.tsv"))
    assert len(dev) == dev_rows
    assert set(e.label for e in dev) == set(range(len(task.labels)))
    test = glue.read_examples(task, os.path.join(SHARED, name, "test.tsv"), labelled=False)
    assert test[0].guid == "0"


def test_truncate_pair_pops_from_the_longer():
    a, b = list(range(6)), list(range(10, 13))
    features.truncate_pair(a, b, 7)
    assert a == [0, 1, 2, 3] and b == [10, 11, 12]
    a, b = [1, 2], [3, 4, 5]
    features.truncate_pair(a, b, 3)  # ties pop from b
    assert a == [1, 2] and b == [3]


def test_pack_layout():
    ids, mask, seg = features.pack([7, 8], [9], 8, cls=2, sep=3)
    assert ids == [2, 7, 8, 3, 9, 3, 0, 0]
    assert mask == [1, 1, 1, 1, 1, 1, 0, 0]
    assert seg == [0, 0, 0, 0, 1, 1, 0, 0]
    ids, _, seg = features.pack(list(range(10, 20)), None, 6, cls=2, sep=3)
    assert ids == [2, 10, 11, 12, 13, 3] and seg == [0] * 6
    # An empty second text is single-segment, as the original's `if tokens_b:`:
    # no second [SEP], and A keeps max - 2 tokens.
    ids, mask, seg = features.pack(list(range(10, 20)), [], 6, cls=2, sep=3)
    assert ids == [2, 10, 11, 12, 13, 3] and mask == [1] * 6 and seg == [0] * 6
    ids, mask, _ = features.pack([7], [], 5, cls=2, sep=3)
    assert ids == [2, 7, 3, 0, 0] and mask == [1, 1, 1, 0, 0]


def test_featurize_with_wordpiece(tiny_vocab):
    from electra_tf.tokenization import WordPieceTokenizer

    tok = WordPieceTokenizer(tiny_vocab)
    ex = [glue.Example("1", "The king went.", "She said", 1),
          glue.Example("2", "the castle", None, 0)]
    f = features.featurize(ex, tok, 12)
    vocab = tok.vocab
    words = [vocab[i] for i in f["token_ids"][0][:f["padding_mask"][0].sum()]]
    assert words == ["[CLS]", "the", "king", "went", ".", "[SEP]", "she", "said", "[SEP]"]
    assert f["segment_ids"][0].tolist() == [0] * 6 + [1] * 3 + [0] * 3
    assert f["label"].dtype == np.int32 and f["label"].tolist() == [1, 0]
