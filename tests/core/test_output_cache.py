"""The cache of freed kernel-output blocks (csrc/python/array_cache.*): reuse, limits,
lifetime of views, threads, and that every kernel writes all of an output it is handed
(reused blocks poisoned with NaN give the same bits as fresh ones)."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core, gemm, layers, losses, optimizers

BIG = 512  # a 512 x 512 float32 output: 1 MiB, cached (the cache starts at 256 KiB)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache at the default limit and leaves it so."""
    limit = pyfrozen.output_cache_info()["limit_bytes"]
    pyfrozen.empty_output_cache()
    yield
    _core._set_output_cache_poison(False)
    pyfrozen.set_output_cache_limit(limit)
    pyfrozen.empty_output_cache()


def info() -> dict[str, int]:
    return pyfrozen.output_cache_info()


def square(rng, n=BIG, dtype=np.float32):
    return rng.standard_normal((n, n)).astype(dtype)


def test_a_freed_output_serves_the_next_one(rng):
    a = square(rng)
    c = gemm(a, a)
    before = info()
    assert before["held_bytes"] == 0
    ptr = c.ctypes.data
    del c
    assert info()["held_blocks"] == 1 and info()["held_bytes"] >= BIG * BIG * 4
    c = gemm(a, a)
    after = info()
    assert after["hits"] == before["hits"] + 1 and after["held_blocks"] == 0
    assert c.ctypes.data == ptr  # the very block
    np.testing.assert_allclose(c, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-3)
    assert c.flags.c_contiguous and c.flags.writeable and c.flags.owndata is False


