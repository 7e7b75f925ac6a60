"""Optimizer updates through the binding: Keras 3 formulas against a numpy float64
reference and torch.optim, masks that leave frozen elements bit-identical, both ISA
paths, 1 and 2 threads, counters and every argument check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core

# Each configuration: the kernel, its state arrays and its keyword arguments.
CONFIGS = {
    "sgd": ("sgd", [], dict(learning_rate=0.1)),
    "sgd_wd": ("sgd", [], dict(learning_rate=0.1, weight_decay=0.05)),
    "sgd_momentum": ("sgd", ["velocity"], dict(learning_rate=0.05, momentum=0.9)),
    "sgd_nesterov_wd": (
        "sgd",
        ["velocity"],
        dict(learning_rate=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    ),
    "adam": ("adam", ["m", "v"], dict(learning_rate=0.01)),
    "adam_wd": ("adam", ["m", "v"], dict(learning_rate=0.01, beta_1=0.8, weight_decay=0.1)),
    "adamw": ("adamw", ["m", "v"], dict(learning_rate=0.01, epsilon=1e-3)),
    "rmsprop": ("rmsprop", ["velocity"], dict(learning_rate=0.01)),
    "rmsprop_momentum": (
        "rmsprop",
        ["velocity", "momentum_buffer"],
        dict(learning_rate=0.01, momentum=0.7, rho=0.8),
    ),
    "rmsprop_centered_wd": (
        "rmsprop",
        ["velocity", "mean_grad"],
        dict(learning_rate=0.01, centered=True, weight_decay=0.02),
    ),
    "rmsprop_all": (
        "rmsprop",
        ["velocity", "momentum_buffer", "mean_grad"],
        dict(learning_rate=0.01, momentum=0.5, centered=True, weight_decay=0.02, epsilon=1e-4),
    ),
}


def call(name, w, g, states, step, mask=None):
    kind, _, kw = CONFIGS[name]
    if kind == "sgd":
        _core.sgd_update(w, g, states.get("velocity"), mask=mask, **kw)
    elif kind in ("adam", "adamw"):
        fn = _core.adam_update if kind == "adam" else _core.adamw_update
        fn(w, g, states["m"], states["v"], step=step, mask=mask, **kw)
    else:
        _core.rmsprop_update(w, g, states["velocity"], mask=mask,
                             momentum_buffer=states.get("momentum_buffer"),
                             mean_grad=states.get("mean_grad"), **kw)


def reference(name, w, g, st, step):
    """One Keras 3 step in float64 (new arrays; the same formulas as Keras's code)."""
    kind, _, kw = CONFIGS[name]
    w, g, st = w.astype(np.float64), g.astype(np.float64), {k: v.astype(np.float64)
                                                            for k, v in st.items()}
    # adamw_update defaults to Keras's AdamW weight_decay=0.004.
    lr, wd = kw["learning_rate"], kw.get("weight_decay", 0.004 if kind == "adamw" else 0.0)
    if wd:
        w = w - w * (lr * wd)
    if kind == "sgd":
        mu = kw.get("momentum", 0.0)
        if mu > 0:
            st["velocity"] = st["velocity"] * mu - g * lr
            step_w = st["velocity"] * mu - g * lr if kw.get("nesterov") else st["velocity"]
            w = w + step_w
        else:
            w = w - g * lr
    elif kind in ("adam", "adamw"):
        b1, b2 = kw.get("beta_1", 0.9), kw.get("beta_2", 0.999)
        eps = kw.get("epsilon", 1e-7)
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        st["m"] = st["m"] + (g - st["m"]) * (1 - b1)
        st["v"] = st["v"] + (g * g - st["v"]) * (1 - b2)
        w = w - st["m"] * alpha / (np.sqrt(st["v"]) + eps)
    else:
        rho, mu, eps = kw.get("rho", 0.9), kw.get("momentum", 0.0), kw.get("epsilon", 1e-7)
        st["velocity"] = rho * st["velocity"] + (1 - rho) * g * g
        den = st["velocity"] + eps
        if kw.get("centered"):
            st["mean_grad"] = rho * st["mean_grad"] + (1 - rho) * g
            den = st["velocity"] - st["mean_grad"] ** 2 + eps
        inc = lr * g / np.sqrt(den)
        if mu > 0:
            st["momentum_buffer"] = mu * st["momentum_buffer"] + inc
            w = w - st["momentum_buffer"]
        else:
            w = w - inc
    return w, st


def initial(name, shape, dtype, rng):
    """Weights and realistic starting states (second moments >= 0)."""
    w = rng.standard_normal(shape).astype(dtype)
    states = {}
    for s in CONFIGS[name][1]:
        if s in ("v", "velocity") and CONFIGS[name][0] != "sgd":
            states[s] = (rng.random(shape) + 0.5).astype(dtype)
        else:
            states[s] = (0.1 * rng.standard_normal(shape)).astype(dtype)
    return w, states


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


# ---- formulas ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (1,), (3, 37), (5, 1, 13)])
def test_matches_keras_reference(rng, isa, name, dtype, shape):
    w, st = initial(name, shape, dtype, rng)
    rw, rst = w.astype(np.float64), {k: v.astype(np.float64) for k, v in st.items()}
    for step in range(1, 6):
        g = rng.standard_normal(shape).astype(dtype)
        call(name, w, g, st, step)
        rw, rst = reference(name, rw, g, rst, step)
        np.testing.assert_allclose(w, rw, **tol(dtype))
        for k in st:
            np.testing.assert_allclose(st[k], rst[k], **tol(dtype), err_msg=k)
    assert w.dtype == dtype


@pytest.mark.parametrize("name", list(CONFIGS))
def test_threads_and_isa_paths_are_bit_identical(rng, name):
    """No FMA in either path and every element on its own: the results cannot depend on
    the path or the thread count, so they are compared bit for bit."""
    n = 3 * 32768 + 5  # several chunks, a vector tail
    w0, st0 = initial(name, (n,), np.float32, rng)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    results = []
    before = (pyfrozen.get_isa(), pyfrozen.get_num_threads())
    try:
        for isa in pyfrozen.supported_isas():
            for nt in (1, 2):
                pyfrozen.set_isa(isa)
                pyfrozen.set_num_threads(nt)
                w, st = w0.copy(), {k: v.copy() for k, v in st0.items()}
                for step, g in enumerate(grads, 1):
                    call(name, w, g, st, step)
                results.append([w.tobytes()] + [st[k].tobytes() for k in sorted(st)])
    finally:
        pyfrozen.set_isa(before[0])
        pyfrozen.set_num_threads(before[1])
    assert all(r == results[0] for r in results[1:])


def test_weight_decay_zero_leaves_special_weights_alone(isa):
    # w - w * 0 would turn -0.0 into +0.0 and Inf into NaN: weight_decay=0 skips the line.
    w = np.array([-0.0, np.inf, -np.inf, 1.0], np.float32)
    _core.sgd_update(w, np.zeros(4, np.float32), learning_rate=0.1, weight_decay=0.0)
    assert w.view(np.uint32).tolist() == np.array([-0.0, np.inf, -np.inf, 1.0],
                                                  np.float32).view(np.uint32).tolist()


def test_nesterov_without_momentum_is_plain_sgd(rng):
    w, g = rng.standard_normal(9), rng.standard_normal(9)
    w2 = w.copy()
    _core.sgd_update(w, g, learning_rate=0.1, nesterov=True)
    _core.sgd_update(w2, g, learning_rate=0.1)
    assert w.tobytes() == w2.tobytes()


# ---- torch.optim as an oracle (float64) ------------------------------------------------


def torch_run(torch, opt_cls, w0, grads, per_step=None, **kw):
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = opt_cls([p], foreach=False, **kw)
    for t, g in enumerate(grads, 1):
        if per_step:
            per_step(opt, t)
        p.grad = torch.from_numpy(g.copy())
        opt.step()
    return p.detach().numpy(), opt.state[p]


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_torch(torch, rng, isa, nesterov):
    # torch keeps b = mu*b + g and steps w -= lr*b; Keras keeps v = -lr*b: convert.
    lr, mu = 0.05, 0.9
    w0 = rng.standard_normal(50)
    grads = [rng.standard_normal(50) for _ in range(6)]
    want, state = torch_run(torch, torch.optim.SGD, w0, grads, lr=lr, momentum=mu,
                            nesterov=nesterov)
    w, v = w0.copy(), np.zeros(50)
    for g in grads:
        _core.sgd_update(w, g, v, learning_rate=lr, momentum=mu, nesterov=nesterov)
    np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v, -lr * state["momentum_buffer"].numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("adamw", [False, True])
def test_adam_matches_torch_with_epsilon_converted(torch, rng, isa, adamw):
    # Keras adds epsilon to sqrt(v), torch to sqrt(v_hat) = sqrt(v) / sqrt(1 - b2^t):
    # torch with eps_t = epsilon / sqrt(1 - b2^t) at step t is the same formula.
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.99, 1e-3, 0.05
    w0 = rng.standard_normal(40)
    grads = [rng.standard_normal(40) for _ in range(6)]

    def set_eps(opt, t):
        opt.param_groups[0]["eps"] = eps / np.sqrt(1 - b2**t)

    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    want, state = torch_run(torch, cls, w0, grads, per_step=set_eps, lr=lr, betas=(b1, b2),
                            weight_decay=wd if adamw else 0.0)
    w, m, v = w0.copy(), np.zeros(40), np.zeros(40)
    fn = _core.adamw_update if adamw else _core.adam_update
    for t, g in enumerate(grads, 1):
        fn(w, g, m, v, step=t, learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps,
           weight_decay=wd if adamw else 0.0)
    np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("momentum", [0.0, 0.6])
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_matches_torch_with_zero_epsilon(torch, rng, isa, momentum, centered):
    # Keras puts epsilon inside the square root, torch outside: they agree at epsilon=0.
    # With momentum torch keeps b = mu*b + g/sqrt(d) and steps w -= lr*b: Keras keeps lr*b.
    lr, rho = 0.01, 0.8
    w0 = rng.standard_normal(30)
    grads = [rng.standard_normal(30) for _ in range(6)]
    want, state = torch_run(torch, torch.optim.RMSprop, w0, grads, lr=lr, alpha=rho, eps=0.0,
                            momentum=momentum, centered=centered)
    w, vel = w0.copy(), np.zeros(30)
    mom = np.zeros(30) if momentum else None
    mg = np.zeros(30) if centered else None
    for g in grads:
        _core.rmsprop_update(w, g, vel, learning_rate=lr, rho=rho, momentum=momentum,
                             momentum_buffer=mom, centered=centered, mean_grad=mg, epsilon=0.0)
    np.testing.assert_allclose(w, want, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(vel, state["square_avg"].numpy(), rtol=1e-12, atol=1e-14)
    if momentum:
        np.testing.assert_allclose(mom, lr * state["momentum_buffer"].numpy(), rtol=1e-11)
    if centered:
        np.testing.assert_allclose(mg, state["grad_avg"].numpy(), rtol=1e-12, atol=1e-14)


# ---- masks ---------------------------------------------------------------------------


def masked_setup(name, n, dtype, rng):
    """Weights, states, a mask with scattered, fully frozen and fully trainable runs,
    and gradients with NaN, +-Inf and -0.0 at frozen positions."""
    w, st = initial(name, (n,), dtype, rng)
    mask = rng.random(n) < 0.5
    mask[:1000] = True  # whole vectors frozen: skipped without a store
    mask[1000:2000] = False
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1e30], dtype)
    frozen_idx = np.flatnonzero(mask)
    w[frozen_idx[::7]] = -0.0
    w[frozen_idx[3::11]] = np.nan
    for arr in st.values():
        arr[frozen_idx[1::9]] = -0.0
    grads = []
    for k in range(4):
        g = rng.standard_normal(n).astype(dtype)
        g[frozen_idx] = specials[(frozen_idx + k) % len(specials)]
        grads.append(g)
    return w, st, mask, grads


