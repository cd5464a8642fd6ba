"""The lab exercise checks: right answers pass however they are written, typical wrong answers get their hint.

The student answers below are written the way a student would write them in the labs, reading the global
`schedule` (and `q_sample`, `predict_x0`) as the notebooks do; none is taken from course_lib.exercises.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import checks, exercises
from course_lib.checks import RecordingNet
from course_lib.config import ScheduleConfig
from course_lib.samplers import DDIMSampler, DDPMSampler, ddim_timesteps
from course_lib.schedules import NoiseSchedule
from course_lib.training import diffusion_loss
from course_lib.training import mask_context as training_mask_context

schedule = NoiseSchedule(ScheduleConfig())  # the notebooks' global, T = 500 linear
CONTEXT = {"schedule": schedule}


def context_of(name):
    return CONTEXT if exercises.EXERCISES[name].context else {}


def verdict(name, answer):
    return exercises.result(name, answer, **context_of(name))


def stub(*args, **kwargs):
    raise NotImplementedError


# ----------------------------------------------------------------------------- lab 1

def alpha_bar_from_beta(beta):
    return torch.cumprod(1 - beta, dim=0)


def alpha_bar_exp_log(beta):
    return torch.exp(torch.cumsum(torch.log(1 - beta), dim=0))


def alpha_bar_loop(beta):
    out, running = [], 1.0
    for b in beta.tolist():
        running *= 1 - b
        out.append(running)
    return torch.tensor(out, dtype=beta.dtype)


def ddpm_step(x_t, t, eps, z):  # lab 1's solution
    beta, alpha, alpha_bar = schedule.beta[t].item(), schedule.alpha[t].item(), schedule.alpha_bar[t].item()
    mean = (x_t - beta / (1 - alpha_bar) ** 0.5 * eps) / alpha ** 0.5
    return mean if t == 0 else mean + beta ** 0.5 * z


def ddpm_step_tensors(x_t, t, eps, z):
    beta, alpha, alpha_bar = schedule.beta[t], schedule.alpha[t], schedule.alpha_bar[t]
    mean = (x_t - beta / torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha)
    sigma = torch.sqrt(beta) if t > 0 else torch.zeros((), dtype=torch.float64)
    return mean + sigma * z


def ddpm_step_double(x_t, t, eps, z):
    x_t, eps, z = x_t.double(), eps.double(), z.double()
    coef = schedule.beta[t] / (1 - schedule.alpha_bar[t]).sqrt()
    x = (x_t - coef * eps) * schedule.alpha[t].rsqrt()
    return torch.where(torch.tensor(t > 0), x + schedule.beta[t].sqrt() * z, x)


# ----------------------------------------------------------------------------- lab 2

def q_sample(x0, t, eps):  # lab 2's solution
    alpha_bar = schedule.alpha_bar.float().to(x0.device)[t].view(-1, 1, 1, 1)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps


def q_sample_float64(x0, t, eps):
    ab = schedule.alpha_bar[t]
    return ab.sqrt()[:, None, None, None] * x0 + (1 - ab).sqrt()[:, None, None, None] * eps


def q_sample_per_image(x0, t, eps):
    rows = []
    for i in range(len(t)):
        ab = schedule.alpha_bar[t[i]].item()
        rows.append(math.sqrt(ab) * x0[i] + math.sqrt(1 - ab) * eps[i])
    return torch.stack(rows)


def diffusion_loss_by_hand(net, x0, t, eps, c):  # lab 2's solution
    return ((net(q_sample(x0, t, eps), t, c) - eps) ** 2).mean()


def loss_mse(net, x0, t, eps, c):
    ab = schedule.alpha_bar[t].view(-1, 1, 1, 1).float()
    return F.mse_loss(net(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t, c), eps)


def loss_torch_mean(net, x0, t, eps, c):
    prediction = net(q_sample(x0, t, eps), t, c)
    return torch.mean((eps - prediction).pow(2))


def timestep_embedding(t, dim):  # lab 2's solution
    h = dim // 2
    omega = 10000.0 ** (-torch.arange(h, dtype=torch.float32) / h)
    angles = t.float()[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def embedding_float64(t, dim):
    half = dim // 2
    w = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.double().unsqueeze(1) * w.unsqueeze(0)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def embedding_loop(t, dim):
    half = dim // 2
    rows = [[math.sin(v * 10000 ** (-i / half)) for i in range(half)] + [math.cos(v * 10000 ** (-i / half))
                                                                          for i in range(half)] for v in t.tolist()]
    return torch.tensor(rows)


# ----------------------------------------------------------------------------- lab 3

def mask_context(c, u, p_uncond):  # lab 3's solution
    return c * (u >= p_uncond)[:, None]


def mask_where(c, u, p_uncond):
    return torch.where((u < p_uncond).unsqueeze(1), torch.zeros_like(c), c)


def mask_clone(c, u, p_uncond):
    out = c.clone()
    out[u <= p_uncond] = 0  # <= instead of <: they differ only on a tie, and both are accepted
    return out


def guided_eps(eps_c, eps_u, w):  # lab 3's solution
    return eps_u + w * (eps_c - eps_u)


def guided_mix(eps_c, eps_u, w):
    return w * eps_c + (1 - w) * eps_u


def guided_lerp(eps_c, eps_u, w):
    return torch.lerp(eps_u, eps_c, w)


# ----------------------------------------------------------------------------- lab 4

def predict_x0(x_t, t, eps):  # lab 4's solution
    alpha_bar = schedule.alpha_bar[t].item()
    return (x_t - (1 - alpha_bar) ** 0.5 * eps) / alpha_bar ** 0.5


def predict_x0_tensors(x_t, t, eps):
    ab = schedule.alpha_bar[t]
    return ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).float()


def predict_x0_split(x_t, t, eps):
    ab = schedule.alpha_bar[t].item()
    return x_t / math.sqrt(ab) - math.sqrt(1 / ab - 1) * eps


def ddim_step(x_t, t, s, eps, eta=0.0, z=None):  # lab 4's solution
    ab_t = schedule.alpha_bar[t].item()
    ab_s = schedule.alpha_bar[s].item() if s >= 0 else 1.0
    x0_hat = predict_x0(x_t, t, eps)
    sigma = eta * ((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)) ** 0.5
    x_s = ab_s ** 0.5 * x0_hat + (1 - ab_s - sigma ** 2) ** 0.5 * eps
    return x_s + sigma * z if sigma > 0 else x_s


def ddim_step_tensors(x_t, t, s, eps, eta=0.0, z=None):
    ab_t = schedule.alpha_bar[t]
    ab_s = schedule.alpha_bar[s] if s >= 0 else torch.ones((), dtype=torch.float64)
    sigma = eta * torch.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    x0 = (x_t - torch.sqrt(1 - ab_t) * eps) / torch.sqrt(ab_t)
    out = torch.sqrt(ab_s) * x0 + torch.sqrt((1 - ab_s - sigma ** 2).clamp(min=0)) * eps
    if z is not None and sigma > 0:
        out = out + sigma * z
    return out


def ddim_timesteps_lab(T, steps):  # lab 4's solution
    return [round(x) for x in torch.linspace(T - 1, 0, steps, dtype=torch.float64).tolist()]


def ddim_timesteps_tensor(T, steps):
    return torch.linspace(T - 1, 0, steps).round().long()


def ddim_timesteps_numpy(T, steps):
    return np.linspace(T - 1, 0, steps).round().astype(int)


def ddim_timesteps_floor(T, steps):
    return tuple(int(x) for x in np.linspace(T - 1, 0, steps))


def ddim_timesteps_tensor_items(T, steps):
    return list(torch.linspace(T - 1, 0, steps).round().long())


def eps_from_x0(x_t, t, x0):  # lab 4's solution
    alpha_bar = schedule.alpha_bar[t].item()
    return (x_t - alpha_bar ** 0.5 * x0) / (1 - alpha_bar) ** 0.5


def eps_from_x0_tensors(x_t, t, x0):
    ab = schedule.alpha_bar[t]
    return (x_t.double() - ab.sqrt() * x0.double()) / (1 - ab).sqrt()


def eps_from_x0_rescaled(x_t, t, x0):
    ab = schedule.alpha_bar[t].item()
    return (x_t / math.sqrt(ab) - x0) * math.sqrt(ab / (1 - ab))


RIGHT = {
    "alpha_bar_from_beta": [alpha_bar_from_beta, alpha_bar_exp_log, alpha_bar_loop],
    "ddpm_step": [ddpm_step, ddpm_step_tensors, ddpm_step_double],
    "q_sample": [q_sample, q_sample_float64, q_sample_per_image],
    "diffusion_loss_by_hand": [diffusion_loss_by_hand, loss_mse, loss_torch_mean],
    "timestep_embedding": [timestep_embedding, embedding_float64, embedding_loop],
    "mask_context": [mask_context, mask_where, mask_clone],
    "guided_eps": [guided_eps, guided_mix, guided_lerp],
    "ddim_timesteps": [ddim_timesteps_lab, ddim_timesteps_tensor, ddim_timesteps_numpy, ddim_timesteps_floor,
                       ddim_timesteps_tensor_items],
    "predict_x0": [predict_x0, predict_x0_tensors, predict_x0_split],
    "ddim_step": [ddim_step, ddim_step_tensors],
    "eps_from_x0": [eps_from_x0, eps_from_x0_tensors, eps_from_x0_rescaled],
}


# ----------------------------------------------------------------------------- typical wrong answers

def _ab(t):
    return schedule.alpha_bar[t].item()


def _ddpm_parts(t):
    return schedule.beta[t].item(), schedule.alpha[t].item(), schedule.alpha_bar[t].item()


def ddpm_noise_always(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    return (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha) + math.sqrt(beta) * z


def ddpm_variance(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    return mean if t == 0 else mean + beta * z


def ddpm_no_sqrt_eps(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    mean = (x_t - beta / (1 - ab) * eps) / math.sqrt(alpha)
    return mean if t == 0 else mean + math.sqrt(beta) * z


def ddpm_alpha_bar(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    return mean if t == 0 else mean + math.sqrt(beta) * z


def ddpm_minus_noise(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    return mean if t == 0 else mean - math.sqrt(beta) * z


def ddpm_t_minus_1(x_t, t, eps, z):
    beta, alpha, ab = schedule.beta[t - 1].item(), schedule.alpha[t - 1].item(), schedule.alpha_bar[t - 1].item()
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    return mean if t == 0 else mean + math.sqrt(beta) * z


def ddpm_no_noise(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    return (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)


def ddpm_last_two_steps_clean(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    return mean + math.sqrt(beta) * z if t > 1 else mean


def ddpm_posterior(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    return mean + schedule.posterior_variance[t].sqrt().item() * z


def ddpm_t_plus_1(x_t, t, eps, z):
    beta = schedule.beta[t + 1].item()
    return (x_t - beta * eps) / math.sqrt(1 - beta)


def ddpm_float_sqrt(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    return (x_t - beta / torch.sqrt(1 - ab) * eps) / torch.sqrt(alpha)


def ddpm_in_place(x_t, t, eps, z):
    beta, alpha, ab = _ddpm_parts(t)
    x_t -= beta / math.sqrt(1 - ab) * eps
    x_t /= math.sqrt(alpha)
    return x_t if t == 0 else x_t + math.sqrt(beta) * z


def q_no_view(x0, t, eps):
    ab = schedule.alpha_bar[t]
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def q_first_t(x0, t, eps):
    ab = schedule.alpha_bar[t[0]].item()
    return math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps


def q_no_sqrt(x0, t, eps):
    ab = schedule.alpha_bar.float()[t].view(-1, 1, 1, 1)
    return ab * x0 + (1 - ab) * eps


def q_swapped(x0, t, eps):
    ab = schedule.alpha_bar.float()[t].view(-1, 1, 1, 1)
    return (1 - ab).sqrt() * x0 + ab.sqrt() * eps


def q_alpha(x0, t, eps):
    a = schedule.alpha.float()[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def q_t_minus_1(x0, t, eps):
    ab = schedule.alpha_bar.float()[t - 1].view(-1, 1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def q_five_dims(x0, t, eps):
    ab = schedule.alpha_bar.float()[t][:, None, None, None, None]
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def loss_target_x0(net, x0, t, eps, c):
    return ((net(q_sample(x0, t, eps), t, c) - x0) ** 2).mean()


def loss_net_on_x0(net, x0, t, eps, c):
    return ((net(x0, t, c) - eps) ** 2).mean()


def loss_sum(net, x0, t, eps, c):
    return ((net(q_sample(x0, t, eps), t, c) - eps) ** 2).sum()


def loss_l1(net, x0, t, eps, c):
    return (net(q_sample(x0, t, eps), t, c) - eps).abs().mean()


def loss_per_image(net, x0, t, eps, c):
    return ((net(q_sample(x0, t, eps), t, c) - eps) ** 2).mean(dim=(1, 2, 3))


def loss_no_context(net, x0, t, eps, c):
    return ((net(q_sample(x0, t, eps), t) - eps) ** 2).mean()


def loss_scaled_t(net, x0, t, eps, c):
    return ((net(q_sample(x0, t, eps), t / 500, c) - eps) ** 2).mean()


def loss_item(net, x0, t, eps, c):
    return ((net(q_sample(x0, t, eps), t, c) - eps) ** 2).mean().item()


def loss_no_net(net, x0, t, eps, c):
    return ((q_sample(x0, t, eps) - eps) ** 2).mean()


def emb_cos_first(t, dim):
    h = dim // 2
    angles = t.float()[:, None] * 10000.0 ** (-torch.arange(h) / h)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def emb_interleaved(t, dim):
    h = dim // 2
    angles = t.float()[:, None] * 10000.0 ** (-torch.arange(h) / h)
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(len(t), dim)


def emb_over_dim(t, dim):
    h = dim // 2
    angles = t.float()[:, None] * 10000.0 ** (-torch.arange(h) / dim)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def emb_positive_exponent(t, dim):
    h = dim // 2
    angles = t.float()[:, None] * 10000.0 ** (torch.arange(h) / h)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def emb_only_sin(t, dim):
    h = dim // 2
    return torch.sin(t.float()[:, None] * 10000.0 ** (-torch.arange(h) / h))


def mask_in_place(c, u, p_uncond):
    c[u < p_uncond] = 0
    return c


def mask_inverted(c, u, p_uncond):
    return c * (u < p_uncond)[:, None]


def mask_ones(c, u, p_uncond):
    return torch.where((u < p_uncond)[:, None], torch.ones_like(c), c)


def mask_returns_mask(c, u, p_uncond):
    return (u >= p_uncond).float()[:, None]


def mask_no_view(c, u, p_uncond):
    return c * (u >= p_uncond)


def mask_own_draw(c, u, p_uncond):
    return c * (torch.rand(len(c)) >= p_uncond)[:, None]


def timesteps_increasing(T, steps):
    return list(range(0, T, T // steps))


def timesteps_from_T(T, steps):
    return torch.linspace(T, 0, steps).round().long().tolist()


def timesteps_stride(T, steps):
    return list(range(T - 1, -1, -(T // steps)))


def timesteps_floats(T, steps):
    return torch.linspace(T - 1, 0, steps).tolist()


def timesteps_one_too_many(T, steps):
    return np.linspace(T - 1, 0, steps + 1).round().astype(int).tolist()


def timesteps_divide(T, steps):
    return [round((steps - 1 - i) * (T - 1) / (steps - 1)) for i in range(steps)]


def timesteps_no_return(T, steps):
    ts = [round(x) for x in np.linspace(T - 1, 0, steps)]  # noqa: F841


def x0_no_sqrt(x_t, t, eps):
    return (x_t - (1 - _ab(t)) * eps) / _ab(t)


def x0_plus(x_t, t, eps):
    return (x_t + math.sqrt(1 - _ab(t)) * eps) / math.sqrt(_ab(t))


def x0_alpha(x_t, t, eps):
    a = schedule.alpha[t].item()
    return (x_t - math.sqrt(1 - a) * eps) / math.sqrt(a)


def x0_swapped(x_t, t, eps):
    return (x_t - math.sqrt(_ab(t)) * eps) / math.sqrt(1 - _ab(t))


def x0_t_minus_1(x_t, t, eps):
    ab = schedule.alpha_bar[t - 1].item()
    return (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)


def x0_prev(x_t, t, eps):
    ab = schedule.alpha_bar_prev[t].item()
    return (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)


def x0_times(x_t, t, eps):
    return (x_t - math.sqrt(1 - _ab(t)) * eps) * math.sqrt(_ab(t))


def ddim_sigma_no_sqrt(x_t, t, s, eps, eta=0.0, z=None):
    ab_t, ab_s = _ab(t), (_ab(s) if s >= 0 else 1.0)
    sigma = eta * (1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)
    x0_hat = predict_x0(x_t, t, eps)
    x_s = math.sqrt(ab_s) * x0_hat + math.sqrt(1 - ab_s - sigma ** 2) * eps
    return x_s + sigma * z if sigma > 0 else x_s


def ddim_deterministic(x_t, t, s, eps, eta=0.0, z=None):
    ab_s = _ab(s) if s >= 0 else 1.0
    return math.sqrt(ab_s) * predict_x0(x_t, t, eps) + math.sqrt(1 - ab_s) * eps


def ddim_t_minus_1(x_t, t, s, eps, eta=0.0, z=None):
    ab_t, ab_s = _ab(t), (_ab(t - 1) if t > 0 else 1.0)
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    x_s = math.sqrt(ab_s) * predict_x0(x_t, t, eps) + math.sqrt(1 - ab_s - sigma ** 2) * eps
    return x_s + sigma * z if sigma > 0 else x_s


def ddim_s_minus_1_unhandled(x_t, t, s, eps, eta=0.0, z=None):
    ab_t, ab_s = _ab(t), _ab(s)
    sigma = eta * ((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)) ** 0.5
    x_s = ab_s ** 0.5 * predict_x0(x_t, t, eps) + (1 - ab_s - sigma ** 2) ** 0.5 * eps
    return x_s + sigma * z if sigma > 0 else x_s


def ddim_direction_without_sigma(x_t, t, s, eps, eta=0.0, z=None):
    ab_t, ab_s = _ab(t), (_ab(s) if s >= 0 else 1.0)
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    x_s = math.sqrt(ab_s) * predict_x0(x_t, t, eps) + math.sqrt(1 - ab_s) * eps
    return x_s + sigma * z if sigma > 0 else x_s


def ddim_always_noise(x_t, t, s, eps, eta=0.0, z=None):
    ab_t, ab_s = _ab(t), (_ab(s) if s >= 0 else 1.0)
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    return math.sqrt(ab_s) * predict_x0(x_t, t, eps) + math.sqrt(1 - ab_s - sigma ** 2) * eps + sigma * z


def ddim_sigma_is_eta(x_t, t, s, eps, eta=0.0, z=None):
    ab_s = _ab(s) if s >= 0 else 1.0
    x_s = ab_s ** 0.5 * predict_x0(x_t, t, eps) + (1 - ab_s - eta ** 2) ** 0.5 * eps
    return x_s + eta * z if eta > 0 else x_s


def ddim_returns_pair(x_t, t, s, eps, eta=0.0, z=None):
    x0_hat = predict_x0(x_t, t, eps)
    return ddim_step(x_t, t, s, eps, eta, z), x0_hat


def eps_flipped(x_t, t, x0):
    return (math.sqrt(_ab(t)) * x0 - x_t) / math.sqrt(1 - _ab(t))


def eps_no_sqrt(x_t, t, x0):
    return (x_t - _ab(t) * x0) / (1 - _ab(t))


def eps_swapped(x_t, t, x0):
    return (x_t - math.sqrt(1 - _ab(t)) * x0) / math.sqrt(_ab(t))


def eps_prev(x_t, t, x0):
    ab = schedule.alpha_bar_prev[t].item()
    return (x_t - ab ** 0.5 * x0) / (1 - ab) ** 0.5


def eps_raises(x_t, t, x0):
    return (x_t - math.sqrt(_ab(t)) * x0) / math.sqrt(1 - _ab(t))[0]


# (exercise, answer, hint_id, a phrase of the verdict)
WRONG = [
    ("alpha_bar_from_beta", lambda beta: torch.cumsum(1 - beta, dim=0), "cumsum", "not a sum"),
    ("alpha_bar_from_beta", lambda beta: torch.cumprod(beta, dim=0), "product_of_betas", "not the betas"),
    ("alpha_bar_from_beta", lambda beta: 1 - torch.cumprod(beta, dim=0), "one_minus_outside", "1 - beta first"),
    ("alpha_bar_from_beta", lambda beta: torch.cat([torch.ones(1, dtype=beta.dtype), torch.cumprod(1 - beta, 0)[:-1]]),
     "exclusive", "alpha_bar_prev"),
    ("alpha_bar_from_beta", lambda beta: torch.prod(1 - beta), "total_product", "running product"),
    ("alpha_bar_from_beta", lambda beta: torch.cumprod(1 - beta, 0).tolist(), "wrong_type", "returns a list"),
    ("alpha_bar_from_beta", lambda beta: beta.mul_(-1).add_(1).cumprod(0), "in_place", "changed beta in place"),
    ("alpha_bar_from_beta", lambda beta: None, "returns_none", "forget `return`"),
    ("ddpm_step", ddpm_noise_always, "noise_at_last_step", "at t = 0 your step adds noise"),
    ("ddpm_step", ddpm_variance, "noise_scale", "standard deviation"),
    ("ddpm_step", ddpm_no_sqrt_eps, "eps_coef_sqrt", "square root on 1 - alpha_bar_t"),
    ("ddpm_step", ddpm_alpha_bar, "alpha_bar_for_alpha", "one step's alpha"),
    ("ddpm_step", ddpm_minus_noise, "noise_sign", "with a plus"),
    ("ddpm_step", ddpm_t_minus_1, "off_by_one", "one timestep off"),
    ("ddpm_step", ddpm_no_noise, "no_noise", "flat and smooth"),
    ("ddpm_step", ddpm_last_two_steps_clean, "noise_term", "right at t = 0 but wrong for t > 0"),
    ("ddpm_step", ddpm_posterior, "noise_term", "not the posterior variance"),
    ("ddpm_step", ddpm_t_plus_1, "off_by_one", "IndexError"),
    ("ddpm_step", ddpm_float_sqrt, "raises", "TypeError"),
    ("ddpm_step", ddpm_in_place, "in_place", "changed x_t in place"),
    ("q_sample", q_no_view, "missing_view", ".view(-1, 1, 1, 1)"),
    ("q_sample", q_first_t, "one_t_for_batch", "t[0]"),
    ("q_sample", q_no_sqrt, "missing_sqrt", "square roots"),
    ("q_sample", q_swapped, "coefficients_swapped", "swapped"),
    ("q_sample", q_alpha, "alpha_for_alpha_bar", "alpha_bar_t = prod"),
    ("q_sample", q_t_minus_1, "off_by_one", "at t - 1"),
    ("q_sample", q_five_dims, "shape", "has shape (4, 4, 3, 16, 16), not (4, 3, 16, 16)"),
    ("diffusion_loss_by_hand", loss_target_x0, "target_x0", "not with x0"),
    ("diffusion_loss_by_hand", loss_net_on_x0, "net_input", "noisy image"),
    ("diffusion_loss_by_hand", loss_sum, "sum_not_mean", "not the sum"),
    ("diffusion_loss_by_hand", loss_l1, "l1", "absolute value"),
    ("diffusion_loss_by_hand", loss_per_image, "per_image", "one per image"),
    ("diffusion_loss_by_hand", loss_no_context, "context_dropped", "without the context c"),
    ("diffusion_loss_by_hand", loss_scaled_t, "timestep_not_passed", "other timesteps"),
    ("diffusion_loss_by_hand", loss_item, "wrong_type", ".item()"),
    ("diffusion_loss_by_hand", loss_no_net, "net_not_called", "net(x_t, t, c) must match eps"),
    ("timestep_embedding", emb_cos_first, "cos_first", "sines come first"),
    ("timestep_embedding", emb_interleaved, "interleaved", "not interleaved"),
    ("timestep_embedding", emb_over_dim, "exponent_dim", "you divide by dim"),
    ("timestep_embedding", emb_positive_exponent, "exponent_sign", "minus sign"),
    ("timestep_embedding", emb_only_sin, "only_sin", "half sines"),
    ("mask_context", mask_in_place, "in_place", "c * keep"),
    ("mask_context", mask_inverted, "inverted", "other way round"),
    ("mask_context", mask_ones, "fill_value", "row of zeros"),
    ("mask_context", mask_returns_mask, "returns_mask", "not the mask itself"),
    ("mask_context", mask_no_view, "rows_not_entries", "whole rows"),
    ("mask_context", mask_own_draw, "random", "random numbers of its own"),
    ("guided_eps", lambda eps_c, eps_u, w: eps_c + w * (eps_c - eps_u), "plus_one_convention",
     "w = 1 means no guidance"),
    ("guided_eps", lambda eps_c, eps_u, w: (1 - w) * eps_c + w * eps_u, "swapped", "swapped"),
    ("guided_eps", lambda eps_c, eps_u, w: eps_u + w * (eps_u - eps_c), "difference_sign", "not w (eps_u - eps_c)"),
    ("guided_eps", lambda eps_c, eps_u, w: eps_c, "w_ignored", "does not change with w"),
    ("guided_eps", lambda eps_c, eps_u, w: w * (eps_c - eps_u), "missing_base", "starts from eps_u"),
    ("ddim_timesteps", timesteps_increasing, "increasing", "your timesteps increase"),
    ("ddim_timesteps", timesteps_from_T, "starts_at_T", "out of range"),
    ("ddim_timesteps", timesteps_stride, "end", "you end at t = 19"),
    ("ddim_timesteps", timesteps_floats, "floats", "floats"),
    ("ddim_timesteps", timesteps_one_too_many, "count", "26 timesteps instead of 25"),
    ("ddim_timesteps", timesteps_divide, "raises", "ZeroDivisionError"),
    ("ddim_timesteps", timesteps_no_return, "returns_none", "forget `return`"),
    ("ddim_timesteps", lambda T, steps: (t for t in range(T - 1, -1, -1)), "wrong_type", "returns a generator"),
    ("predict_x0", x0_no_sqrt, "missing_sqrt", "square roots"),
    ("predict_x0", x0_plus, "plus_sign", "subtracts the eps term"),
    ("predict_x0", x0_alpha, "alpha_for_alpha_bar", "one jump"),
    ("predict_x0", x0_swapped, "swapped", "swapped"),
    ("predict_x0", x0_t_minus_1, "off_by_one", "one timestep off"),
    ("predict_x0", x0_prev, "off_by_one", "at t - 1"),
    ("predict_x0", x0_times, "factor", "times the expected one"),
    ("ddim_step", ddim_sigma_no_sqrt, "sigma_sqrt", "square root is missing"),
    ("ddim_step", ddim_deterministic, "eta_ignored", "with eta > 0"),
    ("ddim_step", ddim_t_minus_1, "s_not_t_minus_1", "next timestep of the shortened sequence"),
    ("ddim_step", ddim_s_minus_1_unhandled, "clean_end", "s = -1 is the clean end"),
    ("ddim_step", ddim_direction_without_sigma, "direction_sigma", "sigma^2 comes off"),
    ("ddim_step", ddim_always_noise, "z_none", "z is None when eta = 0"),
    ("ddim_step", ddim_returns_pair, "wrong_type", "returns a tuple"),
    ("ddim_step", ddim_sigma_is_eta, "complex", "(-0.5) ** 0.5 is a complex number"),
    ("eps_from_x0", eps_flipped, "flipped_sign", "minus the expected one"),
    ("eps_from_x0", eps_no_sqrt, "missing_sqrt", "square roots"),
    ("eps_from_x0", eps_swapped, "swapped", "swapped"),
    ("eps_from_x0", eps_prev, "off_by_one", "one timestep off"),
    ("eps_from_x0", eps_raises, "raises", "TypeError"),
]


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_reference_passes(name):
    ex = exercises.EXERCISES[name]
    r = verdict(name, lambda *args: ex.reference(*args, **context_of(name)))
    assert (r.passed, r.status, r.hint_id) == (True, "right", None)
    assert r.message.startswith(f"✓ {name} is right (") and "\n" not in r.message


@pytest.mark.parametrize("name, answer", [(n, a) for n, answers in RIGHT.items() for a in answers],
                         ids=lambda x: getattr(x, "__name__", x))
def test_equivalent_answers_pass(name, answer):
    r = verdict(name, answer)
    assert r.passed, r.message


def test_every_exercise_has_right_and_wrong_answers_here():
    assert set(RIGHT) == set(exercises.EXERCISES) == {name for name, *_ in WRONG}
    assert all(len(RIGHT[n]) >= 2 for n in RIGHT)
    assert all(sum(name == n for name, *_ in WRONG) >= 4 for n in RIGHT)


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_stub_is_unsolved(name):
    r = verdict(name, stub)
    assert (r.passed, r.status, r.hint_id) == (False, "unsolved", "unsolved")
    assert r.message == (f"… {name}: not solved yet (it raises NotImplementedError). "
                         f"The lab goes on with course_lib's {name}.")


@pytest.mark.parametrize("name, answer, hint_id, phrase", WRONG,
                         ids=[f"{w[0]}-{w[2]}-{i}" for i, w in enumerate(WRONG)])
def test_typical_mistake_is_explained(name, answer, hint_id, phrase):
    r = verdict(name, answer)
    assert (r.passed, r.status) == (False, "wrong")
    assert r.hint_id == hint_id, r.message
    assert phrase in r.message
    assert r.message.startswith(f"✗ {name}: ") and f"The lab goes on with course_lib's {name}." in r.message
    assert len(r.message.splitlines()) <= 3


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_each_known_mistake_is_named(name):
    """The engine's own list: every mistake function, given as an answer, gets its own hint."""
    ex = exercises.EXERCISES[name]
    for m in (m for m in ex.mistakes if m.fn):
        r = verdict(name, lambda *args, fn=m.fn: fn(*args, **context_of(name)))
        assert r.hint_id == m.hint_id, r.message


