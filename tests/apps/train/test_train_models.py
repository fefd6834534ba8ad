"""Networks, checkpoints and the inference post-processing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tumorsynth.apps.train.inference import postprocess
from tumorsynth.apps.train.models import build_model, load_checkpoint, model_spec, save_checkpoint
from tumorsynth.errors import InputError


def test_swin_unetr_tiny_forward_on_cpu() -> None:
    pytest.importorskip("einops")
    spec = model_spec(SimpleNamespace(model="swin_unetr_tiny"))
    assert spec["feature_size"] == 12
    net = build_model(spec).eval()
    with torch.no_grad():
        y = net(torch.zeros(1, 1, 64, 64, 64))
    assert y.shape == (1, 3, 64, 64, 64)
    assert model_spec(SimpleNamespace(model="swin_unetr_base"))["feature_size"] == 48


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    unet = model_spec(SimpleNamespace(model="unet", unet_channels=(4, 8, 16), unet_strides=(2, 2),
                                      unet_res_units=1))
    swin = model_spec(SimpleNamespace(model="swin_unetr_small"))
    p = save_checkpoint(tmp_path / "c.pt", {"model_spec": unet, "model": build_model(unet).state_dict()})
    assert load_checkpoint(p, expect_spec=unet)["model_spec"] == unet
    with pytest.raises(InputError, match=r"checkpoint of model unet\(4,8,16\).*swin_unetr_small"):
        load_checkpoint(p, expect_spec=swin)
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="not a tumorsynth checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_postprocess_keeps_largest_liver_and_nearby_tumors() -> None:
    lab = np.zeros((40, 40, 40), np.uint8)
    lab[5:25, 5:25, 5:25] = 1           # the liver
    lab[10:14, 10:14, 10:14] = 2        # a tumor inside it
    lab[30:33, 30:33, 30:33] = 1        # a stray liver blob
    lab[27:29, 10:12, 10:12] = 2        # a tumor 3 voxels (3 mm) outside the liver: kept
    lab[36:38, 36:38, 2:4] = 2          # a far tumor: dropped
    before = lab.copy()
    out = postprocess(lab, (1.0, 1.0, 1.0), tumor_margin_mm=5.0)
    assert np.array_equal(lab, before)  # input untouched
    assert out[31, 31, 31] == 0 and out[37, 37, 3] == 0
    assert out[12, 12, 12] == 2 and out[28, 11, 11] == 2 and out[6, 6, 6] == 1
    # with a 1 mm margin the near tumor goes too; anisotropic spacing is honoured
    assert postprocess(lab, (1.0, 1.0, 1.0), tumor_margin_mm=1.0)[28, 11, 11] == 0
    assert postprocess(lab, (0.5, 1.0, 1.0), tumor_margin_mm=2.0)[28, 11, 11] == 2


def test_resampling_back_restores_an_oblique_anisotropic_input_grid(tmp_path: Path) -> None:
    """RAS + 1 mm resampling and its inverse: a label survives the round trip on the input grid."""
    import nibabel as nib
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd, Spacingd

    from tumorsynth.apps.train.inference import to_input_grid

    shape = (48, 40, 14)
    affine = np.array([[-0.8, 0, 0, 20.0], [0, 0, 0.9, -30.0], [0, 3.0, 0, 5.0], [0, 0, 0, 1]])
    ii, jj, kk = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    lab = np.zeros(shape, np.uint8)
    lab[((ii - 20) * 0.8) ** 2 + ((jj - 18) * 3.0) ** 2 + ((kk - 7) * 0.9) ** 2 < 12.0 ** 2] = 1
    lab[((ii - 24) * 0.8) ** 2 + ((jj - 18) * 3.0) ** 2 + ((kk - 7) * 0.9) ** 2 < 5.0 ** 2] = 2
    nib.save(nib.Nifti1Image(lab, affine), str(tmp_path / "lab.nii.gz"))
    fwd = Compose([LoadImaged("label", image_only=True), EnsureChannelFirstd("label"),
                   Orientationd("label", "RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
                   Spacingd("label", (1.0, 1.0, 1.0), mode="nearest")])
    res = fwd({"label": str(tmp_path / "lab.nii.gz")})["label"]
    assert tuple(res.shape[1:]) != shape  # really resampled and reoriented
    back = to_input_grid(res[0].numpy(), res.affine, affine, shape)
    assert back.shape == shape and back.dtype == np.uint8
    for v in (1, 2):
        a, b = back == v, lab == v
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.95, v  # no shift, no flip
