"""`make train` and `python -m course_lib train`: everything is checked before the first stage, nothing
shipped is replaced by accident, and MANIFEST records only what a run wrote."""
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import pipeline, training
from course_lib.checkpoints import MANIFEST, load_checkpoint, read_checkpoint_file, save_checkpoint
from course_lib.cli import main
from course_lib.config import Recipe, ScheduleConfig, TrainConfig, course_recipe
from course_lib.files import sha256_file
from course_lib.pipeline import train_course, train_recipe

from test_training import MODEL, SCHEDULE

RECIPE = Recipe("tiny", MODEL, SCHEDULE, TrainConfig(steps=4, batch_size=8, warmup_steps=1, precision="fp32",
                                                     snapshot_steps=(2,)))


def manifest_lines(folder) -> list[str]:
    return (folder / MANIFEST).read_text().splitlines()


def test_manifest_records_the_files_of_the_run_and_keeps_every_other_line(sprites_like, tmp_path):
    out = tmp_path / "weights"
    out.mkdir()
    (out / "other.pt").write_bytes(b"a checkpoint trained earlier")
    kept = [f"{sha256_file(out / 'other.pt')}  other.pt", f"{'0' * 64}  moved_away.pt"]
    (out / MANIFEST).write_text("\n".join(kept) + "\n")
    train_recipe(RECIPE, sprites_like, out, tmp_path / "runs", progress=False)
    lines = manifest_lines(out)
    assert lines[:2] == kept
    assert sorted(line.split()[1] for line in lines[2:]) == ["tiny.pt", "tiny_step_000002.pt"]
    load_checkpoint(out / "tiny.pt")  # listed with the hash of its new bytes


def damage(path) -> None:
    payload = read_checkpoint_file(path)
    payload["state_dict"]["conv_in.bias"] += 1
    torch.save(payload, path)


def test_a_damaged_checkpoint_in_the_out_folder_stops_the_run_before_it_starts(sprites_like, tmp_path, tiny_model):
    out = tmp_path / "weights"
    save_checkpoint(out / "other.pt", tiny_model, ScheduleConfig())
    (out / MANIFEST).write_text(f"{sha256_file(out / 'other.pt')}  other.pt\n")
    damage(out / "other.pt")
    manifest = (out / MANIFEST).read_bytes()
    with pytest.raises(ValueError, match=r"other\.pt.*no longer matches.*git checkout .*other\.pt.*delete it"):
        train_recipe(RECIPE, sprites_like, out, tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs" / "tiny" / "state.pt").exists() and not (out / "tiny.pt").exists()
    assert (out / MANIFEST).read_bytes() == manifest
    with pytest.raises(ValueError, match="damaged or was replaced"):
        load_checkpoint(out / "other.pt")


def test_the_shipped_checkpoints_are_replaced_only_with_force(sprites_like, tmp_path, monkeypatch, tiny_model):
    shipped = tmp_path / "weights"
    monkeypatch.setattr(pipeline, "WEIGHTS_DIR", shipped)
    before = save_checkpoint(shipped / "tiny.pt", tiny_model, ScheduleConfig()).read_bytes()
    with pytest.raises(ValueError, match=r"shipped tiny\.pt.*--force"):
        train_recipe(RECIPE, sprites_like, shipped, tmp_path / "runs", progress=False)
    assert (shipped / "tiny.pt").read_bytes() == before
    train_recipe(RECIPE, sprites_like, shipped, tmp_path / "runs", progress=False, force=True)
    assert (shipped / "tiny.pt").read_bytes() != before


def test_an_unwritable_out_folder_fails_before_training(sprites_like, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(OSError, match=r"could not write .*a_file"):
        train_recipe(RECIPE, sprites_like, tmp_path / "a_file" / "weights", tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs" / "tiny" / "state.pt").exists()


def test_a_checkpoint_name_must_be_a_plain_file_name(sprites_like, tmp_path):
    bad = Recipe("../escape", MODEL, SCHEDULE, RECIPE.train)
    with pytest.raises(ValueError, match=r"name '\.\./escape'"):
        train_recipe(bad, sprites_like, tmp_path / "weights", tmp_path / "runs", progress=False)


# ----------------------------------------------------------------------------- make train

def test_course_recipe_names_its_minimum_steps():
    with pytest.raises(ValueError, match="at least 30 steps"):
        course_recipe(3)
    assert course_recipe(30).train.snapshot_steps == (1, 5, 10)


def no_stage(*args, **kwargs):
    raise AssertionError("a stage ran before the plan was checked")


def test_make_train_checks_the_plan_before_the_first_stage(data_dir, tmp_path, monkeypatch, tiny_model):
    monkeypatch.setattr(pipeline, "feature_net_stage", no_stage)
    with pytest.raises(ValueError, match="at least 30 steps"):
        train_course(tmp_path / "weights", data_dir, tmp_path / "runs", steps=3, progress=False)
    out = tmp_path / "weights"
    save_checkpoint(out / "features.pt", tiny_model, ScheduleConfig())
    (out / MANIFEST).write_text(f"{'0' * 64}  features.pt\n")
    with pytest.raises(ValueError, match="features.pt no longer matches"):
        train_course(out, data_dir, tmp_path / "runs", steps=30, progress=False)


# ----------------------------------------------------------------------------- python -m course_lib train

@pytest.fixture
def image_folder(tmp_path, monkeypatch):
    """Six random 16x16 PNGs in a folder whose name needs cleaning to be a file name. Training on them skips
    the precision probe (it takes longer than the two steps trained here)."""
    monkeypatch.setattr(training, "use_bf16", lambda precision, device: False)
    folder = tmp_path / "my sprites!"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def train_folder(folder, *options) -> int:
    return main(["train", "--dataset", str(folder), "--image-size", "16", "--steps", "2", "--batch", "4",
                 "--device", "cpu", *options])


def test_training_on_an_image_folder_writes_to_trained_named_after_the_folder(image_folder, tmp_path,
                                                                                monkeypatch):
    from course_lib import cli

    monkeypatch.setattr(cli, "TRAINED_DIR", tmp_path / "trained")  # the project's trained/ and runs/ by default
    monkeypatch.setattr(cli, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.chdir(tmp_path)  # any folder: the defaults do not depend on it
    assert train_folder(image_folder) == 0
    assert (tmp_path / "trained" / "my_sprites.pt").is_file()
    assert (tmp_path / "runs" / "my_sprites" / "state.pt").is_file()
    assert not (tmp_path / "weights").exists()


def test_training_never_replaces_a_shipped_checkpoint_without_force(image_folder, tmp_path, monkeypatch, capsys,
                                                                   tiny_model):
    monkeypatch.setattr(pipeline, "WEIGHTS_DIR", tmp_path / "weights")
    before = save_checkpoint(tmp_path / "weights" / "context.pt", tiny_model, ScheduleConfig()).read_bytes()
    common = ("--name", "context", "--out", str(tmp_path / "weights"), "--runs", str(tmp_path / "runs"))
    assert train_folder(image_folder, *common) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "weights" / "context.pt").read_bytes() == before
    assert train_folder(image_folder, *common, "--force") == 0
    assert (tmp_path / "weights" / "context.pt").read_bytes() != before
