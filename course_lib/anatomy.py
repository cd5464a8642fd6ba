"""The U-Net's anatomy, read from the model itself: its layers in the order forward() runs them,
the shape of what each one makes, its parameters, the skip connections, and where t and c enter.

    unet_layers(model)  one `Layer` per part (embeddings, conv_in, each block of down / middle / up, output)
    unet_table(model)   the same, one row per level of the U, as text
    unet_figure(model)  the picture: the U with its shapes, parameter counts and skip connections, and
                        below it one residual block with the embedding path that feeds it (FiLM)

Nothing about the layout is written down here: the walk reads `model.UNet`'s modules (their channel counts,
strides, which blocks have attention) and replays forward()'s stack of skip connections, so another
`ModelConfig` (more levels, another image size, no context) gives its own table and picture. Shapes are
derived from the modules, not measured; tests/test_anatomy.py checks them against a real forward pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import groupby

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import nn

from .model import Downsample, ResidualBlock, SelfAttention, UNet, Upsample, count_parameters

Shape = tuple[int, ...]
PARTS = ("time_mlp", "context_mlp", "conv_in", "down", "middle", "up", "norm_out", "conv_out")
STAGE_NAMES = {"in": "conv_in", "down": "down", "middle": "middle", "up": "up", "out": "out"}


@dataclass(frozen=True)
class Layer:
    """One part of the U-Net.

    name: where it sits in the model ("conv_in", "down.2", "middle.0", "up.4", "norm_out+conv_out", "time_mlp").
    stage: "embedding", "in", "down", "middle", "up" or "out". kind: "mlp", "conv", "res", "downsample",
    "upsample" or "out". level: the resolution level of its output (0 = full size, halved once per level;
    None for the embeddings). in_shape, out_shape: (C, H, W) of the feature map h going in (before a skip is
    concatenated) and coming out; (features,) for the embeddings. skip_from: for an up block, the index (in
    `unet_layers`) of the layer whose output is concatenated to h first, skip_shape its shape.
    """

    name: str
    stage: str
    kind: str
    level: int | None
    in_shape: Shape
    out_shape: Shape
    params: int
    skip_from: int | None = None
    skip_shape: Shape | None = None
    attention: bool = False

    @property
    def keeps_skip(self) -> bool:
        """forward() keeps the output of conv_in and of every down layer for the up path."""
        return self.stage in ("in", "down")

    @property
    def label(self) -> str:
        return {"res": "res + attn" if self.attention else "res", "downsample": "downsample",
                "upsample": "upsample", "conv": "conv 3×3", "out": "GN, SiLU, conv", "mlp": "MLP"}[self.kind]

    @property
    def short_label(self) -> str:
        """The label in a box of the picture."""
        return {"res": "res+attn" if self.attention else "res", "downsample": "down ×½", "upsample": "up ×2",
                "conv": "conv_in", "out": "conv_out", "mlp": "MLP"}[self.kind]


def n_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def conv_shape(conv: nn.Conv2d, shape: Shape) -> Shape:
    """The output shape of `conv` for an input of `shape` (C, H, W); refuses a channel count it cannot take."""
    if conv.in_channels != shape[0]:
        raise ValueError(f"a conv for {conv.in_channels} channels would receive {shape[0]}: "
                         f"the walk no longer matches UNet.forward")
    size = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
            zip(shape[1:], conv.padding, conv.dilation, conv.kernel_size, conv.stride)]
    return (conv.out_channels, *size)


def block_shape(module: nn.Module, shape: Shape) -> Shape:
    """What a block of the down, middle or up path makes of a feature map of `shape`."""
    if isinstance(module, ResidualBlock):
        return conv_shape(module.conv2, conv_shape(module.conv1, shape))
    if isinstance(module, Downsample):
        return conv_shape(module, shape)
    if isinstance(module, Upsample):  # a 3x3 conv (size kept) and a nearest-neighbour doubling
        c, h, w = conv_shape(module.conv, shape)
        return c, 2 * h, 2 * w
    raise ValueError(f"unknown block {type(module).__name__}: teach course_lib.anatomy about it")


def block_kind(module: nn.Module) -> str:
    return {ResidualBlock: "res", Downsample: "downsample", Upsample: "upsample"}[type(module)]


def mlp_sizes(mlp: nn.Sequential) -> list[int]:
    """[in, hidden, ..., out] of an MLP's linear layers."""
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    return [linears[0].in_features] + [m.out_features for m in linears]


