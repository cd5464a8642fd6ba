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
