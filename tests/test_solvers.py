"""DPM-Solver++(2M) and Heun: exact on a closed-form model, second order, DDIM where they should be, reusable."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.config import ModelConfig, ScheduleConfig
from course_lib.samplers import (LOWER_ORDER_FINAL, DDIMSampler, DPMSolverPP2MSampler, HeunSampler, ddim_timesteps,
                                 make_sampler, sample)
from course_lib.schedules import NoiseSchedule

pytestmark = pytest.mark.usefixtures("one_thread")
SCHEDULE = NoiseSchedule(ScheduleConfig())
SOLVERS = ("dpmpp2m", "heun")
MU, SD = 0.3, 0.5


class GaussianDenoiser(nn.Module):
    """The exact noise predictor for data x0 ~ N(mu, sd^2 I) (sd = 0: the point mass at mu):
    eps(x_t, t) = E[eps | x_t] = sqrt(1 - ab_t) (x_t - sqrt(ab_t) mu) / v_t,  v_t = ab_t sd^2 + 1 - ab_t.
    Runs in float64 (sample() follows the parameter's dtype) and counts its calls."""

    def __init__(self, mu: float = MU, sd: float = SD):
        super().__init__()
        self.config = ModelConfig(context_dim=0, attention_levels=())
        self.mu, self.sd, self.alpha_bar = mu, sd, SCHEDULE.alpha_bar
        self.unused = nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.calls = 0

    def forward(self, x, t, context=None):
        self.calls += 1
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * self.mu) / (ab * self.sd ** 2 + 1 - ab)

    def ode_solution(self, x_T: torch.Tensor, alpha_bar: float) -> torch.Tensor:
        """The probability-flow ODE from t = T-1 keeps every sample's quantile, so it is linear in x_T:
        x = sqrt(ab) mu + sqrt(v) (x_T - sqrt(ab_T) mu) / sqrt(v_T); at ab = 1: mu + sd (x_T - ...) / sqrt(v_T)."""
        ab_T = self.alpha_bar[-1].item()
        v, v_T = alpha_bar * self.sd ** 2 + 1 - alpha_bar, ab_T * self.sd ** 2 + 1 - ab_T
        return math.sqrt(alpha_bar) * self.mu + math.sqrt(v / v_T) * (x_T - math.sqrt(ab_T) * self.mu)


X_T = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def solve(method: str, steps: int) -> torch.Tensor:
    """The images `method` makes from X_T with the exact denoiser of N(MU, SD^2 I) data."""
    return sample(GaussianDenoiser(), make_sampler(SCHEDULE, method, steps=steps), 4, x_T=X_T).images.double()


def test_many_steps_reach_the_exact_ode_solution():
    """500 steps against x_0 = mu + sd (x_T - sqrt(ab_T) mu) / sqrt(v_T); measured: DDIM 7.4e-3, DPM++ 3.5e-5,
    Heun 3.3e-4 (its floor: the last step, first order, from t = 0 where sigma = 0.01 to the clean end)."""
    exact = GaussianDenoiser().ode_solution(X_T, 1.0)
    err = {m: (solve(m, 500) - exact).abs().max().item() for m in ("ddim", *SOLVERS)}
    assert 2e-3 < err["ddim"] < 2e-2, err
    assert err["dpmpp2m"] < 2e-4 and err["heun"] < 1e-3, err


def test_errors_shrink_at_second_order():
    """The error at 20, 40 and 80 steps against the exact ODE solution at t = 0 carried through the final
    step every sampler shares (x0_hat at t = 0, whose own error does not shrink with the steps).
    Measured: DDIM 1.8e-1, 8.8e-2, 4.4e-2 (halves); DPM++(2M) 2.7e-1, 7.7e-2, 1.9e-2 (ratios 3.5, 4.1: this
    data's x0_hat still moves near t = 0, where the steps in lambda are long); Heun 1.8e-2, 4.2e-3, 1.1e-3
    (4.2, 4.0) at 39, 79, 159 evaluations."""
    model = GaussianDenoiser()
    x = model.ode_solution(X_T, SCHEDULE.alpha_bar[0].item())
    reference = DDIMSampler(SCHEDULE, 1).predict_x0(model(x, torch.zeros(4, dtype=torch.long)), 0, x)
    err = {m: [(solve(m, k) - reference).abs().max().item() for k in (20, 40, 80)] for m in ("ddim", *SOLVERS)}
    ratios = {m: [a / b for a, b in zip(e, e[1:])] for m, e in err.items()}
    assert all(1.8 < r < 2.2 for r in ratios["ddim"]), ratios
    assert all(3.2 < r < 5.0 for m in SOLVERS for r in ratios[m]), ratios
    assert err["dpmpp2m"][2] < err["ddim"][2] / 2 and err["heun"][0] < err["ddim"][1] / 3, err  # at equal NFE


