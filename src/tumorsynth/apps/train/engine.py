"""The training loop: single process, or many through ``torchrun`` (PyTorch distributed).

:func:`train` resolves the data of a :class:`~tumorsynth.apps.train.config.TrainConfig`, checks
everything a user can get wrong (files, labels, split, checkpoint, generator options) before any
step, then trains with the paper's recipe and writes into ``cfg.out``::

    run.json                 resolved config, seeds, versions, cases, status and final numbers
    checkpoints/last.pt      every epoch (resume point); checkpoints/best.pt (best validation)
    train_log.csv            step, epoch, lr, loss, data and step time, synthesis counts
    val_log.csv              step, epoch, tumor and liver Dice on the validation cases
    curves.png               loss and validation curves
    ranks/rank_<r>.json      per process: the cases it trained on, its final weight checksum

Distributed: started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), each process
takes its share of every epoch through a ``DistributedSampler`` and gradients are averaged by
``DistributedDataParallel``; backend ``nccl`` on GPUs, ``gloo`` on CPUs. Only rank 0 writes the
shared files.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tumorsynth.apps.train.cases import check_synthesis_options, resolve_data
from tumorsynth.apps.train.config import TrainConfig
from tumorsynth.apps.train.curves import _Table, plot_curves
from tumorsynth.apps.train.distributed import DistInfo
from tumorsynth.apps.train.precision import grad_scaler, resolve_precision
from tumorsynth.apps.train.runtime import _torch, unwrap_user_error, versions
from tumorsynth.apps.train.validation import _autocast, dice, validate  # noqa: F401  (dice: re-exported)
from tumorsynth.errors import OptionError

__all__ = ["DistInfo", "resolve_data", "train", "unwrap_user_error", "versions"]

log = logging.getLogger(__name__)


def _lr_lambda(total: int, warmup: int) -> Any:
    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))

    return f


def _write_json(path: Path, data: Any) -> None:
    from tumorsynth.io import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class EpochSampler:
    """Indices of one epoch: a permutation seeded by ``(seed, epoch, rank)``, cycled to ``num_samples``.

    Like ``DistributedSampler`` it has ``set_epoch``, so one DataLoader (with persistent
    workers) serves every epoch and each epoch's order depends only on the seed, the epoch and
    the rank (a resumed run draws the same order as an uninterrupted one).
    """

    def __init__(self, n: int, num_samples: int, *, seed: int, rank: int = 0) -> None:
        self.n, self.num_samples, self.seed, self.rank, self.epoch = int(n), int(num_samples), int(seed), int(rank), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Any:
        import numpy as np

        if self.n == 0:
            return iter([])
        perm = np.random.default_rng((self.seed, self.epoch, self.rank)).permutation(self.n)
        reps = -(-self.num_samples // self.n)
        return iter(np.tile(perm, reps)[: self.num_samples].tolist())


def _dataset(items: list[dict[str, Any]], transform: Any, cfg: TrainConfig, *, copy_cache: bool,
             progress: bool, kind: str) -> Any:
    """The dataset of ``cfg.cache``: in memory (CacheDataset), on disk (PersistentDataset), none."""
    from monai.data import CacheDataset, Dataset, PersistentDataset

    if cfg.cache == "disk":
        cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else Path(cfg.out) / "cache"
        (cache_dir / kind).mkdir(parents=True, exist_ok=True)
        # our own files: they hold the generator's preparation, which weights_only refuses
        return PersistentDataset(items, transform=transform, cache_dir=cache_dir / kind,
                                 track_meta=True, weights_only=False)
    if cfg.cache == "none":
        return Dataset(items, transform=transform)
    return CacheDataset(items, transform=transform, cache_rate=cfg.cache_rate,
                        num_workers=max(1, cfg.cache_workers), copy_cache=copy_cache,
                        progress=progress)


def train(cfg: TrainConfig, *, preflight: bool = True) -> dict[str, Any]:
    """Train one model as configured; resume from ``cfg.out/checkpoints/last.pt`` if present.

    Everything a user can get wrong is checked before the first step: the configuration, the
    data files and labels (``preflight``), the split, the checkpoint to resume or start from,
    and the generator options. Returns the final summary (also written to ``run.json``).

    Example:
        >>> from tumorsynth.apps.train import TrainConfig, train  # doctest: +SKIP
        >>> cfg = TrainConfig(healthy=["btcv.csv"], real=["LiTS"], splits="splits.json",
        ...                   fold=0, regime="synthetic", out="runs/unet_syn_f0")  # doctest: +SKIP
        >>> summary = train(cfg)  # doctest: +SKIP
    """
    cfg.validate()
    dist = DistInfo.setup(cfg.device)
    try:
        return _train(cfg, dist, preflight=preflight)
    finally:
        dist.close()


def _train(cfg: TrainConfig, dist: DistInfo, *, preflight: bool) -> dict[str, Any]:
    torch = _torch()
    from monai.data import DataLoader
    from monai.losses import DiceCELoss
    from tqdm.auto import tqdm

    from tumorsynth.apps.train.data import build_train_transforms, build_val_transforms, check_cases
    from tumorsynth.apps.train.models import (
        build_model,
        load_checkpoint,
        model_spec,
        save_checkpoint,
        state_checksum,
    )

    out = Path(cfg.out)
    ckpt_dir = out / "checkpoints"
    last_path = ckpt_dir / "last.pt"
    rank, world, device = dist.rank, dist.world_size, dist.device

    # ---- checks before anything heavy -------------------------------------------------
    train_items, val_items, data_info = resolve_data(cfg)
    spec = model_spec(cfg)
    resume_ckpt = None
    if cfg.resume and last_path.is_file():
        resume_ckpt = load_checkpoint(last_path, expect_spec=spec)
    init_ckpt = None
    if resume_ckpt is None and cfg.init_from:
        init_ckpt = load_checkpoint(cfg.init_from, expect_spec=spec)
    if preflight:
        check_cases(train_items + val_items, read_labels=cfg.check_labels,
                    workers=max(1, cfg.cache_workers))
    check_synthesis_options(cfg)

    # ---- seeds: the training process itself (recorded in run.json) ------------------------
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick its kernels
    synth = cfg.regime != "real"

    # ---- data ---------------------------------------------------------------------------
    train_tf = build_train_transforms(cfg, synth=synth)
    val_tf = build_val_transforms(cfg)
    try:
        # copy_cache=False: no transform of the random part modifies the cached item (the
        # tumor transform and the crops make new arrays; tests guard this), which saves a
        # copy of the whole volume per sample
        shard = world > 1 and cfg.cache_shard
        train_ds = _dataset(train_items[rank::world] if shard else train_items, train_tf, cfg,
                            copy_cache=False, progress=bool(cfg.progress and dist.is_main),
                            kind="train")
        my_val = val_items[rank::world]
        val_ds = _dataset(my_val, val_tf, cfg, copy_cache=True, progress=False, kind="val")
    except Exception as exc:
        user = unwrap_user_error(exc)
        if user is not None:
            raise user from None
        raise
    per_rank = math.ceil(len(train_items) / world)  # DistributedSampler pads to this
    if world > 1 and not shard:
        sampler: Any = torch.utils.data.DistributedSampler(
            train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=False)
    else:  # own shard (or everything), reshuffled every epoch, padded to per_rank
        sampler = EpochSampler(len(train_ds), per_rank, seed=cfg.seed, rank=rank)
    steps_per_epoch = math.ceil(per_rank / cfg.batch_size)
    total_steps = cfg.max_epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, int(cfg.max_steps))
    warmup = min(cfg.warmup_epochs * steps_per_epoch, max(0, total_steps // 2))

    # ---- model and optimizer --------------------------------------------------------------
    net = build_model(spec, checkpointing=cfg.swin_checkpointing).to(device)
    if init_ckpt is not None:
        net.load_state_dict(init_ckpt["model"])
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    precision = resolve_precision(cfg.amp, device)
    scaler = grad_scaler(precision, device)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total_steps, warmup))
    step, epoch, best = 0, 0, -1.0
    if resume_ckpt is not None:
        net.load_state_dict(resume_ckpt["model"])
        opt.load_state_dict(resume_ckpt["optimizer"])
        sched.load_state_dict(resume_ckpt["scheduler"])
        step, epoch, best = int(resume_ckpt["step"]), int(resume_ckpt["epoch"]), float(resume_ckpt["best"])
        if resume_ckpt.get("scaler"):
            scaler.load_state_dict(resume_ckpt["scaler"])
        if dist.is_main:
            log.info("resuming %s at step %d (epoch %d)", out, step, epoch)
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)

    # ---- records ----------------------------------------------------------------------------
    train_log = _Table(out / "train_log.csv",
                       ["step", "epoch", "lr", "loss", "data_s", "step_s", "synthesized", "no_room"],
                       keep_until_step=step if resume_ckpt is not None else None)
    val_log = _Table(out / "val_log.csv", ["step", "epoch", "tumor_dice", "liver_dice", "n_cases"],
                     keep_until_step=step if resume_ckpt is not None else None)
    record: dict[str, Any] = {
        "tumorsynth": versions().get("tumorsynth"),
        "status": "running",
        "started": _now(),
        "config": cfg.to_dict(),
        "model_spec": spec,
        "seeds": {
            "seed": cfg.seed,
            "torch_manual_seed": cfg.seed,
            "sampler": "DistributedSampler(seed=seed), set_epoch(epoch)" if world > 1 and not shard
            else "EpochSampler: permutation from numpy default_rng((seed, epoch, rank))"
            + (", over this process's shard cases[rank::world]" if shard else ""),
            "transforms": "monai.data.DataLoader seeds every random transform from a "
                          "torch.Generator seeded with (seed*100003 + epoch)*1009 + rank, "
                          + ("once per start (persistent workers; epoch = the start epoch)"
                             if cfg.persistent_workers and cfg.num_workers > 0 else "every epoch"),
        },
        "versions": versions(),
        "world_size": world,
        "device": str(device),
        "precision": precision,
        "host": socket.gethostname(),
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "warmup_steps": warmup,
        "resumed_from_step": step if resume_ckpt is not None else None,
        "data": data_info,
    }
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "run.json", record)

    def payload() -> dict[str, Any]:
        return {
            "model_spec": spec, "model": net.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "step": step, "epoch": epoch, "best": best,
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "config": cfg.to_dict(),
            "preprocessing": {"spacing_mm": list(cfg.spacing_mm), "hu_window": list(cfg.hu_window),
                              "patch_size": list(cfg.patch_size), "sw_overlap": cfg.sw_overlap,
                              "sw_batch_size": cfg.sw_batch_size,
                              "tumor_margin_mm": cfg.tumor_margin_mm, "amp": cfg.amp},
        }

    # ---- loop --------------------------------------------------------------------------------
    seen: set[str] = set()
    seen_by_epoch: dict[int, list[str]] = {}
    counts: Counter[str] = Counter()
    bar = tqdm(total=total_steps, initial=step, disable=not (cfg.progress and dist.is_main),
               desc=f"train {cfg.model} {cfg.regime}", unit="step", dynamic_ncols=True)
    val_loader = DataLoader(val_ds, batch_size=1, num_workers=0)
    params_log = None
    if cfg.log_params and synth:
        out.mkdir(parents=True, exist_ok=True)
        params_log = (out / f"params_rank{rank}.jsonl").open("a", encoding="utf-8")
    model.train()
    last_loss = float("nan")
    persistent = bool(cfg.persistent_workers and cfg.num_workers > 0)
    loader = None
    while step < total_steps:
        sampler.set_epoch(epoch)
        if loader is None or not persistent:
            # worker seeds: per epoch, or once per (re)start with persistent workers
            gen = torch.Generator()
            gen.manual_seed((cfg.seed * 100003 + epoch) * 1009 + rank)
            loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler,
                                num_workers=cfg.num_workers, generator=gen,
                                persistent_workers=persistent,
                                pin_memory=device.type == "cuda", drop_last=False)
        t0 = time.perf_counter()
        for batch in loader:
            t_data = time.perf_counter() - t0
            img = batch["image"].to(device, non_blocking=True)
            lab = batch["label"].to(device, non_blocking=True).float()
            names = [str(n) for n in batch["name"]]
            seen.update(names)
            seen_by_epoch.setdefault(epoch, [])
            seen_by_epoch[epoch].extend(n for n in dict.fromkeys(names) if n not in seen_by_epoch[epoch])
            status = Counter(batch.get("tumor_params_status", []))
            counts.update(status)
            if params_log is not None:
                for name, rec in zip(names, batch.get("tumor_params", []), strict=False):
                    if rec:
                        params_log.write(json.dumps({"step": step + 1, "case": name,
                                                     "params": json.loads(rec)}) + "\n")
            opt.zero_grad(set_to_none=True)
            with _autocast(cfg, device):
                logits = model(img)
            loss = loss_fn(logits.float(), lab)
            if not bool(torch.isfinite(loss)):
                raise OptionError(
                    f"the loss became {float(loss)} at step {step + 1}; lower lr (now {cfg.lr:g}), "
                    "set grad_clip (e.g. --set grad_clip=1.0) or amp=false, then rerun (it resumes)"
                )
            scaler.scale(loss).backward()  # a no-op scaler unless fp16
            if cfg.grad_clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(net.parameters(), float(cfg.grad_clip))
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            last_loss = float(loss.detach())
            if dist.is_main and (step % cfg.log_every == 0 or step == total_steps):
                train_log.add({"step": step, "epoch": epoch, "lr": f"{sched.get_last_lr()[0]:.6g}",
                               "loss": f"{last_loss:.6f}", "data_s": f"{t_data:.4f}",
                               "step_s": f"{time.perf_counter() - t0:.4f}",
                               "synthesized": status.get("synthesized", 0),
                               "no_room": status.get("no_room", 0)})
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.4f}", best=f"{best:.3f}" if best >= 0 else "-")
            t0 = time.perf_counter()
            if step >= total_steps:
                break
        epoch += 1
        finished = step >= total_steps
        # ---- validation ----------------------------------------------------------------
        if val_items and (epoch % cfg.val_every == 0 or finished):
            sums = validate(net, val_loader, cfg, device)
            ts, tn, ls, ln = dist.all_sum([sums["tumor_sum"], sums["tumor_n"], sums["liver_sum"], sums["liver_n"]])
            tumor = ts / tn if tn else float("nan")
            liver = ls / ln if ln else float("nan")
            score = tumor if tn else liver
            if dist.is_main:
                val_log.add({"step": step, "epoch": epoch, "tumor_dice": f"{tumor:.5f}",
                             "liver_dice": f"{liver:.5f}", "n_cases": int(ln)})
                log.info("step %d: validation tumor DSC %.4f, liver DSC %.4f", step, tumor, liver)
            if score == score and score > best:
                best = score
                if dist.is_main:
                    save_checkpoint(ckpt_dir / "best.pt", payload())
        # ---- checkpoint and logs ---------------------------------------------------------
        if dist.is_main:
            save_checkpoint(last_path, payload())
            train_log.write()
            val_log.write()
            if finished or (val_items and epoch % cfg.val_every == 0):
                plot_curves(train_log.rows, val_log.rows, out / "curves.png")
        dist.barrier()
    bar.close()
    if params_log is not None:
        params_log.close()

    # ---- final records ----------------------------------------------------------------------
    checksum = state_checksum(net.state_dict())
    rank_record = {"rank": rank, "world_size": world, "cases_seen": sorted(seen),
                   "cases_by_epoch": {str(k): sorted(v) for k, v in seen_by_epoch.items()},
                   "weights_sha256": checksum, "synthesis": dict(counts), "steps": step}
    _write_json(out / "ranks" / f"rank_{rank}.json", rank_record)
    if dist.is_main:
        if not (ckpt_dir / "best.pt").is_file():
            save_checkpoint(ckpt_dir / "best.pt", payload())
        if not (out / "curves.png").is_file():
            plot_curves(train_log.rows, val_log.rows, out / "curves.png")
        losses = [float(r["loss"]) for r in train_log.rows]
        record.update(status="finished", finished=_now(), steps=step, epochs=epoch,
                      best_val=best if best >= 0 else None, final_loss=last_loss,
                      first_losses=losses[:5], last_losses=losses[-5:],
                      weights_sha256=checksum, synthesis=dict(counts))
        _write_json(out / "run.json", record)
    dist.barrier()
    return record
