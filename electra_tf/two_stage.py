"""Two-stage training (paper Section 3.2, `--config=training=two_stage`): the generator
alone with MLM for `two_stage_steps`, then the discriminator, started as the generator,
with the generator frozen. Outside two-stage training every step trains everything."""
from __future__ import annotations

from electra_tf.model import weights


def phase(config, step: int) -> str | None:
    """"generator" before two_stage_steps, then "discriminator"; None outside two-stage
    training."""
    if config.pretraining.training != "two_stage":
        return None
    return "generator" if step < config.pretraining.two_stage_steps else "discriminator"


def steps_in_phase(config, step: int) -> int | None:
    """Steps from `step` to the switch (a graph loop must not run past it), or None."""
    if phase(config, step) != "generator":
        return None
    return config.pretraining.two_stage_steps - step


def is_switch(config, step: int) -> bool:
    """True at the first discriminator step."""
    return (phase(config, step) == "discriminator"
            and step == config.pretraining.two_stage_steps)


def trained_variables(model, phase_name: str | None) -> list:
    """The variables a phase trains: all, except the other network in two-stage training
    (the shared embedding table is the generator's too: the generator phase trains it)."""
    if phase_name is None:
        return model.trainable_variables
    if phase_name == "generator":
        d = model.discriminator
        frozen = d.transformer_layers + [d.embeddings_projection, model.discriminator_head,
                                         model.sentence_head]
    else:
        g = model.generator
        frozen = g.transformer_layers + [g.embeddings_projection, model.generator_head,
                                         model.generator_embeddings]
    skip = {id(v) for layer in frozen if layer is not None for v in layer.weights}
    if phase_name == "generator":
        skip -= {id(v) for v in model.embeddings.weights}
    return [v for v in model.trainable_variables if id(v) not in skip]


def init_discriminator_from_generator(model) -> None:
    """The switch: every discriminator encoder weight takes the generator's value."""
    gen = weights.encoder_weights(model.generator, "encoder")
    for name, var in weights.encoder_weights(model.discriminator, "encoder").items():
        var.assign(gen[name])
