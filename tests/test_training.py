import pytest
import torch

from course_lib.config import ModelConfig, Recipe, ScheduleConfig, TrainConfig
from course_lib.data import ImageDataset
from course_lib.checkpoints import load_checkpoint
from course_lib.model import UNet
from course_lib.schedules import NoiseSchedule
from course_lib.pipeline import export_weights
from course_lib.training import diffusion_loss, final_loss, learning_rate, mask_context, min_snr_weight, train

MODEL = ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,), context_dim=5, groups=4)
SCHEDULE = ScheduleConfig(T=50)


@pytest.fixture
def sprites_like() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 16, 16), generator=g, dtype=torch.uint8)
    context = torch.eye(5)[torch.arange(40) % 5]
    return ImageDataset(images, context, ("a", "b", "c", "d", "e"), name="toy", digest="abc")


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


def test_exported_weights_and_snapshots_carry_the_data_mean_image(sprites_like, tmp_path):
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
