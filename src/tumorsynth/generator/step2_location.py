"""Step 1, location selection: tumor centres inside the liver, away from vessels and each other.

Works only on the candidate list of :class:`tumorsynth.generator.step1_prepare.Prepared` (coarse liver cells with
their depth below the liver surface and distance to the nearest vessel), so it costs
microseconds to milliseconds whatever the CT size, and it never loops: a tumor either has a
valid place, or the ``on_no_room`` policy decides (error, skip, or the best place available).
"""

from __future__ import annotations

import numpy as np

from tumorsynth.errors import NoRoomError, OptionError
from tumorsynth.generator.step1_prepare import Prepared

__all__ = ["NO_ROOM_POLICIES", "candidates_mm", "choose_centre", "update_gap"]

NO_ROOM_POLICIES = ("error", "skip", "relax")
# two tumors' centres are at least this fraction of the sum of their largest semi-axes apart:
# neighbours may touch (deformed, they rarely overlap), as multifocal lesions do
SPACING_FRACTION = 0.85


def choose_centre(
    prepared: Prepared,
    reach_mm: float,
    tumor_gap_mm: np.ndarray,
    *,
    rng: np.random.Generator,
    inside_fraction: float,
    vessel_clearance: float,
    vessel_avoidance: bool,
    on_no_room: str,
    strict_vessels: bool = False,
    kind: str = "tumor",
) -> np.ndarray | None:
    """Pick a tumor centre (fractional voxel index) or return None (policy ``skip``).

    Args:
        prepared: the case preparation.
        reach_mm: the tumor's largest semi-axis.
        tumor_gap_mm: per candidate, distance to the nearest tumor already placed minus
            ``SPACING_FRACTION`` of that tumor's reach (inf when none; see :func:`update_gap`).
        inside_fraction: the centre lies at least ``inside_fraction * reach_mm`` below the liver
            surface (the tumor stays mostly inside the liver).
        vessel_clearance: no vessel within ``vessel_clearance * reach_mm`` of the centre.
        vessel_avoidance: False ignores vessels.
        on_no_room: when no place is deep enough (or all overlap other tumors): ``error``
            raises :class:`NoRoomError`, ``skip`` returns None, ``relax`` takes the best places
            available (closest to the requirements).
        strict_vessels: when every deep-enough place has a vessel within the clearance, False
            (default) takes one of the places farthest from vessels (at least 80% of the best
            clearance the liver offers: large tumors in real livers rarely find a vessel-free
            ball of their own radius, and the mass effect then pushes the vessels aside); True
            treats it like no room.
    """
    if on_no_room not in NO_ROOM_POLICIES:
        raise OptionError(f"on_no_room={on_no_room!r}; choose one of {', '.join(NO_ROOM_POLICIES)}")
    n = prepared.depth_mm.shape[0]
    if n == 0:
        if on_no_room == "skip":
            return None
        raise NoRoomError("the liver mask has no interior voxel to place a tumor in")
    need_depth = inside_fraction * reach_mm
    need_clear = vessel_clearance * reach_mm if vessel_avoidance else 0.0
    depth = prepared.depth_mm
    vdist = prepared.vessel_dist_mm
    free = tumor_gap_mm >= SPACING_FRACTION * reach_mm
    deep = depth >= need_depth
    clear = vdist >= need_clear
    ok = deep & clear & free
    roomy = deep & free
    if ok.any():
        pick = int(rng.choice(np.flatnonzero(ok)))
    elif need_clear > 0 and not strict_vessels and roomy.any():
        pool = np.flatnonzero(roomy)
        v = vdist[pool]
        pick = int(rng.choice(pool[v >= 0.8 * float(v.max())]))
    elif on_no_room == "skip":
        return None
    elif on_no_room == "relax":
        score = np.minimum(depth / max(need_depth, 1e-6), vdist / max(need_clear, 1e-6) if need_clear else np.inf)
        pool = np.flatnonzero(free) if free.any() else np.arange(n)
        s = score[pool]
        best = float(s.max())
        pick = int(rng.choice(pool[s >= 0.9 * best]))
    else:
        raise NoRoomError(_explain(prepared, kind, reach_mm, need_depth, need_clear, deep, clear, free))
    step = np.asarray(prepared.coarse_step, dtype=np.float64)
    centre = prepared.candidates_vox[pick].astype(np.float64) + rng.uniform(-0.5, 0.5, 3) * (step - 1)
    return np.clip(centre, 0, np.asarray(prepared.shape) - 1)


def candidates_mm(prepared: Prepared) -> np.ndarray:
    """Candidate centres in mm, shape (3, N) float32."""
    sp = np.asarray(prepared.spacing_mm, dtype=np.float32)[:, None]
    return np.ascontiguousarray(prepared.candidates_vox.T) * sp


def update_gap(gap: np.ndarray, cand_mm: np.ndarray, centre_vox: np.ndarray,
               spacing_mm: tuple[float, float, float], reach_mm: float) -> None:
    """Fold a newly placed tumor into ``gap`` (distance to the nearest tumor surface), in place."""
    c = np.asarray(centre_vox, dtype=np.float64) * np.asarray(spacing_mm)
    d2 = np.square(cand_mm[0] - np.float32(c[0]))
    d2 += np.square(cand_mm[1] - np.float32(c[1]))
    d2 += np.square(cand_mm[2] - np.float32(c[2]))
    np.sqrt(d2, out=d2)
    d2 -= np.float32(SPACING_FRACTION * reach_mm)
    np.minimum(gap, d2, out=gap)


def _explain(prepared: Prepared, kind: str, reach: float, need_depth: float, need_clear: float,
             deep: np.ndarray, clear: np.ndarray, free: np.ndarray) -> str:
    head = f"no room for a {kind} tumor (largest semi-axis {reach:.1f} mm) in this liver: "
    fix = ("use a smaller preset or radius_mm, fewer tumors (count), or allow fewer tumors "
           "(on_no_room='skip', CLI --on-no-room skip) or the best available place (relax)")
    if not deep.any():
        why = (f"the deepest point is {prepared.max_depth_mm:.1f} mm below the liver surface, "
               f"{need_depth:.1f} mm needed (liver too small or thin)")
    elif not (deep & clear).any():
        why = (f"every place deep enough has a vessel within {need_clear:.1f} mm "
               "(lower vessel_clearance or turn off vessel avoidance)")
    else:
        why = "the places left overlap tumors already placed"
    return f"{head}{why}; {fix}"