def unet_layers(model: UNet) -> list[Layer]:
    """Every part of `model` in the order forward() runs it, with shapes for one image of the model's size."""
    unknown = [name for name, _ in model.named_children() if name not in PARTS]
    if unknown:
        raise ValueError(f"the model has parts {unknown} that course_lib.anatomy does not know")
    size = model.config.image_size
    layers = [Layer("time_mlp", "embedding", "mlp", None, (mlp_sizes(model.time_mlp)[0],),
                    (mlp_sizes(model.time_mlp)[-1],), n_params(model.time_mlp))]
    if model.context_mlp is not None:
        sizes = mlp_sizes(model.context_mlp)
        layers.append(Layer("context_mlp", "embedding", "mlp", None, (sizes[0],), (sizes[-1],),
                            n_params(model.context_mlp)))

    def level_of(shape: Shape) -> int:
        return round(math.log2(size / shape[1]))

    shape = (model.conv_in.in_channels, size, size)
    out = conv_shape(model.conv_in, shape)
    layers.append(Layer("conv_in", "in", "conv", 0, shape, out, n_params(model.conv_in)))
    skips, shape = [len(layers) - 1], out

    def add(stage: str, name: str, module: nn.Module, skip: int | None = None) -> None:
        nonlocal shape
        skip_shape = layers[skip].out_shape if skip is not None else None
        given = shape if skip_shape is None else (shape[0] + skip_shape[0], *shape[1:])
        if skip_shape is not None and skip_shape[1:] != shape[1:]:
            raise ValueError(f"{name}: skip of shape {skip_shape} cannot be concatenated to {shape}")
        out = block_shape(module, given)
        attention = isinstance(getattr(module, "attention", None), SelfAttention)
        layers.append(Layer(name, stage, block_kind(module), level_of(out), shape, out, n_params(module),
                            skip, skip_shape, attention))
        shape = out

    for i, module in enumerate(model.down):
        add("down", f"down.{i}", module)
        skips.append(len(layers) - 1)
    for i, module in enumerate(model.middle):
        add("middle", f"middle.{i}", module)
    for i, module in enumerate(model.up):
        add("up", f"up.{i}", module, skips.pop() if isinstance(module, ResidualBlock) else None)
    if skips:
        raise ValueError(f"{len(skips)} skip connections were never used: the walk no longer matches UNet.forward")
    if model.norm_out.num_channels != shape[0]:
        raise ValueError(f"norm_out expects {model.norm_out.num_channels} channels, the up path gives {shape[0]}")
    out = conv_shape(model.conv_out, shape)
    layers.append(Layer("norm_out+conv_out", "out", "out", 0, shape, out, n_params(model.norm_out, model.conv_out)))
    return layers


# ---- the table ----------------------------------------------------------------------------------------------

def fmt_shape(shape: Shape) -> str:
    return "×".join(map(str, shape))


def fmt_count(n: int) -> str:
    """A parameter count in a few characters: 896, 9.2k, 1.21M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k" if n < 100_000 else f"{n / 1000:.0f}k"
    return f"{n / 1e6:.2f}M"


def describe(group: list[Layer]) -> str:
    """'2 × res, upsample': the kinds of a group's layers, repeats counted."""
    parts = []
    for label, same in groupby(layer.label for layer in group):
        k = len(list(same))
        parts.append(f"{k} × {label}" if k > 1 else label)
    return ", ".join(parts)


def level_groups(layers: list[Layer]) -> list[tuple[str, list[Layer]]]:
    """The parts of the U as (row name, layers): the embeddings, conv_in, then per stage and level."""
    groups = []
    for (stage, level), same in groupby(layers, key=lambda layer: (layer.stage, layer.level)):
        same = list(same)
        if stage == "embedding":
            groups += [("time MLP" if layer.name == "time_mlp" else "context MLP", [layer]) for layer in same]
        elif stage in ("down", "up"):
            groups.append((f"{stage}, level {level}", same))
        else:
            groups.append((STAGE_NAMES[stage], same))
    return groups


def skips_text(group: list[Layer]) -> str:
    kept = sum(layer.keeps_skip for layer in group)
    taken = [layer.skip_shape[0] for layer in group if layer.skip_shape is not None]
    if kept:
        return f"keeps {kept}"
    if taken:
        return "takes " + ", ".join(f"+{c}" for c in taken)
    return ""


