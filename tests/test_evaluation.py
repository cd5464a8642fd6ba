import json
import statistics

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import evaluation as ev
from course_lib import report
from course_lib import viz
from course_lib.checkpoints import save_checkpoint
from course_lib.config import PROJECT_ROOT, WEIGHTS_DIR, ModelConfig, ScheduleConfig
from course_lib.data import load_sprites
from course_lib.features import INCEPTION_SKIPPED, save_feature_net
from course_lib.images import quantize, to_model_space
from course_lib.model import UNet
from course_lib.samplers import SAMPLERS, make_sampler, sample
from course_lib.schedules import NoiseSchedule
from course_lib.seeding import derived_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_unet(context_dim: int, seed: int = 0) -> UNet:
    """A small U-Net whose zero-initialised output layer is randomised, so that it predicts something."""
    torch.manual_seed(seed)
    model = UNet(ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(), groups=4,
                             context_dim=context_dim)).eval()
    with torch.no_grad():
        model.conv_out.weight.normal_(0.0, 0.1)
    return model


def test_generate_is_reproducible_and_quantised_and_seeds_change_the_samples():
    model = UNet(ModelConfig(base_channels=8, channel_mults=(1,), attention_levels=(), groups=4, context_dim=0))
    sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=5)), "ddpm")
    a, b = (ev.generate(model, sampler, 6, seed=3, batch_size=4) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (6, 3, 16, 16)
    assert torch.equal(a, quantize(a)) and a.abs().max() <= 1
    assert not torch.equal(a, ev.generate(model, sampler, 6, seed=4, batch_size=4))
    second = sample(model, sampler, 2, seed=derived_seed(3, 1)).images  # batch 1 of seed 3: images 4 and 5
    assert torch.equal(a[4:], quantize(second))


@pytest.mark.parametrize("method", ["ddpm", "ddim"])
def test_model_batch_changes_no_image(tiny_model, method):
    """Guided sampling doubles the batch; capping the model's batch splits the calls but keeps every image:
    the same random streams, and per-image predictions up to floating-point rounding (so a pixel may move by
    one 8-bit level, and rarely does)."""
    calls = []
    tiny_model.register_forward_hook(lambda module, args, output: calls.append(len(args[0])))
    sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=10)), method, steps=5 if method == "ddim" else None)
    context = torch.eye(5)[torch.arange(12) % 5]
    whole = ev.generate(tiny_model, sampler, 12, context, guidance=2.0, seed=1, batch_size=6, model_batch=100)
    assert set(calls) == {12}  # 6 images, doubled by classifier-free guidance
    calls.clear()
    tiny_model.train()
    split = ev.generate(tiny_model, sampler, 12, context, guidance=2.0, seed=1, batch_size=6, model_batch=5)
    assert set(calls) == {5, 2} and tiny_model.training  # chunks of at most 5; the model's mode is restored
    assert (whole - split).abs().max() <= 2 / 255 + 1e-6 and (whole != split).float().mean() < 0.01


def test_evaluation_runs_take_their_methods_from_the_sampler_registry():
    runs = ev.evaluation_runs(labelled=False, guided=False, step_counts=(50, 10, 600), T=500)
    assert {method for _, method, _ in runs} == set(SAMPLERS)
    assert runs == [("uncond", m, k) for m in SAMPLERS for k in ([10, 25, 50] if ev.takes_steps(m) else [None])]
    assert ("uncond", "ddpm", None) in runs and ("uncond", "ddim", 25) in runs
    assert ev.takes_steps("ddim") and not ev.takes_steps("ddpm")
    side = ev.evaluation_runs(labelled=True, guided=True, step_counts=(), T=500)
    assert [r for r in side if r[0] != "cond"] == [(mode, m, 25 if ev.takes_steps(m) else None)
                                                  for mode in ("uncond", "autoguided") for m in SAMPLERS]


def without_times(r: dict) -> dict:
    """A report's numbers without its wall times."""
    r = json.loads(json.dumps(r))
    del r["seconds"]
    for m in r["models"].values():
        for run in m["runs"]:
            del run["seconds"]
    return r


