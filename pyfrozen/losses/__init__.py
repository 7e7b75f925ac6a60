"""Losses with Keras 3's names, arguments and defaults (``keras.losses``).

Classes (``MeanSquaredError()``, ...) reduce the per-sample losses to a scalar Tensor
differentiable with respect to ``y_pred``; the lowercase functions return the per-sample
losses, as Keras's do. ``get`` resolves names (``"mse"``, ``"sparse_categorical_crossentropy"``),
config dicts, classes, instances and callables; ``resolve`` gives the reducing Loss that
``compile(loss=...)`` uses.

Example:

>>> import numpy as np, pyfrozen
>>> from pyfrozen import losses
>>> logits = pyfrozen.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
>>> loss = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0]), logits)
>>> round(loss.item(), 4)
0.2413
>>> loss.backward()
>>> logits.grad.shape
(1, 3)
"""

from pyfrozen.losses._util import FromLogitsWarning
from pyfrozen.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from pyfrozen.losses.divergence import Distillation, KLDivergence, distillation, kl_divergence
from pyfrozen.losses.loss import (
    Loss,
    LossFunctionWrapper,
    reduce_values,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
)
from pyfrozen.losses.registry import (
    ALL_OBJECTS_DICT,
    deserialize,
    get,
    is_binary_or_sparse_categorical,
    resolve,
    serialize,
)
from pyfrozen.losses.regression import (
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    huber,
    mean_absolute_error,
    mean_squared_error,
)

# Keras 3's short aliases of the functions
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy

__all__ = [
    "ALL_OBJECTS_DICT",
    "BCE",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Distillation",
    "FromLogitsWarning",
    "Huber",
    "KLD",
    "KLDivergence",
    "Loss",
    "LossFunctionWrapper",
    "MAE",
    "MSE",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "bce",
    "binary_crossentropy",
    "categorical_crossentropy",
    "deserialize",
    "distillation",
    "get",
    "huber",
    "is_binary_or_sparse_categorical",
    "kl_divergence",
    "kld",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "reduce_values",
    "reduce_weighted_values",
    "resolve",
    "serialize",
    "sparse_categorical_crossentropy",
    "squeeze_or_expand_to_same_rank",
]
