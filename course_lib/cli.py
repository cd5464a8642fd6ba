"""Command line: `python -m course_lib COMMAND --help`.

    data      generate (or verify) the procedural sprite dataset in data/
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="generate or verify the procedural sprite dataset",
                               description="Generate the procedural 16x16 sprite dataset (deterministic: the same "
                                           "bytes on every run and machine) and write SHA256SUMS beside it.")
    data.add_argument("--out", default="data", help="output folder (default: data)")
    data.add_argument("--n-train", type=positive_int, default=60000, help="training sprites (default: 60000)")
    data.add_argument("--n-test", type=positive_int, default=5000, help="held-out sprites (default: 5000)")
    data.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    data.add_argument("--preview", metavar="PNG", help="also write a preview grid, one row per class")
    data.add_argument("--verify", action="store_true", help="only check existing files against SHA256SUMS")
    data.add_argument("--quiet", action="store_true", help="no progress bar")
    data.set_defaults(run=cmd_data)
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
