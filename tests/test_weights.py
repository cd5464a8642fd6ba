"""The shipped weights: present, intact, loadable without executing code, and trained on today's dataset."""
from pathlib import Path

import pytest
import torch

from course_lib.checkpoints import MANIFEST, load_checkpoint, read_checkpoint_file
from course_lib.config import DEFAULT_GUIDANCE, course_recipe
from course_lib.samplers import DDIMSampler, sample
from course_lib.sprites import write_sprite_dataset

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
RECIPE = course_recipe()
SHIPPED = [f"{RECIPE.name}.pt"] + [f"{RECIPE.name}_step_{s:06d}.pt" for s in RECIPE.train.snapshot_steps]


def manifest() -> dict[str, str]:
    lines = (WEIGHTS / MANIFEST).read_text().splitlines()
    return {name: sha for sha, name in (line.split(maxsplit=1) for line in lines)}


def test_every_shipped_file_is_listed_and_small():
    listed = manifest()
    for name in SHIPPED + ["features.pt"]:
        assert name in listed, f"{name} missing from weights/MANIFEST"
    total = sum((WEIGHTS / name).stat().st_size for name in listed)
    assert total <= 30 * 2 ** 20, f"weights take {total / 2 ** 20:.1f} MB, more than 30 MB"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_load_and_carry_their_config(name):
    ckpt = load_checkpoint(WEIGHTS / name)
    assert ckpt.model.config == RECIPE.model
    assert ckpt.schedule.config == RECIPE.schedule
    for key in ("dataset_digest", "steps", "seed", "train"):
        assert key in ckpt.meta, key


def test_shipped_weights_were_trained_on_the_dataset_that_make_data_builds(tmp_path):
    """A changed generator changes the digest: then the weights must be retrained (`make train`)."""
    digest = write_sprite_dataset(tmp_path, progress=False)
    trained_on = load_checkpoint(WEIGHTS / SHIPPED[0]).meta["dataset_digest"]
    assert digest == trained_on, ("the sprite generator no longer produces the dataset the shipped weights were "
                                  "trained on: run `make data` and `make train`, then commit weights/")


def test_damaged_weights_fail_the_manifest_check(tmp_path):
    for name in (SHIPPED[0], MANIFEST):
        (tmp_path / name).write_bytes((WEIGHTS / name).read_bytes())
    path = tmp_path / SHIPPED[0]
    payload = read_checkpoint_file(path)
    payload["state_dict"]["conv_in.bias"] += 1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="does not match .*MANIFEST.*damaged or was replaced"):
        load_checkpoint(path)


def test_context_model_samples_are_finite_and_in_range():
    ckpt = load_checkpoint(WEIGHTS / SHIPPED[0])
    out = sample(ckpt.model, DDIMSampler(ckpt.schedule, 10), 4, context=torch.eye(5)[:4], guidance=DEFAULT_GUIDANCE)
    assert torch.isfinite(out.images).all()
    assert out.images.abs().max() < 3
