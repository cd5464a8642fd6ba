"""Checkpoints: the weights together with the model and schedule configuration they belong to.

A checkpoint is a `torch.save` file of plain data only (dicts, lists, strings, numbers,
tensors), always read back with `torch.load(weights_only=True)`, so loading never runs
pickled code. Writes are atomic. Loading rebuilds the model from the stored
`ModelConfig`; asking for a different architecture fails with a message naming the
fields that differ. A folder's MANIFEST lists the sha256 of the checkpoints written into it;
a listed file that no longer matches is refused when loaded, and training into that folder
stops before it starts (`check_manifest`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import sprites
from .config import WEIGHTS_DIR, ModelConfig, ScheduleConfig
from .files import atomic_write, sha256_file
from .model import UNet
from .schedules import NoiseSchedule

FORMAT = "course_lib.checkpoint/1"
RETRAIN = "`python -m course_lib train` (make train)"
RESTORE = f"Delete it and restore it from git or rebuild it with {RETRAIN}."


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (in eval mode), its schedule, and the metadata saved with it."""

    model: UNet
    schedule: NoiseSchedule
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def label_names(self) -> tuple[str, ...]:
        """The name of each context entry, as the training data named its labels (stored in the metadata);
        "0", "1", ... for a checkpoint saved without them."""
        width = self.model.config.context_dim
        names = tuple(self.meta.get("label_names") or ())
        return names if len(names) == width else tuple(str(i) for i in range(width))


    @property
    def label_shares(self) -> tuple[float, ...] | None:
        """The training data's class mix, one share per context entry (stored in the metadata; for the course's
        sprites saved without it, their generator's CLASS_SHARES); None when it is unknown."""
        shares = tuple(self.meta.get("label_shares") or ())
        if len(shares) == self.model.config.context_dim > 0:
            return shares
        if self.label_names == sprites.LABEL_NAMES:
            return sprites.CLASS_SHARES
        return None


