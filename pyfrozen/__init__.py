"""pyfrozen: CPU training with frozen parts, where freezing makes training cheaper.

The top level mirrors Keras 3 (``import pyfrozen as keras``): ``Input``, ``Model``,
``Sequential``, ``layers``, ``optimizers``, ``losses``, ``metrics``, ``callbacks``,
``applications``, ``initializers``. The kernels live in a C++ core
(``pyfrozen._core``); its run-time settings are re-exported here too.
"""

import os
from importlib.metadata import version as _dist_version
from importlib.util import find_spec as _find_spec

if _find_spec(f"{__name__}._core") is None:
    # Without this, the first import of _core below fails with Python's misleading
    # "partially initialized module ... (most likely due to a circular import)".
    raise ImportError(
        f"pyfrozen was imported from {os.path.dirname(__file__)}, a source folder without "
        "the compiled core (pyfrozen._core): Python looks in the current directory first, "
        "so in a checkout of pyfrozen the uninstalled sources shadow the installed package. "
        "Run Python from another directory (or use the `pyfrozen` console script), or "
        "install the checkout in editable mode: pip install -e ."
    )

from pyfrozen import (
    _core,
    applications,
    autograd,
    callbacks,
    datasets,
    distributed,
    initializers,
    io,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    saving,
    utils,
)
from pyfrozen._core import (
    cache_sizes,
    detected_isa,
    empty_output_cache,
    gemm,
    get_isa,
    get_num_threads,
    has_openmp,
    output_cache_info,
    set_isa,
    set_num_threads,
    set_output_cache_limit,
    supported_isas,
)
from pyfrozen.autograd import enable_grad, inference_mode, no_grad
from pyfrozen.layers import Input
from pyfrozen.models import Model, Sequential
from pyfrozen.tensor import Parameter, Tensor, tensor

__version__ = _dist_version("pyfrozen")

__all__ = [
    "Input",
    "Model",
    "Parameter",
    "Sequential",
    "Tensor",
    "__version__",
    "applications",
    "autograd",
    "callbacks",
    "datasets",
    "distributed",
    "cache_sizes",
    "detected_isa",
    "empty_output_cache",
    "enable_grad",
    "gemm",
    "get_isa",
    "get_num_threads",
    "has_openmp",
    "inference_mode",
    "initializers",
    "io",
    "layers",
    "losses",
    "metrics",
    "models",
    "no_grad",
    "ops",
    "optimizers",
    "output_cache_info",
    "saving",
    "set_isa",
    "set_num_threads",
    "set_output_cache_limit",
    "supported_isas",
    "tensor",
    "utils",
]


def _apply_isa_from_environment() -> None:
    # The C++ core honours PYFROZEN_ISA=generic on its own; here every value is
    # validated so a typo or an unsupported path fails loudly instead of being ignored.
    requested = os.environ.get("PYFROZEN_ISA")
    if not requested:
        return
    try:
        _core.set_isa(requested)
    except ValueError as err:
        raise ValueError(f"PYFROZEN_ISA={requested!r}: {err}") from None


_apply_isa_from_environment()
