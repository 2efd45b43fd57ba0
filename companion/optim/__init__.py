"""Weight optimization (chapter 3.1): gradient descent, learning-rate schedules, clipping, regularisation.

- :mod:`companion.optim.sgd`             :class:`SGD` from scratch (momentum, Nesterov, dampening, weight decay)
- :mod:`companion.optim.schedules`       schedules as functions of the step, :class:`FunctionLR` to apply them
- :mod:`companion.optim.lr_finder`       the learning-rate range test
- :mod:`companion.optim.clipping`        weight clamping, max-norm, gradient clipping by norm and by value
- :mod:`companion.optim.regularization`  L1 and L2 penalties
"""
from .clipping import (ClampWeights, MaxNorm, clamp_weights_, clip_grad_norm_, clip_grad_value_, max_norm_,
                       weight_tensors)
from .lr_finder import RangeTestResult, lr_range_test
from .regularization import RegularizedLoss, l1_penalty, l2_penalty, near_zero_fraction
from .schedules import (FunctionLR, constant_lr, cosine_lr, exponential_lr, multistep_lr, one_cycle_lr,
                        one_cycle_momentum, step_lr, warmup_cosine_lr)
from .sgd import SGD, descend

__all__ = ["SGD", "descend",
           "FunctionLR", "constant_lr", "step_lr", "multistep_lr", "exponential_lr", "cosine_lr", "warmup_cosine_lr",
           "one_cycle_lr", "one_cycle_momentum", "RangeTestResult", "lr_range_test",
           "clamp_weights_", "max_norm_", "clip_grad_norm_", "clip_grad_value_", "weight_tensors", "ClampWeights",
           "MaxNorm", "l1_penalty", "l2_penalty", "RegularizedLoss", "near_zero_fraction"]