def unet_table(model: UNet) -> str:
    """The U-Net level by level: the layers, the shape (C×H×W) going in and coming out, the skip connections
    kept (down) or concatenated (up, with their channels), and the parameters, which add up to the total."""
    layers = unet_layers(model)
    total = count_parameters(model)
    cfg = model.config
    rows = []
    for name, group in level_groups(layers):
        first, last = group[0], group[-1]
        if first.stage == "embedding":
            sizes = mlp_sizes(getattr(model, first.name))
            what = ("sinusoidal " if first.name == "time_mlp" else "") + " → ".join(map(str, sizes))
            shape_in = "t" if first.name == "time_mlp" else f"c ({first.in_shape[0]})"
        else:
            what, shape_in = describe(group), fmt_shape(first.in_shape)
        params = sum(layer.params for layer in group)
        rows.append((name, what, shape_in, fmt_shape(last.out_shape), skips_text(group), f"{params:,}",
                     f"{100 * params / total:.0f}%"))
    head = ("part", "layers", "in", "out", "skips", "params", "share")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    right = {5, 6}

    def line(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    title = (f"U-Net for {fmt_shape((cfg.channels, cfg.image_size, cfg.image_size))} images: "
             f"{len(cfg.channel_mults)} levels, embedding width {layers[0].out_shape[0]}, "
             f"context {'width ' + str(cfg.context_dim) if cfg.context_dim else 'none'}")
    rule = "-" * len(line(head))
    body = [line(r) for r in rows]
    return "\n".join([title, line(head), rule, *body, rule,
                      line(("total", "", "", "", "", f"{sum(l.params for l in layers):,}", "100%"))])


# ---- the picture --------------------------------------------------------------------------------------------

COLOURS = {"conv": "#e6e6e6", "out": "#e6e6e6", "res": "#fbd9a6", "downsample": "#cfe3f6", "upsample": "#cfe3f6",
           "mlp": "#d5efd0", "input": "#ffffff", "op": "#f4f4f4"}
SKIP_COLOUR = "tab:blue"
EMB_COLOUR = "#3a9b35"


def box(ax, x: float, y: float, w: float, h: float, text: str, colour: str, size: float = 7.0, **kw) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.08",
                                facecolor=colour, edgecolor="#555555", linewidth=0.8, **kw))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, linespacing=1.15)


def arrow(ax, start, end, colour: str = "#444444", style: str = "-|>", **kw) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=colour, linewidth=0.9,
                                                          shrinkA=0, shrinkB=0, mutation_scale=8, **kw))


def draw_u(ax, model: UNet, layers: list[Layer], width_in: float) -> None:
    """The U: one box per layer (x: the order forward() runs them, y: the resolution level of its output),
    the main path as arrows, the skip connections as brackets above the boxes. width_in: the axes' width."""
    spatial = [(i, layer) for i, layer in enumerate(layers) if layer.stage != "embedding"]
    column = {i: k for k, (i, _) in enumerate(spatial)}
    levels = max(layer.level for _, layer in spatial) + 1
    dy, w, h = 2.0, 0.9, 1.0
    left, right = -1.0, len(spatial)  # the box centres' free margins
    texts = {i: f"{layer.short_label}\n{fmt_shape(layer.out_shape)}\n{fmt_count(layer.params)}" for i, layer in spatial}
    chars = max(len(line) for text in texts.values() for line in text.split("\n"))
    unit_pt = 72 * width_in / (right - left - 1.0)
    size = min(7.0, 0.9 * w * unit_pt / (0.7 * chars))  # the longest line fits its box

    def pos(i):
        return column[i], -layers[i].level * dy

    for k, (i, layer) in enumerate(spatial):
        x, y = pos(i)
        box(ax, x, y, w, h, texts[i], COLOURS[layer.kind], size=size)
        if layer.kind == "res":  # the embedding enters every residual block
            ax.plot([x], [y - h / 2 - 0.13], marker="^", color=EMB_COLOUR, markersize=4.5, clip_on=False)
        if k:
            px, py = pos(spatial[k - 1][0])
            arrow(ax, (px + w / 2, py), (x - w / 2, y))
    # Skip brackets, nested per level: the widest span highest.
    pairs = sorted(((layer.skip_from, i) for i, layer in spatial if layer.skip_from is not None),
                   key=lambda p: (layers[p[1]].level, p[1] - p[0]))
    for level, same in groupby(pairs, key=lambda p: layers[p[1]].level):
        same = list(same)
        step = min(0.16, 0.75 / len(same))
        for rank, (a, b) in enumerate(same):
            (xa, y), (xb, _) = pos(a), pos(b)
            top = y + h / 2 + 0.12 + rank * step
            xa, xb = xa + 0.1, xb - 0.1
            ax.plot([xa, xa, xb], [y + h / 2, top, top], color=SKIP_COLOUR, linewidth=0.9)
            arrow(ax, (xb, top), (xb, y + h / 2), colour=SKIP_COLOUR)
    # Row labels (resolution, and the parameters of the level's down and up parts as in unet_table), each in
    # the widest free stretch of its row: beside the U's arms, or between them.
    groups = dict(level_groups(layers))
    for level in range(levels):
        side = model.config.image_size // 2 ** level
        counts = [f"{s} {fmt_count(sum(l.params for l in groups[f'{s}, level {level}']))}"
                  for s in ("down", "up") if f"{s}, level {level}" in groups]
        edges = [left] + sorted(x for i, layer in spatial if layer.level == level for x in (column[i],)) + [right]
        gaps = [(b - a, (a + b) / 2) for a, b in zip(edges, edges[1:])]
        ax.text(max(gaps)[1], -level * dy, f"level {level}: {side}×{side}\n" + "\n".join(counts), ha="center",
                va="center", fontsize=7.5, color="#333333")
    middle = [i for i, layer in spatial if layer.stage == "middle"]
    if middle:
        xs = [column[i] for i in middle]
        ax.text(sum(xs) / len(xs), -(levels - 1) * dy - h / 2 - 0.4,
                f"middle {fmt_count(sum(layers[i].params for i in middle))}", ha="center", va="top", fontsize=7.5)
    ax.plot([], [], color=SKIP_COLOUR, label="skip connection (concatenated to h)")
    ax.plot([], [], "^", color=EMB_COLOUR, markersize=4.5, linestyle="none", label="emb enters (FiLM, below)")
    ax.legend(loc="upper center", fontsize=7.5, ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.04))
    ax.set_xlim(left + 0.5, right - 0.5)
    ax.set_ylim(-(levels - 1) * dy - h / 2 - 1.0, h / 2 + 1.1)
    ax.set_axis_off()
    total = sum(layer.params for layer in layers)
    ax.set_title(f"the U-Net, read from the model: {total:,} parameters "
                 f"(each box: layer, output C×H×W, parameters)", fontsize=9, pad=16)


