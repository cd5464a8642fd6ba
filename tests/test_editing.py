"""Editing with a noise predictor: SDEdit, inpainting, DDIM inversion, slerp, sketches and sprite files.

Exact cases use closed-form noise predictors: the point mass at one image (every x0_hat is that image) and
Gaussian data N(mu, sd^2 I), whose probability-flow ODE is linear, so DDIM inversion has a known answer."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.config import ScheduleConfig
from course_lib.editing import (ddim_invert, inpaint, read_mask, read_picture, read_sprite, sdedit, sketch, slerp)
from course_lib.samplers import DDIMSampler, DDPMSampler, sample
from course_lib.schedules import NoiseSchedule
from test_samplers import OracleDenoiser
from test_solvers import MU, SCHEDULE, SD, GaussianDenoiser

pytestmark = pytest.mark.usefixtures("one_thread")
SHORT = NoiseSchedule(ScheduleConfig(T=30))


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def half_mask() -> torch.Tensor:
    """Regenerate the right half, keep the left."""
    mask = torch.zeros(16, 16)
    mask[:, 8:] = 1
    return mask


def test_edits_build_no_autograd_graph(tiny_model):
    assert all(p.requires_grad for p in tiny_model.parameters())
    x = images(2)
    results = [sdedit(tiny_model, SHORT, x, 0.5, steps=3), inpaint(tiny_model, SHORT, x, half_mask(), steps=3),
               ddim_invert(tiny_model, SHORT, x, steps=3)]
    for out in results:
        assert out.grad_fn is None and not out.requires_grad


# ----------------------------------------------------------------------------- SDEdit

def test_strength_zero_returns_the_guide_exactly(tiny_model):
    guide = images(3)
    assert torch.equal(sdedit(tiny_model, SHORT, guide, 0.0), guide)
    assert torch.equal(sdedit(tiny_model, SHORT, guide[0], 0, method="ddpm"), guide[:1])


@pytest.mark.parametrize("method,steps", [("ddim", 5), ("ddpm", None)])
def test_strength_one_from_the_mean_image_is_plain_sampling(tiny_model, method, steps):
    """q(x_(T-1) | x_0 = mu) is where `sample` starts (the signal leak), with the same noise draws in the same
    order: SDEdit of the mean image at strength 1 is plain sampling, DDPM's fresh noise included."""
    mu = images(1, seed=5)[0] * 0.5
    schedule = NoiseSchedule(ScheduleConfig(T=30), x0_mean=mu)
    sampler = DDIMSampler(schedule, 5) if method == "ddim" else DDPMSampler(schedule)
    plain = sample(tiny_model, sampler, 4, seed=3).images
    edited = sdedit(tiny_model, schedule, mu.expand(4, -1, -1, -1), 1.0, method=method, steps=steps, seed=3)
    torch.testing.assert_close(edited, plain, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method,steps,strength,calls", [("ddpm", None, 0.5, 251), ("ddpm", None, 0.01, 6),
                                                          ("ddim", 25, 0.5, 13), ("ddim", 25, 0.04, 1),
                                                          ("ddim", 25, 1.0, 25)])
def test_sdedit_runs_the_samplers_steps_from_t0(method, steps, strength, calls):
    """t0 = the last timestep at or below strength * (T - 1): DDPM 250 (251 steps to 0), DDIM 25 steps from 250."""
    model = GaussianDenoiser()
    sdedit(model, SCHEDULE, images(2).double(), strength, method=method, steps=steps)
    assert model.calls == calls


def test_lower_strength_stays_closer_to_the_guide():
    """Far from the data (mu = 0.3, sd = 0.5), a guide at -0.8 is pulled towards the data the more, the higher
    the strength; at 1 it is a sample of the data."""
    guide = torch.full((8, 3, 16, 16), -0.8, dtype=torch.float64)
    edits = {s: sdedit(GaussianDenoiser(), SCHEDULE, guide, s, steps=50, seed=1) for s in (0.1, 0.3, 0.6, 1.0)}
    distance = [(x - guide.float()).abs().mean().item() for x in edits.values()]
    assert distance == sorted(distance) and distance[0] < 0.25 and distance[-1] > 1, distance
    assert abs(edits[1.0].mean().item() - MU) < 0.05 and abs(edits[1.0].std().item() - SD) < 0.05