MASKED = ["sgd_wd", "sgd_nesterov_wd", "sgd_momentum", "adam_wd", "adamw", "rmsprop_momentum",
          "rmsprop_all"]


@pytest.mark.parametrize("threads", [1], indirect=True)
@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_elements_bit_identical_after_100_steps(rng, isa, threads, name, dtype):
    check_masked_run(rng, name, dtype)


# Two threads on a shared 2-core machine cost a scheduler slice per region: a subset.
@pytest.mark.parametrize("threads", [2], indirect=True)
@pytest.mark.parametrize("name", ["sgd_nesterov_wd", "adam_wd", "rmsprop_all"])
def test_masked_two_threads_100_steps(rng, isa, threads, name):
    check_masked_run(rng, name, np.float32)


def check_masked_run(rng, name, dtype):
    n = 70001  # > 2 chunks of the thread split, odd tail
    w0, st0, mask, grads = masked_setup(name, n, dtype, rng)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    w, st = w0.copy(), {k: v.copy() for k, v in st0.items()}
    wu, stu = w0.copy(), {k: v.copy() for k, v in st0.items()}  # the same, unmasked
    for step in range(1, 101):
        g = grads[step % 4]
        call(name, w, g, st, step, mask=mask.view(np.uint8) if step % 2 else mask)
        call(name, wu, g, stu, step)
    for arr, start, free in [(w, w0, wu)] + [(st[k], st0[k], stu[k]) for k in st]:
        assert np.array_equal(arr.view(uint)[mask], start.view(uint)[mask])
        assert np.array_equal(arr.view(uint)[~mask], free.view(uint)[~mask])
    assert np.isfinite(w[~mask]).all()  # the trainable part really trained
    assert not np.array_equal(w[~mask], w0[~mask])


