"""DataParallel under ``mpiexec -n 2`` on loopback: each test starts mpi_worker.py (one
scenario) in subprocesses with a timeout and compares what the ranks wrote with a
single process trained on the same global batches (``--plain``: no strategy at all)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pyfrozen.distributed import DataParallel

WORKER = Path(__file__).with_name("mpi_worker.py")
EXACT = Path(__file__).with_name("exact_worker.py")  # the scenarios of later fixes


def _run(args: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env=environment)


def _ranks(mpiexec: str, scenario: str, out: Path, *flags: str, worker: Path = WORKER,
           **env: str) -> subprocess.CompletedProcess:
    out.mkdir()
    return _run([mpiexec, *flags, "-n", "2", sys.executable, str(worker), scenario, str(out)],
                **env)


def _trained(mpiexec: str, tmp_path: Path, scenario: str, worker: Path = WORKER, **env: str
             ) -> tuple[dict, dict, dict]:
    """(plain run, rank 0, rank 1) of ``scenario``, each an npz as a dict."""
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = _run([sys.executable, str(worker), scenario, str(plain), "--plain"])
    assert proc.returncode == 0, proc.stderr
    proc = _ranks(mpiexec, scenario, tmp_path / "mpi", worker=worker, **env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tuple(dict(np.load(p)) for p in (plain / "rank0.npz", tmp_path / "mpi/rank0.npz",
                                            tmp_path / "mpi/rank1.npz"))


def _weights(npz: dict) -> list[np.ndarray]:
    return [npz[f"w{i}"] for i in range(sum(k.startswith("w") for k in npz))]


def _assert_same_training(plain: dict, rank0: dict, rank1: dict) -> None:
    # Every rank applies the same summed gradient: the ranks agree bit for bit.
    for a, b in zip(_weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(a, b)
    # One process adds the batch's per-sample gradients in one order, two ranks add
    # two halves and then the halves: equal to float32 rounding, not bitwise.
    for a, b in zip(_weights(plain), _weights(rank0), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for key in ("h_loss", "h_accuracy", "h_val_loss", "h_val_accuracy", "e_loss",
                "e_accuracy"):
        np.testing.assert_allclose(rank0[key], plain[key], rtol=1e-5, err_msg=key)
        np.testing.assert_array_equal(rank0[key], rank1[key])


def test_three_epochs_equal_one_process_on_the_global_batch(mpiexec, tmp_path):
    # 29 training samples in global batches of 8: the last (5) splits 3 / 2, and the
    # ranks' gradients are weighted 3/5 and 2/5; losses and metrics (fit's, validation's
    # and evaluate's after fit, each rank on its shard) are over all ranks.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "train")
    _assert_same_training(plain, rank0, rank1)
    # hidden (6x16 + 16) and head (16x3 + 3), float32, every step
    assert set(rank0["bytes"].tolist()) == {(6 * 16 + 16 + 16 * 3 + 3) * 4}


def test_buckets_start_while_backward_runs(mpiexec, tmp_path):
    # 256-byte buckets: [head bias + kernel], [hidden bias], [hidden kernel]. The head's
    # node runs first in backward: its bucket starts while the hidden layer's backward
    # still has to run; the other two wait for that last node.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "train", WORKER_BUCKET_BYTES="256")
    _assert_same_training(plain, rank0, rank1)
    assert rank0["early"].tolist() == [1] * 12


def test_a_frozen_base_sends_only_the_head(mpiexec, tmp_path):
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "frozen")
    _assert_same_training(plain, rank0, rank1)
    head = (16 * 3 + 3) * 4  # Dense(3) on the flattened 2x2x4 features
    assert rank0["bytes"].tolist() == [head] * 12  # 4 steps x 3 epochs


def test_cached_frozen_features_are_computed_from_rank_0s_weights(mpiexec, tmp_path):
    # fit(cache_frozen_features=True): the broadcast comes before the cache is filled, so
    # each rank caches rank 0's base outputs (the cache would also see the weights'
    # versions change and fill again: this proves the result, not the saved fill).
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "cached")
    _assert_same_training(plain, rank0, rank1)
    assert set(rank0["bytes"].tolist()) == {(16 * 3 + 3) * 4}


def test_masked_weights_send_only_their_trainable_rows(mpiexec, tmp_path):
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "masked")
    _assert_same_training(plain, rank0, rank1)
    # kernel rows 4-5 (2 x 16), bias 10-15 (6), head (51): nothing of the frozen part
    assert set(rank0["bytes"].tolist()) == {(2 * 16 + 6 + 51) * 4}
    kernel, bias = _weights(rank0)[:2]
    np.testing.assert_array_equal(kernel[:4], _weights(plain)[0][:4])
    np.testing.assert_array_equal(bias[:10], _weights(plain)[1][:10])


def test_a_weight_unfrozen_mid_training_joins_the_next_step(mpiexec, tmp_path):
    out = tmp_path / "mpi"
    proc = _ranks(mpiexec, "unfreeze", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head, conv2 = (16 * 3 + 3) * 4, (3 * 3 * 4 * 4 + 4) * 4
    sent = np.load(out / "rank0.npz")["bytes"].tolist()
    assert sent == [head] * 4 + [head + conv2] * 8


def test_mismatched_models_are_named_at_the_first_broadcast(mpiexec, tmp_path):
    proc = _ranks(mpiexec, "mismatch", tmp_path / "mpi")
    assert proc.returncode != 0
    assert ("differs between ranks (rank(s) [1] differ from rank 0): weight #0: rank 0 has "
            "'hidden/kernel' (6, 16) float32, rank 1 has 'hidden/kernel' (6, 17) float32"
            ) in proc.stderr


@pytest.mark.parametrize(("scenario", "flags", "message"), [
    # a crash (exit status 1): the launcher ends the job
    ("kill-crash", [], None),
    # a silent exit (status 0, no MPI_Finalize) with the launcher's cleanup off, and a
    # hang: the survivor's deadline ends the job, saying what it waited for
    ("kill-exit", ["-disable-auto-cleanup"], "did not complete within 5 s"),
    ("kill-hang", [], "did not complete within 5 s"),
], ids=["crash", "exit", "hang"])
def test_a_rank_that_dies_or_hangs_stops_the_others(mpiexec, tmp_path, scenario, flags,
                                                    message):
    start = time.monotonic()
    proc = _ranks(mpiexec, scenario, tmp_path / "mpi", *flags, WORKER_TIMEOUT="5")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert time.monotonic() - start < 60
    if message is not None:
        assert "pyfrozen.distributed: rank 0 of 2: " in proc.stderr
        assert message in proc.stderr
    assert not (tmp_path / "mpi/rank0.npz").exists()


def test_only_rank_0_prints_and_writes(mpiexec, tmp_path):
    proc = _ranks(mpiexec, "train", tmp_path / "mpi")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Epoch 1/3") == 1
    assert (tmp_path / "mpi/log0.csv").exists()
    assert not (tmp_path / "mpi/log1.csv").exists()


def test_a_custom_loop_with_broadcast_weights_and_allreduce_gradients(mpiexec, tmp_path):
    # Each rank starts from its own random weights: broadcast_weights makes them rank 0's,
    # which are those of the single process (same seed); then 3 full-batch SGD steps, and
    # a 4th whose loss is NaN on rank 1: allreduce_gradients says so on both ranks.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "loop")
    assert rank0["finite"].tolist() == rank1["finite"].tolist() == [True] * 3 + [False]
    for a, b, c in zip(_weights(plain), _weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(b, c)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_trainable_batch_norm_ends_every_epoch_with_rank_0s_statistics(mpiexec, tmp_path):
    # Local batch statistics during the epoch (the ranks' moving means drift apart), rank
    # 0's moving statistics copied at each epoch end: the ranks end bit-identical.
    out = tmp_path / "mpi"
    proc = _ranks(mpiexec, "bn", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rank0, rank1 = (dict(np.load(out / f"rank{r}.npz")) for r in (0, 1))
    for a, b in zip(_weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(_weights(rank0)) == 10  # conv, BN (gamma, beta, mean, variance), conv, head


def test_sync_batch_normalization_equals_one_process_on_the_global_batch(mpiexec, tmp_path):
    # Statistics over both ranks' rows (forward: counts, sums, squared deviations;
    # backward: the two gradient sums): the same training as one BatchNormalization on
    # the global batch, moving statistics included.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "syncbn")
    for a, b in zip(_weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_weights(plain), _weights(rank0), strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)
    for key in ("h_loss", "h_val_loss", "e_loss"):
        np.testing.assert_allclose(rank0[key], plain[key], rtol=2e-5, err_msg=key)


def test_a_non_finite_loss_on_one_rank_stops_every_rank_with_its_reason(mpiexec, tmp_path):
    proc = _ranks(mpiexec, "nan", tmp_path / "mpi")
    assert proc.returncode != 0
    assert "FloatingPointError: fit (epoch 1, batch 1)" in proc.stderr
    assert "another rank's loss is not finite" in proc.stderr  # rank 0
    assert "of the input values of shape" in proc.stderr  # rank 1 names its NaN inputs
    assert "did not complete" not in proc.stderr  # no rank was left waiting


def test_a_custom_train_step_without_allreduce_is_reported(mpiexec, tmp_path):
    proc = _ranks(mpiexec, "custom-step", tmp_path / "mpi")
    assert proc.returncode == 0, proc.stderr
    assert "the ranks' weights of model" in proc.stderr
    assert "strategy.allreduce_gradients(model)" in proc.stderr
    rank0, rank1 = (dict(np.load(tmp_path / f"mpi/rank{r}.npz")) for r in (0, 1))
    for a, b in zip(_weights(rank0), _weights(rank1), strict=True):  # rank 0's copied
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss", ["ignore", "sum", "mws", "mean"])
def test_every_loss_reduction_equals_one_process_on_the_global_batch(mpiexec, tmp_path, loss):
    # ignore_class (a mean over the valid labels: 1 of rank 0's 4, all 4 of rank 1's),
    # reduction="sum", "mean_with_sample_weight" (weights 1 on rank 0, 5 on rank 1) and
    # the default: each rank's loss counts by what it divided by, not by its samples.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, f"loss-{loss}", worker=EXACT)
    for a, b, c in zip(_weights(plain), _weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(b, c)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rank0["h_loss"], plain["h_loss"], rtol=1e-5)
    np.testing.assert_array_equal(rank0["h_loss"], rank1["h_loss"])


def test_steps_per_epoch_with_a_skipped_final_batch_runs_every_epoch(mpiexec, tmp_path):
    # 33 samples, batches of 8, 2 steps per epoch, 4 epochs: the 1-row final batch is
    # skipped under 2 ranks, so the data holds 4 batches there, not 5.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "steps", worker=EXACT)
    assert len(plain["h_loss"]) == len(rank0["h_loss"]) == len(rank1["h_loss"]) == 4
    for a, b in zip(_weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("built", ["built", "unbuilt"])
def test_the_first_step_moves_batch_norm_statistics_once(mpiexec, tmp_path, built):
    # An unbuilt model is built (inference forward), made rank 0's, then trained: one
    # training forward, so momentum 0.5 moves the statistics once, as one process does.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, f"bn-{built}", worker=EXACT)
    np.testing.assert_array_equal(rank0["moving_mean"], rank1["moving_mean"])
    np.testing.assert_allclose(rank0["moving_mean"], plain["moving_mean"], rtol=1e-5,
                               atol=1e-6)
    for a, b in zip(_weights(plain), _weights(rank0), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_a_layer_built_on_rank_0_alone_does_not_desynchronise_the_ranks(mpiexec, tmp_path):
    # A chief-only callback builds a Dense at each epoch end: the model's own weights
    # are unchanged, so no rank prepares it again (rank 0 alone used to, and the
    # structure check's collectives met the step's on rank 1).
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "chief-builds", worker=EXACT)
    for a, b, c in zip(_weights(plain), _weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(b, c)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rank0["h_loss"], plain["h_loss"], rtol=1e-5)


def test_evaluate_before_fit_on_an_unbuilt_model_uses_rank_0s_weights(mpiexec, tmp_path):
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "evaluate-unbuilt", worker=EXACT)
    for a, b, c in zip(_weights(plain), _weights(rank0), _weights(rank1), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    np.testing.assert_allclose(rank0["e_loss"], plain["e_loss"], rtol=1e-6)


def test_each_rank_draws_its_own_dropout_masks(mpiexec, tmp_path):
    # Both ranks seeded with 3: fit's epoch start folds the rank into the dropout
    # generator, so the shards get different noise (and the same on every run).
    masks = []
    for run in ("a", "b"):
        proc = _ranks(mpiexec, "dropout", tmp_path / run, worker=EXACT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        masks.append([np.load(tmp_path / run / f"rank{r}.npz")["mask"] for r in (0, 1)])
    assert (masks[0][0] != masks[0][1]).any()
    np.testing.assert_array_equal(masks[0][0], masks[1][0])
    np.testing.assert_array_equal(masks[0][1], masks[1][1])


def test_a_rank_that_never_makes_its_strategy_is_reported_at_start_up(mpiexec, tmp_path):
    # The communicator's Dup would wait forever: a barrier with the deadline comes first.
    start = time.monotonic()
    proc = _ranks(mpiexec, "startup-hang", tmp_path / "mpi", worker=EXACT)
    assert proc.returncode != 0
    assert time.monotonic() - start < 15
    assert ("rank 0 of 2: the start-up (every rank making its DataParallel) did not "
            "complete within 3 s") in proc.stderr


def test_rank_0_evaluates_alone_inside_strategy_local(mpiexec, tmp_path):
    # evaluate is a collective under a strategy (rank 0 alone would wait for rank 1 until
    # the timeout); inside strategy.local(model) it runs on rank 0's data alone.
    plain, rank0, rank1 = _trained(mpiexec, tmp_path, "evaluate-local", worker=EXACT)
    np.testing.assert_allclose(rank0["e_loss"], plain["e_loss"], rtol=1e-6)
    assert np.isnan(rank1["e_loss"])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"timeout": 0}, "timeout must be > 0 seconds. Received: 0"),
    ({"bucket_bytes": 0}, "bucket_bytes must be an integer >= 1. Received: bucket_bytes=0"),
    ({"bucket_bytes": 1.5}, "bucket_bytes must be an integer >= 1"),
])
def test_bad_strategy_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):  # checked before MPI starts
        DataParallel(**kwargs)
