"""The original's optimizer: AdamW without bias correction, its LR schedule, clipping."""
from __future__ import annotations

import keras
from keras import ops

from electra_tf.kernels import adam, keras_internals


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr = base * (1 - step / total) ** power * min(1, step / warmup).

    As the original, warmup and decay overlap (the decay starts at step 0) and
    step 0 has learning rate 0.
    """

    def __init__(self, learning_rate, total_steps, warmup_steps, power=1.0):
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.power = float(power)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decay = (1.0 - ops.minimum(step, self.total_steps) / self.total_steps) ** self.power
        warmup = (ops.minimum(1.0, step / self.warmup_steps) if self.warmup_steps > 0
                  else ops.ones_like(step))
        return self.learning_rate * decay * warmup

    def get_config(self):
        return dict(learning_rate=self.learning_rate, total_steps=self.total_steps,
                    warmup_steps=self.warmup_steps, power=self.power)


def uses_weight_decay(variable) -> bool:
    """The original excludes LayerNorm parameters and biases from weight decay."""
    path = variable.path.lower()
    return not ("layer_norm" in path or "layernorm" in path or path.endswith("bias"))


class AdamWeightDecay(keras_internals.OwnReplicaSum, keras.optimizers.Optimizer):
    """The original's AdamWeightDecayOptimizer (no bias correction).

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w -= lr * (m / (sqrt(v) + eps) + wd * w)     (wd only where uses_weight_decay)

    Gradients reaching apply() must already be summed over replicas and clipped:
    the trainer all-reduces, clips by global norm and then applies, so this
    optimizer does not all-reduce again.

    On TensorFlow the update runs as TF's fused kernels (`fused`, default True):
    ResourceApplyGradientDescent for the decay term, then ResourceApplyAdam with
    beta powers 0 (which is exactly "no bias correction"); one pass per variable
    instead of a dozen element-wise ops (timed in benchmarks/RESULTS.md). The
    kernel forms 1 - beta_2 in float32 (0.00099998713 for 0.999, where the original
    uses 0.001); `kernels.adam.fused_update` compensates, so both paths take the original's
    step to float32 rounding (uncompensated, each step was up to 6.4e-6 relatively
    larger, which showed in long trajectories: benchmarks/RESULTS.md; its 1 - b1,
    0.10000002 for 0.9, is 2.2e-7 off, a few float32 roundings).
    `fused = False` (--config=fused_adam=false) gives the keras.ops path, which other
    backends always use.
    """

    fused = True

    def __init__(self, learning_rate, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-6, lr_multiplier=None, name="adam_weight_decay", **kwargs):
        """lr_multiplier: optional variable -> float (fine-tuning's layer-wise decay)."""
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.lr_multiplier = lr_multiplier
        self.weight_decay_rate = weight_decay_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._v = self.add_optimizer_variables(var_list, ["adam_m", "adam_v"])
        self._decay = [uses_weight_decay(v) for v in var_list]
        self._lr_mult = [1.0 if self.lr_multiplier is None else float(self.lr_multiplier(v))
                         for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        index = keras_internals.variable_index(self, variable)
        m, v = self._m[index], self._v[index]
        lr = ops.cast(learning_rate, variable.dtype)
        if self._lr_mult[index] != 1.0:
            lr = lr * self._lr_mult[index]
        decay = self.weight_decay_rate if self._decay[index] else 0.0
        if self.fused and keras.backend.backend() == "tensorflow":
            adam.fused_update(variable, m, v, gradient, lr, decay,
                              self.beta_1, self.beta_2, self.epsilon)
            return
        g = ops.cast(gradient, variable.dtype)
        self.assign(m, self.beta_1 * m + (1.0 - self.beta_1) * g)
        self.assign(v, self.beta_2 * v + (1.0 - self.beta_2) * ops.square(g))
        update = m / (ops.sqrt(v) + self.epsilon)
        if decay > 0:
            update = update + decay * variable
        self.assign_sub(variable, lr * update)

    def apply(self, grads, trainable_variables=None):
        """Sparse gradients (IndexedSlices of the embedding tables, as Keras' fit() hands
        them over) are made dense first, as our loops' compute_gradients does: a
        global-norm clip of the values of IndexedSlices counts a token that occurs twice
        in the batch twice, the dense gradient sums it once."""
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                     for g in grads]
        return super().apply(grads, trainable_variables)

    def get_config(self):
        config = super().get_config()
        config.update(weight_decay_rate=self.weight_decay_rate, beta_1=self.beta_1,
                      beta_2=self.beta_2, epsilon=self.epsilon)
        return config


def clip_by_global_norm(grads, clip_norm):
    """(clipped grads, global norm), like tf.clip_by_global_norm."""
    norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads))
    scale = clip_norm / ops.maximum(norm, clip_norm)
    return [g * ops.cast(scale, g.dtype) for g in grads], norm


def create_optimizer(config):
    """The pre-training optimiser for an OptimizerConfig (ElectraConfig.optimizer)."""
    schedule = WarmupLinearDecay(config.learning_rate, config.num_train_steps,
                                 config.num_warmup_steps, config.lr_decay_power)
    optimizer = AdamWeightDecay(schedule, weight_decay_rate=config.weight_decay,
                                beta_1=config.adam_beta_1, beta_2=config.adam_beta_2,
                                epsilon=config.adam_epsilon)
    optimizer.fused = config.fused_adam
    return optimizer
