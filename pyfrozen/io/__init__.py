"""Reading and writing pyfrozen files: weight files in safetensors format (`weights`)."""

from pyfrozen.io.weights import (
    FORMAT,
    FORMAT_VERSION,
    LoadedArrays,
    Mismatch,
    WeightFileError,
    load_arrays,
    save_arrays,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LoadedArrays",
    "Mismatch",
    "WeightFileError",
    "load_arrays",
    "save_arrays",
]
