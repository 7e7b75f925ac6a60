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
def bias_act_forward(
    x: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None = None,
    out: npt.NDArray[np.floating] | None = None,
    *,
    activation: str = "relu",
) -> npt.NDArray[np.floating]: ...
def bias_act_backward(
    dy: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    *,
    activation: str,
    need_dx: bool = True,
    need_dbias: bool = True,
) -> tuple[npt.NDArray[np.floating] | None, npt.NDArray[np.floating] | None]: ...
def softmax(
    x: npt.NDArray[np.floating], out: npt.NDArray[np.floating] | None = None
) -> npt.NDArray[np.floating]: ...
def log_softmax(
    x: npt.NDArray[np.floating], out: npt.NDArray[np.floating] | None = None
) -> npt.NDArray[np.floating]: ...
def softmax_backward(
    dy: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
def log_softmax_backward(
    dy: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
def softmax_cross_entropy(
    logits: npt.NDArray[np.floating],
    labels: npt.NDArray[np.int64] | npt.NDArray[np.floating],
    *,
    need_grad: bool = True,
) -> tuple[float, npt.NDArray[np.floating] | None]: ...
def binary_cross_entropy(
    pred: npt.NDArray[np.floating],
    target: npt.NDArray[np.floating],
    *,
    from_logits: bool = False,
    need_grad: bool = True,
) -> tuple[float, npt.NDArray[np.floating] | None]: ...
def mse(
    pred: npt.NDArray[np.floating],
    target: npt.NDArray[np.floating],
    *,
    need_grad: bool = True,
) -> tuple[float, npt.NDArray[np.floating] | None]: ...
def max_pool2d_forward(
    x: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: str | tuple[tuple[int, int], tuple[int, int]] = "valid",
) -> npt.NDArray[np.floating]: ...
def max_pool2d_backward(
    dy: npt.NDArray[np.floating],
    x: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: str | tuple[tuple[int, int], tuple[int, int]] = "valid",
) -> npt.NDArray[np.floating]: ...
def avg_pool2d_forward(
    x: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: str | tuple[tuple[int, int], tuple[int, int]] = "valid",
) -> npt.NDArray[np.floating]: ...
def avg_pool2d_backward(
    dy: npt.NDArray[np.floating],
    input_shape: tuple[int, int, int, int],
    out: npt.NDArray[np.floating] | None = None,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: str | tuple[tuple[int, int], tuple[int, int]] = "valid",
) -> npt.NDArray[np.floating]: ...
def global_avg_pool_forward(
    x: npt.NDArray[np.floating], out: npt.NDArray[np.floating] | None = None
) -> npt.NDArray[np.floating]: ...
def global_avg_pool_backward(
    dy: npt.NDArray[np.floating],
    input_shape: tuple[int, int, int, int],
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
