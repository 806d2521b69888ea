"""zoo.networks: sources, safe weight loading, random-weight refusal, checksums, features."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from registry.errors import InvalidInput
from zoo import networks

TINY_RESNET = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_width": 8}


def _trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Move BatchNorm statistics off their init values, as any training would."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 16, 16))
    return model.eval()


def _save(tmp_path, model, name="w.safetensors", **meta):
    path = tmp_path / name
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(path),
        metadata={k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()},
    )
    return path


def test_parse_source():
    assert networks.parse_source("timm:resnet34.a1_in1k") == networks.Source("timm", "resnet34.a1_in1k")
    assert networks.parse_source("bundled").kind == "bundled"
    assert networks.parse_source("file:/x/y.safetensors").target == "/x/y.safetensors"
    for bad in ("resnet18", "ftp:x", "timm:", ""):
        with pytest.raises(InvalidInput):
            networks.parse_source(bad)


def test_file_source_roundtrip_and_checksum(tmp_path):
    model = _trained_like(timm.create_model("resnet18", num_classes=5, **TINY_RESNET))
    path = _save(tmp_path, model, arch="resnet18", model_args=TINY_RESNET)
    loaded = networks.load_network(f"file:{path}")
    assert not loaded.training
    assert networks.weights_checksum(loaded) == networks.weights_checksum(model)
    assert networks.weights_checksum(path) == networks.file_checksum(path)
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
    assert networks.load_network(f"file:{path}", num_classes=3).get_classifier().out_features == 3


def test_torch_checkpoint_loads_weights_only(tmp_path):
    model = _trained_like(timm.create_model("resnet18", num_classes=4, **TINY_RESNET))
    path = tmp_path / "w.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    (tmp_path / "w.json").write_text(json.dumps({"arch": "resnet18", "model_args": TINY_RESNET}))
    loaded = networks.load_network(f"file:{path}")
    assert networks.weights_checksum(loaded) == networks.weights_checksum(model)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": _Unsafe()}, path)
    with pytest.raises(InvalidInput, match="weights-only"):
        networks.load_network(f"file:{path}", arch="resnet18")


class _Unsafe:
    pass


def test_random_weights_refused_unless_allowed(tmp_path):
    model = timm.create_model("resnet18", num_classes=5, **TINY_RESNET)
    path = _save(tmp_path, model, arch="resnet18", model_args=TINY_RESNET)
    with pytest.raises(InvalidInput, match="pass allow_random=True"):
        networks.load_network(f"file:{path}")
    # an expert: no command that loads one has an allow_random option (recommend named a missing --allow-random)
    with pytest.raises(InvalidInput, match="point mine at trained weights with `zoo models set-source mine SOURCE`$"):
        networks.load_network(f"file:{path}", model_name="mine")
    assert networks.load_network(f"file:{path}", allow_random=True) is not None


def test_an_expert_of_unknown_or_wrong_arch_says_how_to_record_it(tmp_path):
    """An expert is loaded by evaluate, verify and the judges, none of which has an --arch option."""
    model = _trained_like(timm.create_model("resnet18", num_classes=5, **TINY_RESNET))
    path = _save(tmp_path, model)
    for arch in (None, "resnet34"):
        with pytest.raises(InvalidInput, match=r"cannot build expert mine \(.*\); register it again") as refused:
            networks.load_network(f"file:{path}", arch=arch, model_name="mine")
        assert "{arg:" not in str(refused.value) and "`zoo models set-source mine file:" in str(refused.value)


def test_missing_arch_and_wrong_arch(tmp_path):
    model = _trained_like(timm.create_model("resnet18", num_classes=5, **TINY_RESNET))
    path = _save(tmp_path, model)
    with pytest.raises(InvalidInput, match="pass arch=ARCH"):
        networks.load_network(f"file:{path}")
    with pytest.raises(InvalidInput, match="do not fit"):
        networks.load_network(f"file:{path}", arch="resnet18")
    with pytest.raises(InvalidInput, match="does not exist"):
        networks.load_network(f"file:{tmp_path / 'none.safetensors'}", arch="resnet18")


def test_hub_unreachable_says_how_to_use_a_local_file(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(InvalidInput, match="file:PATH") as err:
        networks.load_network("timm:resnet34.a1_in1k")
    assert "\n" not in str(err.value) and "arch" in str(err.value)
    # a registered expert's weights: point the model at the file (its arch is already recorded)
    with pytest.raises(InvalidInput) as err:
        networks.load_network("timm:resnet34.a1_in1k", arch="resnet34", model_name="my-r34")
    assert "point my-r34 at them with `zoo models set-source my-r34 file:PATH`" in str(err.value)
    assert "arch" not in str(err.value).split(";")[1]


def test_bundled_missing_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.setattr(networks, "bundled_probe_dir", lambda: tmp_path)
    with pytest.raises(InvalidInput, match="bundled probe is not built") as err:
        networks.load_network("bundled")
    assert "probe=timm:NAME" in str(err.value) and "arch=ARCH" in str(err.value)
    assert " --" not in str(err.value)  # a Python caller is told parameters, not command-line flags


def test_bundled_reads_probe_json(monkeypatch, tmp_path):
    model = _trained_like(timm.create_model("resnet18", num_classes=5, **TINY_RESNET))
    _save(tmp_path, model, name="probe.safetensors")
    (tmp_path / "probe.json").write_text(
        json.dumps(
            {
                "arch": "resnet18",
                "model_args": TINY_RESNET,
                "num_classes": 5,
                "input_size": [3, 16, 16],
                "mean": [0.5, 0.5, 0.5],
                "std": [0.25, 0.25, 0.25],
                "interpolation": "bilinear",
            }
        )
    )
    monkeypatch.setattr(networks, "bundled_probe_dir", lambda: tmp_path)
    cfg = networks.data_config(networks.load_network("bundled"))
    assert cfg["input_size"] == (3, 16, 16) and cfg["mean"] == (0.5, 0.5, 0.5)
    assert cfg["interpolation"] == "bilinear"


@pytest.mark.parametrize(
    "arch,kwargs",
    [
        ("resnet18", TINY_RESNET),
        ("resnet34", {"layers": [1, 1, 1, 1], "channels": [8, 8, 16, 16], "stem_width": 8}),
        ("mobilenetv3_small_050", {}),
        ("convnext_atto", {"dims": [8, 16, 16, 32], "depths": [1, 1, 1, 1]}),
    ],
)
def test_extract_features_any_timm_cnn(arch, kwargs):
    from PIL import Image

    model = timm.create_model(arch, num_classes=3, **kwargs).eval()
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, 32, 32), "crop_pct": 1.0}
    images = [(Image.fromarray(np.full((12, 10), i * 20, np.uint8)), i % 2) for i in range(5)]
    feats = networks.extract_features(model, images, batch_size=2, progress=False)
    assert feats.shape == (5, getattr(model, "head_hidden_size", None) or model.num_features)
    assert feats.dtype == np.float32
    with torch.no_grad():
        from zoo.batches import transform_for

        x = transform_for(model)(images[3][0])[None]
        direct = model.forward_head(model.forward_features(x), pre_logits=True)
    assert np.allclose(feats[3], direct[0].numpy(), atol=1e-5)


@pytest.mark.parametrize("extra", [{"checkpoint_path": "other.pth"}, {"pretrained_cfg_overlay": {"file": "x"}}])
def test_model_args_outside_the_allow_list_are_refused(tmp_path, extra):
    """A sidecar's model_args go to timm.create_model only when they shape the architecture: a checkpoint_path
    there would make timm read a second (pickled) file."""
    model = _trained_like(timm.create_model("resnet18", num_classes=4, **TINY_RESNET))
    path = _save(tmp_path, model)
    pickled = tmp_path / "other.pth"
    pickled.write_bytes(b"not to be read")
    (tmp_path / "w.safetensors.json").write_text(
        json.dumps({"arch": "resnet18", "model_args": {**TINY_RESNET, **extra}})
    )
    with pytest.raises(InvalidInput, match=next(iter(extra))) as caught:
        networks.load_network(f"file:{path}")
    assert "\n" not in str(caught.value)
    meta_path = _save(tmp_path, model, name="m.safetensors", arch="resnet18", model_args={**TINY_RESNET, **extra})
    with pytest.raises(InvalidInput, match=next(iter(extra))):
        networks.load_network(f"file:{meta_path}")
