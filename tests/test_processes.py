"""Training in one process, watched and stopped from another, as the studio and a shell user do it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import ganvas
from ganvas.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start_training(mnist_dir, run_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "ganvas", "train", "--data-dir", str(mnist_dir), "--split", "test", "--batch-size",
         "16", "--steps", "1000000", "--log-every", "2", "--checkpoint-every", "1000", "--eval-every", "0",
         "--run", str(run_dir), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_until_training(run_dir, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = ganvas.runs(run_dir)
        if runs and runs[0].status == "training" and runs[0].step >= 2:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("the run never started training")


def test_ganvas_stop_stops_another_process_at_a_step_boundary_and_it_saves(mnist_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    process = start_training(mnist_dir, run_dir)
    try:
        wait_until_training(run_dir, process)
        assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 1
        assert f"being trained by process {process.pid}" in capsys.readouterr().err
        assert main(["stop", str(run_dir)]) == 0
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped on request" in err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "stopped" and status["reason"] == "stop_request"
    assert status["checkpoint"].endswith(f"step-{status['step']:08d}")
    assert not (run_dir / "stop-request").exists(), "the request is used up"
    assert ganvas.load(run_dir).info.step == status["step"]


def test_sigterm_stops_and_saves_like_ctrl_c(mnist_dir, tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(mnist_dir, run_dir)
    try:
        wait_until_training(run_dir, process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert ganvas.runs(run_dir)[0].status == "stopped"
    assert (run_dir / "checkpoints").is_dir() and ganvas.load(run_dir).info.step > 0


def test_a_killed_trainer_leaves_a_run_that_resumes(mnist_dir, tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(mnist_dir, run_dir)
    try:
        wait_until_training(run_dir, process)
        process.kill()
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert ganvas.runs(run_dir)[0].status == "stopped", "the lock died with its process"
    run = ganvas.train(resume=run_dir, steps=3, progress=False)
    assert run.status == "finished"