def test_a_block_serves_requests_down_to_half_its_size(rng):
    a = square(rng)
    gemm(a, a)  # dropped at once: one 1 MiB block in the cache
    half = rng.standard_normal((BIG // 2, BIG)).astype(np.float32)  # 0.5 MiB result
    quarter = rng.standard_normal((BIG // 4, BIG)).astype(np.float32)  # 0.25 MiB
    hits = info()["hits"]
    small = gemm(quarter, a)  # too small for the block: a fresh one
    assert info()["hits"] == hits and info()["held_blocks"] == 1
    fits = gemm(half, a)
    assert info()["hits"] == hits + 1 and info()["held_blocks"] == 0
    assert small.shape == (BIG // 4, BIG) and fits.shape == (BIG // 2, BIG)


def test_small_outputs_bypass_the_cache(rng):
    a = square(rng, 64)  # 16 KiB
    before = info()
    for _ in range(3):
        gemm(a, a)
    after = info()
    assert (after["hits"], after["misses"], after["held_bytes"]) == (
        before["hits"], before["misses"], 0)


def test_the_limit_bounds_what_is_held(rng):
    a = square(rng)
    outs = [gemm(a, a) for _ in range(4)]  # four 1 MiB blocks in use
    pyfrozen.set_output_cache_limit(3 << 20)
    del outs
    held = info()
    assert held["held_blocks"] == 3 and held["held_bytes"] <= 3 << 20
    pyfrozen.set_output_cache_limit(1 << 20)  # evicts the oldest down to the limit
    assert info()["held_blocks"] == 1
    pyfrozen.set_output_cache_limit(0)  # nothing kept
    assert info()["held_bytes"] == 0
    gemm(a, a)
    assert info()["held_bytes"] == 0


def test_empty_output_cache_frees_every_block(rng):
    a = square(rng)
    kept = gemm(a, a)
    gemm(a, a)
    gemm(a * 2, a)
    assert info()["held_blocks"] == 1  # the two temporaries took turns with one block
    pyfrozen.empty_output_cache()
    assert info()["held_bytes"] == 0 and info()["held_blocks"] == 0
    np.testing.assert_allclose(kept, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-3)


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="set_output_cache_limit: bytes must be >= 0, got -1"):
        pyfrozen.set_output_cache_limit(-1)


def test_a_view_keeps_its_block_out_of_the_cache(rng):
    a = square(rng)
    c = gemm(a, a)
    want = c[100:].copy()
    view = c[100:]
    del c
    assert info()["held_bytes"] == 0  # the view still owns the block
    other = gemm(a * 3, a)  # may not take the view's block
    np.testing.assert_array_equal(view, want)
    del view
    assert info()["held_blocks"] == 1
    assert other.shape == (BIG, BIG)


def test_outputs_pickle_and_copy_like_any_array(rng):
    a = square(rng)
    c = gemm(a, a)
    for clone in (pickle.loads(pickle.dumps(c)), c.copy()):
        np.testing.assert_array_equal(clone, c)
        assert clone.ctypes.data != c.ctypes.data


def test_threads_get_their_own_blocks(rng):
    """Two threads making and dropping large outputs at once: every result right."""
    mats = [square(rng) for _ in range(2)]
    want = [m.astype(np.float64) @ m for m in mats]
    errors: list[str] = []

    def work(i: int) -> None:
        for _ in range(20):
            got = gemm(mats[i], mats[i])
            if not np.allclose(got, want[i], rtol=1e-4, atol=1e-3):
                errors.append(f"thread {i}: wrong product")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert info()["held_bytes"] <= info()["limit_bytes"]


def small_net(seed: int) -> pyfrozen.Model:
    pyfrozen.utils.set_random_seed(seed)
    model = pyfrozen.Sequential([
        layers.Input((32, 32, 3)),
        layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(6.0),
        layers.DepthwiseConv2D(3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(6.0),
        layers.Conv2D(32, 1, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10),
    ])
    model.compile(optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def run_net(rng_seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(rng_seed)
    x = rng.uniform(-1, 1, (64, 32, 32, 3)).astype(np.float32)  # 16x16x16 maps: 1 MiB
    y = rng.integers(0, 10, 64)
    model = small_net(0)
    for _ in range(3):
        model.train_on_batch(x, y)
    return [w.numpy() for w in model.weights] + [np.asarray(model.predict_on_batch(x))]


def test_kernels_write_every_value_of_a_reused_block(isa):
    """A kernel that read its output before writing it would see NaN in a poisoned
    block: training and predicting give the same bits with reused, poisoned blocks."""
    pyfrozen.set_output_cache_limit(0)
    fresh = run_net(1)
    pyfrozen.set_output_cache_limit(64 << 20)
    _core._set_output_cache_poison(True)
    run_net(2)  # fills the cache with blocks of every size the net makes
    hits = info()["hits"]
    reused = run_net(1)
    assert info()["hits"] > hits + 20  # the run really took cached blocks
    for a, b in zip(fresh, reused, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_large_weight_gradient_is_the_kernels_block_not_a_copy(rng):
    """The tape keeps an exclusively owned gradient as it is: a kernel's output (capsule
    base) qualifies, so a 1 MiB convolution kernel gradient is not copied."""
    conv = layers.Conv2D(512, 1, use_bias=False)
    x = pyfrozen.tensor(rng.standard_normal((8, 4, 4, 512)).astype(np.float32))
    conv(x).sum().backward()
    g = conv.kernel.grad.numpy()
    assert g.shape == (1, 1, 512, 512)
    assert not g.flags.owndata and not isinstance(g.base, np.ndarray)  # the kernel's block
    want = np.einsum("nhwc,nhwo->co", x.numpy().astype(np.float64), np.ones((8, 4, 4, 512)))
    np.testing.assert_allclose(g[0, 0], want, rtol=1e-5, atol=1e-4)


def misaligned(shape):
    """A writeable float32 array whose data starts one byte past an element boundary."""
    n = int(np.prod(shape))
    return np.frombuffer(bytearray(4 * n + 1), np.float32, count=n, offset=1).reshape(shape)


def test_every_out_argument_is_checked_alike(rng):
    """One out= check for every binding: alignment and overlap, in place where allowed."""
    x = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    c = np.ones(3, np.float32)
    calls = {  # op: (call with out, out's shape)
        "batchnorm_forward_inference": (
            lambda out: _core.batchnorm_forward_inference(x, c, c, c, c, out=out), x.shape),
        "softmax": (lambda out: _core.softmax(x.reshape(8, 12), out=out), (8, 12)),
        "global_avg_pool_forward": (lambda out: _core.global_avg_pool_forward(x, out=out), (2, 3)),
        "conv2d_forward": (lambda out: _core.conv2d_forward(
            x, np.ones((1, 1, 3, 3), np.float32), out=out), x.shape),
    }
    for op, (call, shape) in calls.items():
        with pytest.raises(ValueError, match=f"{op}: out .* is not aligned to its element size"):
            call(misaligned(shape))
        with pytest.raises(ValueError, match=f"{op}: out .* overlaps x"):
            call(x.reshape(-1)[:int(np.prod(shape))].reshape(shape))  # x's own memory
    y = x.reshape(8, 12).copy()
    want = np.maximum(y, 0)
    assert _core.bias_act_forward(y, None, out=y) is y  # exactly its input: allowed in place
    np.testing.assert_array_equal(y, want)
    with pytest.raises(ValueError, match="bias_act_forward: out .* overlaps x"):
        _core.bias_act_forward(y[1:], None, out=y[:-1])  # shifted by a row: not in place
