"""Export the discriminator as a TensorFlow SavedModel for serving.

Signature `serving_default`: token_ids, segment_ids, padding_mask (int32 [batch, length],
the backbone's input names)
-> sequence_output [batch, length, hidden] and rtd_logits [batch, length] (replaced-token
logits of the discriminator head, when the checkpoint has it).
"""
from __future__ import annotations


def export(config, values, output_dir: str) -> None:
    import keras
    import tensorflow as tf

    from electra_tf.interop.ours import network_variables
    from electra_tf.model import weights

    has_head = any(n.startswith("head/") for n in values)
    named, (emb, enc, head) = network_variables(config, "discriminator", head=has_head)
    weights.assign(named, values, "saved-model export")

    spec = tf.TensorSpec([None, None], tf.int32)

    def serve(token_ids, segment_ids, padding_mask):
        hidden = enc.encode(token_ids, segment_ids, padding_mask, training=False)
        out = {"sequence_output": hidden}
        if head is not None:
            out["rtd_logits"] = head(hidden)
        return out

    archive = keras.export.ExportArchive()
    for layer in [enc] + ([head] if head is not None else []):  # enc tracks the embeddings
        archive.track(layer)
    archive.add_endpoint("serving_default", serve, input_signature=[spec, spec, spec])
    archive.write_out(output_dir, verbose=False)
