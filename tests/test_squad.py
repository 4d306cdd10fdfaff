"""SQuAD reading, doc-stride windows and post-processing back to the original text."""
import json

import numpy as np
import pytest

from finetune.squad import data as squad_data
from finetune.squad import postprocess as pp

CONTEXT = "The old king went to the castle by the river."


def squad_file(tmp_path, qas, name="s.json"):
    data = {"version": "x", "data": [{"title": "t", "paragraphs": [
        {"context": CONTEXT, "qas": qas}]}]}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture(scope="module")
def tok(tiny_vocab):
    from electra_tf.tokenization import WordPieceTokenizer
    return WordPieceTokenizer(tiny_vocab)


def test_windows_positions_and_max_context(tmp_path, tok):
    path = squad_file(tmp_path, [
        {"id": "q1", "question": "which king went", "answers": [
            {"text": "castle", "answer_start": CONTEXT.index("castle")}]},
        {"id": "q2", "question": "which king went", "answers": [
            {"text": "river", "answer_start": CONTEXT.index("river")}]}])
    ex, skipped = squad_data.read_examples(path, True, v2=False)
    assert skipped == 0 and ex[1].start_word == ex[1].end_word == 9  # the word "river."
    feats, infos = squad_data.featurize(ex, tok, max_seq_length=14, doc_stride=4,
                                        max_query_length=8, is_training=True)
    # 11 context tokens, 8 fit per window, stride 4: windows [0, 8) and [4, 11)
    assert len(infos) == 4 and [i.example_index for i in infos] == [0, 0, 1, 1]
    vocab = tok.vocab
    w0 = [vocab[t] for t in infos[0].tokens]
    assert w0 == ["[CLS]", "which", "king", "went", "[SEP]", "the", "old", "king", "went", "to",
                  "the", "castle", "by", "[SEP]"]
    # "castle" is doc token 6: position 6 + 5 in window 0, 6 - 4 + 5 in window 1
    assert feats["start_positions"][:2].tolist() == [11, 7]
    assert feats["end_positions"][:2].tolist() == [11, 7]
    # its max context is window 1 (2 tokens left / 4 right beats 6 left / 1 right)
    assert infos[0].max_context[11] is False and infos[1].max_context[7] is True
    # "river" excludes the word's trailing "." (improved span); window 0 lacks it -> [CLS]
    assert feats["start_positions"][2] == 0 and feats["end_positions"][2] == 0
    assert feats["start_positions"][3] == feats["end_positions"][3] == 9 - 4 + 5
    # window 1 starts at doc token 4 ("to", word 4); "river" and "." both map to word 9
    assert infos[1].token_to_orig[5] == 4
    assert infos[1].token_to_orig[10] == infos[1].token_to_orig[11] == 9


def test_impossible_questions_point_at_cls(tmp_path, tok):
    path = squad_file(tmp_path, [{"id": "q", "question": "which", "answers": [],
                                  "is_impossible": True}])
    ex, _ = squad_data.read_examples(path, True, v2=True)
    feats, _ = squad_data.featurize(ex, tok, 32, 8, 8, is_training=True)
    assert feats["start_positions"].tolist() == [0] and feats["is_impossible"].tolist() == [1]


def test_read_errors_name_the_file_and_entry(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [\n{"paragraphs": [}]}')
    with pytest.raises(squad_data.SquadDataError, match=r"bad.json: not valid JSON \(line 2"):
        squad_data.read_examples(str(bad), False, False)
    path = squad_file(tmp_path, [{"id": "q"}])
    with pytest.raises(squad_data.SquadDataError,
                       match=r"data\[0\].paragraphs\[0\].qas\[0\] lacks 'question'"):
        squad_data.read_examples(path, False, False)
    with pytest.raises(squad_data.SquadDataError, match="does not exist"):
        squad_data.read_examples(str(tmp_path / "none.json"), False, False)


def test_get_final_text_hand_cases():
    assert pp.get_final_text("steve smith", "Steve Smith's") == "Steve Smith"
    assert pp.get_final_text("1895", "(1895-1943).") == "1895"
    assert pp.get_final_text("cafe", "Café,") == "Café"
    assert pp.get_final_text("nothing", "Other") == "Other"  # no alignment: original text


def test_basic_tokenize_matches_bert():
    ref = pytest.importorskip("official.nlp.tools.tokenization")
    basic = ref.BasicTokenizer(do_lower_case=True)
    for text in ["Steve Smith's (1895-1943).", "Café  naïve\tRÉSUMÉ", "北京大学 is big!",
                 "don't... \u00a0 stop", "x\u200by"]:
        assert pp.basic_tokenize(text) == basic.tokenize(text), text


def test_write_predictions_maps_back_and_v2_null_odds(tmp_path, tok):
    path = squad_file(tmp_path, [{"id": "q2", "question": "which king went", "answers": [
        {"text": "river", "answer_start": CONTEXT.index("river")}]}])
    ex, _ = squad_data.read_examples(path, False, v2=True)
    feats, infos = squad_data.featurize(ex, tok, 14, 4, 8, is_training=False)
    assert len(infos) == 2
    # window 1: best beam = start 10 ("river") .. end 10, then end 11 (".")
    res = {"start_top_index": np.array([[5, 6], [10, 0]]),
           "start_top_log_probs": np.array([[-3.0, -4.0], [-0.1, -2.0]]),
           "end_top_index": np.array([[[5, 6], [6, 7]], [[10, 11], [0, 0]]]),
           "end_top_log_probs": np.array([[[-3.0, -4.0], [-3.0, -4.0]],
                                          [[-0.2, -0.5], [-9.0, -9.0]]]),
           "answerable_logit": np.array([1.5, -0.7])}
    preds, odds, nbest = pp.write_predictions(ex, infos, res, tok.vocab, v2=True, n_best_size=3)
    assert preds["q2"] == "river"  # not "river." (projected onto the original text)
    assert [n["text"] for n in nbest["q2"]][:2] == ["river", "river."]
    assert odds["q2"] == -0.7  # the minimum over the question's windows
    assert sum(n["probability"] for n in nbest["q2"]) == pytest.approx(1.0)
    assert pp.apply_null_threshold(preds, {"q2": 0.3}) == {"q2": ""}