def test_sdedit_is_seeded_and_restores_the_model_mode(tiny_model):
    tiny_model.train()
    a, b, c = (sdedit(tiny_model, SHORT, images(2), 0.6, method="ddpm", seed=s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert tiny_model.training


def test_sdedit_uses_context_and_guidance(tiny_model):
    food = torch.eye(5)[2]
    plain = sdedit(tiny_model, SHORT, images(2), 0.8, steps=5)
    labelled = sdedit(tiny_model, SHORT, images(2), 0.8, steps=5, context=food)
    guided = sdedit(tiny_model, SHORT, images(2), 0.8, steps=5, context=food, guidance=3.0)
    assert not torch.allclose(plain, labelled) and not torch.allclose(labelled, guided)


# ----------------------------------------------------------------------------- inpainting

@pytest.mark.parametrize("method,steps", [("ddpm", None), ("ddim", 5)])
def test_inpainting_keeps_the_unmasked_pixels_exactly(tiny_model, method, steps):
    known = images(3)
    out = inpaint(tiny_model, SHORT, known, half_mask(), method=method, steps=steps, seed=2)
    assert torch.equal(out[..., :8], known[..., :8])
    assert (out[..., 8:] - known[..., 8:]).abs().mean() > 0.1


def test_inpainting_draws_the_masked_region_from_the_model():
    """With the exact denoiser of one image A, the regenerated half (mask 1) is A's and the kept half (mask 0) the
    known image B's: the mask is not read the wrong way round."""
    a, b = images(2)
    out = inpaint(OracleDenoiser(a, SHORT), SHORT, b, half_mask(), method="ddim", steps=10)[0]
    torch.testing.assert_close(out[..., 8:], a[..., 8:], rtol=0, atol=1e-4)
    assert torch.equal(out[..., :8], b[..., :8])


def test_inpainting_takes_one_mask_per_image(tiny_model):
    masks = torch.stack([half_mask(), 1 - half_mask()])
    known = images(2)
    out = inpaint(tiny_model, SHORT, known, masks, method="ddim", steps=4)
    assert torch.equal(out[0, :, :, :8], known[0, :, :, :8]) and torch.equal(out[1, :, :, 8:], known[1, :, :, 8:])


# ----------------------------------------------------------------------------- DDIM inversion and slerp

def ode_start(x0: torch.Tensor) -> torch.Tensor:
    """Where the probability-flow ODE of N(mu, sd^2 I) data takes x0 at t = T-1: it keeps each quantile,
    x_T = sqrt(ab_T) mu + sqrt(v_T) (x0 - mu) / sd, v_T = ab_T sd^2 + 1 - ab_T."""
    ab = SCHEDULE.alpha_bar[-1].item()
    return math.sqrt(ab) * MU + math.sqrt(ab * SD ** 2 + 1 - ab) * (x0 - MU) / SD


def test_ddim_inversion_reaches_the_exact_start_and_decodes_back():
    """Both directions are first order (DDIM's own error against this ODE at 500 steps is 7e-3, test_solvers).
    Measured, largest pixel error: inversion against the exact x_T 2.6e-1 at 20 steps, 9.7e-3 at 500; the round
    trip 2.4e-1 and 1.0e-2."""
    x0 = images(4).double()
    err, trip = {}, {}
    for steps in (20, 500):
        x_T = ddim_invert(GaussianDenoiser(), SCHEDULE, x0, steps=steps).double()
        err[steps] = (x_T - ode_start(x0)).abs().max().item()
        back = sample(GaussianDenoiser(), DDIMSampler(SCHEDULE, steps), 4, x_T=x_T).images.double()
        trip[steps] = (back - x0).abs().max().item()
    assert err[500] < 2e-2 and trip[500] < 2e-2, (err, trip)
    assert err[20] > 10 * err[500] and trip[20] > 10 * trip[500], (err, trip)


def test_ddim_inversion_of_a_point_mass_is_its_forward_process():
    """For one image A the predicted noise recovers the x_T DDIM decodes to A, at any step count."""
    a = images(1)[0]
    model = OracleDenoiser(a, SHORT)
    x_T = ddim_invert(model, SHORT, a, steps=7)
    back = sample(model, DDIMSampler(SHORT, 7), 1, x_T=x_T).images
    torch.testing.assert_close(back[0], a, rtol=0, atol=1e-4)


def test_ddim_inversion_with_context_and_guidance_round_trips_closely(tiny_model):
    food = torch.eye(5)[2]
    x0 = images(2)
    x_T = ddim_invert(tiny_model, SHORT, x0, steps=20, context=food, guidance=2.0)
    back = sample(tiny_model, DDIMSampler(SHORT, 20), 2, x_T=x_T, context=food, guidance=2.0).images
    plain = ddim_invert(tiny_model, SHORT, x0, steps=20)
    assert (back - x0).abs().mean() < 0.2 and not torch.allclose(x_T, plain)


def test_slerp_ends_norms_and_midpoint():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 16, 16, generator=g), torch.randn(3, 16, 16, generator=g)
    z1 = z1 * z0.norm() / z1.norm()
    path = slerp(z0, z1, torch.linspace(0, 1, 7))
    assert path.shape == (7, 3, 16, 16)
    torch.testing.assert_close(path[0], z0, rtol=0, atol=1e-5)
    torch.testing.assert_close(path[-1], z1, rtol=0, atol=1e-5)
    torch.testing.assert_close(path.flatten(1).norm(dim=1), z0.norm().expand(7), rtol=1e-5, atol=0)
    linear_mid = (z0 + z1) / 2
    assert linear_mid.norm() < 0.8 * z0.norm()       # the straight line dips inside the sphere
    torch.testing.assert_close(path[3], linear_mid * z0.norm() / linear_mid.norm(), rtol=0, atol=1e-5)


def test_slerp_of_parallel_ends_is_the_straight_line():
    z = torch.ones(3, 16, 16)
    torch.testing.assert_close(slerp(z, 2 * z, [0.5])[0], 1.5 * z)


# ----------------------------------------------------------------------------- sketches and files

def test_sketch_draws_blocks_of_colour():
    x = sketch(["wr", "kw"], {"w": "white", "r": "#ff0000", "k": (0.0, 0.0, 0.0)})
    assert x.shape == (3, 16, 16)
    assert torch.equal(x[:, :8, :8], torch.ones(3, 8, 8))
    assert torch.equal(x[:, :8, 8:], torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 8, 8))
    assert torch.equal(x[:, 8:, :8], -torch.ones(3, 8, 8))
    eight = sketch([["white"] * 8] * 8)
    assert torch.equal(eight, torch.ones(3, 16, 16))


