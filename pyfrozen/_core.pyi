"""Type stubs for pyfrozen._core, the pybind11 module over the C++ core."""

import numpy as np
import numpy.typing as npt

def version() -> str: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def has_openmp() -> bool: ...
def set_isa(name: str) -> None: ...
def get_isa() -> str: ...
def detected_isa() -> str: ...
def supported_isas() -> list[str]: ...
def cache_sizes() -> dict[str, int]: ...
def gemm_blocking(dtype: str = "float32") -> dict[str, int]: ...
def kernel_counts() -> list[tuple[str, str, int, int]]: ...
def reset_kernel_counts() -> None: ...
def gemm(
    a: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> npt.NDArray[np.floating]: ...
def sgd_update(
    param: npt.NDArray[np.floating],
    grad: npt.NDArray[np.floating],
    velocity: npt.NDArray[np.floating] | None = None,
    *,
    learning_rate: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    mask: npt.NDArray[np.bool_ | np.uint8] | None = None,
) -> None: ...
def adam_update(
    param: npt.NDArray[np.floating],
    grad: npt.NDArray[np.floating],
    m: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    *,
    step: int,
    learning_rate: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    mask: npt.NDArray[np.bool_ | np.uint8] | None = None,
) -> None: ...
def adamw_update(
    param: npt.NDArray[np.floating],
    grad: npt.NDArray[np.floating],
    m: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    *,
    step: int,
    learning_rate: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.004,
    mask: npt.NDArray[np.bool_ | np.uint8] | None = None,
) -> None: ...
def rmsprop_update(
    param: npt.NDArray[np.floating],
    grad: npt.NDArray[np.floating],
    velocity: npt.NDArray[np.floating],
    *,
    learning_rate: float,
    rho: float = 0.9,
    momentum: float = 0.0,
    momentum_buffer: npt.NDArray[np.floating] | None = None,
    centered: bool = False,
    mean_grad: npt.NDArray[np.floating] | None = None,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    mask: npt.NDArray[np.bool_ | np.uint8] | None = None,
) -> None: ...
def dense_backward_weight(
    x: npt.NDArray[np.floating],
    dy: npt.NDArray[np.floating],
    dw: npt.NDArray[np.floating],
    *,
    columns: npt.NDArray[np.int64] | None = None,
    rows: npt.NDArray[np.int64] | None = None,
    accumulate: bool = False,
) -> npt.NDArray[np.floating]: ...
def gather_rows(
    table: npt.NDArray[np.floating],
    indices: npt.NDArray[np.int64],
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
def scatter_add_rows(
    grad: npt.NDArray[np.floating],
    indices: npt.NDArray[np.int64],
    dtable: npt.NDArray[np.floating],
    *,
    frozen_rows: npt.NDArray[np.bool_ | np.uint8] | None = None,
) -> npt.NDArray[np.floating]: ...