def test_the_samplers_references_agree_with_course_lib():
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(2, 3, 16, 16, generator=g) for _ in range(3))
    ddpm, ddim = DDPMSampler(schedule), DDIMSampler(schedule, steps=25, eta=0.5)
    for t in (499, 37, 0):
        assert torch.allclose(exercises.ddpm_step(x, t, eps, z, schedule=schedule), ddpm.step(eps, t, x, z).x_prev)
        assert torch.allclose(exercises.predict_x0(x, t, eps, schedule=schedule), ddpm.predict_x0(eps, t, x))
    for t, s in zip(ddim.timesteps, ddim.timesteps[1:] + [-1]):
        ours = exercises.ddim_step(x, t, s, eps, 0.5, z, schedule=schedule)
        assert torch.allclose(ours, ddim.step(eps, t, x, z).x_prev, atol=1e-5)
    assert exercises.EXERCISES["ddim_timesteps"].reference is ddim_timesteps


def test_the_training_references_agree_with_course_lib():
    g = torch.Generator().manual_seed(0)
    x, eps = (torch.randn(2, 3, 16, 16, generator=g) for _ in range(2))
    t = torch.tensor([0, 250])
    assert torch.allclose(exercises.q_sample(x, t, eps, schedule=schedule), schedule.q_sample(x, t, eps), atol=1e-5)
    net, g3 = RecordingNet(schedule.T), torch.Generator().manual_seed(3)  # diffusion_loss draws t, then eps
    t_draw, eps_draw = torch.randint(0, schedule.T, (2,), generator=g3), torch.randn(x.shape, generator=g3)
    ours = exercises.diffusion_loss_by_hand(net, x, t_draw, eps_draw, None, schedule=schedule)
    assert torch.allclose(ours, diffusion_loss(net, schedule, x, None, torch.Generator().manual_seed(3)))
    c = torch.eye(5)[torch.arange(12) % 5]
    u = torch.rand(12, 1, generator=torch.Generator().manual_seed(4)).flatten()
    masked = training_mask_context(c, 0.4, torch.Generator().manual_seed(4))
    assert torch.equal(exercises.mask_context(c, u, 0.4), masked)