def example_block(model: UNet) -> tuple[str, ResidualBlock]:
    """A residual block to draw: the first one that changes width (its shortcut is a 1×1 conv), else the first."""
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, ResidualBlock)]
    return next(((n, m) for n, m in blocks if isinstance(m.shortcut, nn.Conv2d)), blocks[0])


def draw_block(ax, model: UNet, layers: list[Layer]) -> None:
    """One residual block, and the path that turns t and c into the embedding its FiLM layer reads."""
    name, block = example_block(model)
    c_in, c_out = block.conv1.in_channels, block.conv1.out_channels
    layer = next(layer for layer in layers if layer.name == name)
    given = layer.in_shape if layer.skip_shape is None else (c_in, *layer.in_shape[1:])
    bw, bh, y_res, y_emb = 1.55, 0.95, 2.6, 0.75
    # The residual block, left to right.
    chain = [("x\n" + fmt_shape(given), COLOURS["input"]), ("GN, SiLU", COLOURS["op"]),
             (f"conv 3×3\n{c_in}→{c_out}", COLOURS["conv"]), ("GN", COLOURS["op"]),
             ("h·(1+s) + b\nFiLM", COLOURS["res"]), ("SiLU", COLOURS["op"]),
             (f"conv 3×3\n{c_out}→{c_out}", COLOURS["conv"]), ("+", COLOURS["op"])]
    if isinstance(block.attention, SelfAttention):
        chain.append((f"self-attention\n{block.attention.heads} head(s)", COLOURS["res"]))
    chain.append(("out\n" + fmt_shape(layer.out_shape), COLOURS["input"]))
    x0, dx = 6.0, 1.95
    xs = [x0 + k * dx for k in range(len(chain))]
    for k, (text, colour) in enumerate(chain):
        box(ax, xs[k], y_res, 0.55 if text == "+" else bw, bh, text, colour, size=7.5 if text == "+" else 7)
        if k:
            arrow(ax, (xs[k - 1] + (0.275 if chain[k - 1][0] == "+" else bw / 2), y_res),
                  (xs[k] - (0.275 if text == "+" else bw / 2), y_res))
    plus = xs[[t for t, _ in chain].index("+")]
    shortcut = f"shortcut: 1×1 conv {c_in}→{c_out}" if isinstance(block.shortcut, nn.Conv2d) else "shortcut: identity"
    top = y_res + bh / 2 + 0.45
    ax.plot([xs[0], xs[0], plus], [y_res + bh / 2, top, top], color="#444444", linewidth=0.9)
    arrow(ax, (plus, top), (plus, y_res + bh / 2))
    ax.text((xs[0] + plus) / 2, top + 0.08, shortcut, ha="center", va="bottom", fontsize=7)
    # The embedding: t (and c) -> MLPs -> sum -> SiLU -> emb -> Linear -> (s, b) into FiLM.
    t_sizes = mlp_sizes(model.time_mlp)
    y_t, y_c = y_emb + 0.65, y_emb - 0.65
    box(ax, 0.5, y_t, 0.8, 0.7, "t", COLOURS["input"], size=8)
    box(ax, 2.1, y_t, 1.5, 0.8, f"sinusoidal\n{t_sizes[0]}", COLOURS["mlp"])
    box(ax, 4.1, y_t, 1.7, 0.8, "MLP_t\n" + "→".join(map(str, t_sizes)), COLOURS["mlp"])
    arrow(ax, (0.9, y_t), (1.35, y_t))
    arrow(ax, (2.85, y_t), (3.25, y_t))
    x_sum = 6.0
    if model.context_mlp is not None:
        c_sizes = mlp_sizes(model.context_mlp)
        box(ax, 0.5, y_c, 0.8, 0.7, f"c\n({c_sizes[0]})", COLOURS["input"], size=7.5)
        box(ax, 4.1, y_c, 1.7, 0.8, "MLP_c\n" + "→".join(map(str, c_sizes)), COLOURS["mlp"])
        arrow(ax, (0.9, y_c), (3.25, y_c))
        box(ax, x_sum, y_emb, 0.55, 0.55, "+", COLOURS["op"], size=8)
        arrow(ax, (4.95, y_t), (x_sum - 0.2, y_emb + 0.2))
        arrow(ax, (4.95, y_c), (x_sum - 0.2, y_emb - 0.2))
        source = x_sum + 0.275
    else:
        ax.text(4.1, y_c, "no context (context_dim = 0)", ha="center", va="center", fontsize=7, color="#777777")
        ax.plot([4.95, x_sum], [y_t, y_t], color="#444444", linewidth=0.9)
        ax.plot([x_sum, x_sum], [y_t, y_emb], color="#444444", linewidth=0.9)
        source = x_sum
    emb_dim = block.emb.in_features
    box(ax, 7.4, y_emb, 1.0, 0.7, "SiLU", COLOURS["op"])
    box(ax, 9.0, y_emb, 1.3, 0.8, f"emb\n{emb_dim}", COLOURS["mlp"])
    arrow(ax, (source, y_emb), (6.9, y_emb))
    arrow(ax, (7.9, y_emb), (8.35, y_emb))
    film = xs[4]
    box(ax, film, y_emb, 2.0, 0.8, f"Linear {emb_dim}→2·{c_out}\n(scale s, shift b)", COLOURS["mlp"])
    arrow(ax, (9.65, y_emb), (film - 1.0, y_emb), colour=EMB_COLOUR)
    arrow(ax, (film, y_emb + 0.4), (film, y_res - bh / 2), colour=EMB_COLOUR)
    n_res = sum(layer.kind == "res" for layer in layers)
    ax.text(9.0, y_emb - 0.75, f"the same emb feeds all {n_res} residual blocks,\neach through its own Linear",
            ha="center", va="top", fontsize=7, color=EMB_COLOUR)
    ax.set_xlim(-0.2, xs[-1] + bw / 2 + 0.2)
    ax.set_ylim(y_c - 1.25, top + 0.55)
    ax.set_axis_off()
    ax.set_title(f"inside a residual block ({name}: {c_in}→{c_out} channels), and how t and c enter it",
                 fontsize=9)


def unet_figure(model: UNet, width: float = 11.0) -> Figure:
    """The U-Net of `model` drawn from its modules (see `unet_layers`): the U with every layer's output shape
    and parameters, the skip connections and the levels; below, one residual block and the embedding path,
    emb = SiLU(MLP_t(sinusoidal(t)) + MLP_c(c)), entering as a per-channel scale and shift (FiLM)."""
    layers = unet_layers(model)
    levels = max(layer.level for layer in layers if layer.level is not None) + 1
    boxes = sum(layer.stage != "embedding" for layer in layers)
    width = max(width, 0.6 * boxes)  # wide enough for readable boxes (deep or long U-Nets)
    u_height = 1.0 + 1.05 * levels
    fig = Figure(figsize=(width, u_height + 3.0), dpi=100)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [u_height, 2.75]})
    draw_u(top, model, layers, 0.98 * width)
    draw_block(bottom, model, layers)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.01, hspace=0.12)
    return fig
