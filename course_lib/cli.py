"""Command line: `python -m course_lib COMMAND --help`.

    data      generate (or verify) the procedural sprite dataset in data/
    train     rebuild the course's weights (no options), or train a model on other data
    sample    draw sprites from a checkpoint (DDPM, DDIM, DPM-Solver++(2M) or Heun) into a PNG grid (and a GIF)
    edit      redraw a sprite or a sketch (SDEdit), or regenerate a masked part of it (inpainting)
    evaluate  offline FID, conditional accuracy and memorisation of the shipped weights
    exercises write the student versions of the labs (exercises to complete) to exercises/
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from .config import (DATA_DIR, DEFAULT_AUTOGUIDANCE, DEFAULT_GUIDANCE, EVALUATION_STEP_COUNTS, PRECISIONS,
                     PROJECT_ROOT, RUNS_DIR, TRAINED_DIR, WEIGHTS_DIR, TrainConfig)
from .checkpoints import ANSI_CODE
from .editing import EDIT_METHODS
from .samplers import SAMPLERS

# Guidance scales above this saturate the pictures: with the shipped model at w = 20 a third of the pixels
# already lie outside [-1, 1] (values up to 7) and are clipped to black or white; the labs use 1 to 5.
MAX_GUIDANCE = 20.0
# Images per `sample` run: about 1 GB of memory with guidance on the CPU, and a grid one can still look at.
MAX_SAMPLES = 1024
DEVICE_NAME = re.compile(r"cpu|cuda(:\d+)?|mps")


def cmd_data(args: argparse.Namespace) -> int:
    from . import sprites

    out = Path(args.out)
    if args.verify:
        sprites.verify_dataset(out)
        print(f"{out}: every file matches SHA256SUMS; dataset digest {sprites.dataset_digest(out)}")
        return 0
    start = time.perf_counter()
    digest = sprites.write_sprite_dataset(out, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
                                          progress=not args.quiet)
    print((out / "SHA256SUMS").read_text(), end="")
    print(f"dataset digest {digest} ({args.n_train} train + {args.n_test} test sprites "
          f"in {time.perf_counter() - start:.1f} s)")
    if args.preview:
        sprites.save_preview(args.preview)
        print(f"preview written to {args.preview}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import ModelConfig, Recipe, ScheduleConfig
    from .data import load_dataset
    from .device import pick_device
    from .pipeline import default_name, train_course, train_recipe

    device = args.device or str(pick_device())
    custom = args.dataset != "sprites" or args.image_size not in (None, 16) or args.batch or args.seed or args.name
    if not custom:
        log = train_course(args.out or WEIGHTS_DIR, args.data_dir, args.runs, device=device, steps=args.steps)
        print(log.read_text())
        return 0
    dataset = load_dataset(args.dataset, data_dir=args.data_dir, image_size=args.image_size)
    levels = (1, 2, 2, 2) if dataset.image_size >= 64 else (1, 2, 2)
    model = ModelConfig(image_size=dataset.image_size, channels=dataset.channels, context_dim=dataset.context_dim,
                        channel_mults=levels, attention_levels=(len(levels) - 1,))
    given = {"steps": args.steps, "batch_size": args.batch}
    train = TrainConfig(seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    name, out = args.name or default_name(dataset), args.out or TRAINED_DIR
    row = train_recipe(Recipe(name, model, ScheduleConfig(), train), dataset, out, args.runs, device, force=args.force)
    print(f"{name}: {row['steps']} steps in {row['wall_seconds']} s, {row['images_per_second']} images/s, "
          f"final loss {row['final_loss']}; wrote {', '.join(row['files'])} to {out}")
    return 0


def parse_context(args: argparse.Namespace, label_names: tuple[str, ...], width: int):
    """--label NAME (one-hot) or --context 1,0,0,1,0 (any mix) -> a context vector, or None. An empty
    --label or --context is an error, not silently "no context"."""
    if args.label is not None and args.context is not None:
        raise ValueError("give either --label or --context, not both")
    if args.label is not None:
        if args.label not in label_names:
            raise ValueError(f"unknown label {args.label!r}; choose one of {', '.join(label_names)}")
        return [float(name == args.label) for name in label_names]
    if args.context is not None:
        try:
            values = [float(v) for v in args.context.split(",")]
        except ValueError:
            raise ValueError(f"--context {args.context!r} must be {width} comma-separated numbers, one per label "
                             f"({', '.join(label_names)}), e.g. {','.join(['1'] + ['0'] * (width - 1))}") from None
        if len(values) != width:
            raise ValueError(f"--context has {len(values)} values but the model's context width is {width} "
                             f"({', '.join(label_names)})")
        return values
    return None


def check_guidance(scale: float, option: str = "--guidance") -> None:
    """A guidance scale must lie in [0, MAX_GUIDANCE]; NaN and infinity do not."""
    if not 0 <= scale <= MAX_GUIDANCE:
        raise ValueError(f"{option} {scale:g} must lie in [0, {MAX_GUIDANCE:g}] (1: no guidance, 2 to 5: typical; "
                         f"beyond {MAX_GUIDANCE:g} most pixels saturate to black or white)")


def resolve_guidance(args: argparse.Namespace, context) -> float:
    """--guidance, or the default of this run: DEFAULT_AUTOGUIDANCE with --guide, DEFAULT_GUIDANCE with
    labels or a non-zero context (one vector, or one row per image), 1 (none) otherwise. Given without any of
    them it would change nothing, so that is an error rather than a silent no-op."""
    import torch

    if getattr(args, "guide", None):
        default = DEFAULT_AUTOGUIDANCE
    elif context is not None and bool(torch.as_tensor(context).any()):
        default = DEFAULT_GUIDANCE
    elif args.guidance is not None:
        autoguided = hasattr(args, "guide")  # the commands that offer autoguidance
        options = "--label, --context or --guide" if autoguided else "--label or --context"
        raise ValueError(f"--guidance does nothing without {options}: classifier-free guidance needs a (non-zero) "
                         f"context" + (", autoguidance a --guide" if autoguided else ""))
    else:
        return 1.0
    return default if args.guidance is None else args.guidance


def check_outputs(outputs: list[tuple[str, Path | str | None]], inputs: list[tuple[str, Path | str | None]]) -> None:
    """Refuse, before any work, an output (option, path) that is an input of the run or another output
    (the same file once resolved), a .pt file (checkpoints are never outputs here), or a folder: a typo
    such as `--gif weights/context.pt` must not destroy the weights."""
    taken = {Path(path).resolve(): option for option, path in inputs if path}
    for option, path in outputs:
        if path is None:
            continue
        path = Path(path)
        if path.resolve() in taken:
            raise ValueError(f"{option} {path} is the {taken[path.resolve()]} file; writing it would destroy it: "
                             f"choose another name")
        if path.suffix.lower() == ".pt":
            raise ValueError(f"{option} {path}: a .pt file is a checkpoint, not an output of this command; "
                             f"choose another name")
        if path.is_dir():
            raise ValueError(f"{option} {path} is a folder; give a file name, e.g. {path / 'samples.png'}")
        taken[path.resolve()] = option


def check_sample_options(args: argparse.Namespace) -> None:
    """What `sample` can check before loading anything: its output files, --n and --guidance."""
    from .images import image_format

    check_outputs([("--out", args.out), ("--gif", args.gif)], [("--weights", args.weights), ("--guide", args.guide)])
    for option, path, animated in (("--out", args.out, False), ("--gif", args.gif, True)):
        if path is None:
            continue
        try:
            image_format(path, animated)
        except ValueError as e:
            raise ValueError(f"{option} {e}") from None
    if args.n > MAX_SAMPLES:
        raise ValueError(f"--n {args.n} is more than {MAX_SAMPLES} images in one run (memory grows with n); "
                         f"draw more in several runs with different --seed values")
    if args.guidance is not None:
        check_guidance(args.guidance)


def cmd_sample(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint
    from .data import draw_labels
    from .device import pick_device
    from .images import save_gif, save_grid
    from .samplers import make_sampler, sample

    check_sample_options(args)
    device = args.device or pick_device()
    ckpt = load_checkpoint(args.weights, device=device)
    guide = load_checkpoint(args.guide, device=device).model if args.guide else None
    context = parse_context(args, ckpt.label_names, ckpt.model.config.context_dim)
    if context is None and guide is None and ckpt.label_shares is not None:
        context = draw_labels(ckpt.label_shares, args.n, seed=args.seed)
        counts = ", ".join(f"{name} {int(k)}" for name, k in zip(ckpt.label_names, context.sum(0)) if k)
        print(f"labels drawn in the training data's class mix ({counts}); --label NAME picks one, "
              f"--context {','.join(['0'] * len(ckpt.label_names))} samples without context")
    guidance = resolve_guidance(args, context)
    sampler = make_sampler(ckpt.schedule, args.method, steps=args.steps, eta=args.eta)
    capture = max(1, len(sampler.timesteps) // 50) if args.gif else 0
    result = sample(ckpt.model, sampler, args.n, context=context, guidance=guidance, guide=guide,
                    seed=args.seed, capture_every=capture, progress=True)
    print(f"wrote {save_grid(result.images, args.out, nrow=args.nrow)}")
    if args.gif:
        print(f"wrote {save_gif(result.frames, args.gif, nrow=args.nrow)}")
    return 0


def check_edit_options(args: argparse.Namespace) -> None:
    """What `edit` can check before loading anything: one of --strength and --mask, the files and numbers."""
    from .editing import check_strength
    from .images import image_format

    if (args.strength is None) == (args.mask is None):
        raise ValueError("give --strength S to redraw the sprite (SDEdit) or --mask MASK.png to regenerate its white "
                         "part (inpainting), one of the two")
    if args.strength is not None:
        check_strength(args.strength)
    check_outputs([("--out", args.out)], [("--weights", args.weights), ("INPUT", args.input), ("--mask", args.mask)])
    try:
        image_format(args.out)
    except ValueError as e:
        raise ValueError(f"--out {e}") from None
    if args.n > MAX_SAMPLES:
        raise ValueError(f"--n {args.n} is more than {MAX_SAMPLES} edits in one run; run again with another --seed")
    if args.guidance is not None:
        check_guidance(args.guidance)


def cmd_edit(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint
    from .device import pick_device
    from .editing import inpaint, read_mask, read_sprite, sdedit
    from .images import save_grid

    check_edit_options(args)
    ckpt = load_checkpoint(args.weights, device=args.device or pick_device())
    cfg = ckpt.model.config
    sprite = read_sprite(args.input, cfg.image_size, cfg.channels).expand(args.n, -1, -1, -1)
    mask = read_mask(args.mask, cfg.image_size) if args.mask else None
    context = parse_context(args, ckpt.label_names, cfg.context_dim)
    options = dict(method=args.method, steps=args.steps, context=context, guidance=resolve_guidance(args, context),
                   seed=args.seed, progress=True)
    if mask is None:
        edits = sdedit(ckpt.model, ckpt.schedule, sprite, args.strength, **options)
    else:
        edits = inpaint(ckpt.model, ckpt.schedule, sprite, mask, **options)
    print(f"wrote {save_grid(edits, args.out, nrow=args.nrow)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoints import checkpoint_snapshots
    from .evaluation import run_evaluation

    given_guide = None if args.guide in ("auto", "none") else args.guide
    check_outputs([("--out", args.out)], [("--weights", p) for p in args.weights]
                  + [("--features", args.features), ("--guide", given_guide)])
    check_guidance(args.guidance)
    check_guidance(args.autoguidance, "--autoguidance")
    weights = {Path(p).stem: Path(p) for p in args.weights}
    if args.guide == "auto":
        guides = {name: snaps[-1][1] for name, path in weights.items() if (snaps := checkpoint_snapshots(path))}
    else:
        guides = {} if args.guide == "none" else {name: Path(args.guide) for name in weights}
    run_evaluation(weights, args.features, data_dir=args.data_dir, n=args.n, seed=args.seed, out=args.out,
                   device=args.device, guidance=args.guidance, step_counts=tuple(args.steps),
                   precision=args.precision, guides=guides, autoguidance=args.autoguidance, seeds=tuple(args.seeds),
                   side_seeds=args.side_seeds)
    print(Path(args.out).read_text())
    return 0


def cmd_exercises(args: argparse.Namespace) -> int:
    from .assignments import write_student_labs

    if args.folder:
        from .assignments import course_folder

        root = course_folder(args.folder)
        print(f"nbgrader course folder ready in {root}: cd there and run nbgrader generate_assignment labs")
        return 0
    report = write_student_labs(args.out, fresh=tuple(args.fresh))
    for name, what in report.items():
        print(f"{args.out / name}: {what}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="generate or verify the procedural sprite dataset",
                               description="Generate the procedural 16x16 sprite dataset (deterministic: the same "
                                           "bytes on every run and machine) and write SHA256SUMS beside it.")
    data.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: the course's data/)")
    data.add_argument("--n-train", type=positive_int, default=60000, help="training sprites (default: 60000)")
    data.add_argument("--n-test", type=positive_int, default=5000, help="held-out sprites (default: 5000)")
    add_seed_option(data, "the generator")
    data.add_argument("--preview", metavar="PNG", help="also write a preview grid, one row per class")
    data.add_argument("--verify", action="store_true", help="only check existing files against SHA256SUMS")
    data.add_argument("--quiet", action="store_true", help="no progress bar")
    data.set_defaults(run=cmd_data)

    train = commands.add_parser("train", help="rebuild the shipped weights, or train on other data",
                                description="With no option: rebuild every checkpoint the labs load (the sprite "
                                            "feature network, then the context model), resuming an interrupted run "
                                            "from runs/. With --dataset and friends: train one model on other data, "
                                            "into trained/.")
    train.add_argument("--dataset", default="sprites",
                       help="sprites | original (the original course's .npy files in data/) | mnist | PATH to an "
                            "image folder (default: sprites)")
    train.add_argument("--image-size", type=positive_int, help="resize images to this size (16, 28, 32 or 64)")
    train.add_argument("--steps", type=positive_int, help="optimiser steps (default: the course recipe's)")
    train.add_argument("--batch", type=positive_int, help=f"images per step (default {TrainConfig.batch_size})")
    add_seed_option(train, "every random draw of training")
    train.add_argument("--name", help="name of the output checkpoint (default: the dataset's name; for an image "
                                      "folder, the folder's)")
    add_device_option(train)
    train.add_argument("--data-dir", type=Path, default=DATA_DIR,
                       help="where datasets live (default: the course's data/)")
    train.add_argument("--out", type=Path, help="where checkpoints go (default: the course's weights/ for the course, "
                                                "trained/ for other data)")
    train.add_argument("--force", action="store_true",
                       help="with --dataset and friends: allow replacing checkpoints in the shipped weights/")
    train.add_argument("--runs", type=Path, default=RUNS_DIR,
                       help="resumable training states (default: the course's runs/)")
    train.set_defaults(run=cmd_train)

    smp = commands.add_parser("sample", help="draw sprites from a checkpoint",
                              description="Sample a grid of images with DDPM, DDIM, DPM-Solver++(2M) or Heun, "
                                          "with classifier-free guidance, for one label, a mixed context vector, "
                                          "or by default labels drawn in the training data's class mix (a "
                                          "sprite of every kind, as often as the data has them).")
    smp.add_argument("--weights", type=Path, default=WEIGHTS_DIR / "context.pt",
                     help="checkpoint (default: the course's weights/context.pt, from any folder)")
    smp.add_argument("--method", choices=tuple(SAMPLERS), default="ddim", help="sampler (default: ddim)")
    smp.add_argument("--steps", type=positive_int, help="steps of ddim, dpmpp2m or heun, 1..T (default 25; heun "
                                                          "evaluates the model 2 steps - 1 times; DDPM always uses T)")
    smp.add_argument("--eta", type=float, help="DDIM noise, 0 (deterministic, the default) to 1")
    smp.add_argument("--label", help="one label of the checkpoint's data, e.g. human, non-human, food, spell, "
                                     "side-facing for the sprites (default: labels drawn in the data's class mix)")
    smp.add_argument("--context", help="a context vector, comma-separated, e.g. 1,0,1,0,0 for human + food, "
                                       "0,0,0,0,0 for none")
    smp.add_argument("--guidance", type=float,
                     help=f"guidance scale w from 0 to {MAX_GUIDANCE:g} (1: none; beyond {MAX_GUIDANCE:g} most pixels "
                          f"saturate): classifier-free with a label or context (default {DEFAULT_GUIDANCE}), "
                          f"autoguidance with --guide (default {DEFAULT_AUTOGUIDANCE}); without them it does nothing")
    smp.add_argument("--guide", metavar="PT",
                     help="an earlier snapshot of the same model, e.g. weights/context_step_003000.pt: guides the "
                          "samples (autoguidance), with or without a label")
    smp.add_argument("--n", type=positive_int, default=32,
                     help=f"number of images, at most {MAX_SAMPLES} (default 32); for more, run again with another "
                          f"--seed")
    smp.add_argument("--nrow", type=positive_int, default=8, help="images per row of the grid (default 8)")
    add_seed_option(smp, "the starting noise and the noise of every step")
    smp.add_argument("--out", default="samples.png",
                     help="output grid, .png, .jpg, .jpeg, .gif or .webp (default samples.png)")
    smp.add_argument("--gif", metavar="GIF", help="also write the denoising trajectory as an animated GIF (NAME.gif)")
    add_device_option(smp)
    smp.set_defaults(run=cmd_sample)

    ed = commands.add_parser("edit", help="redraw a sprite or sketch (SDEdit), or regenerate part of it (inpainting)",
                             description="Edit a 16x16 sprite (or an exact whole-number enlargement of one) with a "
                                         "checkpoint: --strength S noises it part of the way and denoises it again "
                                         "(SDEdit: 0 keeps it, 1 draws a new sprite), --mask MASK.png regenerates its "
                                         "white part and keeps the black (inpainting). Writes --n edits as a grid.")
    ed.add_argument("input", type=Path, metavar="INPUT", help="the sprite or sketch to edit, a PNG (or any image file)")
    ed.add_argument("--strength", type=float, help="SDEdit: how far to noise the input, 0 to 1 (e.g. 0.5)")
    ed.add_argument("--mask", type=Path, metavar="PNG",
                    help="inpainting: a black-and-white picture of the input's size, white = regenerate")
    ed.add_argument("--weights", type=Path, default=WEIGHTS_DIR / "context.pt",
                    help="checkpoint (default: the course's weights/context.pt, from any folder)")
    ed.add_argument("--method", choices=EDIT_METHODS, default="ddim", help="sampler (default: ddim)")
    ed.add_argument("--steps", type=positive_int, help="DDIM steps over the whole process, 1..T (default 25; SDEdit "
                                                         "runs the last strength x steps of them)")
    ed.add_argument("--label", help="one label of the checkpoint's data, e.g. human, food")
    ed.add_argument("--context", help="a context vector, comma-separated, e.g. 1,0,1,0,0 for human + food")
    ed.add_argument("--guidance", type=float,
                    help=f"classifier-free guidance scale with a label or context, 0 to {MAX_GUIDANCE:g} "
                         f"(default {DEFAULT_GUIDANCE}; 1: none)")
    ed.add_argument("--n", type=positive_int, default=8, help="how many edits of the input (default 8)")
    ed.add_argument("--nrow", type=positive_int, default=8, help="edits per row of the grid (default 8)")
    add_seed_option(ed, "the noise of the edits")
    ed.add_argument("--out", default="edited.png", help="output grid, .png, .jpg, .jpeg, .gif or .webp "
                                                        "(default edited.png)")
    add_device_option(ed)
    ed.set_defaults(run=cmd_edit)

    ev = commands.add_parser("evaluate", help="FID, conditional accuracy and memorisation of the weights",
                             description="Offline evaluation with the sprite feature network: FID of DDPM and DDIM "
                                         "samples against the held-out split, the data-vs-data floor, per-label "
                                         "accuracy of the context model and the share of near-copies.")
    ev.add_argument("--weights", type=Path, nargs="+", default=[WEIGHTS_DIR / "context.pt"],
                    help="checkpoints to evaluate (default: the course's weights/context.pt)")
    ev.add_argument("--features", type=Path, default=WEIGHTS_DIR / "features.pt",
                    help="the feature network (default: the course's weights/features.pt)")
    ev.add_argument("--n", type=positive_int, default=1000,
                    help="samples per FID (default 1000; weights/EVALUATION.md gives the time it took)")
    ev.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                    help=f"classifier-free guidance of the labelled samples, 0 to {MAX_GUIDANCE:g} "
                         f"(default {DEFAULT_GUIDANCE})")
    ev.add_argument("--guide", default="auto",
                    help="an earlier snapshot that guides the unconditional samples of every --weights "
                         "(autoguidance; adds DDPM and DDIM 25 rows); auto (default): each checkpoint's last "
                         "snapshot beside it (NAME_step_*.pt), if it has one; none: no such rows")
    ev.add_argument("--autoguidance", type=float, default=DEFAULT_AUTOGUIDANCE,
                    help=f"autoguidance scale w, 0 to {MAX_GUIDANCE:g} (default {DEFAULT_AUTOGUIDANCE})")
    ev.add_argument("--steps", type=positive_int, nargs="+", default=list(EVALUATION_STEP_COUNTS),
                    help="step counts at which every sampler that takes one (DDIM, DPM-Solver++, Heun) is evaluated "
                         f"besides DDPM (default: {' '.join(map(str, EVALUATION_STEP_COUNTS))})")
    ev.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="sampling precision; auto (default): bfloat16 autocast where a timing probe finds it "
                         "faster than float32 on this machine, float32 elsewhere")
    ev.add_argument("--seed", type=int, default=0,
                    help="seed of the reference split and the memorisation baseline (default: 0)")
    ev.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                    help="sampling seeds: every row of a model's main path is sampled once per seed and its FID "
                         "given as mean and sd (default: 0 1 2)")
    ev.add_argument("--side-seeds", type=positive_int, default=1,
                    help="how many of --seeds the other rows (no context, autoguided) use (default: 1)")
    ev.add_argument("--data-dir", type=Path, default=DATA_DIR, help="dataset folder (default: the course's data/)")
    ev.add_argument("--out", type=Path, default=WEIGHTS_DIR / "EVALUATION.md",
                    help="report, a .json with the numbers goes beside it (default: the course's "
                         "weights/EVALUATION.md)")
    add_device_option(ev)
    ev.set_defaults(run=cmd_evaluate)

    ex = commands.add_parser("exercises", help="write the student versions of the labs to exercises/",
                             description="Write the labs with their exercises left to do (nbgrader's "
                                         "generate_assignment) to exercises/. A lab already there is your work and "
                                         "is kept; --fresh N gives a new copy of lab N (the old one is renamed to "
                                         "NAME.ipynb.bak-DATE).")
    ex.add_argument("--fresh", nargs="+", default=[], metavar="LAB",
                    help="labs to replace by a fresh copy: numbers (2) or file names (2_training.ipynb)")
    ex.add_argument("--out", type=Path, default=PROJECT_ROOT / "exercises",
                    help="where the student versions go (default: the course's exercises/)")
    ex.add_argument("--nbgrader-folder", dest="folder", type=Path, metavar="DIR",
                    help="instead: lay out an nbgrader course folder in DIR (source/labs/ and nbgrader_config.py) "
                         "for a class")
    ex.set_defaults(run=cmd_exercises)
    return parser


def add_seed_option(parser: argparse.ArgumentParser, of: str) -> None:
    parser.add_argument("--seed", type=int, default=0, help=f"seed of {of} (default: 0)")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the fastest available)")


def available_devices() -> list[str]:
    """The --device names that work on this machine."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(name: str | None) -> None:
    """--device must name a device of this machine: a typo or a missing GPU is one clear line, not
    PyTorch's traceback from deep inside the first tensor moved there."""
    if name is None:
        return
    available = available_devices()
    if not DEVICE_NAME.fullmatch(name):
        raise ValueError(f"--device {name!r} is not a device; use cpu, cuda, cuda:N or mps "
                         f"(here: {', '.join(available)})")
    if name not in available:
        raise ValueError(f"--device {name} is not available on this machine; available: {', '.join(available)}")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def one_line(error: BaseException) -> str:
    """An error's message as one clean line for the terminal: no colour codes, no line breaks."""
    return " ".join(ANSI_CODE.sub("", str(error)).split())


def main(argv: list[str] | None = None) -> int:
    """Run a command. A failure the user can act on (bad input, a missing or damaged file, a device error,
    a sample that is not finite) is one line `error: ...` and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        check_device(getattr(args, "device", None))
        return args.run(args)
    except (ValueError, OSError, RuntimeError, FloatingPointError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # training has saved its state and said how to resume
        return 130
