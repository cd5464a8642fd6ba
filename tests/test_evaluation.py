import json

import pytest
import torch
from torch import nn

from course_lib import evaluation as ev
from course_lib.checkpoints import save_checkpoint
from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.data import load_sprites
from course_lib.model import UNet
from course_lib.samplers import make_sampler
from course_lib.schedules import NoiseSchedule
from course_lib.sprites import LABEL_NAMES, write_sprite_dataset

TINY_NET = ev.FeatureNetConfig(widths=(8, 16), feature_dim=16)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run as fast on one thread, and a second thread waiting on a busy core stalls every op."""
    with ev.torch_threads(1):
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sprites")
    write_sprite_dataset(d, n_train=300, n_test=100, progress=False)
    return d


@pytest.fixture(scope="module")
def feature_net(data_dir):
    return ev.train_feature_net(load_sprites(data_dir), steps=3, batch_size=32, progress=False, config=TINY_NET)


def random_cov(d, g):
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    g = torch.Generator().manual_seed(0)
    m1, m2 = (torch.randn(6, generator=g, dtype=torch.float64) for _ in range(2))
    s1, s2 = (torch.rand(6, generator=g, dtype=torch.float64) + 0.1 for _ in range(2))  # standard deviations
    expected = ((m1 - m2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    got = ev.frechet_distance(m1, torch.diag(s1 ** 2), m2, torch.diag(s2 ** 2))
    assert got == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)


def test_frechet_distance_symmetric_and_matches_eigenvalues_of_the_product():
    g = torch.Generator().manual_seed(1)
    m1, m2 = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2))
    s1, s2 = random_cov(5, g), random_cov(5, g)
    d12, d21 = ev.frechet_distance(m1, s1, m2, s2), ev.frechet_distance(m2, s2, m1, s1)
    assert d12 == pytest.approx(d21, rel=1e-9)
    # Tr (S1 S2)^(1/2) = sum of the square roots of the (real, positive) eigenvalues of S1 S2
    tr = torch.linalg.eigvals(s1 @ s2).real.sqrt().sum()
    assert d12 == pytest.approx((((m1 - m2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr).item(), rel=1e-9)
    assert ev.frechet_distance(m1, s1, m1, s1) == pytest.approx(0, abs=1e-9)
    with pytest.raises(ValueError, match="covariances"):
        ev.frechet_distance(m1, s1, m2[:4], s2)


def test_fid_is_zero_for_the_same_set_and_grows_with_a_mean_shift():
    a = torch.randn(400, 8, generator=torch.Generator().manual_seed(2))
    assert ev.fid(a, a) == pytest.approx(0, abs=1e-8)
    shifts = [ev.fid(a, a + s) for s in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([8 * s ** 2 for s in (0.5, 1.0, 2.0)], rel=1e-8)  # same covariance: ||shift||^2
    with pytest.raises(ValueError, match="at least 2"):
        ev.fid(a[:1], a)


def test_feature_net_shapes_and_bad_input(feature_net):
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    out = feature_net(x)
    assert feature_net.features(x).shape == (4, 16)
    assert [o.shape[1] for o in out] == [5, TINY_NET.n_templates, TINY_NET.n_palettes]
    with pytest.raises(ValueError, match=r"shape \(batch, 3, 16, 16\)"):
        feature_net.features(torch.zeros(4, 3, 28, 28))
    with pytest.raises(ValueError, match="feature net learns the procedural sprites"):
        ev.train_feature_net(load_sprites_like_mnist(), steps=1)


def load_sprites_like_mnist():
    from course_lib.data import ImageDataset
    return ImageDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, 10), tuple("0123456789"))


def test_feature_net_round_trip_is_exact(feature_net, data_dir, tmp_path):
    path = ev.save_feature_net(tmp_path / "f.pt", feature_net, {"steps": 3})
    loaded = ev.load_feature_net(path)
    assert loaded.config == TINY_NET and loaded.meta == {"steps": 3} and not loaded.training
    for k, v in feature_net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    images = load_sprites(data_dir, "test").images
    assert torch.equal(ev.extract_features(feature_net, images), ev.extract_features(loaded, images))
    acc = ev.head_accuracy(loaded, load_sprites(data_dir, "test"))
    assert set(acc) == {"label", "template", "palette"} and all(0 <= v <= 1 for v in acc.values())


def test_corrupt_foreign_and_missing_feature_net_files(feature_net, tmp_path):
    path = ev.save_feature_net(tmp_path / "f.pt", feature_net)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        ev.load_feature_net(path)
    tiny = ModelConfig(base_channels=8, channel_mults=(1,), attention_levels=(), groups=4)
    unet = save_checkpoint(tmp_path / "unet.pt", UNet(tiny), ScheduleConfig())
    with pytest.raises(ValueError, match="course_lib.features/1"):
        ev.load_feature_net(unet)
    with pytest.raises(FileNotFoundError, match="build_feature_net"):
        ev.load_feature_net(tmp_path / "nope.pt")


def test_near_copy_share_copies_and_noise(data_dir):
    train = load_sprites(data_dir).images
    tau = ev.near_copy_threshold(train)
    assert tau > 0
    assert ev.near_copy_share(train[:50], train, tau) == 1.0
    assert ev.near_copy_share(ev.quantize(torch.rand(50, 3, 16, 16) * 2 - 1), train, tau) == 0.0
    # excluding each query's own index gives its nearest *other* sprite, whatever the chunking
    idx = torch.tensor([0, 5, 17, 299])
    x = ev.to_model_space(train).flatten(1)
    d = (x[idx, None] - x[None]).norm(dim=2)
    d[torch.arange(4), idx] = float("inf")
    torch.testing.assert_close(ev.nearest_distances(train[idx], train, exclude=idx, chunk=3, ref_chunk=7),
                               d.min(1).values, atol=1e-3, rtol=0)


class FixedLabels(nn.Module):
    """A stand-in feature net whose label head predicts the label written in each image's first pixel."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        label = nn.functional.one_hot(x[:, 0, 0, 0].round().long(), len(LABEL_NAMES)).float()
        return ev.Heads(label, None, None)


