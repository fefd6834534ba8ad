"""Distributed setup: rank, world size and device of this process (``torchrun`` or SLURM).

Started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), the process group uses backend
``nccl`` on GPUs, ``gloo`` on CPUs. Without torchrun's variables, SLURM's are the fallback: one
task per GPU started by ``srun`` gives ``SLURM_PROCID`` (rank), ``SLURM_NTASKS`` (world size)
and ``SLURM_LOCALID`` (local rank); the rendezvous address is ``MASTER_ADDR`` if set, else the
first host of ``SLURM_JOB_NODELIST`` (or ``SLURM_LAUNCH_NODE_IPADDR``), and the port
``MASTER_PORT`` if set, else 29500 + the job id modulo 1000.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tumorsynth.apps.train.runtime import _torch
from tumorsynth.errors import OptionError

__all__ = ["DistInfo", "dist_env", "first_slurm_host"]


def first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list (``node[03-05,7],gpu1`` -> ``node03``).

    Example:
        >>> first_slurm_host("gpu[07-09,12],cpu1"), first_slurm_host("n1,n2"), first_slurm_host("a[1-2]-ib")
        ('gpu07', 'n1', 'a1-ib')
    """
    text = nodelist.strip()
    m = re.match(r"([^,\[]*)(?:\[([^\]]*)\])?([^,]*)", text)
    if not m or not (m.group(1) or m.group(2)):
        raise OptionError(f"SLURM_JOB_NODELIST {nodelist!r}: cannot read a host name; set MASTER_ADDR")
    prefix, ranges, suffix = m.group(1), m.group(2), m.group(3)
    if ranges is None:
        return prefix + suffix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first + suffix


def dist_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Rank, world size, local rank and the rendezvous of this process, from the environment.

    torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` win; else SLURM's ``SLURM_PROCID``/
    ``SLURM_NTASKS``/``SLURM_LOCALID``; else a single process. Returns ``rank``, ``world_size``,
    ``local_rank``, ``source`` (``torchrun``, ``slurm`` or ``single``) and, for SLURM,
    ``master_addr`` and ``master_port``.
    """
    e = os.environ if env is None else env
    if "WORLD_SIZE" in e:
        return {"rank": int(e.get("RANK", "0")), "world_size": int(e["WORLD_SIZE"]),
                "local_rank": int(e.get("LOCAL_RANK", "0")), "source": "torchrun"}
    if int(e.get("SLURM_NTASKS", "1") or "1") > 1 and "SLURM_PROCID" in e:
        addr = e.get("MASTER_ADDR")
        if not addr:
            nodes = e.get("SLURM_JOB_NODELIST") or e.get("SLURM_NODELIST")
            addr = first_slurm_host(nodes) if nodes else e.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1")
        port = e.get("MASTER_PORT") or str(29500 + int(e.get("SLURM_JOB_ID", "0") or "0") % 1000)
        return {"rank": int(e["SLURM_PROCID"]), "world_size": int(e["SLURM_NTASKS"]),
                "local_rank": int(e.get("SLURM_LOCALID", "0")), "source": "slurm",
                "master_addr": addr, "master_port": port}
    return {"rank": 0, "world_size": 1, "local_rank": 0, "source": "single"}


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
        env = dist_env()
        world, rank, local = env["world_size"], env["rank"], env["local_rank"]
        if not 0 <= rank < world:
            raise OptionError(f"rank {rank} is outside the world of {world} processes ({env['source']} "
                              "environment); check RANK/WORLD_SIZE or SLURM_PROCID/SLURM_NTASKS")
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
            extra: dict[str, Any] = {}
            if env["source"] == "slurm":  # env:// needs these; torchrun sets them itself
                os.environ.setdefault("MASTER_ADDR", env["master_addr"])
                os.environ.setdefault("MASTER_PORT", env["master_port"])
                extra = {"rank": rank, "world_size": world}
            torch.distributed.init_process_group(backend=backend, timeout=timedelta(hours=2), **extra)
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
