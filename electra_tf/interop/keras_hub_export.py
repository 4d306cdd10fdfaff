"""Export our discriminator as a keras-hub preset: of keras-hub's ElectraBackbone (`export`,
for keras-hub users), or of ours (`export_ours`, exact).

keras-hub's ElectraBackbone differs from the original in two ways the export cannot
change: its feed-forward GELU is the tanh approximation (ours and the original's is
exact erf), and it adds a tanh "pooled_output" dense that ELECTRA does not have (left at
its initialisation; use sequence_output[:, 0] as ELECTRA does). Every encoder weight is
copied exactly.
"""
from __future__ import annotations

import numpy as np

from electra_tf.model.weights import relative


def backbone_values(config, values: dict[str, np.ndarray]):
    """A keras_hub ElectraBackbone holding the network values (embeddings/*, encoder/*)."""
    import keras_hub

    backbone = keras_hub.models.ElectraBackbone(
        vocab_size=config.vocab_size, num_layers=config.num_layers, num_heads=config.num_heads,
        hidden_dim=config.hidden_size, embedding_dim=config.embedding_size,
        intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout,
        max_sequence_length=config.max_position_embeddings, num_segments=config.type_vocab_size)
    pairs = [(backbone.token_embedding.embeddings, "embeddings/word_embeddings/embeddings"),
             (backbone.position_embedding.position_embeddings,
              "embeddings/position_embeddings/embeddings"),
             (backbone.segment_embedding.embeddings, "embeddings/token_type_embeddings/embeddings"),
             (backbone.embeddings_layer_norm.gamma, "embeddings/layer_norm/gamma"),
             (backbone.embeddings_layer_norm.beta, "embeddings/layer_norm/beta")]
    if config.hidden_size != config.embedding_size:
        pairs += [(backbone.embeddings_projection.kernel, "encoder/embeddings_project/kernel"),
                  (backbone.embeddings_projection.bias, "encoder/embeddings_project/bias")]
    for i, block in enumerate(backbone.transformer_layers):
        for v in block.weights:  # the same keras-hub TransformerEncoder as ours
            pairs.append((v, f"encoder/layer_{i}/{relative(v, block.name)}"))
    for var, name in pairs:
        if tuple(var.shape) != tuple(values[name].shape):
            raise ValueError(f"{name}: keras-hub expects {tuple(var.shape)}, ours is "
                             f"{tuple(values[name].shape)}")
        var.assign(values[name])
    return backbone


def export(config, values: dict[str, np.ndarray], vocab_file: str, output_dir: str,
           lower_case: bool = True) -> None:
    import keras_hub

    backbone = backbone_values(config, values)
    backbone.save_to_preset(output_dir)
    tokenizer = keras_hub.models.ElectraTokenizer(vocabulary=vocab_file, lowercase=lower_case)
    tokenizer.save_to_preset(output_dir)


def export_ours(config, values: dict[str, np.ndarray], vocab_file: str | None,
                output_dir: str, lower_case: bool = True) -> None:
    """Our discriminator as a preset of *our* ElectraBackbone (exact GELU, no pooler):
    `electra_tf.model.backbone.ElectraBackbone.from_preset(output_dir)` gives back the
    encoder exactly (plus keras-hub's ElectraTokenizer when the vocabulary is known)."""
    import keras_hub

    from electra_tf.model import weights
    from electra_tf.model.backbone import ElectraBackbone

    backbone = ElectraBackbone.from_encoder_config(config, name="encoder")
    weights.assign(weights.network_weights(backbone.embeddings, backbone), values,
                   "preset export")
    backbone.save_to_preset(output_dir)
    if vocab_file:
        keras_hub.models.ElectraTokenizer(vocabulary=vocab_file, lowercase=lower_case) \
            .save_to_preset(output_dir)
