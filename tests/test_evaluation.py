import json

import pytest
import torch

from course_lib import evaluation as ev
from course_lib.checkpoints import save_checkpoint
from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.features import INCEPTION_SKIPPED, save_feature_net
from course_lib.images import quantize
from course_lib.model import UNet
from course_lib.samplers import SAMPLERS, make_sampler
from course_lib.schedules import NoiseSchedule

pytestmark = pytest.mark.usefixtures("one_thread")


def test_generate_is_reproducible_and_quantised():
    model = UNet(ModelConfig(base_channels=8, channel_mults=(1,), attention_levels=(), groups=4, context_dim=0))
    sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=5)), "ddpm")
    a, b = (ev.generate(model, sampler, 6, seed=3, batch_size=4) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (6, 3, 16, 16)
    assert torch.equal(a, quantize(a)) and a.abs().max() <= 1


def test_evaluation_runs_take_their_methods_from_the_sampler_registry():
    runs = ev.evaluation_runs(labelled=False, guided=False, step_counts=(50, 10, 600), T=500)
    assert {method for _, method, _ in runs} == set(SAMPLERS)
    assert runs == [("uncond", "ddpm", None), ("uncond", "ddim", 10), ("uncond", "ddim", 25), ("uncond", "ddim", 50)]
    assert ev.takes_steps("ddim") and not ev.takes_steps("ddpm")


def test_run_evaluation_end_to_end(data_dir, feature_net, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no Inception weights here
    torch.manual_seed(0)
    cfg = ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(), groups=4)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", UNet(cfg), ScheduleConfig(T=20))
    weak = UNet(cfg)
    with torch.no_grad():  # the model predicts eps = 0 (zero-initialised output); let the guide predict something
        weak.conv_out.weight.normal_(0.0, 0.1)
    guide = save_checkpoint(tmp_path / "tiny_step_000002.pt", weak, ScheduleConfig(T=20))
    net_path = save_feature_net(tmp_path / "features.pt", feature_net, {"test_accuracy": {"label": 0.5}})
    out = tmp_path / "report" / "EVALUATION.md"
    r = ev.run_evaluation({"tiny": ckpt}, net_path, data_dir=data_dir, n=8, out=out, device="cpu", progress=False,
                          ddim_steps=(3, 50), batch_size=5, guides={"tiny": guide}, autoguidance=1.5,
                          precision="fp32")
    saved = json.loads((out.parent / "EVALUATION.json").read_text())
    assert saved == json.loads(json.dumps(r))
    assert set(r) == {"settings", "reference", "memorisation", "inception", "models", "seconds"}
    assert set(r["reference"]) == {"floor_fid", "train_vs_test_fid"}
    assert r["inception"] == INCEPTION_SKIPPED
    runs = r["models"]["tiny"]["runs"]
    assert [(x["mode"], x["sampler"], x["steps"]) for x in runs] == [
        ("cond", "ddpm", 20), ("cond", "ddim", 3), ("cond", "ddim", 20), ("uncond", "ddpm", 20), ("uncond", "ddim", 20),
        ("autoguided", "ddpm", 20), ("autoguided", "ddim", 20)]
    for run in runs:
        assert {"fid", "fid_ratio", "near_copy_share", "near_copy_excess", "median_distance", "seconds"} <= set(run)
        assert run["near_copy_excess"] == pytest.approx(run["near_copy_share"] - r["memorisation"]["test_share"])
        assert ("class_accuracy" in run) == (run["mode"] == "cond")
    assert runs[0]["guidance"] == 2.0  # config.DEFAULT_GUIDANCE
    assert [(x["guidance"], x.get("guide")) for x in runs[-3:]] == [(None, None), (1.5, str(guide)), (1.5, str(guide))]
    assert runs[-1]["fid"] != runs[-3]["fid"]  # the guide changed the samples (w = 1.5 pushes away from it)
    assert r["settings"]["bf16"] is False
    text = out.read_text()
    for key in ("floor", "near-copies", "Class accuracy per label", "Memorisation", INCEPTION_SKIPPED, "Wall time",
                "none, guided by tiny_step_000002, w=1.5", f"Machine: {r['settings']['machine']}."):
        assert key in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["EVALUATION.json", "EVALUATION.md"]  # no temporaries

    q = ev.quality_vs_steps(out.parent / "EVALUATION.json", "tiny")
    assert q["steps"] == [3, 20] and q["fid"] == [runs[1]["fid"], runs[2]["fid"]]
    assert (q["ddpm_steps"], q["ddpm_fid"], q["floor"], q["n"]) == (20, runs[0]["fid"], r["reference"]["floor_fid"], 8)
    with pytest.raises(ValueError, match="no model 'context'"):
        ev.quality_vs_steps(out.parent / "EVALUATION.json")
    with pytest.raises(FileNotFoundError, match="python -m course_lib evaluate"):
        ev.quality_vs_steps(tmp_path / "nowhere.json")
    assert ev.read_report(out.parent / "EVALUATION.json") == saved


def test_run_evaluation_bad_input(data_dir, feature_net, tmp_path):
    net_path = save_feature_net(tmp_path / "features.pt", feature_net)
    with pytest.raises(ValueError, match="n=1"):
        ev.run_evaluation({}, net_path, data_dir=data_dir, n=1, out=tmp_path / "E.md", progress=False)
    with pytest.raises(ValueError, match="n <= 50"):
        ev.run_evaluation({}, net_path, data_dir=data_dir, n=60, out=tmp_path / "E.md", progress=False)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ev.run_evaluation({"m": tmp_path / "missing.pt"}, net_path, data_dir=data_dir, n=8, progress=False)
    with pytest.raises(FileNotFoundError, match="m: .*gone_step_000001.pt"):
        ev.run_evaluation({"m": net_path}, net_path, data_dir=data_dir, n=8, progress=False,
                          guides={"m": tmp_path / "gone_step_000001.pt"})
    with pytest.raises(ValueError, match=r"guides given for \['x'\]"):
        ev.run_evaluation({"m": net_path}, net_path, data_dir=data_dir, n=8, progress=False, guides={"x": net_path})