def test_all_frozen_and_tails(rng, isa):
    for n in (1, 3, 7, 8, 9, 15, 33):
        w0 = rng.standard_normal(n)
        w0[0] = -0.0
        w, m, v = w0.copy(), np.full(n, -0.0), np.zeros(n)
        _core.adamw_update(w, np.full(n, np.nan), m, v, step=1, learning_rate=0.1,
                           mask=np.ones(n, bool))
        assert w.tobytes() == w0.tobytes() and m.tobytes() == np.full(n, -0.0).tobytes()
        mask = np.zeros(n, bool)
        mask[-1] = True  # only the last element of the tail is frozen
        g = rng.standard_normal(n)
        g[-1] = np.nan
        w = w0.copy()
        _core.sgd_update(w, g, learning_rate=0.5, mask=mask)
        assert w[-1:].tobytes() == w0[-1:].tobytes()
        np.testing.assert_array_equal(w[:-1], w0[:-1] - g[:-1] * 0.5)


# ---- counters --------------------------------------------------------------------------


def test_counters_name_the_optimizer_and_count_elements(rng):
    _core.reset_kernel_counts()
    for name in ("sgd", "adam", "adamw", "rmsprop"):
        w, st = initial(name, (6, 7), np.float32, rng)
        call(name, w, np.ones((6, 7), np.float32), st, 1, mask=np.ones((6, 7), bool))
        call(name, w, np.ones((6, 7), np.float32), st, 2)
    counts = {(k, p): (c, wk) for k, p, c, wk in _core.kernel_counts()}
    for kernel in ("sgd", "adam", "adamw", "rmsprop"):
        assert counts[(kernel, "update")] == (2, 84)  # frozen elements are counted too


