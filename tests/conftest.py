import pytest
import torch

from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.data import ImageDataset, load_sprites
from course_lib.features import FeatureNetConfig, torch_threads, train_feature_net
from course_lib.model import UNet
from course_lib.schedules import NoiseSchedule
from course_lib.sprites import write_sprite_dataset

TINY = ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,), context_dim=5, groups=4)
TINY_NET = FeatureNetConfig(widths=(8, 16), feature_dim=16)


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


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run as fast on one thread, and a second thread waiting on a busy core stalls every op."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sprites")
    write_sprite_dataset(d, n_train=300, n_test=100, progress=False)
    return d


@pytest.fixture(scope="module")
def feature_net(data_dir):
    return train_feature_net(load_sprites(data_dir), steps=3, batch_size=32, progress=False, config=TINY_NET)


@pytest.fixture
def sprites_like() -> ImageDataset:
    """40 random 16x16 RGB images with five one-hot labels: sprite-shaped data without the generator."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 16, 16), generator=g, dtype=torch.uint8)
    context = torch.eye(5)[torch.arange(40) % 5]
    return ImageDataset(images, context, ("a", "b", "c", "d", "e"), name="toy", digest="abc")
