import pytest
import torch

from course_lib import features as fe
from course_lib.checkpoints import save_checkpoint
from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.data import ImageDataset, load_sprites
from course_lib.model import UNet

from conftest import TINY_NET


pytestmark = pytest.mark.usefixtures("one_thread")


def mnist_like():
    return ImageDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, 10), tuple("0123456789"))


def test_feature_net_shapes_and_bad_input(feature_net):
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    out = feature_net(x)
    assert feature_net.features(x).shape == (4, 16)
    assert [o.shape[1] for o in out] == [5, TINY_NET.n_templates, TINY_NET.n_palettes]
    with pytest.raises(ValueError, match=r"shape \(batch, 3, 16, 16\)"):
        feature_net.features(torch.zeros(4, 3, 28, 28))
    with pytest.raises(ValueError, match="feature net learns the procedural sprites"):
        fe.train_feature_net(mnist_like(), steps=1)


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with fe.torch_threads(1):
        assert torch.get_num_threads() == 1
    with fe.torch_threads(None):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_feature_net_round_trip_is_exact(feature_net, data_dir, tmp_path):
    path = fe.save_feature_net(tmp_path / "f.pt", feature_net, {"steps": 3})
    loaded = fe.load_feature_net(path)
    assert loaded.config == TINY_NET and loaded.meta == {"steps": 3} and not loaded.training
    for k, v in feature_net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    images = load_sprites(data_dir, "test").images
    assert torch.equal(fe.extract_features(feature_net, images), fe.extract_features(loaded, images))
    test = load_sprites(data_dir, "test")
    assert fe.head_accuracy(loaded, test) == fe.head_accuracy(feature_net, test)


class Oracle(torch.nn.Module):
    """Answers each head from the data's own targets, in the order head_accuracy asks (batch by batch):
    the label always right, the template right for even positions only, the palette always wrong."""

    def __init__(self, data):
        super().__init__()
        self.targets = [data.context.argmax(1), data.attributes["template"], data.attributes["palette"]]
        self.sizes, self.seen = (5, TINY_NET.n_templates, TINY_NET.n_palettes), 0
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        idx = torch.arange(self.seen, self.seen + len(x))
        self.seen += len(x)
        label, template, palette = (t[idx] for t in self.targets)
        template = torch.where(idx % 2 == 0, template, (template + 1) % self.sizes[1])
        palette = (palette + 1) % self.sizes[2]
        return fe.Heads(*(torch.nn.functional.one_hot(t, k).float()
                          for t, k in zip((label, template, palette), self.sizes)))


def test_head_accuracy_counts_the_right_answers(data_dir):
    test = load_sprites(data_dir, "test")
    acc = fe.head_accuracy(Oracle(test), test, batch_size=32)
    assert acc == {"label": 1.0, "template": 0.5, "palette": 0.0}


def test_extract_features_same_for_pixels_and_model_space(feature_net, data_dir):
    pixels = load_sprites(data_dir, "test").images[:10]
    torch.testing.assert_close(fe.extract_features(feature_net, pixels, batch_size=3),
                               fe.extract_features(feature_net, pixels.float() / 127.5 - 1))


def test_corrupt_foreign_and_missing_feature_net_files(feature_net, tmp_path):
    path = fe.save_feature_net(tmp_path / "f.pt", feature_net)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        fe.load_feature_net(path)
    tiny = ModelConfig(base_channels=8, channel_mults=(1,), attention_levels=(), groups=4)
    unet = save_checkpoint(tmp_path / "unet.pt", UNet(tiny), ScheduleConfig())
    with pytest.raises(ValueError, match="course_lib.features/1"):
        fe.load_feature_net(unet)
    with pytest.raises(FileNotFoundError, match="python -m course_lib train"):
        fe.load_feature_net(tmp_path / "nope.pt")


def test_build_feature_net_saves_its_accuracy_and_dataset(data_dir, tmp_path):
    net = fe.build_feature_net(data_dir, tmp_path / "features.pt", steps=2, batch_size=32, progress=False)
    loaded = fe.load_feature_net(tmp_path / "features.pt")
    assert loaded.meta == net.meta
    assert net.meta["dataset_digest"] == load_sprites(data_dir).digest
    assert set(net.meta["test_accuracy"]) == set(fe.HEADS)


def test_inception_features_from_a_local_weights_file_only(tmp_path, monkeypatch):
    from torchvision.models import inception_v3

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert fe.inception_feature_fn() is None
    (tmp_path / "checkpoints").mkdir()
    state = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    torch.save(state, tmp_path / "checkpoints" / "inception_v3_google-0cc3c7bd.pth")
    features = fe.inception_feature_fn()
    assert features(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, 2048)
