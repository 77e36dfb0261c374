"""One run on many processes: torch.distributed, started by torchrun (docs/distributed.md).

torchrun (or `ganvas train --nproc-per-node N`, which starts torchrun's launcher for you) runs one
process per device and tells each its RANK, LOCAL_RANK and WORLD_SIZE in the environment.
`Processes.from_environment` joins them into a process group: gloo on CPUs, NCCL on CUDA GPUs, each
process on cuda:LOCAL_RANK. One process (no WORLD_SIZE, or 1) needs no process group at all, and
everything here is then a no-op, so single-process training is untouched.

What the processes share, and how (the trainer and the GAN use these):
- the global batch (the run's batch_size) is cut into equal shards, one per process;
- gradients are averaged over all processes after each backward pass (`average_gradients`), so every
  process makes the same update and keeps the same weights (and the same EMA of G);
- decisions that end training (time up, a stop request, a NaN) are agreed: a process acts only on
  what `agree` says all processes see.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from ganvas.devices import resolve_device
from ganvas.errors import GanvasError, named

# A process that stops answering (killed, or its machine gone) makes the others fail within this time.
COLLECTIVE_TIMEOUT = timedelta(seconds=int(os.environ.get("GANVAS_DIST_TIMEOUT_S", "60")))


class ProcessLostError(GanvasError):
    """Another process of the run failed or stopped answering, so this one cannot go on either."""


@contextmanager
def _together(what: str) -> Iterator[None]:
    """A collective operation; a peer that is gone becomes one clear error instead of a backend traceback."""
    try:
        yield
    except (RuntimeError, dist.DistError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ProcessLostError(f"another process of this run failed or stopped answering ({what}: {first_line}); "
                               "this one stops too, without saving. The run's latest checkpoint is complete: resume "
                               f"from it with {named('resume')}") from None


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The process that writes the run folder: checkpoints, grids, logs and quality measurements."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls, device_name: str = "auto") -> tuple["Processes", torch.device]:
        """This process's place among torchrun's processes, and its device; joins the process group."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(), resolve_device(device_name)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
        device = resolve_device(device_name)
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        elif device.type == "mps":
            raise GanvasError("training on several processes needs CPUs or CUDA GPUs; MPS has no process group "
                              f"backend: use {named('device', 'cpu')}")
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT)
        return cls(rank, world_size, local_rank), device

    def shard_size(self, batch_size: int) -> int:
        if batch_size % self.world_size:
            raise GanvasError(f"{named('batch_size')} {batch_size} does not split into {self.world_size} equal "
                              f"shards, one per process: use a multiple of {self.world_size}")
        return batch_size // self.world_size

    def average_gradients(self, modules: Iterable[nn.Module]) -> None:
        """Replace each gradient by its mean over all processes (one all-reduce for all of them)."""
        if not self.distributed:
            return
        gradients = [p.grad for module in modules for p in module.parameters() if p.grad is not None]
        if not gradients:
            return
        flat = torch.cat([g.reshape(-1) for g in gradients])
        with _together("averaging gradients"):
            dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for gradient in gradients:
            gradient.copy_(flat[offset:offset + gradient.numel()].view_as(gradient))
            offset += gradient.numel()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean over processes (statistics of each process's shard)."""
        if self.distributed:
            values = values.clone()
            with _together("averaging statistics"):
                dist.all_reduce(values)
            values /= self.world_size
        return values

    def agree(self, flags: list[bool]) -> list[bool]:
        """Each flag true if it is true on any process, so that all processes take the same branch."""
        if not self.distributed:
            return flags
        tensor = torch.tensor(flags, dtype=torch.int32, device=self._device())
        with _together("agreeing whether to stop"):
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [bool(value) for value in tensor.tolist()]

    def barrier(self) -> None:
        if self.distributed:
            with _together("waiting for the others"):
                dist.barrier()

    def broadcast(self, value):
        """The main process's value of a small picklable object, on every process."""
        if not self.distributed:
            return value
        box = [value]
        with _together("starting"):
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def _device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(train_arguments: list[str], nproc_per_node: int, nnodes: int = 1, rdzv_endpoint: str | None = None) -> None:
    """Run `ganvas train ARGS` on nproc_per_node processes here (and nnodes machines) with torch.distributed's own
    launcher, exactly as `torchrun ... -m ganvas -- train ARGS` does."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    options = ["--nproc-per-node", str(nproc_per_node), "--nnodes", str(nnodes), "--max-restarts", "0"]
    options += ["--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint] if rdzv_endpoint else ["--standalone"]
    # "--" keeps torchrun's own parser from reading ganvas's options (it takes --run for its --run-path).
    arguments = get_args_parser().parse_args([*options, "-m", "ganvas", "--", "train", *train_arguments])
    try:
        run(arguments)
    except ChildFailedError as failure:
        causes = "; ".join(f"process {rank} exited with {error.exitcode}" for rank, error in failure.failures.items())
        raise GanvasError(f"training on {nproc_per_node * nnodes} processes failed ({causes}); the last complete "
                          "checkpoint is the run's latest, resume it with --resume") from None
