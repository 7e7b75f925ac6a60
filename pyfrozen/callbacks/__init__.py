"""Callbacks with Keras 3's names and hooks, driven by ``Model.fit`` / ``evaluate``.

Each callback sees the model as ``self.model``; setting ``model.stop_training = True``
ends ``fit`` after the current batch. ``fit`` adds ``History`` (returned) and, unless
``verbose=0``, ``ProgbarLogger``.
"""

from pyfrozen.callbacks.callback import Callback
from pyfrozen.callbacks.callback_list import CallbackList
from pyfrozen.callbacks.csv_logger import CSVLogger
from pyfrozen.callbacks.early_stopping import EarlyStopping
from pyfrozen.callbacks.history import History
from pyfrozen.callbacks.lambda_callback import LambdaCallback
from pyfrozen.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from pyfrozen.callbacks.model_checkpoint import ModelCheckpoint
from pyfrozen.callbacks.progbar import Progbar
from pyfrozen.callbacks.progbar_logger import ProgbarLogger
from pyfrozen.callbacks.progressive_unfreezing import ProgressiveUnfreezing
from pyfrozen.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "Progbar",
    "ProgbarLogger",
    "ProgressiveUnfreezing",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