def test_every_step_predicts_the_data_of_a_point_mass():
    """With the exact denoiser of one image, x0_hat (what animations show) is that image at every step."""
    model = GaussianDenoiser(sd=0.0)
    for method in SOLVERS:
        sampler, x = make_sampler(SCHEDULE, method, steps=6), X_T
        for t in sampler.timesteps:
            out = sampler.step(model(x, torch.full((4,), t)), t, x)
            torch.testing.assert_close(out.x0_hat, torch.full_like(x, MU))
            x = out.x_prev
        torch.testing.assert_close(x, torch.full_like(x, MU))


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 10, LOWER_ORDER_FINAL - 1, LOWER_ORDER_FINAL, 25])
def test_which_dpmpp_steps_are_ddim(steps):
    """Fed the same x_t and eps, a DPM++ step is DDIM (eta = 0) exactly where it is first order: the first step,
    the last (to the clean end) and, below LOWER_ORDER_FINAL steps, the step into t = 0; every other step differs."""
    dpm, ddim = DPMSolverPP2MSampler(SCHEDULE, steps), DDIMSampler(SCHEDULE, steps)
    first_order = {0, steps - 1} | ({steps - 2} if steps < LOWER_ORDER_FINAL else set())
    g = torch.Generator().manual_seed(1)
    for i, t in enumerate(dpm.timesteps):
        x, eps = (torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64) for _ in range(2))
        ours, theirs = dpm.step(eps, t, x), ddim.step(eps, t, x)
        torch.testing.assert_close(ours.x0_hat, theirs.x0_hat, rtol=0, atol=0)
        assert torch.equal(ours.x_prev, theirs.x_prev) == (i in first_order), (i, t)


def test_heun_predictor_and_one_step_run_are_ddim():
    """Euler in sigma is DDIM: Heun's predictor, and its one-step run (Euler from t = T-1 to the clean end)."""
    g = torch.Generator().manual_seed(1)
    x, eps = (torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64) for _ in range(2))
    torch.testing.assert_close(HeunSampler(SCHEDULE, 25).step(eps, 499, x), DDIMSampler(SCHEDULE, 25).step(eps, 499, x),
                               rtol=0, atol=0)
    torch.testing.assert_close(solve("heun", 1), solve("ddim", 1), rtol=0, atol=0)


def test_many_steps_agree_with_ddim(tiny_model):
    """All three integrate one ODE: on the random U-Net their difference shrinks with the steps (DDIM's first-order
    error); measured max |difference| / max |image| 2.1% and 2.6% at 25 steps, 0.26% and 0.26% at 250."""
    x_T = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    diff = {}
    for steps in (25, 250):
        ddim = sample(tiny_model, DDIMSampler(SCHEDULE, steps), 1, x_T=x_T).images
        solved = [sample(tiny_model, make_sampler(SCHEDULE, m, steps=steps), 1, x_T=x_T).images for m in SOLVERS]
        diff[steps] = [((x - ddim).abs().max() / ddim.abs().max()).item() for x in solved]
    assert all(d < 0.005 for d in diff[250]) and all(a > 5 * b for a, b in zip(diff[25], diff[250])), diff


def _eps(model: nn.Module, x: torch.Tensor, t: int) -> torch.Tensor:
    with torch.no_grad():
        return model(x, torch.full((x.shape[0],), t), None)


