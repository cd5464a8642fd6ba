import pytest
import torch
from torch import nn

from course_lib import metrics as me
from course_lib.data import load_sprites
from course_lib.features import Heads
from course_lib.images import quantize, to_model_space
from course_lib.sprites import LABEL_NAMES, write_sprite_dataset


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def train_images(tmp_path_factory):
    d = tmp_path_factory.mktemp("sprites")
    write_sprite_dataset(d, n_train=300, n_test=10, progress=False)
    return load_sprites(d).images


def random_cov(d, g):
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    g = torch.Generator().manual_seed(0)
    m1, m2 = (torch.randn(6, generator=g, dtype=torch.float64) for _ in range(2))
    s1, s2 = (torch.rand(6, generator=g, dtype=torch.float64) + 0.1 for _ in range(2))  # standard deviations
    expected = ((m1 - m2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    got = me.frechet_distance(m1, torch.diag(s1 ** 2), m2, torch.diag(s2 ** 2))
    assert got == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)


def test_frechet_distance_symmetric_and_matches_eigenvalues_of_the_product():
    g = torch.Generator().manual_seed(1)
    m1, m2 = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2))
    s1, s2 = random_cov(5, g), random_cov(5, g)
    d12, d21 = me.frechet_distance(m1, s1, m2, s2), me.frechet_distance(m2, s2, m1, s1)
    assert d12 == pytest.approx(d21, rel=1e-9)
    # Tr (S1 S2)^(1/2) = sum of the square roots of the (real, positive) eigenvalues of S1 S2
    tr = torch.linalg.eigvals(s1 @ s2).real.sqrt().sum()
    assert d12 == pytest.approx((((m1 - m2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr).item(), rel=1e-9)
    assert me.frechet_distance(m1, s1, m1, s1) == pytest.approx(0, abs=1e-9)
    with pytest.raises(ValueError, match="covariances"):
        me.frechet_distance(m1, s1, m2[:4], s2)


def test_fid_is_zero_for_the_same_set_and_grows_with_a_mean_shift():
    a = torch.randn(400, 8, generator=torch.Generator().manual_seed(2))
    assert me.fid(a, a) == pytest.approx(0, abs=1e-8)
    shifts = [me.fid(a, a + s) for s in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([8 * s ** 2 for s in (0.5, 1.0, 2.0)], rel=1e-8)  # same covariance: ||shift||^2
    with pytest.raises(ValueError, match="at least 2"):
        me.fid(a[:1], a)


def test_near_copy_stats_copies_and_noise(train_images):
    tau = me.near_copy_threshold(train_images)
    assert tau > 0
    copies = me.near_copy_stats(me.nearest_distances(train_images[:50], train_images), tau)
    assert copies == (1.0, 0.0)
    noise = quantize(torch.rand(50, 3, 16, 16) * 2 - 1)
    assert me.near_copy_stats(me.nearest_distances(noise, train_images), tau).share == 0.0


def test_near_copy_stats_hand_made():
    stats = me.near_copy_stats(torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0]), threshold=2.0)
    assert stats.share == pytest.approx(0.4) and stats.median_distance == 2.0


def test_nearest_distances_excludes_each_querys_own_index(train_images):
    # excluding each query's own index gives its nearest *other* sprite, whatever the chunking
    idx = torch.tensor([0, 5, 17, 299])
    x = to_model_space(train_images).flatten(1)
    d = (x[idx, None] - x[None]).norm(dim=2)
    d[torch.arange(4), idx] = float("inf")
    torch.testing.assert_close(me.nearest_distances(train_images[idx], train_images, exclude=idx, chunk=3, ref_chunk=7),
                               d.min(1).values, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="differ in image shape"):
        me.nearest_distances(train_images[:2], train_images[:, :1])


class FixedLabels(nn.Module):
    """A stand-in feature net whose label head predicts the label written in each image's first pixel."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        label = nn.functional.one_hot(x[:, 0, 0, 0].round().long(), len(LABEL_NAMES)).float()
        return Heads(label, None, None)


def test_class_accuracy_hand_made():
    predicted, requested = torch.tensor([0, 1, 1, 1, 0]), torch.tensor([0, 0, 1, 1, 2])
    images = torch.zeros(5, 3, 16, 16)
    images[:, 0, 0, 0] = predicted.float()
    acc = me.class_accuracy(FixedLabels(), images, requested)
    assert acc == {"human": 0.5, "non-human": 1.0, "food": 0.0, "all": 0.6}
    assert me.class_accuracy(FixedLabels(), images, nn.functional.one_hot(requested, 5)) == acc
    with pytest.raises(ValueError, match="one requested label per image"):
        me.class_accuracy(FixedLabels(), images, requested[:3])


def sprite_on_white() -> torch.Tensor:
    """One 16x16 sprite of 3 colours (a red block, a dark outline row, a blue pixel) on exact white, uint8."""
    x = torch.full((1, 3, 16, 16), 255, dtype=torch.uint8)
    x[0, :, 4:8, 4:8] = torch.tensor([200, 30, 30], dtype=torch.uint8)[:, None, None]
    x[0, :, 8, 4:8] = 20
    x[0, :, 10, 10] = torch.tensor([40, 60, 220], dtype=torch.uint8)
    return x


def test_pixel_art_counts_a_hand_made_sprite():
    x = sprite_on_white()
    assert me.distinct_colours(x).tolist() == [4]  # 3 colours + white
    assert me.distinct_colours(to_model_space(x)).tolist() == [4]  # model space converts back to the exact pixels
    assert me.distinct_colours(quantize(to_model_space(x)), me.COLOUR_BIN).tolist() == [4]
    assert me.exact_white_share(x) == 1.0
    assert me.exact_white_share(torch.zeros(1, 3, 4, 4, dtype=torch.uint8)) is None  # nothing near-white


def test_one_grey_level_of_noise_lowers_the_exact_white_share():
    x = sprite_on_white()
    white = (x == 255).all(1)[0]
    n_white = int(white.sum())
    noisy = x.clone()
    rows, cols = white.nonzero()[:10].T
    noisy[0, :, rows, cols] = 254  # ten background pixels one level below white: still near-white
    noisy[0, 0, 15, 15] = me.NEAR_WHITE - 1  # no longer near-white: leaves the count
    assert me.exact_white_share(noisy) == pytest.approx((n_white - 11) / (n_white - 1))
    assert me.distinct_colours(noisy).tolist() == [6]  # two new exact colours, of which binned ...
    assert me.distinct_colours(noisy, me.COLOUR_BIN).tolist() == [5]  # ... 254 joins white (>= 248), 239 does not


def test_binning_merges_colours_within_eight_levels():
    x = torch.zeros(1, 3, 1, 6, dtype=torch.uint8)
    x[0, :, 0] = torch.tensor([0, 7, 8, 15, 16, 255], dtype=torch.uint8)  # greys
    assert me.distinct_colours(x).tolist() == [6]
    assert me.distinct_colours(x, me.COLOUR_BIN).tolist() == [4]  # {0, 7}, {8, 15}, {16}, {255}
    x[0, 2, 0, 0] = 7  # (0, 0, 7): still the bin of black
    assert me.distinct_colours(x, me.COLOUR_BIN).tolist() == [4]
    with pytest.raises(ValueError, match="RGB images"):
        me.distinct_colours(x[:, :1])


def test_pixel_art_stats_median_mean_and_goals():
    a, b = sprite_on_white(), sprite_on_white()
    b[0, :, 0, 0:2] = torch.tensor([[1, 100], [2, 100], [3, 100]], dtype=torch.uint8)  # + 2 colours, 1 binned
    b[0, :, 15, 0] = 250  # + 1 near-white colour, binned with white
    stats = me.pixel_art_stats(torch.cat([a, b]))
    white = 256 - 16 - 4 - 1  # a's background; b has 2 fewer, and 1 of the rest is near-white only
    assert stats == pytest.approx({"colours_median": 5.5, "colours_mean": 5.5, "binned_colours_median": 5.0,
                                   "binned_colours_mean": 5.0, "exact_white": (2 * white - 3) / (2 * white - 2)})
    data = me.pixel_art_stats(a)
    got = me.pixel_art_stats(torch.cat([a, b]), data)
    assert got["colour_ratio"] == pytest.approx(5 / 4) and got["goals_met"]
    assert not me.pixel_art_stats(torch.cat([a, b]), {**data, "binned_colours_mean": 3.0})["goals_met"]  # 5 / 3


def test_mean_sd():
    assert me.mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert me.mean_sd([5]) == (5.0, None)


class FixedHeads(nn.Module):
    """A stand-in feature net whose template and palette heads predict what the first pixel's green and blue
    values say (in model space: 0 -> -1, so class k sits at k / 127.5 - 1)."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        def head(c):
            return nn.functional.one_hot(((x[:, c, 0, 0] + 1) * 127.5).round().long(), 8).float()
        return Heads(None, head(1), head(2))


def test_distinct_per_label_hand_made():
    templates, palettes = torch.tensor([0, 0, 1, 2, 3, 3, 3]), torch.tensor([5, 6, 7, 5, 5, 5, 5])
    labels = torch.tensor([0, 0, 0, 2, 2, 2, 2])
    images = torch.zeros(7, 3, 16, 16, dtype=torch.uint8)
    images[:, 1, 0, 0], images[:, 2, 0, 0] = templates.to(torch.uint8), palettes.to(torch.uint8)
    got = me.distinct_per_label(FixedHeads(), images, labels, batch_size=3)
    assert got == {"human": {"sprites": 3, "template": 2, "palette": 3},
                   "food": {"sprites": 4, "template": 2, "palette": 1}}
    assert me.distinct_per_label(FixedHeads(), images, nn.functional.one_hot(labels, 5)) == got


def test_distinct_per_label_counts_the_feature_nets_predictions(data_dir, feature_net):
    test = load_sprites(data_dir, "test")
    got = me.distinct_per_label(feature_net, test.images, test.context, batch_size=7)
    with torch.no_grad():
        heads = feature_net.eval()(to_model_space(test.images))
    labels = test.context.argmax(1)
    for k, name in enumerate(LABEL_NAMES):
        mine = labels == k
        assert got[name] == {"sprites": int(mine.sum()), "template": len(heads.template.argmax(1)[mine].unique()),
                             "palette": len(heads.palette.argmax(1)[mine].unique())}
