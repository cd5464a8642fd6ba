"""course_lib.anatomy reads the U-Net from its modules: its shapes, skips and parameter counts must be what a real
forward pass does, for the course's model and for other configurations."""
import io
import subprocess
import sys

import pytest
import torch
from matplotlib.figure import Figure

from course_lib.anatomy import fmt_shape, level_groups, unet_figure, unet_layers, unet_table
from course_lib.config import ModelConfig
from course_lib.model import UNet, count_parameters

CONFIGS = {
    "course": ModelConfig(),
    "2 levels, 28 px grey, no context": ModelConfig(image_size=28, channels=1, base_channels=8, channel_mults=(1, 2),
                                                    attention_levels=(1,), context_dim=0, groups=4),
    "2 blocks per level, 32 px, 4 levels": ModelConfig(image_size=32, base_channels=8, channel_mults=(1, 2, 2, 4),
                                                      blocks_per_level=2, attention_levels=(2, 3), groups=4),
}


@pytest.fixture(params=list(CONFIGS), ids=list(CONFIGS), scope="module")
def model(request):
    torch.manual_seed(0)
    return UNet(CONFIGS[request.param]).eval()


def record_forward(model: UNet):
    """Run one real forward pass, recording each part's input (the first argument) and output by name."""
    seen, hooks = {}, []
    names = ["time_mlp", "context_mlp", "conv_in", "norm_out", "conv_out"] + [
        f"{path}.{i}" for path in ("down", "middle", "up") for i in range(len(getattr(model, path)))]
    for name in names:
        if getattr(model, name, "") is None:
            continue
        hooks.append(model.get_submodule(name).register_forward_hook(
            lambda module, args, out, name=name: seen.__setitem__(name, (args[0].detach(), out.detach()))))
    cfg = model.config
    x = torch.randn(2, cfg.channels, cfg.image_size, cfg.image_size)
    c = torch.eye(cfg.context_dim)[:2] if cfg.context_dim else None
    try:
        with torch.no_grad():
            model(x, torch.tensor([3, 400]), c)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_shapes_agree_with_a_real_forward_pass(model):
    seen = record_forward(model)
    layers = unet_layers(model)
    for layer in layers:
        if layer.name == "norm_out+conv_out":
            assert tuple(seen["norm_out"][0].shape[1:]) == layer.in_shape
            assert tuple(seen["conv_out"][1].shape[1:]) == layer.out_shape
            continue
        given, made = (tuple(v.shape[1:]) for v in seen[layer.name])
        expected_in = layer.in_shape if layer.skip_shape is None else (
            layer.in_shape[0] + layer.skip_shape[0], *layer.in_shape[1:])
        assert given == expected_in, layer.name
        assert made == layer.out_shape, layer.name
    assert [l.name for l in layers if l.stage != "embedding"][-1] == "norm_out+conv_out"


def test_skip_connections_are_the_tensors_forward_concatenates(model):
    seen = record_forward(model)
    layers = unet_layers(model)
    up_blocks = [layer for layer in layers if layer.skip_from is not None]
    assert len(up_blocks) == sum(layer.keeps_skip for layer in layers) > 0
    assert sorted(layer.skip_from for layer in up_blocks) == [i for i, l in enumerate(layers) if l.keeps_skip]
    for layer in up_blocks:
        given = seen[layer.name][0]
        skip = seen[layers[layer.skip_from].name][1]
        torch.testing.assert_close(given[:, layer.in_shape[0]:], skip, rtol=0, atol=0)


def test_levels_follow_the_resolution(model):
    size = model.config.image_size
    for layer in unet_layers(model):
        if layer.level is not None:
            assert layer.out_shape[1] == size // 2 ** layer.level
    assert max(l.level for l in unet_layers(model) if l.level is not None) == len(model.config.channel_mults) - 1


def test_parameter_counts_add_up(model):
    layers = unet_layers(model)
    assert sum(layer.params for layer in layers) == count_parameters(model)
    assert all(layer.params > 0 for layer in layers)
    assert f"{count_parameters(model):,}" in unet_table(model).splitlines()[-1]


def test_table_has_one_row_per_level_and_path(model):
    table = unet_table(model)
    levels = len(model.config.channel_mults)
    for level in range(levels):
        assert f"down, level {level} " in table and f"up, level {level} " in table
    assert f"down, level {levels} " not in table
    assert ("context MLP" in table) == bool(model.config.context_dim)
    for name, group in level_groups(unet_layers(model)):
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert f"{group[-1].params if len(group) == 1 else sum(l.params for l in group):,}" in row
        if group[0].stage != "embedding":
            assert fmt_shape(group[0].in_shape) in row and fmt_shape(group[-1].out_shape) in row


def test_table_of_a_2_level_28_px_model():
    model = UNet(CONFIGS["2 levels, 28 px grey, no context"])
    table = unet_table(model)
    assert "1×28×28" in table and "16×14×14" in table and "×7×7" not in table
    assert "context none" in table.splitlines()[0]


def test_figure_shows_every_shape_and_the_total(model):
    fig = unet_figure(model)
    assert isinstance(fig, Figure)
    fig.savefig(io.BytesIO(), format="png")  # draws without a display
    text = "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])
    for layer in unet_layers(model):
        if layer.stage != "embedding":
            assert fmt_shape(layer.out_shape) in text
    assert f"{count_parameters(model):,} parameters" in text
    assert "FiLM" in text and "emb" in text
    assert ("MLP_c" in text) == bool(model.config.context_dim)


def test_an_unknown_part_is_refused():
    class Bigger(UNet):
        def __init__(self):
            super().__init__(CONFIGS["2 levels, 28 px grey, no context"])
            self.extra = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match="extra"):
        unet_layers(Bigger())


def test_headless_no_pyplot():
    code = ("import sys; from course_lib.anatomy import unet_figure; from course_lib.model import UNet; "
            "unet_figure(UNet()); assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
