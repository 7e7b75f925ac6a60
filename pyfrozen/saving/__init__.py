"""Model files of the peers: Keras 3 (``.keras``, ``.weights.h5``), TensorFlow.js and ONNX.

The mapping between pyfrozen models and those files sits above models/ (it builds
models); importing this package registers each format in ``pyfrozen.models.formats``,
which ``Model.save`` / ``save_weights`` / ``load_weights`` / ``export`` consult.
"""

from pyfrozen.models import saving as _pyfrozen_weights
from pyfrozen.models.formats import (
    load_model,
    register_exporter,
    register_model_format,
    register_weights_format,
)
from pyfrozen.saving.keras_config import UnsupportedKerasConfig
from pyfrozen.saving.keras_file import load_keras, save_keras
from pyfrozen.saving.keras_model import from_keras as deserialize_keras_object
from pyfrozen.saving.keras_model import to_keras as serialize_keras_object
from pyfrozen.saving.keras_weights import load_keras_weights, save_keras_weights
from pyfrozen.saving.lora_merge import merging
from pyfrozen.saving.onnx_export import export_onnx
from pyfrozen.saving.registration import register_keras_serializable
from pyfrozen.saving.tfjs_config import UnsupportedTfjsConfig
from pyfrozen.saving.tfjs_file import export_tfjs, load_tfjs

register_weights_format(".safetensors", _pyfrozen_weights.save_weights,
                        _pyfrozen_weights.load_weights)
# Keras files hold an adapted layer as Keras does (its config's lora_rank, the merged
# kernel: keras_weights); tfjs and ONNX files get a merged, plain copy (lora_merge).
register_weights_format(".weights.h5", save_keras_weights, load_keras_weights)
register_model_format(".keras", save=save_keras, load=load_keras)
register_exporter("onnx", merging(export_onnx))
# tfjs layers models are read from their model.json (tfjs's own entry point).
register_model_format(".json", load=load_tfjs)
register_exporter("tfjs", merging(export_tfjs))

__all__ = [
    "UnsupportedKerasConfig",
    "UnsupportedTfjsConfig",
    "deserialize_keras_object",
    "export_onnx",
    "export_tfjs",
    "load_model",
    "load_tfjs",
    "register_keras_serializable",
    "serialize_keras_object",
]
