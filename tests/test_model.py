import pytest
import torch

from course_lib.config import ModelConfig
from course_lib.model import ResidualBlock, UNet, Upsample, timestep_embedding


@pytest.mark.parametrize("size,channels,context_dim,mults", [
    (16, 3, 5, (1, 2, 2)), (28, 1, 10, (1, 2, 2)), (32, 3, 0, (1, 2, 2)), (64, 3, 5, (1, 2, 2, 2))])
def test_output_shape_for_supported_sizes(size, channels, context_dim, mults):
    cfg = ModelConfig(image_size=size, channels=channels, context_dim=context_dim, base_channels=8,
                      channel_mults=mults, groups=4)
    model = UNet(cfg)
    x = torch.randn(2, channels, size, size)
    c = torch.zeros(2, context_dim) if context_dim else None
    assert model(x, torch.tensor([0, 499]), c).shape == x.shape


def test_context_none_equals_zeros(tiny_model):
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([1, 200, 499])
    torch.testing.assert_close(tiny_model(x, t, None), tiny_model(x, t, torch.zeros(3, 5)))


def test_output_depends_on_time_and_context(tiny_model):
    x = torch.randn(2, 3, 16, 16)
    a = tiny_model(x, torch.tensor([10, 10]))
    assert not torch.allclose(a, tiny_model(x, torch.tensor([400, 400])))
    assert not torch.allclose(a, tiny_model(x, torch.tensor([10, 10]), torch.eye(5)[:2]))


def test_embedding_and_output_stay_float32_under_bf16_autocast(tiny_model):
    """The conditioning path and eps are what guidance amplifies; bf16 autocast must not round them."""
    x, t, c = torch.randn(2, 3, 16, 16), torch.tensor([3, 480]), torch.eye(5)[:2]
    exact = tiny_model.embed(t, c)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = tiny_model.embed(t, c)
        eps = tiny_model(x, t, c)
    assert emb.dtype == eps.dtype == torch.float32
    torch.testing.assert_close(emb, exact, rtol=0, atol=0)


def test_forward_is_deterministic_and_has_no_hidden_randomness(tiny_model):
    """The original course built a fresh random conv in every forward pass; ours must not."""
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([5, 6])
    torch.manual_seed(1)
    a = tiny_model(x, t)
    torch.manual_seed(2)
    torch.testing.assert_close(a, tiny_model(x, t))


def test_residual_shortcut_is_registered_layer():
    block = ResidualBlock(8, 16, 32, groups=4, dropout=0.0)
    assert isinstance(block.shortcut, torch.nn.Conv2d)
    assert "shortcut.weight" in block.state_dict()
    assert isinstance(ResidualBlock(8, 8, 32, groups=4, dropout=0.0).shortcut, torch.nn.Identity)


def test_timestep_embedding_distinct():
    e = timestep_embedding(torch.arange(500), 32)
    assert e.shape == (500, 32)
    assert torch.cdist(e, e).add(torch.eye(500) * 10).min() > 1e-3


def test_wrong_image_size_or_channels(tiny_model):
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, 3, 16, 16\), got \(2, 3, 28, 28\)"):
        tiny_model(torch.randn(2, 3, 28, 28), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"\(2, 1, 16, 16\)"):
        tiny_model(torch.randn(2, 1, 16, 16), torch.tensor([1, 2]))


def test_wrong_context_width(tiny_model):
    with pytest.raises(ValueError, match=r"context must have shape \(batch, 5\).*got \(2, 10\)"):
        tiny_model(torch.randn(2, 3, 16, 16), torch.tensor([1, 2]), torch.zeros(2, 10))
    no_context = UNet(ModelConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(), context_dim=0, groups=4))
    with pytest.raises(ValueError, match="built without context"):
        no_context(torch.randn(2, 3, 16, 16), torch.tensor([1, 2]), torch.zeros(2, 5))


@pytest.mark.parametrize("kwargs,message", [
    (dict(image_size=20), "image_size=20 is not supported"),
    (dict(channels=2), "channels=2 is not supported"),
    (dict(image_size=28, channel_mults=(1, 2, 2, 2)), "cannot be halved 3 times"),
    (dict(attention_levels=(5,)), "out of range"),
    (dict(base_channels=12, groups=8), "divisible by groups=8"),
    (dict(upsample="bilinear"), "upsample='bilinear' must be one of"),
])
def test_bad_model_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


def test_config_round_trip():
    cfg = ModelConfig(image_size=32, channel_mults=(1, 2, 4), attention_levels=(2,))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "n_feat": 64})


def test_config_files_from_before_the_upsample_option_rebuild_the_upsampling_they_were_trained_with():
    old = {k: v for k, v in ModelConfig().to_dict().items() if k != "upsample"}
    assert ModelConfig.from_dict(old).upsample == "nearest_then_conv"
    assert ModelConfig.from_dict(ModelConfig().to_dict()).upsample == ModelConfig().upsample


@pytest.mark.parametrize("conv_first", [True, False])
def test_upsample_doubles_the_size_and_only_conv_first_keeps_two_by_two_blocks(conv_first):
    torch.manual_seed(0)
    up = Upsample(4, conv_first=conv_first)
    x = torch.randn(2, 4, 3, 3)
    y = up(x)
    assert y.shape == (2, 4, 6, 6)
    corner = y[..., ::2, ::2]
    assert (torch.equal(corner, y[..., 1::2, 1::2]) and torch.equal(corner, y[..., ::2, 1::2])) == conv_first
    up.conv_first = not conv_first  # the same weights in the other order: equal inside, different at the borders
    assert not torch.allclose(up(x), y)