def test_every_exercise_says_what_it_is():
    assert [ex.lab for ex in exercises.EXERCISES.values()] == sorted(ex.lab for ex in exercises.EXERCISES.values())
    assert {ex.lab for ex in exercises.EXERCISES.values()} == {1, 2, 3, 4}
    for name, ex in exercises.EXERCISES.items():
        assert ex.name == name and ex.title and ex.equation and ex.advice and ex.mistakes


@pytest.mark.parametrize("answer, hint_id, phrase", [
    (lambda x_t, t: x_t, "raises", "TypeError"),
    (lambda x_t, t, eps: "x0", "wrong_type", "returns a str"),
    (lambda x_t, t, eps: x_t.numpy(), "wrong_type", "torch.from_numpy"),
    (lambda x_t, t, eps: x_t[:, 0], "shape", "not (1, 3, 16, 16)"),
    (lambda x_t, t, eps: x_t / 0, "not_finite", "inf"),
    (42, "not_a_function", "predict_x0 is an int, not a function"),
])
def test_odd_answers_are_explained_not_raised(answer, hint_id, phrase):
    r = verdict("predict_x0", answer)
    assert (r.status, r.hint_id) == ("wrong", hint_id), r.message
    assert phrase in r.message


def test_check_prints_one_verdict_and_returns_the_answer_when_right(capsys):
    assert exercises.check("ddpm_step", ddpm_step, schedule=schedule) is ddpm_step
    out = capsys.readouterr().out
    assert out == "✓ ddpm_step is right (10 cases: t = 499, 250, 38, 1 and 0, batches of 1 and 4).\n"
    exercises.assert_solved("ddpm_step")


