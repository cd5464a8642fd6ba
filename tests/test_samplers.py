from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.model import UNet
from course_lib.samplers import (SAMPLERS, DDIMSampler, DDPMSampler, DPMSolverPP2MSampler, HeunSampler, Sampler,
                                 StepOutput, ddim_timesteps, draw_noise, make_sampler, predict_eps, sample)
from conftest import TINY
from course_lib.schedules import NoiseSchedule
from course_lib.training import diffusion_loss

SCHEDULE = NoiseSchedule(ScheduleConfig())


@pytest.mark.parametrize("steps", [1, 2, 7, 25, 30, 49, 333, 499, 500])
def test_ddim_timesteps_strictly_decreasing_and_end_clean(steps):
    ts = ddim_timesteps(500, steps)
    assert len(ts) == steps
    assert all(0 <= t <= 499 for t in ts)
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert ts[0] == 499
    if steps > 1:
        assert ts[-1] == 0


def test_ddim_30_steps_spacing_is_even():
    ts = ddim_timesteps(500, 30)
    gaps = [a - b for a, b in zip(ts, ts[1:])]
    assert set(gaps) <= {17, 18}  # 499 / 29 = 17.2


def test_ddim_eta1_adjacent_equals_ddpm_posterior_step():
    s = NoiseSchedule(ScheduleConfig())
    ddim, ddpm = DDIMSampler(s, steps=500, eta=1.0), DDPMSampler(s, variance="posterior")
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(4, 3, 16, 16, generator=g, dtype=torch.float64) for _ in range(3))
    for t in [499, 250, 37, 1, 0]:
        torch.testing.assert_close(ddim.step(eps, t, x, z), ddpm.step(eps, t, x, z), rtol=1e-9, atol=1e-9)


def test_ddpm_step_formula():
    s = NoiseSchedule(ScheduleConfig())
    x, eps, z = torch.ones(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5), torch.full((1, 3, 2, 2), 2.0)
    t = 300
    b, a, ab = s.beta[t].item(), s.alpha[t].item(), s.alpha_bar[t].item()
    expected = (x - b / (1 - ab) ** 0.5 * eps) / a ** 0.5 + b ** 0.5 * z
    torch.testing.assert_close(DDPMSampler(s).step(eps, t, x, z).x_prev, expected)
    # the last step adds no noise
    torch.testing.assert_close(DDPMSampler(s).step(eps, 0, x, z), DDPMSampler(s).step(eps, 0, x, None))


@pytest.mark.parametrize("sampler", [DDPMSampler(SCHEDULE), DDIMSampler(SCHEDULE, 25, eta=0.5)], ids=repr)
def test_every_step_returns_the_predicted_x0(sampler):
    g = torch.Generator().manual_seed(2)
    x0, eps, z = (torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64) for _ in range(3))
    for t in sampler.timesteps[::5]:
        ab = SCHEDULE.alpha_bar[t].item()
        x_t = ab ** 0.5 * x0 + (1 - ab) ** 0.5 * eps
        out = sampler.step(eps, t, x_t, z)
        assert isinstance(out, StepOutput)
        torch.testing.assert_close(out.x0_hat, x0)  # the true noise recovers the clean image exactly


def test_ddim_last_step_lands_on_the_predicted_x0():
    sampler = DDIMSampler(SCHEDULE, 10)
    x, eps = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    out = sampler.step(eps, 0, x)
    torch.testing.assert_close(out.x_prev, out.x0_hat)


def test_timesteps_cannot_be_overwritten_from_outside():
    sampler = DDIMSampler(SCHEDULE, 10)
    sampler.timesteps.clear()
    assert len(sampler.timesteps) == 10
    with pytest.raises(AttributeError):
        sampler.timesteps = [0]


def test_the_registry_builds_every_sampler():
    assert set(SAMPLERS) == {"ddpm", "ddim", "dpmpp2m", "heun"}
    for name, cls in SAMPLERS.items():
        sampler = make_sampler(SCHEDULE, name)
        assert isinstance(sampler, cls) and isinstance(sampler, Sampler)
        assert sampler.timesteps[0] == SCHEDULE.T - 1 and sampler.timesteps[-1] == 0


def test_ddim_eta0_is_deterministic_given_xT(tiny_model, schedule):
    x_T = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    a = sample(tiny_model, DDIMSampler(schedule, 10, eta=0.0), 4, x_T=x_T, seed=1).images
    b = sample(tiny_model, DDIMSampler(schedule, 10, eta=0.0), 4, x_T=x_T, seed=2).images
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = sample(tiny_model, DDIMSampler(schedule, 10, eta=0.5), 4, x_T=x_T, seed=2).images
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("method,options", [("ddpm", {}), ("ddim", dict(steps=10, eta=0.3)),
                                            ("dpmpp2m", dict(steps=10)), ("heun", dict(steps=5))])
