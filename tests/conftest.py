import pytest
import torch

from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.model import UNet
from course_lib.schedules import NoiseSchedule

TINY = ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,), context_dim=5, groups=4)


@pytest.fixture
def tiny_model() -> UNet:
    """A small U-Net whose zero-initialised layers are randomised, so its output depends on x, t and c."""
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.1)
    return model


@pytest.fixture
def schedule() -> NoiseSchedule:
    return NoiseSchedule(ScheduleConfig())
