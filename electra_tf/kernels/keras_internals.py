"""Every use of Keras' private API outside the attention kernel (attention.py), each
with the reason no public one serves. Tested by the tests of what uses them: the
optimizer's (tests/test_optimization.py, test_task_models.py) and exact resume's
(tests/test_training.py)."""
from __future__ import annotations


def variable_index(optimizer, variable) -> int:
    """The position of `variable` in the optimizer's variable list, under tf.distribute
    too. Why private: a custom optimizer's `update_step` gets the variable, not its
    index, and only Keras' own lookup knows distributed variables' keys."""
    return optimizer._get_variable_index(variable)


def flatten_layers(model) -> list:
    """Every sub-layer of `model`, in Keras' own traversal order. Why private: the order
    the dropout seed states have always been checkpointed in is this one; the public
    lists (`model.layers`, `non_trainable_variables`) are shallow or in another order."""
    return list(model._flatten_layers(include_self=False, recursive=True))


class OwnReplicaSum:
    """Mixin for a Keras optimizer whose callers sum gradients over replicas themselves
    (train_step.sum_clip_apply): it then does not sum them again. Under Keras' own
    fit() (`keras_fit = True`) it does, as every Keras optimizer does. Why private:
    Keras' hook for its cross-replica sum is `_all_reduce_sum_gradients`, with no
    public switch."""

    keras_fit = False

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if self.keras_fit:
            return super()._all_reduce_sum_gradients(grads_and_vars)
        return list(grads_and_vars)
