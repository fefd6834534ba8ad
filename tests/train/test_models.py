"""Networks, checkpoints and the inference post-processing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tumorsynth.errors import InputError
from tumorsynth.train.inference import postprocess
from tumorsynth.train.models import build_model, load_checkpoint, model_spec, save_checkpoint


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
