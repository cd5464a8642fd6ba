import copy
import dataclasses
import os
import signal
from collections import namedtuple

import pytest
import torch
from torch import nn

from course_lib import files, training
from course_lib.config import ModelConfig, Recipe, ScheduleConfig, TrainConfig
from course_lib.checkpoints import load_checkpoint, read_checkpoint_file
from course_lib.model import UNet
from course_lib.schedules import NoiseSchedule
from course_lib.pipeline import export_weights
from course_lib.training import (STATE_FORMAT, diffusion_loss, ema_decay, final_loss, learning_rate, mask_context,
                                 min_snr_weight, train, train_step)

from conftest import TINY

MODEL = TINY
SCHEDULE = ScheduleConfig(T=50)


def run(ds, tmp, **kw):
    cfg = TrainConfig(steps=8, batch_size=8, lr=1e-3, warmup_steps=2, snapshot_steps=(2, 8), precision="fp32", seed=3)
    return train(MODEL, SCHEDULE, cfg, ds, tmp, progress=False, **kw)


def test_resume_after_interruption_matches_uninterrupted_run(sprites_like, tmp_path):
    full = run(sprites_like, tmp_path / "full")
    first = run(sprites_like, tmp_path / "resumed", stop_at=5)
    assert first.steps == 5 and len(first.losses) == 5
    resumed = run(sprites_like, tmp_path / "resumed")
    assert resumed.steps == 8
    assert resumed.losses == full.losses
    for k, v in full.ema.state_dict().items():
        assert torch.equal(v, resumed.ema.state_dict()[k]), k
    snap = load_checkpoint(resumed.snapshots[2])
    assert snap.meta["step"] == 2 and snap.meta["dataset_digest"] == "abc"


def test_exported_weights_and_snapshots_carry_the_data_mean_image_and_class_mix(sprites_like, tmp_path):
    result = run(sprites_like, tmp_path / "run")
    recipe = Recipe("tiny", MODEL, SCHEDULE, TrainConfig(steps=8, batch_size=8, snapshot_steps=(2, 8)))
    files = export_weights(result, recipe, tmp_path / "weights", sprites_like)
    checkpoints = [p for p in files if p.suffix == ".pt"]
    assert [p.name for p in checkpoints] == ["tiny.pt", "tiny_step_000002.pt", "tiny_step_000008.pt"]
    for path in checkpoints:
        ckpt = load_checkpoint(path)
        assert torch.equal(ckpt.schedule.x0_mean, sprites_like.mean_image()), path.name
        assert ckpt.meta["dataset_digest"] == "abc"
        assert ckpt.label_names == ("a", "b", "c", "d", "e")
        assert ckpt.label_shares == pytest.approx(sprites_like.context.mean(0).tolist())
        assert ckpt.meta["final_loss"] == round(final_loss(result.losses), 5) == round(result.final_loss, 5)


def test_final_loss_is_the_mean_of_the_last_hundred_steps():
    assert final_loss([10.0] * 50 + [1.0] * 100) == 1.0
    assert final_loss([2.0, 4.0]) == 3.0


def test_resume_refuses_a_run_with_other_settings(sprites_like, tmp_path):
    run(sprites_like, tmp_path, stop_at=2)
    other = TrainConfig(steps=8, batch_size=8, lr=5e-3, warmup_steps=2, precision="fp32", seed=3)
    with pytest.raises(ValueError, match="different settings \\(train\\).*delete"):
        train(MODEL, SCHEDULE, other, sprites_like, tmp_path, progress=False)


def test_non_finite_loss_stops_without_saving(sprites_like, tmp_path):
    cfg = TrainConfig(steps=30, batch_size=8, lr=1e30, warmup_steps=1, grad_clip=0, precision="fp32")
    with pytest.raises(FloatingPointError, match="Lower the learning rate"):
        train(MODEL, SCHEDULE, cfg, sprites_like, tmp_path, progress=False)
    assert not (tmp_path / "state.pt").exists()


def test_dataset_and_model_must_agree(sprites_like, tmp_path):
    with pytest.raises(ValueError, match="context width 5 but the model was configured with context_dim=10"):
        train(ModelConfig(**{**MODEL.to_dict(), "context_dim": 10}), SCHEDULE, TrainConfig(steps=1), sprites_like,
              tmp_path, progress=False)