def test_sampler_keeps_shape_dtype_device_and_honours_generator(tiny_model, method, options):
    sampler = make_sampler(NoiseSchedule(ScheduleConfig(T=50)), method, **options)
    r1 = sample(tiny_model, sampler, 3, generator=torch.Generator().manual_seed(7))
    r2 = sample(tiny_model, sampler, 3, seed=7)
    r3 = sample(tiny_model, sampler, 3, seed=8)
    assert r1.images.shape == (3, 3, 16, 16) and r1.images.dtype == torch.float32
    assert r1.images.device.type == "cpu"
    torch.testing.assert_close(r1.images, r2.images, rtol=0, atol=0)
    assert not torch.allclose(r1.images, r3.images)
    assert torch.isfinite(r1.images).all()


def test_capture_frames(tiny_model, schedule):
    r = sample(tiny_model, DDIMSampler(schedule, 10), 2, capture_every=3)
    assert r.frames.shape == (5, 2, 3, 16, 16)  # steps 0, 3, 6, 9, then the final images
    assert r.frame_timesteps[0] == 499 and r.frame_timesteps[-1] == -1
    torch.testing.assert_close(r.frames[-1], r.images)
    assert sample(tiny_model, DDIMSampler(schedule, 10), 2).frames is None


def test_sampling_builds_no_autograd_graph(tiny_model, schedule):
    """Without no_grad, 500 steps would keep every step's activations: gigabytes for a few sprites."""
    assert all(p.requires_grad for p in tiny_model.parameters())
    r = sample(tiny_model, DDIMSampler(schedule, 3), 2, capture_every=1)
    assert r.images.grad_fn is None and r.frames.grad_fn is None and not r.images.requires_grad


def test_context_none_equals_zeros_and_broadcast(tiny_model, schedule):
    sampler = DDIMSampler(schedule, 5)
    a = sample(tiny_model, sampler, 3, context=None).images
    b = sample(tiny_model, sampler, 3, context=torch.zeros(5)).images
    torch.testing.assert_close(a, b)
    c = torch.tensor([0.0, 0, 1, 0, 0])
    torch.testing.assert_close(sample(tiny_model, sampler, 3, context=c).images,
                               sample(tiny_model, sampler, 3, context=c.expand(3, 5)).images)


