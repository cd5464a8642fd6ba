import logging

import pytest
import torch

from course_lib import device as dev
from course_lib.config import PRECISIONS, TrainConfig


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_pick_device_prefers_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert dev.pick_device() == torch.device(expected)


def test_fixed_precisions_need_no_probe(monkeypatch):
    monkeypatch.setattr(dev, "precision_probe", lambda device: pytest.fail("probed"))
    assert dev.use_bf16("fp32", "cpu") is False and dev.use_bf16("bf16", "cpu") is True


@pytest.mark.parametrize("fp32,bf16,expected", [(1.0, 0.5, True), (1.0, 0.95, False), (1.0, 1.3, False),
                                                 (1.0, 12.0, False)],
                         ids=["bf16-2x-faster", "bf16-a-tie", "bf16-slower", "bf16-emulated"])
def test_auto_follows_the_measured_speed_not_the_cpu_flags(monkeypatch, fp32, bf16, expected):
    monkeypatch.setattr(dev, "precision_probe", lambda device: dev.PrecisionProbe("cpu", fp32, bf16))
    assert dev.use_bf16("auto", "cpu") is expected


def test_the_probe_times_both_precisions_once_per_process_and_logs_it(caplog):
    dev._probe.cache_clear()
    with caplog.at_level(logging.INFO, logger="course_lib.device"):
        first = dev.precision_probe("cpu")
        second = dev.precision_probe(torch.device("cpu"))
    assert first is second and first.fp32_seconds > 0 and first.bf16_seconds > 0
    assert [r.getMessage() for r in caplog.records] == [str(first)]
    assert "bf16 probe on cpu" in str(first) and ("-> bf16" in str(first)) == first.bf16_faster
    assert dev.use_bf16("auto", "cpu") is first.bf16_faster


def test_no_probe_where_bf16_autocast_is_not_offered():
    assert dev.precision_probe("meta") is None and dev.use_bf16("auto", "meta") is False


def test_precision_names_are_checked_in_one_place():
    with pytest.raises(ValueError, match="precision='half' must be one of 'auto', 'bf16', 'fp32'"):
        dev.use_bf16("half", "cpu")
    with pytest.raises(ValueError, match="precision='half' must be one of"):
        TrainConfig(precision="half")
    assert PRECISIONS == ("auto", "bf16", "fp32")


def test_autocast_runs_matmuls_in_bf16_only_when_asked():
    a = torch.randn(4, 4)
    with dev.autocast("cpu", True):
        assert (a @ a).dtype == torch.bfloat16
    with dev.autocast("cpu", False):
        assert (a @ a).dtype == torch.float32


def test_describe_machine_names_the_cpu_and_the_probe():
    text = dev.describe_machine("cpu")
    assert dev.cpu_name() in text and "cores" in text and "bf16 probe on cpu" in text
