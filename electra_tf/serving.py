"""A SavedModel that serves a fine-tuned classifier or tagger from raw text.

The WordPiece tokenizer and the packing run inside the graph (TensorFlow and
tensorflow-text ops), so whoever deploys it needs neither our code nor the vocabulary:

  import tensorflow as tf, tensorflow_text  # tensorflow_text registers the tokenizer ops
  serve = tf.saved_model.load(DIR).signatures["serving_default"]
  serve(text=tf.constant(["a gripping film."]))
  # classification: label_id [B] int64, label [B] string, probabilities [B, C] float32
  # regression:     score [B] float32
  # tagging (text = words separated by spaces):
  #   words [B, W] string, tag_id [B, W] int64 (-1 past a sentence's end),
  #   tag [B, W] string ("" past its end), probabilities [B, W, C]

A sentence-pair classifier takes `text` and `text_pair`. `task.json` beside the
SavedModel says which inputs and outputs it has, its labels and its sequence length.
"""
from __future__ import annotations

import json
import os

TASK_FILE = "task.json"


def _tagger_inputs(pre, texts, sequence_length: int):
    """Words -> (words [B, (W)], each word's first-piece position [B, (W)] or -1, the
    packed token features), as tagging's featurize: [CLS], each word's pieces in order,
    [SEP]; from the first word that does not fit on, and for a word without pieces, -1."""
    import tensorflow as tf

    from electra_tf.model.preprocessor import pack

    words = tf.strings.split(texts)  # [B, (W)]
    pieces = pre.tokenizer.graph_tokenize(words.flat_values)  # [all words, (P)]
    counts = words.with_flat_values(pieces.row_lengths())  # [B, (W)] pieces per word
    ends = tf.cumsum(counts, axis=1)  # pieces up to and including each word
    fits = (ends <= sequence_length - 2) & (counts > 0)  # [CLS] + pieces + [SEP]
    positions = tf.where(fits, ends - counts + 1, -tf.ones_like(ends))
    kept = tf.ragged.boolean_mask(pieces, fits.flat_values)  # the words that fit
    tokens = tf.RaggedTensor.from_row_lengths(
        kept.flat_values, tf.reduce_sum(tf.where(fits, counts, tf.zeros_like(counts)), axis=1))
    special = pre.tokenizer.special
    return words, positions, pack(tokens, None, sequence_length, special.cls, special.sep,
                                  pad_to_length=False)


def export(model, output_dir: str, task: dict, preprocessor=None) -> None:
    """Writes the SavedModel of `model` (an ElectraTextClassifier or ElectraTokenClassifier
    with a preprocessor) and task.json.

    task: {"kind": text_classification | text_regression | token_classification,
           "labels": [...] (classification, tagging), "text_pair": bool}.
    preprocessor: an ElectraTextClassifierPreprocessor (its vocabulary, casing and
    sequence length) when the model has none (a tagger's)."""
    import keras
    import tensorflow as tf

    pre = preprocessor or model.preprocessor
    if pre is None:
        raise ValueError("serving needs a preprocessor (the vocabulary): pass one")
    kind, labels = task["kind"], task.get("labels")
    length = pre.sequence_length
    spec = tf.TensorSpec([None], tf.string)
    names = tf.constant(labels or [""])

    def classify(x):
        logits = model(x, training=False)
        if kind == "text_regression":
            return {"score": logits[:, 0]}
        probs = tf.nn.softmax(logits, axis=-1)
        ids = tf.argmax(probs, axis=-1)
        return {"label_id": ids, "label": tf.gather(names, ids), "probabilities": probs}

    if kind == "token_classification":
        def serve(text):
            words, positions, feats = _tagger_inputs(pre, text, length)
            probs = tf.nn.softmax(model(feats, training=False), axis=-1)  # [B, S, C]
            pos = positions.to_tensor(-1)
            gathered = tf.gather(probs, tf.maximum(pos, 0), batch_dims=1)  # [B, W, C]
            o_id = labels.index("O") if "O" in labels else 0  # a word without position
            ids = tf.where(pos >= 0, tf.argmax(gathered, axis=-1), o_id)
            real = tf.sequence_mask(words.row_lengths(), tf.shape(pos)[1])
            ids = tf.where(real, ids, -1)
            return {"words": words.to_tensor(""), "tag_id": ids,
                    "tag": tf.where(real, tf.gather(names, tf.maximum(ids, 0)), ""),
                    "probabilities": gathered * tf.cast(real, probs.dtype)[:, :, None]}
        signature = [spec]
    elif task.get("text_pair"):
        def serve(text, text_pair):
            return classify(pre((text, text_pair)))
        signature = [spec, spec]
    else:
        def serve(text):
            return classify(pre(text))
        signature = [spec]

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(pre.wordpiece)
    archive.add_endpoint("serving_default", serve, input_signature=signature)
    archive.write_out(output_dir, verbose=False)
    with open(os.path.join(output_dir, TASK_FILE), "w") as f:
        json.dump(dict(task, sequence_length=length, lowercase=pre.lowercase), f, indent=2)
