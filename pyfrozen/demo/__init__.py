"""The main job (``pyfrozen demo``, or ``python -m pyfrozen.demo`` outside the clone):
transfer learning that shows what freezing buys, measured.

1. Source task: a compact MobileNet-style CNN trained with ``fit`` on 26 letters (the
   bundled glyphs, ``pyfrozen.datasets.load_glyphs``), saved with ``save`` as a Keras 3
   file (``letters.keras``).
2. Target task, 10 digits the source never saw, 30 training images per class: the saved
   model loaded (``pyfrozen.saving.load_model``), cut at its pooling layer, frozen, given a
   new head;
   phase 1 trains the head on cached features (``fit(cache_frozen_features=True)``),
   phase 2 fine-tunes the top blocks at a low learning rate with BN kept frozen.
3. Baselines on the same few digits and test set: the same CNN from scratch, and a linear
   classifier on the raw pixels.

Each run trains in its own process (its peak memory is its own); the demo prints the
``summary()`` counts, time per epoch, peak memory and test accuracy of each, checks that the
frozen weights and BN statistics are bit-identical, shows what ``trace()`` saw in one frozen
and one full training step, and writes a PNG (with matplotlib; the ``demo`` extra brings
it and h5py).

Modules: config (settings and flags), data (the two tasks), network (the CNN, its cut, the
baselines), measure (processes, epoch timer, memory, bit-identity), runs (the six runs),
steps (the traced steps), report (the printed text), plot (the PNG), main (``run_demo``).
"""

from pyfrozen.demo.config import DemoConfig, add_arguments, from_args
from pyfrozen.demo.main import DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "add_arguments", "from_args", "run_demo"]