def test_mask_context_rate():
    g = torch.Generator().manual_seed(0)
    masked = mask_context(torch.ones(20000, 5), 0.1, g)
    assert abs((masked.sum(1) == 0).float().mean().item() - 0.1) < 0.01
    assert set(masked.sum(1).tolist()) == {0.0, 5.0}


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100)
    assert learning_rate(0, cfg) == pytest.approx(1e-5)
    assert learning_rate(99, cfg) == pytest.approx(1e-3)
    assert learning_rate(550, cfg) == pytest.approx(5e-4)
    assert learning_rate(999, cfg) < 1e-6


def test_min_snr_weights_cap_only_the_nearly_clean_steps():
    schedule = NoiseSchedule(ScheduleConfig())
    t = torch.arange(schedule.T)
    w = min_snr_weight(schedule, t, 5.0)
    snr = schedule.signal_to_noise()
    assert torch.all(w[snr <= 5] == 1)
    assert torch.allclose(w[snr > 5].double(), 5 / snr[snr > 5], rtol=1e-6)
    assert w[0] < 1e-3 and (snr > 5).sum() < schedule.T // 4  # only the first, nearly clean steps are down-weighted


def test_weighted_loss_reduces_to_the_plain_one_when_no_weight_bites(sprites_like):
    torch.manual_seed(0)
    model, schedule = UNet(MODEL), NoiseSchedule(SCHEDULE)
    x0, c = sprites_like.batch(range(8))
    plain = diffusion_loss(model, schedule, x0, c, torch.Generator().manual_seed(1))
    huge = schedule.signal_to_noise().max().item() * 2
    same = diffusion_loss(model, schedule, x0, c, torch.Generator().manual_seed(1), min_snr_gamma=huge)
    weighted = diffusion_loss(model, schedule, x0, c, torch.Generator().manual_seed(1), min_snr_gamma=0.5)
    assert same.item() == pytest.approx(plain.item(), rel=1e-5)
    assert weighted.item() < plain.item()


def test_train_config_rejects_bad_precision_and_gamma():
    with pytest.raises(ValueError, match="precision='fp16' must be one of"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="min_snr_gamma=0 must be positive, or None"):
        TrainConfig(min_snr_gamma=0)


# ----------------------------------------------------------------------------- the loss and one step