def save_checkpoint(path: str | Path, model: UNet, schedule_config: ScheduleConfig, meta: dict | None = None,
                    dtype: torch.dtype | None = None, x0_mean: torch.Tensor | None = None) -> Path:
    """Write weights + configs atomically. dtype (e.g. torch.float16) stores floating-point weights smaller;
    they are cast back to the model's dtype on load. meta: any JSON-like dict (steps, seed, dataset digest...).
    x0_mean: the training data's mean image (C, H, W) in model space, from which sampling starts
    (`NoiseSchedule.x_T_from_noise`); kept in float32."""
    state = {k: (v.detach().cpu().to(dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "model_config": model.config.to_dict(),
               "schedule_config": schedule_config.to_dict(), "meta": meta or {}, "state_dict": state}
    if x0_mean is not None:
        payload["x0_mean"] = x0_mean.detach().float().cpu()
    return save_payload(payload, path)


def save_payload(payload: dict, path: str | Path) -> Path:
    """torch.save of plain data, atomically. torch reports a file it cannot write as a RuntimeError; it is raised
    as the OSError of `atomic_write`, which names the file and the likely causes (disk full, read-only folder)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as e:  # e.g. "Parent directory ... does not exist", "... file write failed"
            raise OSError(str(e).splitlines()[0]) from e
    return path


ANSI_CODE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# PyTorch's advice on a refused file: retrying with weights_only=False would run whatever code the file holds.
UNSAFE_ADVICE = re.compile(r"weights_only|PyTorch 2\.6|trusted source|file an issue|documentation of torch\.load")


def load_failure(path: Path, error: Exception) -> str:
    """One clean line for a file torch.load(weights_only=True) refused: code or objects that are not plain data, or
    else the first meaningful line of PyTorch's message, without its colour codes or its advice to load unsafely."""
    text = ANSI_CODE.sub("", str(error))
    if found := re.search(r"Unsupported global: GLOBAL (\S+)", text):
        return f"{path} holds code or objects that are not plain data ({found[1]}); it will not be loaded. {RESTORE}"
    sentences = (s for line in text.splitlines() for s in re.split(r"(?<=\.)\s+", line.strip()))
    reason = next((s for s in sentences if s and not UNSAFE_ADVICE.search(s)), "")
    return (f"{path} is not a readable checkpoint (corrupt, truncated, or not saved by course_lib): "
            f"{type(error).__name__}: {reason.rstrip('.')}. {RESTORE}")


def read_checkpoint_file(path: str | Path, fmt: str = FORMAT) -> dict:
    """torch.load(weights_only=True) of a dict whose "format" is `fmt`, with clear errors for missing,
    corrupt or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; the course's weights live in weights/ "
                                f"(restore them with `git checkout weights/` or rebuild them with {RETRAIN})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, or pickled objects that weights_only refuses
        raise ValueError(load_failure(path, e)) from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a course_lib checkpoint of the expected kind (format {fmt!r}); "
                         f"found {payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r}")
    return payload


def config_mismatch(expected: ModelConfig, found: ModelConfig) -> list[str]:
    """Human-readable list of the fields where two model configs differ."""
    e, f = expected.to_dict(), found.to_dict()
    return [f"{k}: checkpoint has {f[k]!r}, expected {e[k]!r}" for k in e if e[k] != f[k]]


MANIFEST = "MANIFEST"
SHA256 = re.compile(r"[0-9a-f]{64}")


def read_manifest(folder: str | Path) -> dict[str, str]:
    """folder/MANIFEST (sha256sum format, one `<sha256>  <file>` line per file) as {file: sha256}, in its order;
    {} when there is none. A malformed line is named with its number."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return {}
    listed = {}
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and SHA256.fullmatch(parts[0]):
            listed[parts[1].strip()] = parts[0]
        elif line.strip():
            raise ValueError(f"{manifest}, line {number}: expected '<sha256>  <file>', found {line[:80]!r}; "
                             f"restore it with `git checkout {manifest}` or rebuild the weights with {RETRAIN}")
    return listed


def update_manifest(folder: str | Path, files: list[Path]) -> Path:
    """Record the sha256 of `files` (written into `folder`) in folder/MANIFEST and keep every other line as it is:
    the MANIFEST vouches for what was written, never for whatever bytes lie in the folder now."""
    folder = Path(folder)
    listed = read_manifest(folder) | {Path(p).name: sha256_file(p) for p in files}
    with atomic_write(folder / MANIFEST) as tmp:
        tmp.write_text("".join(f"{sha}  {name}\n" for name, sha in listed.items()))
    return folder / MANIFEST


def check_manifest(folder: str | Path) -> None:
    """Every file that folder/MANIFEST lists and that is present must still match its sha256; checked before
    training into the folder, so a damaged checkpoint is never left beside fresh ones as if it were sound."""
    folder = Path(folder)
    damaged = [folder / name for name, sha in read_manifest(folder).items()
               if (folder / name).is_file() and sha256_file(folder / name) != sha]
    if damaged:
        what, it = (f"{damaged[0]} no longer matches", "it") if len(damaged) == 1 else \
            (f"{', '.join(map(str, damaged))} no longer match", "them")
        raise ValueError(f"{what} {folder / MANIFEST} (damaged or replaced): restore {it} with "
                         f"`git checkout {' '.join(map(str, damaged))}`, or delete {it}, then run {RETRAIN} again")


def verify_manifest(path: str | Path) -> None:
    """If a MANIFEST beside `path` lists it, its sha256 must match (a damaged or replaced file fails here)."""
    path = Path(path)
    manifest = path.parent / MANIFEST
    listed = read_manifest(path.parent)
    if path.name in listed and listed[path.name] != (found := sha256_file(path)):
        raise ValueError(f"{path} does not match {manifest} (sha256 {found[:12]}..., listed {listed[path.name][:12]}"
                         f"...): the file is damaged or was replaced. Restore it with `git checkout {path}` or "
                         f"rebuild the weights with {RETRAIN}.")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    expect: ModelConfig | None = None) -> Checkpoint:
    """Rebuild the model stored in `path` on `device` (eval mode, float32), after checking it against
    the folder's MANIFEST when there is one. expect: a ModelConfig the checkpoint must match."""
    payload = read_checkpoint_file(path)
    verify_manifest(path)
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        schedule_config = ScheduleConfig.from_dict(payload["schedule_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} holds an invalid configuration ({e}); it was saved by an incompatible version "
                         f"of course_lib: rebuild it with {RETRAIN}") from None
    if expect is not None and (diff := config_mismatch(expect, config)):
        raise ValueError(f"{path} holds a different architecture: " + "; ".join(diff))
    if not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"{path} holds no weights (no 'state_dict'): the file is damaged or was assembled by hand; "
                         f"rebuild it with {RETRAIN}")
    model = UNet(config)
    load_weights(model, payload["state_dict"], source=str(path))
    x0_mean = payload.get("x0_mean")
    if x0_mean is not None and tuple(x0_mean.shape) != (config.channels, config.image_size, config.image_size):
        raise ValueError(f"{path} holds a mean image of shape {tuple(x0_mean.shape)} for a model of "
                         f"{config.channels}x{config.image_size}x{config.image_size} images: the file is damaged or "
                         f"was assembled by hand; rebuild it with {RETRAIN}")
    return Checkpoint(model=model.to(device).eval(), schedule=NoiseSchedule(schedule_config, x0_mean),
                      meta=payload.get("meta", {}), path=Path(path))


def load_weights(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """load_state_dict with a message naming missing, unexpected and mis-shaped tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [f"{k}: {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{source} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}, "
                         f"shape mismatches {shapes[:5]}; it was trained for another architecture")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state_dict.items()})


def load_course_model(name: str = "context", device: str | torch.device = "cpu") -> Checkpoint:
    """A shipped checkpoint by name, e.g. "context" or "context_step_000300", from the project's weights/."""
    return load_checkpoint(WEIGHTS_DIR / f"{name}.pt", device=device)


def checkpoint_snapshots(path: str | Path) -> list[tuple[int, Path]]:
    """The snapshots written beside a checkpoint NAME.pt during its training (NAME_step_XXXXXX.pt), as
    (step, path), in training order."""
    path = Path(path)
    return sorted((int(p.stem.rsplit("_", 1)[1]), p) for p in path.parent.glob(f"{path.stem}_step_*.pt"))


def course_snapshots(name: str = "context") -> list[tuple[int, Path]]:
    """The shipped snapshots of a model taken during training, as (step, path), in training order."""
    return checkpoint_snapshots(WEIGHTS_DIR / f"{name}.pt")