@pytest.mark.parametrize("steps", [4, 10, LOWER_ORDER_FINAL, 25])
def test_dpmpp2m_matches_diffusers_step_by_step(tiny_model, steps):
    """diffusers' DPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint, first order into sigma = 0) on our
    betas and our timesteps, fed the same x and eps at every step; except, below LOWER_ORDER_FINAL steps, at the
    step into t = 0, which diffusers takes at second order on these timesteps (its own end before sigma = 0
    is t = T / steps, where r is not small) and we at first order (DDIM, see test_which_dpmpp_steps_are_ddim)."""
    diffusers = pytest.importorskip("diffusers")
    ours = DPMSolverPP2MSampler(SCHEDULE, steps)
    theirs = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=SCHEDULE.T, trained_betas=SCHEDULE.beta.numpy(),
                                                   algorithm_type="dpmsolver++", solver_order=2,
                                                   final_sigmas_type="zero")
    theirs.set_timesteps(timesteps=ours.timesteps)
    assert theirs.timesteps.tolist() == ours.timesteps
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    for i, t in enumerate(ours.timesteps):
        eps = _eps(tiny_model, x, t)
        expected = theirs.step(eps, t, x).prev_sample
        x = ours.step(eps, t, x).x_prev
        if i != steps - 2 or steps >= LOWER_ORDER_FINAL:
            torch.testing.assert_close(x, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("steps", [2, 10])
def test_heun_matches_diffusers_step_by_step(tiny_model, steps):
    """diffusers' HeunDiscreteScheduler on our betas and the timesteps t_0 of ddim_timesteps: it lists the same
    evaluations and works on y = x sqrt(1 + sigma^2) (the model sees x = y / sqrt(1 + sigma^2)); fed the same eps.
    In float64: y is about 12.6 x at t = T-1, where float32 loses digits to the cancellation y - sigma eps."""
    diffusers = pytest.importorskip("diffusers")
    ours = HeunSampler(SCHEDULE, steps)
    theirs = diffusers.HeunDiscreteScheduler(num_train_timesteps=SCHEDULE.T, trained_betas=SCHEDULE.beta.numpy())
    theirs.set_timesteps(timesteps=ddim_timesteps(SCHEDULE.T, steps))
    assert theirs.timesteps.tolist() == ours.timesteps
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    y = x * (1 + theirs.sigmas[0].double() ** 2).sqrt()
    for k, t in enumerate(ours.timesteps):
        torch.testing.assert_close(theirs.scale_model_input(y, t), x, rtol=1e-4, atol=1e-4)
        eps = _eps(tiny_model, x.float(), t).double()
        out, expected = ours.step(eps, t, x), theirs.step(eps, t, y)
        x, y = out.x_prev, expected.prev_sample
        torch.testing.assert_close(out.x0_hat, expected.pred_original_sample, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)  # the last step ends at sigma = 0, where y = x


@pytest.mark.parametrize("method", SOLVERS)
def test_guided_sampling_runs_and_is_deterministic(tiny_model, method):
    sampler, c = make_sampler(SCHEDULE, method, steps=4), torch.eye(5)[1]
    guided = sample(tiny_model, sampler, 2, context=c, guidance=2.0, seed=4).images
    again = sample(tiny_model, make_sampler(SCHEDULE, method, steps=4), 2, context=c, guidance=2.0, seed=4).images
    torch.testing.assert_close(guided, again, rtol=0, atol=0)
    assert torch.isfinite(guided).all()
    assert not torch.allclose(guided, sample(tiny_model, sampler, 2, context=c, seed=4).images)
    assert not torch.allclose(guided, sample(tiny_model, sampler, 2, context=c, guidance=2.0, seed=5).images)


@pytest.mark.parametrize("method", SOLVERS)
@pytest.mark.parametrize("options,message", [
    (dict(eta=0.5), "eta=0.5 does not apply to {method}: it takes steps"),
    (dict(variance="beta"), "variance='beta' does not apply to {method}"),
    (dict(steps=0), "steps=0 must be an integer from 1 to T=500"),
    (dict(steps=501), "steps=501 must be an integer from 1 to T=500"),
    (dict(steps=2.5), "steps=2.5 must be an integer"),
    (dict(steps=True), "steps=True must be an integer"),
])
def test_bad_options_are_refused(method, options, message):
    with pytest.raises(ValueError, match=message.format(method=method)):
        make_sampler(SCHEDULE, method, **options)


@pytest.mark.parametrize("method,steps,nfe", [("ddpm", None, 500), ("ddim", 25, 25), ("dpmpp2m", 25, 25),
                                              ("heun", 25, 49), ("heun", 1, 1)])
def test_nfe_counts_the_model_evaluations(method, steps, nfe):
    sampler, model = make_sampler(SCHEDULE, method, steps=steps), GaussianDenoiser()
    sample(model, sampler, 1)
    assert sampler.nfe == len(sampler.timesteps) == model.calls == nfe
    assert sampler.timesteps[0] == SCHEDULE.T - 1 and sampler.timesteps[-1] == (0 if nfe > 1 else SCHEDULE.T - 1)


@pytest.mark.parametrize("method", SOLVERS)
def test_a_sampler_can_be_reused_and_captures_frames(tiny_model, method):
    """The state of a run (the previous x0_hat or eps) never leaks into the next, also after an aborted run."""
    sampler = make_sampler(SCHEDULE, method, steps=5)
    first = sample(tiny_model, sampler, 2, seed=3, capture_every=2)
    for t in sampler.timesteps[:4]:  # an aborted run by hand
        sampler.step(torch.ones(2, 3, 16, 16), t, torch.zeros(2, 3, 16, 16))
    second = sample(tiny_model, sampler, 2, seed=3, capture_every=2)
    torch.testing.assert_close(first.images, second.images, rtol=0, atol=0)
    torch.testing.assert_close(first.frames, second.frames, rtol=0, atol=0)
    assert len(first.frames) == math.ceil(sampler.nfe / 2) + 1 and first.frame_timesteps[-1] == -1
    torch.testing.assert_close(first.frames[-1], first.images)


@pytest.mark.parametrize("method", SOLVERS)
def test_steps_out_of_order_are_an_error(method):
    sampler, x = make_sampler(SCHEDULE, method, steps=4), torch.zeros(1, 3, 4, 4)
    with pytest.raises(RuntimeError, match=f"steps must follow its timesteps in order, starting at t=499: "
                                           f"got t={sampler.timesteps[2]}, expected t=499"):
        sampler.step(x, sampler.timesteps[2], x)
    for t in sampler.timesteps:
        sampler.step(x, t, x)
    with pytest.raises(RuntimeError, match=r"got t=0, expected none \(the run is over\)"):
        sampler.step(x, 0, x)


def test_repr_names_steps_and_evaluations():
    assert repr(HeunSampler(SCHEDULE, 10)) == "HeunSampler(steps=10, nfe=19)"
    assert repr(DPMSolverPP2MSampler(SCHEDULE, 10)) == "DPMSolverPP2MSampler(steps=10, nfe=10)"
