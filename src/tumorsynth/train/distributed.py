"""Distributed setup: rank, world size and device of this process (``torchrun``).

Started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), the process group uses backend
``nccl`` on GPUs, ``gloo`` on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tumorsynth.errors import OptionError
from tumorsynth.train.runtime import _torch

__all__ = ["DistInfo"]


@dataclass
class DistInfo:
    """Rank, world size and device of this process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: Any = "cpu"
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def setup(cls, device: str = "auto") -> DistInfo:
        """Read ``torchrun``'s environment; start the process group when there are several."""
        torch = _torch()
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise OptionError(f"device '{device}': no CUDA GPU is visible; use --device cpu")
        if device == "cuda":
            device = f"cuda:{local}"
        dev = torch.device(device)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        info = cls(rank=rank, world_size=world, local_rank=local, device=dev)
        if world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            # generous timeout: rank 0 alone writes checkpoints and evaluates experiment folds
            torch.distributed.init_process_group(backend=backend, timeout=timedelta(hours=2))
            info.initialized = True
        return info

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch

            if self.device.type == "cuda":
                torch.distributed.barrier(device_ids=[self.device.index or 0])
            else:
                torch.distributed.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """Sum a list of numbers over all processes."""
        if self.world_size == 1:
            return list(values)
        import torch

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return [float(v) for v in t.cpu()]

    def close(self) -> None:
        if self.initialized:
            import torch

            torch.distributed.destroy_process_group()
            self.initialized = False
