"""Model files of the peers: Keras 3 (``.keras``, ``.weights.h5``), TensorFlow.js and ONNX.

The mapping between pyfrozen models and those files sits above models/ (it builds
models); importing this package registers each format in ``pyfrozen.models.formats``,
which ``Model.save`` / ``save_weights`` / ``load_weights`` / ``export`` consult.
"""

from pyfrozen.models.formats import load_model, register_exporter
from pyfrozen.saving.onnx_export import export_onnx

register_exporter("onnx", export_onnx)

__all__ = ["export_onnx", "load_model"]