def test_guidance_scale_one_equals_conditional_and_zero_unconditional(tiny_model):
    x, t = torch.randn(4, 3, 16, 16), 123
    c = torch.eye(5)[:4]
    tt = torch.full((4,), t)
    eps_c, eps_u = tiny_model(x, tt, c), tiny_model(x, tt, None)
    torch.testing.assert_close(predict_eps(tiny_model, x, t, c, 1.0), eps_c)
    # the batched guidance path, evaluated at scales where the answer is known
    torch.testing.assert_close(predict_eps(tiny_model, x, t, c, 1.0 + 1e-7), eps_c, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(predict_eps(tiny_model, x, t, c, 0.0), eps_u, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(predict_eps(tiny_model, x, t, c, 3.0), eps_u + 3 * (eps_c - eps_u), rtol=1e-4,
                               atol=1e-5)


def _weaker_copy(model: UNet) -> UNet:
    """The same architecture with perturbed weights, standing in for an early snapshot."""
    torch.manual_seed(1)
    guide = UNet(model.config).eval()
    guide.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in guide.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return guide


@pytest.mark.parametrize("context", [None, torch.eye(5)[:4]])
def test_autoguidance_extrapolates_away_from_the_guide(tiny_model, context):
    guide = _weaker_copy(tiny_model)
    x, t = torch.randn(4, 3, 16, 16), 77
    tt = torch.full((4,), t)
    eps, eps_guide = tiny_model(x, tt, context), guide(x, tt, context)
    assert not torch.allclose(eps, eps_guide, atol=1e-3)
    torch.testing.assert_close(predict_eps(tiny_model, x, t, context, 1.0, guide), eps)
    torch.testing.assert_close(predict_eps(tiny_model, x, t, context, 0.0, guide), eps_guide)
    torch.testing.assert_close(predict_eps(tiny_model, x, t, context, 2.5, guide), eps_guide + 2.5 * (eps - eps_guide))


def test_sample_with_a_guide_differs_and_restores_modes(tiny_model, schedule):
    guide = _weaker_copy(tiny_model).train()
    sampler = DDIMSampler(schedule, 4)
    plain = sample(tiny_model, sampler, 3, seed=2).images
    guided = sample(tiny_model, sampler, 3, guidance=2.0, guide=guide, seed=2).images
    assert not torch.allclose(plain, guided, atol=1e-4)
    torch.testing.assert_close(sample(tiny_model, sampler, 3, guidance=1.0, guide=guide, seed=2).images, plain)
    assert guide.training and not tiny_model.training


def test_a_guide_that_does_not_fit_is_refused(tiny_model, schedule):
    sampler = DDIMSampler(schedule, 3)
    other = UNet(ModelConfig(**{**TINY.to_dict(), "context_dim": 0}))
    with pytest.raises(ValueError, match="guide model does not fit.*'context_dim': 0.*'context_dim': 5"):
        sample(tiny_model, sampler, 2, guidance=2.0, guide=other)
    with pytest.raises(ValueError, match="guide model is on meta but the model is on cpu"):
        sample(tiny_model, sampler, 2, guidance=2.0, guide=UNet(TINY).to("meta"))


def test_noise_comes_from_the_cpu_generator():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(draw_noise((2, 3), g1, torch.device("cpu")), torch.randn(2, 3, generator=g2))



@pytest.mark.parametrize("kwargs,error,message", [
    (dict(method="ddim", steps=0), ValueError, "steps=0 must be an integer from 1 to T=500"),
    (dict(method="ddim", steps=501), ValueError, "steps=501"),
    (dict(method="ddim", steps=25, eta=1.5), ValueError, r"eta=1.5 must lie in \[0, 1\]"),
    (dict(method="ddim", steps=25, eta=-0.1), ValueError, "eta=-0.1"),
    (dict(method="ddpm", steps=25), ValueError, "steps=25 does not apply to ddpm: it takes variance"),
    (dict(method="ddpm", eta=0.5), ValueError, "eta=0.5 does not apply to ddpm"),
    (dict(method="ddim", variance="posterior"), ValueError, "variance='posterior' does not apply to ddim: it takes "
                                                            "steps, eta"),
    (dict(method="euler"), ValueError, "unknown sampling method 'euler'; choose one of ddpm, ddim, dpmpp2m, heun"),
    (dict(method="ddpm", variance="learned"), ValueError, "unknown DDPM variance"),
])
def test_bad_sampler_arguments(schedule, kwargs, error, message):
    with pytest.raises(error, match=message):
        make_sampler(schedule, **kwargs)


def test_sample_restores_the_training_mode_even_when_it_fails(tiny_model, schedule):
    class Failing(DDIMSampler):
        def step(self, eps, t, x_t, z=None):
            raise RuntimeError("boom")

    tiny_model.train()
    with pytest.raises(RuntimeError, match="boom"):
        sample(tiny_model, Failing(schedule, 3), 2)
    assert tiny_model.training
    sample(tiny_model, DDIMSampler(schedule, 2), 2)
    assert tiny_model.training
    tiny_model.eval()


def test_bad_sample_arguments(tiny_model, schedule):
    sampler = DDIMSampler(schedule, 3)
    with pytest.raises(ValueError, match=r"context must have shape \(5,\) or \(2, 5\)"):
        sample(tiny_model, sampler, 2, context=torch.zeros(10))
    with pytest.raises(ValueError, match="positive number of samples"):
        sample(tiny_model, sampler, 0)
    with pytest.raises(ValueError, match="guidance=-1"):
        sample(tiny_model, sampler, 2, context=torch.zeros(5), guidance=-1)
    with pytest.raises(ValueError, match=r"x_T must have shape \(2, 3, 16, 16\)"):
        sample(tiny_model, sampler, 2, x_T=torch.zeros(2, 3, 8, 8))


@pytest.mark.parametrize("guidance", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_guidance_is_refused(tiny_model, schedule, guidance):
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        sample(tiny_model, DDIMSampler(schedule, 2), 2, context=torch.eye(5)[0], guidance=guidance)


def test_non_finite_context_is_refused(tiny_model, schedule):
    with pytest.raises(ValueError, match="context holds NaN or infinite values"):
        sample(tiny_model, DDIMSampler(schedule, 2), 2, context=torch.tensor([1.0, 0.0, float("nan"), 0.0, 0.0]))


def test_a_non_finite_sample_is_an_error_never_a_picture(tiny_model, schedule):
    with torch.no_grad():
        tiny_model.conv_out.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN or infinite values"):
        sample(tiny_model, DDIMSampler(schedule, 2), 2)


def test_seed_none_draws_fresh_noise_and_reports_its_seed(tiny_model, schedule):
    sampler = DDIMSampler(schedule, 2)
    a, b = sample(tiny_model, sampler, 2, seed=None), sample(tiny_model, sampler, 2, seed=None)
    assert a.seed != b.seed and not torch.equal(a.images, b.images)
    again = sample(tiny_model, sampler, 2, seed=a.seed)
    assert torch.equal(again.images, a.images) and again.seed == a.seed
    assert sample(tiny_model, sampler, 2, seed=7).seed == 7
    assert sample(tiny_model, sampler, 2, generator=torch.Generator().manual_seed(7)).seed is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sampling_has_no_host_sync_and_matches_cpu(tiny_model, schedule):
    sampler = DDPMSampler(NoiseSchedule(ScheduleConfig(T=20)))
    cpu = sample(tiny_model, sampler, 4, seed=3).images
    gpu_model = tiny_model.to("cuda")
    sample(gpu_model, sampler, 4, seed=3)  # warm-up (allocations)
    syncs = []
    torch.cuda.set_sync_debug_mode("warn")  # every host synchronisation warns; the loop itself must make none
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = sample(gpu_model, sampler, 4, seed=3, capture_every=0)
        syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    # the result's copy to the CPU and its finiteness check are the allowed synchronisations, after the loop
    assert len(syncs) <= 2, syncs
    torch.testing.assert_close(r.images, cpu, rtol=1e-3, atol=1e-3)


class OracleDenoiser(nn.Module):
    """The exact noise predictor for a data set of one image x0: eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)."""

    def __init__(self, x0: torch.Tensor, schedule: NoiseSchedule):
        super().__init__()
        self.config = ModelConfig(context_dim=0, attention_levels=())
        self.x0, self.alpha_bar = x0, schedule.alpha_bar.float()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, context=None):
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return (x - ab.sqrt() * self.x0) / (1 - ab).sqrt()


@pytest.mark.parametrize("sampler", [DDPMSampler(SCHEDULE), DDPMSampler(SCHEDULE, "posterior"),
                                     DDIMSampler(SCHEDULE, 25), DDIMSampler(SCHEDULE, 30, eta=1.0),
                                     DDIMSampler(SCHEDULE, 1), DPMSolverPP2MSampler(SCHEDULE, 10),
                                     HeunSampler(SCHEDULE, 10)], ids=repr)
def test_samplers_with_the_exact_denoiser_return_the_data(sampler):
    x0 = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = sample(OracleDenoiser(x0, SCHEDULE), sampler, 4, seed=0).images
    torch.testing.assert_close(out, x0.expand_as(out), rtol=0, atol=1e-4)


def test_tiny_model_trained_on_one_sprite_reproduces_it():
    """A few hundred training steps on a single sprite: DDPM sampling must give that sprite back."""
    torch.manual_seed(0)
    sprite = torch.ones(3, 16, 16)
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    disc = (yy - 8) ** 2 + (xx - 7) ** 2
    sprite[:, disc <= 25] = torch.tensor([-1.0, -1.0, -1.0])[:, None]     # dark outline
    sprite[:, disc <= 16] = torch.tensor([0.9, -0.6, -0.7])[:, None]      # red body
    schedule = NoiseSchedule(ScheduleConfig(T=100, beta_start=1e-3, beta_end=0.1))  # alpha_bar_T ~ e^-5, as T=500
    model = UNet(ModelConfig(base_channels=16, channel_mults=(1, 2), attention_levels=(), context_dim=0, groups=4))
    steps, lr = 300, 5e-3
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    g = torch.Generator().manual_seed(0)
    x0 = sprite.expand(16, -1, -1, -1)
    for _ in range(steps):
        loss = diffusion_loss(model, schedule, x0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr_schedule.step()
    out = sample(model, DDPMSampler(schedule), 4, seed=1).images.clamp(-1, 1)
    err = (out - sprite).abs().mean().item()
    assert err < 0.1, f"mean abs error {err:.3f} between the samples and the training sprite"


def test_ddpm_without_noise_is_deterministic_mean_path(tiny_model, schedule):
    sampler = DDPMSampler(NoiseSchedule(ScheduleConfig(T=30)), variance="none")
    assert not any(sampler.needs_noise(t) for t in sampler.timesteps)
    x_T = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(sample(tiny_model, sampler, 2, x_T=x_T, seed=1).images,
                               sample(tiny_model, sampler, 2, x_T=x_T, seed=2).images)


def test_sample_starts_from_the_schedules_signal_leak(tiny_model):
    mu = torch.linspace(-1, 1, 3 * 16 * 16).view(3, 16, 16)
    leaky = NoiseSchedule(ScheduleConfig(), x0_mean=mu)
    z = draw_noise((4, 3, 16, 16), torch.Generator().manual_seed(7), torch.device("cpu"))
    from_seed = sample(tiny_model, DDIMSampler(leaky, 3), 4, seed=7).images
    from_x_T = sample(tiny_model, DDIMSampler(leaky, 3), 4, x_T=leaky.x_T_from_noise(z)).images
    torch.testing.assert_close(from_seed, from_x_T)
    assert not torch.allclose(from_seed, sample(tiny_model, DDIMSampler(SCHEDULE, 3), 4, seed=7).images)
