import json

import pytest
import torch

from benchmarks import bench, reference
from course_lib.device import PrecisionProbe
from course_lib.model import count_parameters


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two OpenMP threads can be many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ref_model() -> reference.ContextUnet:
    torch.manual_seed(0)
    return reference.ContextUnet().eval()


def test_reference_size_matches_the_original(ref_model):
    assert abs(count_parameters(ref_model) - 1.48e6) <= 0.02e6
    flops = bench.forward_flops(ref_model, torch.randn(2, 3, 16, 16), torch.rand(2), torch.zeros(2, 5), batch=2)
    assert flops == pytest.approx(301e6, rel=0.05)


@pytest.mark.parametrize("t", [torch.rand(3), torch.tensor([[[[0.5]]]])], ids=["per-image", "scalar"])
def test_reference_forward_keeps_the_image_shape(ref_model, t):
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert ref_model(x, t, torch.eye(5)[:3]).shape == x.shape
        assert ref_model(x, t).shape == x.shape  # no context: zeros


def test_reference_shortcut_is_a_registered_layer(ref_model):
    assert isinstance(ref_model.init_conv.shortcut, torch.nn.Conv2d)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(ref_model.init_conv(x), ref_model.init_conv(x))


@pytest.mark.parametrize("speedup", [2.0, 0.8, 0.1], ids=["bf16-faster", "bf16-slower", "bf16-emulated"])
def test_quick_bench_writes_the_table(tmp_path, capsys, monkeypatch, speedup):
    probe = PrecisionProbe("cpu", fp32_seconds=speedup, bf16_seconds=1.0)
    monkeypatch.setattr(bench, "precision_probe", lambda device: probe)
    out = tmp_path / "results.md"
    assert bench.main(["--quick", "--no-progress", "--threads", "1", "--out", str(out)]) == 0
    text = out.read_text()
    for row in ["| CPU |", "| Precision probe | bf16 probe on cpu", "| torch |", "| Date |", "| Load average",
                "| Matmul peak fp32", "| Matmul peak bf16", "| Training batch | 4 | 4 |",
                "| Parameters |", "| Forward MFLOP per 16x16 image |", "| Training throughput (images/s) |",
                "| Training GFLOP/s", "| DDPM 500 steps, 2 sprites (s) [2 of 500 steps timed, x250] |",
                "| DDIM 25 steps, 2 sprites (s) |", "| Sampling GFLOP/s", "Quality. Project:", "make bench",
                "| Project at DDPM's quality: ", "against the reference's DDPM 500 |", "- Equal quality: "]:
        assert row in text, row
    assert "| Parameters | 1.481 M |" in text
    measured_bf16 = speedup >= bench.EMULATED  # a slower but native bf16 is still measured: the fastest is chosen
    assert ("emulates bf16" in text) != measured_bf16
    header = next(line for line in text.splitlines() if line.startswith("| Measurement | Reference fp32"))
    assert header.count("bf16") == (2 if measured_bf16 else 0)
    for line in text.splitlines():  # each compared row names the precision each side ran in
        if line.startswith(("| Training throughput", "| DDPM 500", "| DDIM 25", "| Project at")) and "x (best" in line:
            assert line.count(", fp32") + line.count(", bf16") == 2, line
    assert not list(tmp_path.glob(".*.tmp"))


def test_equal_quality_is_the_fewest_evaluations_within_the_bar(tmp_path):
    def row(sampler, steps, nfe, fid):
        return {"mode": "cond", "sampler": sampler, "steps": steps, "nfe": nfe, "fid": fid, "fid_sd": None,
                "guidance": 2.0}

    def report(*runs):
        path = tmp_path / "EVALUATION.json"
        path.write_text(json.dumps({"models": {"context": {"runs": [row("ddpm", 500, 500, 10.0), *runs]}},
                                    "reference": {"floor_fid": 5.0}, "settings": {"n": 10}}))
        return path

    found = bench.equal_quality(report(row("ddim", 25, 25, 12.0), row("heun", 5, 9, 11.0),
                                       row("dpmpp2m", 8, 8, 12.4), row("dpmpp2m", 6, 6, 12.6)))
    assert found == bench.EqualQuality("dpmpp2m", 8, 8, 12.4, 10.0, 2.0)
    assert found.label() == "DPM-Solver++(2M) 8 steps (8 model evaluations)"
    assert bench.equal_quality(report(row("ddim", 25, 25, 12.6))) is None
    assert bench.equal_quality(tmp_path / "none.json") is None