# ---- argument checks -----------------------------------------------------------------

F = np.float32


def arrays(n=4, dtype=F):
    return np.ones(n, dtype), np.ones(n, dtype)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(learning_rate=-0.1), r"sgd: learning_rate must be finite and >= 0, got -0.1"),
        (dict(learning_rate=np.nan), r"learning_rate must be finite and >= 0, got nan"),
        (dict(learning_rate=np.inf), r"learning_rate must be finite and >= 0, got inf"),
        (dict(learning_rate=0.1, momentum=1.0), r"momentum must be in \[0, 1\), got 1"),
        (dict(learning_rate=0.1, momentum=-0.5), r"momentum must be in \[0, 1\), got -0.5"),
        (dict(learning_rate=0.1, weight_decay=-1.0), r"weight_decay must be finite and >= 0"),
        (dict(learning_rate=0.1, momentum=0.9), r"sgd: velocity is required when momentum > 0"),
    ],
)
def test_sgd_hyperparameters(kwargs, message):
    w, g = arrays()
    with pytest.raises(ValueError, match=message):
        _core.sgd_update(w, g, **kwargs)
    assert (w == 1).all()  # nothing written before the checks


def test_sgd_velocity_without_momentum():
    w, g = arrays()
    with pytest.raises(ValueError, match="velocity is given but unused: .*momentum > 0"):
        _core.sgd_update(w, g, np.zeros(4, F), learning_rate=0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(step=0), r"step must be >= 1 \(the update count including this one\), got 0"),
        (dict(step=1, beta_1=1.0), r"beta_1 must be in \[0, 1\), got 1"),
        (dict(step=1, beta_2=-0.1), r"beta_2 must be in \[0, 1\), got -0.1"),
        (dict(step=1, epsilon=-1e-7), r"epsilon must be finite and >= 0"),
        (dict(step=1, epsilon=np.inf), r"epsilon must be finite and >= 0, got inf"),
        (dict(step=1, weight_decay=np.nan), r"weight_decay must be finite and >= 0, got nan"),
    ],
)
@pytest.mark.parametrize("fn", ["adam", "adamw"])
def test_adam_hyperparameters(fn, kwargs, message):
    w, g = arrays()
    with pytest.raises(ValueError, match=f"{fn}: {message}"):
        getattr(_core, f"{fn}_update")(w, g, np.zeros(4, F), np.zeros(4, F), learning_rate=0.1,
                                       **kwargs)