def test_check_returns_the_reference_in_the_lab_convention_when_wrong(capsys):
    fallback = exercises.check("ddpm_step", ddpm_noise_always, schedule=schedule)
    out = capsys.readouterr().out
    assert out == ("✗ ddpm_step: at t = 0 your step adds noise. The last step returns the mean alone (sigma_0 z is "
                   "left out). The lab goes on with course_lib's ddpm_step.\n")
    x, eps, z = torch.randn(3, 1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert fallback.__name__ == "ddpm_step"
    assert torch.allclose(fallback(x, 0, eps, z), ddpm_step(x, 0, eps, z))
    assert torch.allclose(fallback(x, 250, eps, z), ddpm_step(x, 250, eps, z))
    with pytest.raises(AssertionError, match="adds noise"):
        exercises.assert_solved("ddpm_step")
    ddim = exercises.check("ddim_step", stub, schedule=schedule)
    capsys.readouterr()
    assert torch.allclose(ddim(x, 499, 479, eps), ddim_step(x, 499, 479, eps))
    assert torch.allclose(ddim(x, 499, 479, eps, 1.0, z), ddim_step(x, 499, 479, eps, 1.0, z))
    assert exercises.check("guided_eps", None) is exercises.guided_eps
    assert "guided_eps is None, not a function" in capsys.readouterr().out
    for name, again in (("ddpm_step", fallback), ("guided_eps", exercises.guided_eps)):  # the check cell run twice
        r = exercises.result(name, again, **context_of(name))
        assert (r.status, r.hint_id) == ("unsolved", "reference_given") and "run the cell that defines" in r.message


def test_assert_solved(capsys, monkeypatch):
    monkeypatch.setattr(checks, "_LAST", {})  # no answer given yet, whatever ran before
    with pytest.raises(AssertionError, match="never checked"):
        exercises.assert_solved("eps_from_x0")
    exercises.check("eps_from_x0", stub, schedule=schedule)
    with pytest.raises(AssertionError, match="not solved yet"):
        exercises.assert_solved("eps_from_x0")
    exercises.check("eps_from_x0", eps_from_x0, schedule=schedule)
    exercises.assert_solved("eps_from_x0")
    capsys.readouterr()


def test_misuse_of_the_api_raises_and_names_the_choices():
    with pytest.raises(ValueError, match="the exercises are alpha_bar_from_beta, ddpm_step"):
        exercises.check("ddpm", ddpm_step, schedule=schedule)
    with pytest.raises(ValueError, match="takes schedule="):
        exercises.result("ddpm_step", ddpm_step)
    with pytest.raises(ValueError, match="takes no context keywords; got schedule="):
        exercises.result("guided_eps", guided_eps, schedule=schedule)
    with pytest.raises(ValueError, match="takes schedule=; got schedule=, T="):
        exercises.result("ddpm_step", ddpm_step, schedule=schedule, T=500)
    with pytest.raises(TypeError, match="NoiseSchedule"):
        exercises.result("ddpm_step", ddpm_step, schedule=500)
    with pytest.raises(ValueError, match="unknown exercise"):
        exercises.assert_solved("nope")


def test_verdicts_are_deterministic_and_leave_the_random_state_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    sample = WRONG[::3] + [(name, stub) for name in exercises.EXERCISES]
    first = [verdict(name, answer).message for name, answer, *_ in sample]
    assert torch.equal(torch.get_rng_state(), state)
    assert first == [verdict(name, answer).message for name, answer, *_ in sample]
    assert not any("0x" in m for m in first)


def test_a_changed_schedule_is_restored():
    def corrupt(x_t, t, eps):
        schedule.alpha_bar[t] = 0.5
        return x_t
    before = schedule.alpha_bar.clone()
    r = verdict("predict_x0", corrupt)
    assert r.hint_id == "in_place" and "schedule.alpha_bar" in r.message
    assert torch.equal(schedule.alpha_bar, before)


def test_the_mismatch_fallback_names_the_case_and_the_values():
    r = verdict("guided_eps", lambda eps_c, eps_u, w: eps_u + w * (eps_c - eps_u) + 0.1 * (w > 5))
    assert r.hint_id == "partly_right" and "right for w = 1 and for w = 0 but wrong for w > 1" in r.message
    r = verdict("guided_eps", lambda eps_c, eps_u, w: eps_u + w * (eps_c - eps_u) + 0.01 * eps_c ** 2)
    assert r.hint_id == "mismatch"
    assert "on case w = 3, batch of 2 your output differs" in r.message and "Expected" in r.message
