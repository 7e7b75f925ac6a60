"""Utilities under Keras's names: ``set_random_seed``."""

from __future__ import annotations

import random

import numpy as np

from pyfrozen.ops import regularization


def set_random_seed(seed: int) -> None:
    """Seeds every random generator pyfrozen draws from without an explicit seed.

    That is: Python's ``random`` (unseeded initializers draw their seed from it),
    numpy's global generator (``fit``'s shuffling, ``validation_split`` order), and
    the process-wide dropout generator (``Dropout`` layers without ``seed``). With the
    same seed and the same thread count (``pyfrozen.set_num_threads``; every kernel is
    bit-identical run to run for a thread count), building a model and ``fit`` give
    bit-identical weights, shuffling and dropout included.

    Args:
        seed: an int >= 0.

    Raises:
        ValueError: ``seed`` is not an int (Keras's message).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be in [0, 2**32) (numpy's global generator). "
                         f"Received: seed={seed}")
    random.seed(seed)
    np.random.seed(seed)
    regularization.seed_generator(seed)