def test_adam_missing_state():
    w, g = arrays()
    with pytest.raises(ValueError, match="adam: m is required"):
        _core.adam_update(w, g, None, np.zeros(4, F), step=1, learning_rate=0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rho=1.0), r"rmsprop: rho must be in \[0, 1\), got 1"),
        (dict(momentum=1.5), r"momentum must be in \[0, 1\), got 1.5"),
        (dict(epsilon=np.nan), r"epsilon must be finite and >= 0, got nan"),
        (dict(momentum=0.5), r"momentum_buffer is required when momentum > 0"),
        (dict(momentum_buffer=np.zeros(4, F)), r"momentum_buffer is given but unused"),
        (dict(centered=True), r"mean_grad is required when centered=true"),
        (dict(mean_grad=np.zeros(4, F)), r"mean_grad is given but unused"),
    ],
)
def test_rmsprop_hyperparameters_and_states(kwargs, message):
    w, g = arrays()
    with pytest.raises(ValueError, match=message):
        _core.rmsprop_update(w, g, np.zeros(4, F), learning_rate=0.1, **kwargs)


def test_rmsprop_velocity_is_required():
    w, g = arrays()
    with pytest.raises(TypeError, match="rmsprop_update: velocity must be a numpy.ndarray"):
        _core.rmsprop_update(w, g, None, learning_rate=0.1)


