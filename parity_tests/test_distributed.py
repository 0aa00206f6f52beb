"""Data-parallel training on ``torch.distributed``: 2 ranks on 127.0.0.1 (gloo) take the optimiser steps of one
process on the global batches, so their float64 weights equal a one-process torch run to 1e-12 and the scratch
backend's run to the trajectory tolerance; a resume reads rank 0's checkpoint on every rank; a failing rank ends
the job promptly with its message; ``--distributed`` outside torchrun, with the scratch backend, or with batches
too small to split, is a clear error. Each torchrun job runs under a time limit and is killed (its whole process
group) if it overruns."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dlfs
from dlfs.sharding import ShardedOrder, check_shardable, shard_bounds
from dlfs.tolerances import Tol
from dlfs.training import BatchOrder
from parity_tests import distributed_worker as worker
from study.parity import compare

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 90  # one torchrun job: start-up (two Python processes importing torch, gloo) is a few seconds here
SAME_STEPS = Tol(1e-12, 0.0, "float64, the same steps on 2 ranks as on 1: sums over the batch in another order")
TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                "TORCHELASTIC_RUN_ID", "GROUP_RANK")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, nproc: int = 2, limit_s: float = LIMIT_S) -> tuple[int, str, float]:
    """``python -m torch.distributed.run`` on 127.0.0.1 with ``args``; (exit code, output, seconds). The job runs in
    a session of its own, killed whole when it overruns ``limit_s`` (then the test fails with its output). A port
    taken between choosing it and binding it (another test worker) is retried with another."""
    for _ in range(3):
        code, out, seconds = _torchrun_once(args, nproc, limit_s)
        if code == 0 or "address already in use" not in out.lower():
            break
    return code, out, seconds


def _torchrun_once(args: tuple[str, ...], nproc: int, limit_s: float) -> tuple[int, str, float]:
    # the CPU and gloo, whatever the lane: the GPU lane's DLFS_TORCH_DEVICE would want a GPU per rank
    env = {k: v for k, v in os.environ.items() if k not in (*TORCHRUN_ENV, "DLFS_TORCH_DEVICE")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--nnodes", "1",
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun ran past {limit_s} s and was killed: {' '.join(cmd)}\n{out[-4000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, time.perf_counter() - t0


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The worker's runs on 2 ranks: each rank's saved weights and histories."""
    out = tmp_path_factory.mktemp("ddp")
    code, log, _ = torchrun("-m", "parity_tests.distributed_worker", "--out", str(out))
    assert code == 0, log[-4000:]
    return out, [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


# --- the same steps as one process ------------------------------------------------------------------------------
def test_two_ranks_take_the_steps_of_one_process(two_ranks):
    """One torchrun job (the slow part) for all three runs: a dense network split unevenly, a CNN, a resume."""
    out, (r0, r1) = two_ranks
    for key in r0:  # every rank holds the same weights and the same (all-reduced) history
        if key not in ("main_process", "mismatch"):
            np.testing.assert_array_equal(r0[key], r1[key], err_msg=key)
    for r in (r0, r1):  # another seed on rank 1: every rank refuses to start, naming the difference
        assert "rank 1 would not start the same run as rank 0 (seed: 5 vs 6)" in str(r["mismatch"])
    assert bool(r0["main_process"][0]) and not bool(r1["main_process"][0]) and int(r0["world_size"][0]) == 2
    for name in ("dense", "cnn"):
        _same_as_one_process(r0, name)
    # a resume under torchrun: every rank read rank 0's checkpoint (the only writer) and finished the run
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint.npz"]
    for k in (k for k in r0 if k.startswith("dense/")):  # interrupted in epoch 3: the uninterrupted run, bit for bit
        np.testing.assert_array_equal(r0[k.replace("dense/", "resumed/")], r0[k], err_msg=k)


def _same_as_one_process(r0: dict, name: str) -> None:
    torch_w, torch_h = worker.single_process(dlfs.backend("torch"), name)
    scratch_w, scratch_h = worker.single_process(dlfs.backend("scratch"), name)
    for k in torch_w:
        compare(f"{name} {k} vs one torch process", r0[f"{name}/{k}"], torch_w[k], tol=SAME_STEPS)
        compare(f"{name} {k} vs scratch", r0[f"{name}/{k}"], scratch_w[k], "trajectory", "float64")
    for h in ("train_loss", "val_loss", "step_loss", "lr"):  # the global batches' losses, every evaluation
        compare(f"{name} history {h}", r0[f"{name}/history/{h}"], np.asarray(getattr(torch_h, h)), tol=SAME_STEPS,
                check_dtype=False)
        compare(f"{name} history {h} vs scratch", r0[f"{name}/history/{h}"], np.asarray(getattr(scratch_h, h)),
                "trajectory", "float64", check_dtype=False)


def test_the_split_of_a_batch():
    for size in (1, 2, 7, 27, 60):
        for world in range(1, min(size, 4) + 1):
            bounds = [shard_bounds(size, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == size  # contiguous, in rank order, every row once
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert max(h - lo for lo, h in bounds) - min(h - lo for lo, h in bounds) <= 1
    order = ShardedOrder(BatchOrder(45, 7, seed=5), rank=1, world=2)
    full = list(BatchOrder(45, 7, seed=5))
    for idx, batch in zip(order, full):  # rank 1's rows of every global batch, in the global order
        assert idx == batch[len(batch) - len(idx):] and order.shard.size == len(batch)
    assert (order.shard.lo, order.shard.hi, order.shard.weight) == (2, 3, 1 / 3)  # the last batch, 3 rows: 2/1


def test_a_batch_smaller_than_the_world_is_refused():
    check_shardable(45, 7, 2)  # 7 = 4 + 3, and the last batch of 3 = 2 + 1: uneven, allowed (weighted)
    with pytest.raises(ValueError, match=r"batch_size=1 has 1 sample\(s\), fewer than the 2 processes"):
        check_shardable(10, 1, 2)
    with pytest.raises(ValueError, match=r"the last batch of every epoch \(61 samples = 1 x 60 \+ 1\) has 1"):
        check_shardable(61, 60, 2)


# --- failures ---------------------------------------------------------------------------------------------------
def test_a_failing_rank_ends_the_job_promptly_with_its_message(tmp_path):
    code, log, seconds = torchrun("-m", "parity_tests.distributed_worker", "--out", str(tmp_path),
                                  "--fail-at-step", "3")
    assert code != 0
    assert f"{worker.FAIL_MESSAGE} 3" in log  # rank 1's exception, in its traceback and in torchrun's summary
    assert "ChildFailedError" in log and seconds < 45  # the surviving rank is stopped, not left to hang


def _no_torchrun(monkeypatch):
    for k in TORCHRUN_ENV:
        monkeypatch.delenv(k, raising=False)


def test_distributed_outside_torchrun_shows_the_command(monkeypatch, capsys):
    _no_torchrun(monkeypatch)
    from torch_impl.distributed import DistributedSetupError

    T = dlfs.backend("torch")
    net, opt = worker.build(T, "dense")
    with pytest.raises(DistributedSetupError, match=r"started by torchrun.*\n    torchrun --nproc-per-node 2 "):
        T.Trainer(net, opt, distributed=True)
    from experiments import char_lstm, cnn

    for name, main in (("cnn", cnn.main), ("char_lstm", char_lstm.main)):
        with pytest.raises(SystemExit) as e:
            main(["--backend", "torch", "--distributed", "--out", "unused", "--no-progress"])
        err = capsys.readouterr().err
        assert e.value.code == 2
        assert f"torchrun --nproc-per-node 2 -m experiments.{name} --backend torch --distributed" in err
        assert "RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT" in err


def test_distributed_is_the_torch_backends_only(monkeypatch, capsys):
    S = dlfs.backend("scratch")
    net, opt = worker.build(S, "dense")
    with pytest.raises(ValueError, match="the scratch backend trains in one process on purpose"):
        S.Trainer(net, opt, distributed=True)
    with pytest.raises(TypeError, match="distributed: expected True or False"):
        S.Trainer(net, opt, distributed="yes")
    from experiments import cnn

    for backend in ("both", "scratch"):
        with pytest.raises(SystemExit):
            cnn.main(["--backend", backend, "--distributed", "--out", "unused"])
        assert "--distributed trains the torch backend only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cnn.main(["--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines (at hyphens too)
    assert "torchrun--nproc-per-node2-mexperiments.cnn--backendtorch--distributed" in text


def test_only_the_main_process_writes_checkpoints(tmp_path):
    T = dlfs.backend("torch")
    net, opt = worker.build(T, "dense")
    trainer = T.Trainer(net, opt)
    trainer.is_main_process = False  # as rank 1 of a distributed run
    trainer.fit(**worker.fit_args("dense"), checkpoint_dir=tmp_path / "ckpt", progress=True)
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())


# --- an experiment under torchrun -------------------------------------------------------------------------------
def test_torchrun_trains_the_character_model_like_one_process(tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text(("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n") * 8)
    args = ["--text", str(text), "--hidden", "8", "--steps", "6", "--batch-size", "5", "--eval-every", "3",
            "--sample-len", "10", "--prompt", "All", "--dtype", "float64", "--no-progress", "--backend", "torch"]
    code, log, _ = torchrun("-m", "experiments.char_lstm", *args, "--distributed", "--out", str(tmp_path / "ddp"))
    assert code == 0, log[-4000:]
    assert log.count("--- torch sample") == 1  # rank 0 prints, rank 1 keeps quiet
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["torch"]
    from experiments import char_lstm

    one = char_lstm.main([*args, "--out", str(tmp_path / "one")])["torch"]
    assert ddp["processes"] == 2 and one["processes"] == 1 and ddp["samples_per_s"] > 0
    compare("train loss", np.array(ddp["train_loss"]), np.array(one["train_loss"]), tol=SAME_STEPS)
    compare("val loss", np.array(ddp["val_loss"]), np.array(one["val_loss"]), tol=SAME_STEPS)
    assert ddp["sample"] == one["sample"]
