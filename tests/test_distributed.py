"""One run on two processes (gloo on the CPU), launched as users launch it: torchrun, and ganvas train
--nproc-per-node. Two processes must train the same model as one, up to float rounding."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import ganvas
from ganvas import checkpoint as ckpt

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or sys.platform == "win32",
                                reason="needs torch.distributed with gloo")

# mlp on stand-in digits, no batch norm: DDP's equivalence holds exactly up to float rounding.
TRAIN = ["--split", "test", "--batch-size", "16", "--log-every", "2", "--sample-every", "1000", "--eval-every", "0",
         "--no-progress", "--device", "cpu", "--d-step", "joint", "--init", "default", "--adam-eps", "1e-8"]


def environment(mnist_dir):
    return {**os.environ, "OMP_NUM_THREADS": "1", "GANVAS_DIST_TIMEOUT_S": "20", "GANVAS_DATA_DIR": str(mnist_dir)}


RESUME = ["--no-progress", "--device", "cpu"]  # a resumed run keeps its own settings


def torchrun(mnist_dir, *train_arguments, processes=2, timeout=240, base=TRAIN):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "ganvas", "--", "train", *base, *train_arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment(mnist_dir), timeout=timeout)


def one_process(mnist_dir, *train_arguments, base=TRAIN):
    command = [sys.executable, "-m", "ganvas", "train", *base, *train_arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment(mnist_dir), timeout=240)


def weights(run, role="generator"):
    return load_file(ckpt.weights_path(ckpt.resolve_checkpoint(run), role))


def assert_close(run_a, run_b):
    for role in ("generator", "discriminator"):
        a, b = weights(run_a, role), weights(run_b, role)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=f"{role} {key}")


def test_two_processes_train_the_same_model_as_one_and_resume_exactly(mnist_dir, tmp_path):
    single = one_process(mnist_dir, "--steps", "6", "--checkpoint-every", "3", "--run", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    # `ganvas train --nproc-per-node 2` starts the two processes itself
    launched = one_process(mnist_dir, "--steps", "6", "--checkpoint-every", "3", "--nproc-per-node", "2", "--run",
                           str(tmp_path / "two"))
    assert launched.returncode == 0, launched.stderr
    assert_close(tmp_path / "one", tmp_path / "two")
    assert "on 2 processes" in (tmp_path / "two" / "train.log").read_text()
    one = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert len(one) == len(two) == 3, "only the main process writes the run folder"
    for a, b in zip(one, two):
        assert a["d_loss"] == pytest.approx(b["d_loss"], rel=1e-4), "statistics are of the whole global batch"

    # torchrun, stopped at step 3 and resumed at the same size: bit-identical to the straight 2-process run
    first = torchrun(mnist_dir, "--steps", "3", "--checkpoint-every", "3", "--run", str(tmp_path / "resumed"))
    assert first.returncode == 0, first.stderr
    second = torchrun(mnist_dir, "--resume", str(tmp_path / "resumed"), "--steps", "6", base=RESUME)
    assert second.returncode == 0, second.stderr
    for role in ("generator", "discriminator"):
        a, b = weights(tmp_path / "two", role), weights(tmp_path / "resumed", role)
        assert all(torch.equal(a[k], b[k]) for k in a), "the same N resumes bit-identically"

    alone = one_process(mnist_dir, "--resume", str(tmp_path / "resumed"), "--steps", "8", base=RESUME)
    assert alone.returncode == 0, alone.stderr
    assert "trained on 2 processes, resumed on 1" in alone.stderr


def test_a_batch_that_does_not_split_evenly_is_refused():
    from ganvas.distributed import Processes
    from ganvas.errors import GanvasError

    assert Processes(0, 2, 0).shard_size(16) == 8
    with pytest.raises(GanvasError, match="batch_size= 15 does not split into 2 equal shards"):
        Processes(1, 2, 1).shard_size(15)


def test_mode_seeking_on_shards_of_one_image_is_refused_before_any_work():
    from ganvas.config import TrainConfig
    from ganvas.distributed import Processes
    from ganvas.errors import GanvasError
    from ganvas.kinds import check_options

    config = TrainConfig(mode_seeking_weight=0.1, batch_size=2)
    check_options(config, Processes(0, 1, 0))
    with pytest.raises(GanvasError, match="within each of the 2 processes' shares of the batch: give batch_size= of "
                                          "at least 4"):
        check_options(config, Processes(0, 2, 0))
    check_options(TrainConfig(mode_seeking_weight=0.1, batch_size=4), Processes(0, 2, 0))


def test_killing_one_process_ends_the_run_with_a_clear_error_and_an_intact_checkpoint(mnist_dir, tmp_path):
    psutil = pytest.importorskip("psutil")
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
               "ganvas", "--", "train", *TRAIN, "--steps", "1000000", "--checkpoint-every", "5", "--run",
               str(run_dir)]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environment(mnist_dir))
    try:
        deadline = time.monotonic() + 120
        while not ckpt.step_checkpoints(run_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ckpt.step_checkpoints(run_dir), "training never saved a checkpoint"
        workers = [p for p in psutil.Process(launcher.pid).children(recursive=True) if "ganvas" in " ".join(p.cmdline())]
        assert len(workers) == 2
        workers[-1].send_signal(signal.SIGKILL)
        started = time.monotonic()
        _, err = launcher.communicate(timeout=120)
        assert time.monotonic() - started < 90, "the others gave up within a bounded time"
    finally:
        launcher.kill()
    assert launcher.returncode != 0
    assert "Signal 9 (SIGKILL)" in err, "torchrun names the killed process as the root cause"
    # The survivor says why it stops when it notices the lost peer first. When torchrun's agent notices first, it
    # sends the survivor SIGTERM and reports that instead (once in CI: the survivor ended by the signal, exit -15),
    # a race that a loaded machine loses now and then; both end the run in bounded time with the checkpoint whole.
    assert "another process of this run failed or stopped answering" in err or "Signal 15 (SIGTERM)" in err, err
    latest = ckpt.step_checkpoints(run_dir)[-1]
    assert ckpt.load_checkpoint(latest).step > 0 and ganvas.load(run_dir).sample(2).pixels.shape[0] == 2
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")], "no partial checkpoint"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_launchers_meeting_at_a_rendezvous_train_one_run_as_two_nodes(mnist_dir, tmp_path):
    """docs/distributed.md's many-machines command, with both "machines" on this one: two `ganvas train --nnodes 2
    --rdzv-endpoint` launchers, one process each, form one 2-process run equal to a 1-process run."""
    single = one_process(mnist_dir, "--steps", "4", "--checkpoint-every", "4", "--run", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    nodes = ["--nproc-per-node", "1", "--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{free_port()}"]
    command = [sys.executable, "-m", "ganvas", "train", *TRAIN, "--steps", "4", "--checkpoint-every", "4", *nodes,
               "--run", str(tmp_path / "nodes")]
    launchers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=environment(mnist_dir)) for _ in range(2)]
    try:
        results = [launcher.communicate(timeout=240) for launcher in launchers]
    finally:
        for launcher in launchers:
            launcher.kill()
    assert all(launcher.returncode == 0 for launcher in launchers), [err for _, err in results]
    assert "on 2 processes" in (tmp_path / "nodes" / "train.log").read_text()
    assert_close(tmp_path / "one", tmp_path / "nodes")


def test_adaptive_augmentation_lecam_and_mode_seeking_on_two_processes_train_as_on_one(mnist_dir, tmp_path):
    ada = ["--augment", "translation,cutout", "--ada-target", "0.6", "--lecam-weight", "0.3",
           "--mode-seeking-weight", "1", "--steps", "4", "--checkpoint-every", "4"]
    single = one_process(mnist_dir, *ada, "--run", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    launched = one_process(mnist_dir, *ada, "--nproc-per-node", "2", "--run", str(tmp_path / "two"))
    assert launched.returncode == 0, launched.stderr
    assert_close(tmp_path / "one", tmp_path / "two")
    one, two = ([json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
                for run in ("one", "two"))
    assert [entry["augment_p"] for entry in one] == pytest.approx([entry["augment_p"] for entry in two])
    assert one[-1]["augment_p"] > 0, "D is sure of the real digits at once, so p rises"
    for term in ("lecam_penalty", "mode_seeking_penalty"):
        assert [entry[term] for entry in one] == pytest.approx([entry[term] for entry in two]), term