def test_array_checks():
    w, g = arrays()
    v = np.zeros(4, F)
    with pytest.raises(TypeError, match="sgd_update: param must be a numpy.ndarray, got list"):
        _core.sgd_update([1.0], g, learning_rate=0.1)
    with pytest.raises(TypeError, match="param must be float32 or float64.*int64"):
        _core.sgd_update(np.ones(4, np.int64), g, learning_rate=0.1)
    with pytest.raises(TypeError, match="grad must be float32 like the other arguments"):
        _core.sgd_update(w, g.astype(np.float64), learning_rate=0.1)
    with pytest.raises(TypeError, match="velocity must be float32 like the other arguments"):
        _core.sgd_update(w, g, v.astype(np.float64), learning_rate=0.1, momentum=0.5)
    with pytest.raises(ValueError, match=r"grad must have shape \(4,\) \(param \(4,\)\), got \(5"):
        _core.sgd_update(w, np.ones(5, F), learning_rate=0.1)
    with pytest.raises(ValueError, match=r"m must have shape \(4,\) \(param \(4,\)\), got \(2, 2"):
        _core.adam_update(w, g, np.zeros((2, 2), F), v, step=1, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"param \(2,\) must be C-contiguous"):
        _core.sgd_update(np.ones(4, F)[::2], np.ones(2, F), learning_rate=0.1)
    with pytest.raises(ValueError, match=r"grad \(2,\) must be C-contiguous"):
        _core.sgd_update(np.ones(2, F), np.ones(4, F)[::2], learning_rate=0.1)
    ro = np.ones(4, F)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"param is read-only"):
        _core.sgd_update(ro, g, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"v is read-only"):
        _core.adam_update(w, g, v, ro, step=1, learning_rate=0.1)


def test_aliasing_checks():
    w, g = arrays()
    buf = np.zeros(8, F)
    with pytest.raises(ValueError, match=r"param \(4,\) overlaps grad \(4,\)"):
        _core.sgd_update(w, w, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"m \(4,\) overlaps v \(4,\)"):
        _core.adam_update(w, g, buf[:4], buf[2:6], step=1, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"param \(4,\) overlaps velocity \(4,\)"):
        _core.sgd_update(w, g, w, learning_rate=0.1, momentum=0.5)
    with pytest.raises(ValueError, match=r"param \(4,\) overlaps mask \(4,\)"):
        _core.sgd_update(w, g, learning_rate=0.1, mask=w.view(np.uint8)[:4])


def test_mask_checks():
    w, g = arrays()
    with pytest.raises(TypeError, match=r"mask must be bool or uint8 \(nonzero = frozen\), "
                                        r"got int32"):
        _core.sgd_update(w, g, learning_rate=0.1, mask=np.zeros(4, np.int32))
    with pytest.raises(ValueError, match=r"mask must have shape \(4,\) \(param \(4,\)\)"):
        _core.sgd_update(w, g, learning_rate=0.1, mask=np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"mask \(4,\) must be C-contiguous"):
        _core.sgd_update(w, g, learning_rate=0.1, mask=np.zeros(8, bool)[::2])
    with pytest.raises(TypeError, match="mask must be a numpy.ndarray"):
        _core.sgd_update(w, g, learning_rate=0.1, mask=[0, 0, 0, 0])


# ---- fuzz ------------------------------------------------------------------------------


def test_fuzzed_calls_never_crash(tmp_path):
    fuzz = Path(__file__).with_name("fuzz_optimizer_calls.py")
    cmd = [sys.executable, "-m", "pytest", str(fuzz), "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", "-o", "addopts=", "-W", "error"]
    # cwd outside the checkout, so the installed pyfrozen is imported, not the sources.
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, f"fuzz exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "2 passed" in proc.stdout