class TimestepRecorder(nn.Module):
    """A stand-in noise predictor that predicts zeros and records every t it is asked about."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x, t, context=None):
        self.seen.append(t)
        return torch.zeros_like(x)


def test_diffusion_loss_draws_t_uniformly_over_every_timestep_including_the_last():
    model, schedule = TimestepRecorder(), NoiseSchedule(SCHEDULE)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        diffusion_loss(model, schedule, torch.zeros(500, 3, 16, 16), generator=g)
    counts = torch.bincount(torch.cat(model.seen), minlength=SCHEDULE.T)
    assert len(counts) == SCHEDULE.T  # never t = T or beyond
    expected = 10_000 / SCHEDULE.T
    assert counts.min() > 0 and counts[-1] > 0, "t = T-1 is never drawn"
    assert (counts - expected).abs().max() < 5 * expected ** 0.5  # uniform within 5 standard deviations


def step_setup(sprites_like, **cfg):
    """A small model, its EMA copy, AdamW and a batch, for calling train_step by hand."""
    torch.manual_seed(0)
    model = UNet(MODEL)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cfg = TrainConfig(**{"steps": 10, "batch_size": 8, "warmup_steps": 1, "precision": "fp32", **cfg})
    return model, ema, optimizer, NoiseSchedule(SCHEDULE), sprites_like.batch(range(8)), cfg


def contexts_seen(sprites_like, p_uncond: float, steps: int = 3) -> list[torch.Tensor | None]:
    """The context the model is called with during `steps` training steps with this p_uncond."""
    model, ema, optimizer, schedule, batch, cfg = step_setup(sprites_like)
    object.__setattr__(cfg, "p_uncond", p_uncond)  # TrainConfig refuses 1.0 (no label ever seen); the masking alone
    seen, forward = [], model.forward
    model.forward = lambda x, t, c=None: seen.append(c) or forward(x, t, c)
    for step in range(steps):
        train_step(model, ema, optimizer, schedule, batch, step, cfg, bf16=False)
    return seen


def test_train_step_masks_the_context(sprites_like):
    always = contexts_seen(sprites_like, p_uncond=1.0)
    assert always and all(c is None or not c.any() for c in always), "p_uncond=1 must hide every label"
    never = contexts_seen(sprites_like, p_uncond=0.0)
    assert all(c is not None and (c.sum(1) == 1).all() for c in never), "p_uncond=0 must keep every label"


def test_ema_is_the_warmed_up_moving_average_of_the_weights(sprites_like):
    model, ema, optimizer, schedule, batch, cfg = step_setup(sprites_like, ema_decay=0.999)
    expected = [p.detach().clone() for p in ema.parameters()]
    for step in range(2):
        train_step(model, ema, optimizer, schedule, batch, step, cfg, bf16=False)
        decay = min(0.999, (1 + step) / (10 + step))  # 0.1, then 2/11
        expected = [decay * e + (1 - decay) * p.detach() for e, p in zip(expected, model.parameters())]
    for e, a, p in zip(expected, ema.parameters(), model.parameters()):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(a, p) for a, p in zip(ema.parameters(), model.parameters())), "EMA = raw weights"


def test_ema_decay_warms_up_then_stays_at_the_configured_decay():
    cfg = TrainConfig(ema_decay=0.999)
    assert ema_decay(0, cfg) == pytest.approx(1 / 10)
    assert ema_decay(1, cfg) == pytest.approx(2 / 11)
    assert ema_decay(100, cfg) == pytest.approx(101 / 110)
    assert ema_decay(10 ** 5, cfg) == 0.999


# ----------------------------------------------------------------------------- failures during a run

def assert_same_weights(a: UNet, b: UNet) -> None:
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_sigterm_saves_the_state_and_a_resumed_run_matches_an_uninterrupted_one(sprites_like, tmp_path,
                                                                                monkeypatch):
    full = run(sprites_like, tmp_path / "full")

    def terminate_during_the_third_step(*args, **kwargs):
        loss = train_step(*args, **kwargs)
        if args[5] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    def unhandled(signum, frame):
        raise AssertionError("SIGTERM reached the default handler: training did not catch it")

    monkeypatch.setattr(training, "train_step", terminate_during_the_third_step)
    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(sprites_like, tmp_path / "resumed")
    finally:
        signal.signal(signal.SIGTERM, previous)
    monkeypatch.undo()
    assert read_checkpoint_file(tmp_path / "resumed" / "state.pt", STATE_FORMAT)["step"] == 3
    resumed = run(sprites_like, tmp_path / "resumed")
    assert resumed.steps == 8 and resumed.losses == full.losses
    assert_same_weights(full.ema, resumed.ema)


def test_the_state_is_saved_every_checkpoint_every_steps(sprites_like, tmp_path, monkeypatch):
    def crash_at_step_five(*args, **kwargs):
        if args[5] == 5:
            raise RuntimeError("power cut")
        return train_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", crash_at_step_five)
    cfg = TrainConfig(steps=8, batch_size=8, warmup_steps=2, precision="fp32", checkpoint_every=2)
    with pytest.raises(RuntimeError, match="power cut"):
        train(MODEL, SCHEDULE, cfg, sprites_like, tmp_path, progress=False)
    assert read_checkpoint_file(tmp_path / "state.pt", STATE_FORMAT)["step"] == 4


def never_called(*args, **kwargs):
    raise AssertionError("a training step ran before the folders were checked")


def test_an_unwritable_run_folder_fails_before_the_first_step(sprites_like, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setattr(training, "train_step", never_called)
    with pytest.raises(OSError, match=r"could not write .*a_file.*\(disk full\? read-only folder\?\)"):
        run(sprites_like, tmp_path / "a_file" / "run")


def test_too_little_free_space_fails_before_the_first_step(sprites_like, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: usage(10 ** 6, 10 ** 6 - 1000, 1000))
    monkeypatch.setattr(training, "train_step", never_called)
    with pytest.raises(OSError, match=r"not enough free space .*run.*MB needed"):
        run(sprites_like, tmp_path / "run")


def test_a_failed_save_names_the_folder_and_keeps_the_previous_state(sprites_like, tmp_path, monkeypatch):
    run(sprites_like, tmp_path, stop_at=4)
    before = (tmp_path / "state.pt").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match=r"could not write .*\(disk full\? read-only folder\?\)") as error:
        run(sprites_like, tmp_path)
    assert str(tmp_path) in str(error.value)
    assert (tmp_path / "state.pt").read_bytes() == before


def test_unlabelled_data_keeps_the_images_and_drops_the_labels(sprites_like):
    plain = sprites_like.unlabelled()
    assert plain.context_dim == 0 and plain.label_names == () and torch.equal(plain.images, sprites_like.images)
    with pytest.raises(ValueError, match="context width 5 but the model was configured with context_dim=0"):
        training.check_dataset_fits(dataclasses.replace(MODEL, context_dim=0), sprites_like)
