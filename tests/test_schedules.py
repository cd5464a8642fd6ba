import math

import pytest
import torch

from course_lib.config import ScheduleConfig
from course_lib.schedules import BETA_SCHEDULES, NoiseSchedule

SCHEDULES = [ScheduleConfig(name="linear"), ScheduleConfig(name="cosine")]


@pytest.mark.parametrize("config", SCHEDULES, ids=lambda c: c.name)
def test_alpha_bar_strictly_decreasing_and_small_at_T(config):
    s = NoiseSchedule(config)
    assert s.alpha_bar.shape == (500,)
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all()
    assert 0 < s.alpha_bar[-1] < 0.01
    assert s.alpha_bar[0] > 0.99
    assert ((s.beta > 0) & (s.beta < 1)).all()


def test_linear_matches_original_course_range():
    s = NoiseSchedule(ScheduleConfig(name="linear", T=500))
    assert math.isclose(s.beta[0].item(), 1e-4) and math.isclose(s.beta[-1].item(), 0.02)
    # alpha_bar_T = prod(1 - beta_t) ~= exp(-sum beta) = exp(-500 * 0.01005)
    assert math.isclose(s.alpha_bar[-1].item(), 0.00637, rel_tol=0.02)


def test_posterior_variance_formula(schedule):
    s = schedule
    t = 100
    expected = (1 - s.alpha_bar[t - 1]) / (1 - s.alpha_bar[t]) * s.beta[t]
    assert torch.isclose(s.posterior_variance[t], expected)
    assert s.posterior_variance[0] == 0


@pytest.mark.parametrize("config", SCHEDULES, ids=lambda c: c.name)
@pytest.mark.parametrize("t", [0, 50, 250, 499])
def test_q_sample_moments(config, t):
    """Empirical mean and variance of x_t given x0 are sqrt(alpha_bar_t) x0 and 1 - alpha_bar_t."""
    s = NoiseSchedule(config)
    g = torch.Generator().manual_seed(t)
    n = 20000
    x0 = torch.full((n, 1, 2, 2), 0.7)
    x0[:, :, 0, 0] = -0.3
    eps = torch.randn(x0.shape, generator=g)
    xt = s.q_sample(x0, torch.full((n,), t), eps)
    ab = s.alpha_bar[t].item()
    torch.testing.assert_close(xt.mean(0), math.sqrt(ab) * x0[0], atol=4 * math.sqrt((1 - ab) / n) + 1e-6, rtol=0)
    torch.testing.assert_close(xt.var(0), torch.full_like(x0[0], 1 - ab), rtol=0.05, atol=1e-6)


def test_q_sample_uses_square_root_of_noise_variance(schedule):
    """x_t = sqrt(ab) x0 + sqrt(1 - ab) eps, not (1 - ab) eps."""
    x0, eps, t = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4), torch.tensor([10])
    ab = schedule.alpha_bar[10].item()
    assert torch.allclose(schedule.q_sample(x0, t, eps), torch.full_like(x0, math.sqrt(1 - ab)))


def test_q_sample_bad_shapes(schedule):
    x0 = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError, match="eps has shape"):
        schedule.q_sample(x0, torch.tensor([1, 2]), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="one timestep per image"):
        schedule.q_sample(x0, torch.tensor([1]), torch.zeros_like(x0))
    with pytest.raises(ValueError, match="0..499"):
        schedule.check_timesteps(torch.tensor([0, 500]))


def test_unknown_schedule_and_bad_T():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'; choose one of linear, cosine"):
        NoiseSchedule(ScheduleConfig(name="quadratic"))
    with pytest.raises(ValueError, match="positive integer"):
        ScheduleConfig(T=0)
    with pytest.raises(ValueError, match="beta_start < beta_end"):
        ScheduleConfig(beta_start=0.1, beta_end=0.01)


def test_a_new_schedule_is_one_registry_entry(monkeypatch):
    def constant_betas(c):
        return torch.full((c.T,), 0.01, dtype=torch.float64)

    monkeypatch.setitem(BETA_SCHEDULES, "constant", constant_betas)
    s = NoiseSchedule(ScheduleConfig(name="constant", T=10))
    torch.testing.assert_close(s.alpha_bar, torch.full((10,), 0.99, dtype=torch.float64).cumprod(0))


def test_signal_to_noise_decreases(schedule):
    snr = schedule.signal_to_noise()
    assert (snr[1:] < snr[:-1]).all()


def test_x_T_from_noise_is_plain_noise_without_a_mean_image(schedule):
    z = torch.randn(4, 3, 16, 16)
    assert schedule.x_T_from_noise(z) is z


def test_x_T_from_noise_adds_the_signal_leak_of_the_mean_image():
    mu = torch.linspace(-1, 1, 3 * 16 * 16).view(3, 16, 16)
    s = NoiseSchedule(ScheduleConfig(), x0_mean=mu)
    a = s.alpha_bar[-1].item()
    z = torch.randn(10000, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    x_T = s.x_T_from_noise(z)
    torch.testing.assert_close(x_T, math.sqrt(a) * mu + math.sqrt(1 - a) * z)
    # the start has the mean of q(x_T) = E_x0 q(x_T | x_0): sqrt(alpha_bar_T) mu, about 8% of mu here
    torch.testing.assert_close(x_T.mean(0), 0.0798 * mu, atol=0.05, rtol=0)
    assert abs((x_T - x_T.mean(0)).std().item() - math.sqrt(1 - a)) < 0.01


def test_x_T_from_noise_rejects_noise_of_another_shape():
    s = NoiseSchedule(ScheduleConfig(), x0_mean=torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"does not fit the schedule's mean image \(3, 16, 16\)"):
        s.x_T_from_noise(torch.randn(2, 1, 28, 28))