def test_run_evaluation_end_to_end(data_dir, feature_net, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no Inception weights here
    schedule = ScheduleConfig(T=10)
    weights = {"uncond": save_checkpoint(tmp_path / "uncond.pt", tiny_unet(0), schedule),
               "context": save_checkpoint(tmp_path / "context.pt", tiny_unet(5), schedule)}
    guide = save_checkpoint(tmp_path / "context_step_000002.pt", tiny_unet(5, seed=1), schedule)
    net_path = save_feature_net(tmp_path / "features.pt", feature_net, {"test_accuracy": {"label": 0.5}})
    out = tmp_path / "report" / "EVALUATION.md"
    kw = dict(data_dir=data_dir, n=8, device="cpu", progress=False, step_counts=(3,), batch_size=5,
              guides={"context": guide}, autoguidance=1.5, precision="fp32", seeds=(0, 1, 2))
    r = ev.run_evaluation(weights, net_path, out=out, **kw)
    saved = json.loads((out.parent / "EVALUATION.json").read_text())
    assert saved == json.loads(json.dumps(r))
    assert set(r) == {"settings", "reference", "memorisation", "pixel_art", "inception", "models", "bars", "seconds"}
    assert set(r["reference"]) == {"floor_fid", "train_vs_test_fid"}
    assert r["inception"] == INCEPTION_SKIPPED
    assert (r["settings"]["seed"], r["settings"]["seeds"], r["settings"]["side_seeds"]) == (0, [0, 1, 2], 1)
    assert (r["settings"]["batch_size"], r["settings"]["model_batch"]) == (5, ev.MODEL_BATCH)
    main = [(m, k) for m in SAMPLERS for k in ((3, 10) if ev.takes_steps(m) else (10,))]  # DDPM: all T = 10 steps
    side = [(m, 10) for m in SAMPLERS]
    uncond, context = r["models"]["uncond"]["runs"], r["models"]["context"]["runs"]
    assert [(x["mode"], x["sampler"], x["steps"]) for x in uncond] == [("uncond", m, k) for m, k in main]
    assert [(x["mode"], x["sampler"], x["steps"]) for x in context] == (
        [("cond", m, k) for m, k in main] + [(mode, m, k) for mode in ("uncond", "autoguided") for m, k in side])
    for run, main_path in [(x, x["mode"] == "uncond") for x in uncond] + [(x, x["mode"] == "cond") for x in context]:
        assert {"fid", "fid_sd", "fids", "fid_ratio", "fid_ratio_sd", "near_copy_share", "near_copy_excess",
                "median_distance", "pixel_art", "nfe", "seconds"} <= set(run)
        assert run["near_copy_excess"] == pytest.approx(run["near_copy_share"] - r["memorisation"]["test_share"])
        assert ("class_accuracy" in run) == (run["mode"] == "cond")
        assert run["seeds"] == ([0, 1, 2] if main_path else [0])
        assert len(run["fids"]) == len(run["seeds"]) and run["fid"] == pytest.approx(statistics.fmean(run["fids"]))
        if main_path:  # the seeds change the samples, so each seed scores its own FID
            assert len(set(run["fids"])) == 3 and run["fid_sd"] == pytest.approx(statistics.stdev(run["fids"]))
            assert run["fid_ratio_sd"] == pytest.approx(run["fid_sd"] / r["reference"]["floor_fid"])
        else:
            assert run["fid_sd"] is None and run["fid_ratio_sd"] is None
        assert run["fid_ratio"] == pytest.approx(run["fid"] / r["reference"]["floor_fid"])
        assert set(run["pixel_art"]) == {"colours_median", "colours_mean", "binned_colours_median",
                                         "binned_colours_mean", "exact_white", "colour_ratio", "goals_met"}
    heun = [x for x in context if x["sampler"] == "heun"]
    assert all(x["nfe"] == 2 * x["steps"] - 1 for x in heun)  # two model evaluations per step but the first
    assert context[0]["guidance"] == 2.0  # config.DEFAULT_GUIDANCE
    assert [(x["guidance"], x.get("guide")) for x in context[-len(side) - 1:]] == (
        [(None, None)] + [(1.5, str(guide))] * len(side))
    assert set(r["pixel_art"]["data"]) == {"colours_median", "colours_mean", "binned_colours_median",
                                           "binned_colours_mean", "exact_white"}

    assert "diversity" not in r["models"]["uncond"]
    div = r["models"]["context"]["diversity"]
    assert (div["sampler"], div["steps"], div["seed"], div["guidance"]) == ("ddim", 10, 0, 2.0)
    assert sum(c["sprites"] for c in div["samples"].values()) == 8
    assert {k: c["sprites"] for k, c in div["samples"].items()} == {k: c["sprites"] for k, c in div["data"].items()}
    assert all(1 <= c[h] <= c["sprites"] for d in (div["samples"], div["data"]) for c in d.values()
               for h in ("template", "palette"))

    bars = r["bars"]
    assert [b["bar"] for b in bars["uncond"]] == ["DDPM-10 FID <= 2 x floor", "DDIM-10 FID <= 1.25 x DDPM-10 FID",
                                                  "DDPM-10 near-copy excess <= 2 points",
                                                  "DDIM-10 near-copy excess <= 2 points"]
    assert bars["context"][2]["bar"].startswith("DDIM-10 class accuracy >= 95% for every label")
    ddpm = context[0]
    assert bars["context"][0] == {"bar": "DDPM-10 FID <= 2 x floor", "value": ddpm["fid"], "sd": ddpm["fid_sd"],
                                  "limit": 2 * r["reference"]["floor_fid"], "unit": "FID",
                                  "met": ddpm["fid"] <= 2 * r["reference"]["floor_fid"]}

    text = out.read_text()
    for key in ("floor", "near-copies", "Class accuracy per label", "Memorisation", INCEPTION_SKIPPED, "Wall time",
                "none, guided by context_step_000002, w=1.5", f"Machine: {r['settings']['machine']}.", "## Bars",
                "### uncond", "### context", "## Diversity per label", "## Pixel-art fidelity", "(pixel_art.png)",
                f"| {ddpm['fid']:.3f} ± {ddpm['fid_sd']:.3f} |", "| held-out sprites (test half B) |"):
        assert key in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["EVALUATION.json", "EVALUATION.md", "fid_vs_nfe.png",
                                                            "pixel_art.png"]
    assert "## Quality against model evaluations" in text and "(fid_vs_nfe.png)" in text
    picture, scale = np.asarray(Image.open(out.parent / "pixel_art.png").convert("RGB")), ev.PICTURE_SCALE
    test = load_sprites(data_dir, "test")
    held = test.images[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[8:16]]  # test half B
    grid = viz.grid_pixels(to_model_space(held), 8)  # n = 8 sprites in a row; then the two models' grids
    assert picture.shape == (viz.TITLE_PX + grid.shape[0] * scale + viz.CAPTION_PX,
                             3 * grid.shape[1] * scale + 2 * viz.GAP_PX, 3)
    assert np.array_equal(picture[viz.TITLE_PX:viz.TITLE_PX + grid.shape[0] * scale, :grid.shape[1] * scale],
                          grid.repeat(scale, 0).repeat(scale, 1))  # every sprite pixel a whole block, exact colour

    q = report.quality_vs_nfe(out.parent / "EVALUATION.json", "context")
    ddim = [x for x in context if x["mode"] == "cond" and x["sampler"] == "ddim"]
    assert q["samplers"]["ddim"] == {"nfe": [3, 10], "steps": [3, 10], "fid": [x["fid"] for x in ddim],
                                     "fid_sd": [x["fid_sd"] for x in ddim]}
    assert (q["ddpm_steps"], q["ddpm_fid"], q["ddpm_fid_sd"], q["floor"], q["n"]) == (
        10, ddpm["fid"], ddpm["fid_sd"], r["reference"]["floor_fid"], 8)
    assert report.quality_vs_nfe(out.parent / "EVALUATION.json", "uncond")["guidance"] is None
    with pytest.raises(ValueError, match="no model 'nothing'"):
        report.quality_vs_nfe(out.parent / "EVALUATION.json", "nothing")
    with pytest.raises(FileNotFoundError, match="python -m course_lib evaluate"):
        report.quality_vs_nfe(tmp_path / "nowhere.json")
    assert report.read_report(out.parent / "EVALUATION.json") == saved

    curve = report.quality_vs_nfe(saved, "context")  # the labelled path: every sampler that takes a step count
    assert set(curve["samplers"]) == {m for m in SAMPLERS if ev.takes_steps(m)}
    assert curve["samplers"]["heun"]["nfe"] == [5, 19] and curve["samplers"]["ddim"]["nfe"] == [3, 10]
    assert curve["limit"] == pytest.approx(1.25 * ddpm["fid"])
    for m, c in curve["samplers"].items():
        within = [k for k, f in zip(c["nfe"], c["fid"]) if f <= curve["limit"]]
        assert curve["fewest"][m] == (within[0] if within else None)

    again = without_times(ev.run_evaluation({"context": weights["context"]}, net_path,
                                            out=tmp_path / "again" / "EVALUATION.md", **kw))
    first = without_times(r)  # a rerun reproduces every number, also without the other model
    assert (again["reference"], again["memorisation"]) == (first["reference"], first["memorisation"])
    assert again["pixel_art"]["data"] == first["pixel_art"]["data"]
    assert again["models"]["context"] == first["models"]["context"] and again["bars"]["context"] == bars["context"]


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


def test_fewest_nfe_is_the_first_evaluation_count_within_the_limit():
    def row(sampler, steps, nfe, fid):
        return {"mode": "uncond", "sampler": sampler, "steps": steps, "nfe": nfe, "fid": fid, "fid_sd": None,
                "guidance": None}
    old_row = row("ddim", 10, 10, 13.0)
    del old_row["nfe"]  # reports written before the second-order samplers: DDIM's NFE is its step count
    runs = [row("ddpm", 500, 500, 10.0), row("ddim", 25, 25, 12.0), old_row,
            row("ddim", 5, 5, 20.0), row("heun", 5, 9, 11.0), row("heun", 3, 5, 30.0), row("dpmpp2m", 5, 5, 12.6)]
    r = {"models": {"m": {"runs": runs}}, "reference": {"floor_fid": 5.0}, "settings": {"n": 10}}
    q = report.quality_vs_nfe(r, "m")
    assert q["samplers"]["ddim"] == {"nfe": [5, 10, 25], "steps": [5, 10, 25], "fid": [20.0, 13.0, 12.0],
                                     "fid_sd": [None] * 3}
    assert q["limit"] == 12.5 and q["fewest"] == {"ddim": 25, "heun": 9, "dpmpp2m": None} and q["missing"] == []
    assert "| m | DPM-Solver++(2M) | none measured | 12.500 |" in "\n".join(report.nfe_section(r))
    del r["models"]["m"]["runs"][-1]
    assert report.quality_vs_nfe(r, "m")["missing"] == ["dpmpp2m"]
    shown = viz.show_quality_vs_nfe(r, "m", samplers=["ddim", "dpmpp2m"])
    assert shown == {"ddim": [(5, 20.0), (10, 13.0), (25, 12.0)]}
    assert set(viz.show_quality_vs_nfe(r, "m")) == {"ddim", "heun"}
    with pytest.raises(ValueError, match=r"unknown samplers \['euler'\]"):
        viz.show_quality_vs_nfe(r, "m", samplers=["ddim", "euler"])


def test_the_report_names_project_files_relative_to_the_project_and_others_in_full(tmp_path):
    assert ev.shown_path(WEIGHTS_DIR / "context.pt") == "weights/context.pt"
    assert ev.shown_path(PROJECT_ROOT / "data") == "data"
    assert ev.shown_path(tmp_path / "mine.pt") == str((tmp_path / "mine.pt").resolve())