def test_class_accuracy_hand_made():
    predicted, requested = torch.tensor([0, 1, 1, 1, 0]), torch.tensor([0, 0, 1, 1, 2])
    images = torch.zeros(5, 3, 16, 16)
    images[:, 0, 0, 0] = predicted.float()
    acc = ev.class_accuracy(FixedLabels(), images, requested)
    assert acc == {"human": 0.5, "non-human": 1.0, "food": 0.0, "all": 0.6}
    assert ev.class_accuracy(FixedLabels(), images, nn.functional.one_hot(requested, 5)) == acc
    with pytest.raises(ValueError, match="one requested label per image"):
        ev.class_accuracy(FixedLabels(), images, requested[:3])


def test_generate_is_reproducible_and_quantised():
    model = UNet(ModelConfig(base_channels=8, channel_mults=(1,), attention_levels=(), groups=4, context_dim=0))
    sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=5)), "ddpm")
    a, b = (ev.generate(model, sampler, 6, seed=3, batch_size=4) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (6, 3, 16, 16)
    assert torch.equal(a, ev.quantize(a)) and a.abs().max() <= 1


def test_run_evaluation_end_to_end(data_dir, feature_net, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no Inception weights here
    torch.manual_seed(0)
    cfg = ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(), groups=4)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", UNet(cfg), ScheduleConfig(T=20))
    weak = UNet(cfg)
    with torch.no_grad():  # the model predicts eps = 0 (zero-initialised output); let the guide predict something
        weak.conv_out.weight.normal_(0.0, 0.1)
    guide = save_checkpoint(tmp_path / "tiny_step_000002.pt", weak, ScheduleConfig(T=20))
    net_path = ev.save_feature_net(tmp_path / "features.pt", feature_net, {"test_accuracy": {"label": 0.5}})
    out = tmp_path / "report" / "EVALUATION.md"
    r = ev.run_evaluation({"tiny": ckpt}, net_path, data_dir=data_dir, n=8, out=out, device="cpu", progress=False,
                          ddim_steps=(3, 50), batch_size=5, guides={"tiny": guide}, autoguidance=1.5)
    saved = json.loads((out.parent / "EVALUATION.json").read_text())
    assert saved == json.loads(json.dumps(r))
    assert set(r) == {"settings", "reference", "memorisation", "inception", "models", "seconds"}
    assert set(r["reference"]) == {"floor_fid", "train_vs_test_fid"}
    assert r["inception"] == ev.INCEPTION_SKIPPED
    runs = r["models"]["tiny"]["runs"]
    assert [(x["mode"], x["sampler"], x["steps"]) for x in runs] == [
        ("cond", "ddpm", 20), ("cond", "ddim", 3), ("cond", "ddim", 20), ("uncond", "ddpm", 20), ("uncond", "ddim", 20),
        ("autoguided", "ddpm", 20), ("autoguided", "ddim", 20)]
    for run in runs:
        assert {"fid", "fid_ratio", "near_copy_share", "near_copy_excess", "median_distance", "seconds"} <= set(run)
        assert ("class_accuracy" in run) == (run["mode"] == "cond")
    assert [(x["guidance"], x.get("guide")) for x in runs[-3:]] == [(None, None), (1.5, str(guide)), (1.5, str(guide))]
    assert runs[-1]["fid"] != runs[-3]["fid"]  # the guide changed the samples (w = 1.5 pushes away from it)
    text = out.read_text()
    for key in ("floor", "near-copies", "Class accuracy per label", "Memorisation", ev.INCEPTION_SKIPPED, "Wall time",
                "none, guided by tiny_step_000002, w=1.5"):
        assert key in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["EVALUATION.json", "EVALUATION.md"]  # no temporaries

    q = ev.quality_vs_steps(out.parent / "EVALUATION.json", "tiny")
    assert q["steps"] == [3, 20] and q["fid"] == [runs[1]["fid"], runs[2]["fid"]]
    assert (q["ddpm_steps"], q["ddpm_fid"], q["floor"], q["n"]) == (20, runs[0]["fid"], r["reference"]["floor_fid"], 8)
    with pytest.raises(ValueError, match="no model 'context'"):
        ev.quality_vs_steps(out.parent / "EVALUATION.json")
    with pytest.raises(FileNotFoundError, match="make evaluate"):
        ev.quality_vs_steps(tmp_path / "nowhere.json")
    assert ev.read_report(out.parent / "EVALUATION.json") == saved


def test_run_evaluation_bad_input(data_dir, feature_net, tmp_path):
    net_path = ev.save_feature_net(tmp_path / "features.pt", feature_net)
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


def test_inception_features_from_a_local_weights_file_only(tmp_path, monkeypatch):
    from torchvision.models import inception_v3

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert ev.inception_feature_fn() is None
    (tmp_path / "checkpoints").mkdir()
    state = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    torch.save(state, tmp_path / "checkpoints" / "inception_v3_google-0cc3c7bd.pth")
    features = ev.inception_feature_fn()
    assert features(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, 2048)