def save_png(path, pixels: np.ndarray):
    Image.fromarray(pixels).save(path)
    return path


def test_a_sprite_file_or_its_exact_enlargement(tmp_path):
    small = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    one = read_sprite(save_png(tmp_path / "a.png", small))
    four = read_sprite(save_png(tmp_path / "b.png", small.repeat(4, 0).repeat(4, 1)))
    assert torch.equal(one, four) and torch.equal(one, torch.from_numpy(small).permute(2, 0, 1) / 127.5 - 1)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)                   # fully transparent: the white background
    assert torch.equal(read_sprite(save_png(tmp_path / "c.png", rgba)), torch.ones(3, 16, 16))


def test_a_mask_file_is_white_to_regenerate(tmp_path):
    pixels = np.zeros((32, 32), dtype=np.uint8)
    pixels[:, 16:] = 255
    assert torch.equal(read_mask(save_png(tmp_path / "m.png", pixels)), half_mask())


@pytest.mark.parametrize("pixels,message", [
    (np.zeros((20, 20, 3), np.uint8), "is 20x20 pixels: give a 16x16 sprite or an exact enlargement of one"),
    (np.zeros((16, 32, 3), np.uint8), "is 32x16 pixels"),
    (np.arange(48 * 48 * 3, dtype=np.uint8).reshape(48, 48, 3), "not an exact 3x enlargement of a 16x16 sprite"),
])
def test_a_picture_that_is_no_sprite_is_refused(tmp_path, pixels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_picture(save_png(tmp_path / "x.png", pixels))


def test_a_grey_mask_is_refused(tmp_path):
    with pytest.raises(ValueError, match="pure white \\(regenerate\\) and pure black \\(keep\\) only"):
        read_mask(save_png(tmp_path / "m.png", np.full((16, 16), 128, np.uint8)))


# ----------------------------------------------------------------------------- what a wrong input says

@pytest.mark.parametrize("call,message", [
    (lambda m: sdedit(m, SHORT, images(1), 1.5), r"strength=1.5 must be a number from 0"),
    (lambda m: sdedit(m, SHORT, images(1), float("nan")), r"strength=nan must be a number from 0"),
    (lambda m: sdedit(m, SHORT, images(1), True), r"strength=True must be a number"),
    (lambda m: sdedit(m, SHORT, images(1)[:, :, :8], 0.5), r"guide must be a tensor of shape \(3, 16, 16\)"),
    (lambda m: sdedit(m, SHORT, [[0.0]], 0.5), r"guide must be a tensor .* got list"),
    (lambda m: sdedit(m, SHORT, torch.zeros(3, 16, 16, dtype=torch.uint8), 0.5), "images.to_model_space"),
    (lambda m: sdedit(m, SHORT, images(1) * 3, 0.5), r"must lie in model space \[-1, 1\].*clamp"),
    (lambda m: sdedit(m, SHORT, images(1), 0.5, method="heun"), "edits run ddpm or ddim"),
    (lambda m: sdedit(m, SHORT, images(1), 0.5, steps=0), "steps=0 must be an integer from 1 to T=30"),
    (lambda m: sdedit(m, SHORT, images(1), 0.5, steps=31), "steps=31 must be an integer from 1 to T=30"),
    (lambda m: sdedit(m, SHORT, images(1), 0.5, method="ddpm", steps=5), "steps=5 does not apply to ddpm"),
    (lambda m: sdedit(m, SHORT, images(2), 0.5, context=[1.0, 0, 0]), r"context must have shape \(5,\) or \(2, 5\)"),
    (lambda m: sdedit(m, SHORT, images(1), 0.5, guidance=float("inf")), "guidance=inf must be a finite number"),
    (lambda m: inpaint(m, SHORT, images(2), torch.ones(8, 8)), r"mask must have shape \(16, 16\) .* or \(2, 16, 16\)"),
    (lambda m: inpaint(m, SHORT, images(2), torch.ones(3, 16, 16)), r"got \(3, 16, 16\)"),
    (lambda m: inpaint(m, SHORT, images(1), torch.full((16, 16), 0.5)), r"only 0 \(keep\) and 1 \(regenerate\)"),
    (lambda m: ddim_invert(m, SHORT, images(1), steps=0), "steps=0 must be an integer from 1 to T=30"),
    (lambda m: ddim_invert(m, SHORT, images(1), steps=5, context=torch.ones(2, 5)),
     r"context must have shape \(5,\) or \(1, 5\)"),
    (lambda m: slerp(torch.zeros(3), torch.zeros(4), [0.5]), "two tensors of one shape"),
    (lambda m: sketch(["ab", "a"], {"a": "red", "b": "blue"}), "square grid of k rows of k colours"),
    (lambda m: sketch(["abc"] * 3, {"a": "red", "b": "blue", "c": "red"}), "k dividing 16"),
    (lambda m: sketch(["ax", "aa"], {"a": "red"}), "'x' is not in the palette; its keys are 'a'"),
    (lambda m: sketch([["red", "rde"], ["red", "red"]]), "'rde' is not a colour"),
])
def test_bad_input_says_what_to_fix(tiny_model, call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_edits_make_no_host_sync_per_step_and_match_cpu(tiny_model):
    """The checks before a loop and the copy of the result read the device a few times; the loops never do, so
    the number of synchronisations does not grow with the steps."""
    known, mask = images(2), half_mask()
    runs = {"sdedit": lambda m, k: sdedit(m, SHORT, known, 0.9, steps=k, seed=1),
            "inpaint": lambda m, k: inpaint(m, SHORT, known, mask, method="ddim", steps=k, seed=1),
            "invert": lambda m, k: ddim_invert(m, SHORT, known, steps=k)}
    cpu = {name: run(tiny_model, 10) for name, run in runs.items()}
    gpu_model = tiny_model.to("cuda")
    for name, run in runs.items():
        run(gpu_model, 4)  # warm-up
        syncs = {}
        for k in (4, 16):
            torch.cuda.set_sync_debug_mode("warn")
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    out = run(gpu_model, k)
            finally:
                torch.cuda.set_sync_debug_mode(0)
            syncs[k] = sum("synchroniz" in str(w.message) for w in caught)
        assert syncs[4] == syncs[16], (name, syncs)
        torch.testing.assert_close(run(gpu_model, 10), cpu[name], rtol=1e-3, atol=1e-3)
        assert out.device.type == "cpu"
