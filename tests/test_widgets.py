"""The widget helpers re-render their picture when a control moves (no browser needed), and the new
picture is the one the control asks for."""
import torch

from course_lib.config import ScheduleConfig
from course_lib.samplers import DDIMSampler, sample
from course_lib.schedules import NoiseSchedule
from course_lib.widgets import (choice_explorer, forward_explorer, grid_png, guided_sampler_explorer,
                                trajectory_explorer)

SPRITES = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


def moved(explorer, name, value, expected: torch.Tensor) -> bool:
    """Set a control; True when the picture changed to exactly the grid of `expected` (model space)."""
    before = explorer.image.value
    explorer.controls[name].value = value
    return explorer.image.value != before and explorer.image.value == grid_png(expected, explorer.nrow,
                                                                                explorer.scale)


def test_grid_png_is_a_png_of_the_right_size():
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(grid_png(SPRITES, nrow=2, scale=3)))
    assert image.size == (3 * (2 * 17 + 1), 3 * (2 * 17 + 1))


def test_pictures_show_at_their_own_size_without_smoothing():
    from io import BytesIO

    from PIL import Image

    ex = choice_explorer({"early": SPRITES, "final": -SPRITES}, "checkpoint")
    width, height = Image.open(BytesIO(ex.image.value)).size
    assert (ex.image.layout.width, ex.image.layout.height) == (f"{width}px", f"{height}px")
    assert "course-pixel-art" in ex.image._dom_classes
    assert "image-rendering: pixelated" in ex.children[0].value


def test_trajectory_explorer_frame_and_run_toggle():
    frames = torch.stack([SPRITES * s for s in (1.0, 0.5, 0.0)])
    ex = trajectory_explorer({"with noise": (frames, [10, 5, -1]), "without noise": (-frames, [10, 5, -1])})
    assert "t = 10" in ex.caption.value
    assert moved(ex, "frame", 1, frames[1])
    assert "t = 5" in ex.caption.value
    assert moved(ex, "run", "without noise", -frames[1])
    assert repr(ex) == "ImageExplorer(trajectory: play=0, frame=1, run='without noise')"


def test_forward_explorer_t_and_schedule():
    schedules = {"linear": NoiseSchedule(ScheduleConfig()), "cosine": NoiseSchedule(ScheduleConfig(name="cosine"))}
    ex = forward_explorer(SPRITES, schedules, seed=0)
    eps = torch.randn(SPRITES.shape, generator=torch.Generator().manual_seed(0))
    t = torch.full((4,), 250)
    assert moved(ex, "t", 250, schedules["linear"].q_sample(SPRITES, t, eps))
    assert moved(ex, "schedule", "cosine", schedules["cosine"].q_sample(SPRITES, t, eps))
    assert "cosine: t = 250" in ex.caption.value


def test_guided_sampler_explorer_context_guidance_steps_eta(tiny_model, schedule):
    labels = ("human", "non-human", "food", "spell", "side-facing")
    ex = guided_sampler_explorer(tiny_model, schedule, n=4, steps=3, labels=labels, show_steps=True)

    def expected(steps, eta, context, guidance):
        return sample(tiny_model, DDIMSampler(schedule, steps, eta), 4, context=context, guidance=guidance,
                      seed=0).images

    human_food = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])
    assert moved(ex, "food", 1.0, expected(3, 0.0, human_food, 2.0))
    assert moved(ex, "guidance", 4.0, expected(3, 0.0, human_food, 4.0))
    assert moved(ex, "steps", 5, expected(5, 0.0, human_food, 4.0))
    assert moved(ex, "eta", 1.0, expected(5, 1.0, human_food, 4.0))
    assert "1.0·human + 1.0·food" in ex.caption.value


def test_choice_explorer():
    ex = choice_explorer({"early": SPRITES, "final": -SPRITES}, "checkpoint")
    assert moved(ex, "choice", "early", SPRITES)
