"""Model file formats by suffix and export formats by name, as a table.

``Model.save`` / ``save_weights`` / ``load_weights`` / ``export`` and
``pyfrozen.models.load_model`` look the format up here; the code that maps models to
Keras, TensorFlow.js or ONNX files lives above models/ (pyfrozen.saving) and registers
itself when pyfrozen is imported. The tables are filled once, at import time, and only
read afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class WeightsFormat(NamedTuple):
    """How one weights-file suffix is written and read."""

    save: Callable[..., None]  # (model, filepath) -> None
    load: Callable[..., Any]  # (model, filepath, skip_mismatch) -> LoadResult | None


_weights_formats: dict[str, WeightsFormat] = {}
_model_savers: dict[str, Callable[..., None]] = {}  # suffix -> (model, filepath, **kw)
_model_loaders: dict[str, Callable[..., Any]] = {}  # suffix -> (filepath, **kw) -> Model
_exporters: dict[str, Callable[..., None]] = {}  # format -> (model, filepath, **kw)


def register_weights_format(suffix: str, save: Callable[..., None],
                            load: Callable[..., Any]) -> None:
    """Makes ``save_weights`` / ``load_weights`` handle files ending in ``suffix``."""
    _weights_formats[suffix] = WeightsFormat(save, load)


def register_model_format(suffix: str, save: Callable[..., None] | None = None,
                          load: Callable[..., Any] | None = None) -> None:
    """Makes ``Model.save`` (``save``) and ``load_model`` (``load``) handle ``suffix``."""
    if save is not None:
        _model_savers[suffix] = save
    if load is not None:
        _model_loaders[suffix] = load


def register_exporter(name: str, export: Callable[..., None]) -> None:
    """Makes ``Model.export(filepath, format=name)`` call ``export(model, filepath, **kw)``."""
    _exporters[name] = export


def _by_suffix(table: dict[str, Any], filepath: Any, what: str) -> Any:
    path = str(filepath)
    # The longest suffix wins: ".weights.h5" before ".h5".
    for suffix in sorted(table, key=len, reverse=True):
        if path.endswith(suffix):
            return table[suffix]
    known = ", ".join(f'"{s}"' for s in sorted(table)) or "none registered"
    raise ValueError(f"{what}: cannot tell the format of {path!r} from its name; the file "
                     f"name must end in one of: {known}")


def weights_format(filepath: Any, what: str) -> WeightsFormat:
    """The weights format of ``filepath`` (ValueError naming the known suffixes)."""
    return _by_suffix(_weights_formats, filepath, what)


def model_saver(filepath: Any) -> Callable[..., None]:
    """The writer of whole-model files for ``filepath``'s suffix."""
    return _by_suffix(_model_savers, filepath, "save")


def model_loader(filepath: Any) -> Callable[..., Any]:
    """The reader of whole-model files for ``filepath``'s suffix."""
    return _by_suffix(_model_loaders, filepath, "load_model")


def exporter(name: str) -> Callable[..., None]:
    """The exporter called ``name`` (ValueError naming the known formats)."""
    if name not in _exporters:
        known = ", ".join(f'"{n}"' for n in sorted(_exporters)) or "none registered"
        raise ValueError(f"export: unknown format {name!r}; pyfrozen exports: {known}")
    return _exporters[name]


def load_model(filepath: Any, **kwargs: Any) -> Any:
    """Loads a whole model from a file (the format is told by the file's name)."""
    return model_loader(filepath)(filepath, **kwargs)
