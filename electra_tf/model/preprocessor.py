"""ElectraTextClassifierPreprocessor: raw strings (or string pairs) -> the backbone's inputs.

Everything runs as TensorFlow / tensorflow-text ops, so the same layer feeds `fit()`
through tf.data and sits inside a serving SavedModel. The ids equal fine-tuning's own
featurization (finetune/glue/features.py, tested): our WordPiece tokenizer (BERT's
FullTokenizer rules), [CLS] A [SEP] (B [SEP]), a pair cut by popping tokens from the
longer text (B on ties) as the original, a second text that tokenizes to nothing giving
the single-segment layout.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from electra_tf import tokenization


def pair_lengths(len_a, len_b, budget):
    """How many tokens of A and of B the original's truncation keeps (int64 vectors).

    Popping from the longer text (B on ties) until len_a + len_b <= budget leaves the
    shorter text whole while it is at most half the budget and the longer one the rest;
    otherwise both end at half the budget, A taking the odd token."""
    fits = len_a + len_b <= budget
    short = tf.minimum(len_a, len_b)
    half_a, half_b = (budget + 1) // 2, budget // 2
    keep_short = 2 * short <= budget
    a = tf.where(len_a <= len_b, len_a, budget - len_b)
    b = tf.where(len_a <= len_b, budget - len_a, len_b)
    a = tf.where(fits, len_a, tf.where(keep_short, a, half_a))
    b = tf.where(fits, len_b, tf.where(keep_short, b, half_b))
    return a, b


def _head(ragged, n):
    """Each row's first n[i] values."""
    keep = tf.ragged.range(ragged.row_lengths()) < tf.expand_dims(n, 1)
    return tf.ragged.boolean_mask(ragged, keep)


def pack(tokens_a, tokens_b, sequence_length: int, cls: int, sep: int,
         pad_to_length: bool = True) -> dict:
    """RaggedTensors of ids [B, (n)] (tokens_b may be None) -> token_ids, segment_ids,
    padding_mask [B, sequence_length] int32 (or [B, longest] without pad_to_length)."""
    tokens_a = tf.cast(tokens_a, tf.int32)
    len_a = tokens_a.row_lengths()
    batch = tf.shape(len_a, out_type=tf.int64)[0]
    if tokens_b is None:
        tokens_b = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32),
                                                    tf.zeros([batch], tf.int64))
    tokens_b = tf.cast(tokens_b, tf.int32)
    len_b = tokens_b.row_lengths()
    has_b = len_b > 0
    budget = tf.where(has_b, tf.constant(sequence_length - 3, tf.int64),
                      tf.constant(sequence_length - 2, tf.int64))
    keep_a, keep_b = pair_lengths(len_a, len_b, budget)
    one = tf.RaggedTensor.from_row_lengths(tf.fill([batch], cls), tf.ones([batch], tf.int64))
    end = tf.RaggedTensor.from_row_lengths(tf.fill([batch], sep), tf.ones([batch], tf.int64))
    n_b_sep = tf.cast(has_b, tf.int64)
    end_b = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(n_b_sep)], sep), n_b_sep)
    a, b = _head(tokens_a, keep_a), _head(tokens_b, keep_b)
    ids = tf.concat([one, a, end, b, end_b], axis=1)
    first = keep_a + 2
    segments = tf.cast(tf.ragged.range(ids.row_lengths()) >= tf.expand_dims(first, 1),
                       tf.int32)
    shape = [None, sequence_length] if pad_to_length else None
    token_ids = ids.to_tensor(0, shape=shape)
    return {"token_ids": token_ids,
            "segment_ids": segments.to_tensor(0, shape=shape),
            "padding_mask": tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32)}


@keras.saving.register_keras_serializable(package="electra_tf")
class ElectraTextClassifierPreprocessor(keras.layers.Layer):
    """Raw text -> `{"token_ids", "segment_ids", "padding_mask"}` for an ElectraBackbone.

    Call it on a batch of strings, or a tuple `(texts, pairs)` of two batches for
    sentence-pair tasks; with labels (`y`, `sample_weight`) it passes them through, as
    keras-hub preprocessors do, so a task model's `fit()` can map it over raw data.

    Args:
        vocabulary: the WordPiece tokens (a list), or the path of a vocab.txt.
        lowercase: lower-case and strip accents (an uncased vocabulary, the default).
        sequence_length: pad / cut every example to this many tokens.

    Example:
    ```python
    from electra_tf.model.preprocessor import ElectraTextClassifierPreprocessor

    pre = ElectraTextClassifierPreprocessor("../shared/data/vocab/vocab.txt",
                                            sequence_length=16)
    x = pre(["a gripping film.", "dull"])
    x["token_ids"].shape  # (2, 16)
    pairs = pre((["the cat sat."], ["it sat."]))
    pairs["segment_ids"][0, :8]  # 0 for [CLS] the cat sat . [SEP], then 1
    ```
    """

    def __init__(self, vocabulary, lowercase: bool = True, sequence_length: int = 128,
                 **kwargs):
        super().__init__(**kwargs)
        # strings in, as keras-hub's preprocessing layers: no conversion to float tensors
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if isinstance(vocabulary, str):
            vocabulary = tokenization.load_vocab(vocabulary)
        self.vocabulary = list(vocabulary)
        self.lowercase = lowercase
        self.sequence_length = sequence_length
        self.tokenizer = tokenization.WordPieceTokenizer(None, lowercase, lowercase,
                                                         tokens=self.vocabulary)
        self.built = True

    @property
    def wordpiece(self):
        """The tensorflow-text tokenizer (a tf.Module a SavedModel must track)."""
        return self.tokenizer.wordpiece

    def call(self, x, y=None, sample_weight=None):
        texts = x if isinstance(x, tuple) else (x,)  # (texts,) or (texts, pairs)
        segments = [self.tokenizer.graph_tokenize(
            tf.reshape(tf.convert_to_tensor(t, tf.string), [-1])) for t in texts]
        special = self.tokenizer.special
        out = pack(segments[0], segments[1] if len(segments) > 1 else None,
                   self.sequence_length, special.cls, special.sep)
        return keras.utils.pack_x_y_sample_weight(out, y, sample_weight)

    def compute_output_spec(self, x, y=None, sample_weight=None):
        spec = keras.KerasTensor((None, self.sequence_length), "int32")
        return {"token_ids": spec, "segment_ids": spec, "padding_mask": spec}

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=self.vocabulary, lowercase=self.lowercase,
                      sequence_length=self.sequence_length)
        return config
