"""Type stubs for pyfrozen._core, the pybind11 module over the C++ core."""

import numpy as np
import numpy.typing as npt

def version() -> str: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def max_num_threads() -> int: ...
def has_openmp() -> bool: ...
def set_isa(name: str) -> None: ...
def get_isa() -> str: ...
def detected_isa() -> str: ...
def supported_isas() -> list[str]: ...
def cache_sizes() -> dict[str, int]: ...
def output_cache_info() -> dict[str, int]: ...
def set_output_cache_limit(bytes: int) -> None: ...
def empty_output_cache() -> None: ...
def gemm_blocking(dtype: str = "float32") -> dict[str, int]: ...
def kernel_counts(this_thread: bool = False) -> list[tuple[str, str, int, int]]: ...
def reset_kernel_counts() -> None: ...
def count_kernel(kernel: str, pass_: str, work: int) -> None: ...
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
def batchnorm_forward_training(
    x: npt.NDArray[np.floating],
    gamma: npt.NDArray[np.floating] | None,
    beta: npt.NDArray[np.floating] | None,
    *,
    epsilon: float = 1e-3,
    momentum: float = 0.99,
    running_mean: npt.NDArray[np.floating] | None = None,
    running_var: npt.NDArray[np.floating] | None = None,
    out: npt.NDArray[np.floating] | None = None,
    activation: str = "none",
    affine_out: npt.NDArray[np.floating] | None = None,
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating], npt.NDArray[np.floating]]: ...
def batchnorm_forward_inference(
    x: npt.NDArray[np.floating],
    gamma: npt.NDArray[np.floating] | None,
    beta: npt.NDArray[np.floating] | None,
    running_mean: npt.NDArray[np.floating],
    running_var: npt.NDArray[np.floating],
    *,
    epsilon: float = 1e-3,
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
def batchnorm_backward_training(
    dy: npt.NDArray[np.floating],
    x: npt.NDArray[np.floating] | None,
    gamma: npt.NDArray[np.floating] | None,
    mean: npt.NDArray[np.floating] | None,
    inv_std: npt.NDArray[np.floating] | None,
    *,
    need_dx: bool = True,
    need_dgamma: bool = True,
    need_dbeta: bool = True,
    y: npt.NDArray[np.floating] | None = None,
    activation: str = "none",
    affine: npt.NDArray[np.floating] | None = None,
) -> tuple[
    npt.NDArray[np.floating] | None,
    npt.NDArray[np.floating] | None,
    npt.NDArray[np.floating] | None,
]: ...
def batchnorm_backward_inference(
    dy: npt.NDArray[np.floating],
    x: npt.NDArray[np.floating] | None,
    gamma: npt.NDArray[np.floating] | None,
    running_mean: npt.NDArray[np.floating],
    running_var: npt.NDArray[np.floating],
    *,
    epsilon: float = 1e-3,
    need_dx: bool = True,
    need_dgamma: bool = True,
    need_dbeta: bool = True,
) -> tuple[
    npt.NDArray[np.floating] | None,
    npt.NDArray[np.floating] | None,
    npt.NDArray[np.floating] | None,
]: ...
def conv2d_forward(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None = None,
    out: npt.NDArray[np.floating] | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    padding: str | tuple[int, int, int, int] = "valid",
    groups: int = 1,
    scale: npt.NDArray[np.floating] | None = None,
    shift: npt.NDArray[np.floating] | None = None,
    activation: str = "none",
) -> npt.NDArray[np.floating]: ...
def conv2d_backward_input(
    dy: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
    *,
    input_shape: tuple[int, int, int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    padding: str | tuple[int, int, int, int] = "valid",
    groups: int = 1,
) -> npt.NDArray[np.floating]: ...
def conv2d_backward_weight(
    x: npt.NDArray[np.floating],
    dy: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
    *,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    padding: str | tuple[int, int, int, int] = "valid",
    groups: int = 1,
    channels: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.floating]: ...
def conv2d_backward_bias(
    dy: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
def conv2d_padding(
    h: int,
    w: int,
    kh: int,
    kw: int,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    padding: str = "valid",
) -> tuple[int, int, int, int]: ...
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
