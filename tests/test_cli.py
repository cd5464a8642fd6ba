import copy
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.cli import main


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "course_lib", "data", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--n-train" in out.stdout and "--verify" in out.stdout


def test_data_writes_verifies_and_is_deterministic(tmp_path, capsys):
    args = ["data", "--n-train", "120", "--n-test", "30", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "a"), "--preview", str(tmp_path / "a" / "p.png")]) == 0
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "SHA256SUMS").read_bytes() == (tmp_path / "b" / "SHA256SUMS").read_bytes()
    assert (tmp_path / "a" / "p.png").stat().st_size > 0
    assert main(["data", "--out", str(tmp_path / "a"), "--verify"]) == 0
    assert "every file matches SHA256SUMS" in capsys.readouterr().out


def test_verify_reports_missing_and_modified_files(tmp_path, capsys):
    assert main(["data", "--out", str(tmp_path / "none"), "--verify"]) == 2
    assert "make data" in capsys.readouterr().err
    main(["data", "--out", str(tmp_path), "--n-train", "50", "--n-test", "10", "--quiet"])
    images = tmp_path / "sprites_train_images.npy"
    images.write_bytes(images.read_bytes()[:-1] + b"\x01")
    assert main(["data", "--out", str(tmp_path), "--verify"]) == 2
    assert "sprites_train_images.npy" in capsys.readouterr().err


def test_bad_arguments_exit_with_usage():
    with pytest.raises(SystemExit) as e:
        main(["data", "--n-train", "0"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["paint"])


@pytest.fixture
def tiny_checkpoint(tiny_model, tmp_path):
    from course_lib.checkpoints import save_checkpoint
    from course_lib.config import ScheduleConfig

    from course_lib.sprites import LABEL_NAMES

    return save_checkpoint(tmp_path / "tiny.pt", tiny_model, ScheduleConfig(T=20),
                           meta={"label_names": list(LABEL_NAMES)})


@pytest.fixture
def weak_checkpoint(tiny_model, tmp_path):
    """Another model of the same architecture, to guide the tiny one (autoguidance)."""
    from course_lib.checkpoints import save_checkpoint
    from course_lib.config import ScheduleConfig
    from course_lib.sprites import LABEL_NAMES

    weak = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for p in weak.parameters():
            p.mul_(0.5)
    return save_checkpoint(tmp_path / "weak.pt", weak, ScheduleConfig(T=20), meta={"label_names": list(LABEL_NAMES)})


def one_hot(label: str) -> list[float]:
    from course_lib.sprites import LABEL_NAMES

    return [float(name == label) for name in LABEL_NAMES]


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def direct_sample(weights, n, method="ddim", steps=None, eta=None, guide=None, **options):
    """What `sample` should draw with these settings, called without the command line."""
    from course_lib.checkpoints import load_checkpoint
    from course_lib.samplers import make_sampler, sample

    ckpt = load_checkpoint(weights)
    guide_model = load_checkpoint(guide).model if guide else None
    return sample(ckpt.model, make_sampler(ckpt.schedule, method, steps=steps, eta=eta), n, guide=guide_model,
                  **{"seed": 0, **options})


def direct_grid(tmp_path, weights, n, nrow=8, **settings) -> np.ndarray:
    from course_lib.images import save_grid

    return pixels(save_grid(direct_sample(weights, n, **settings).images, tmp_path / "direct.png", nrow=nrow))


def cli_grid(tmp_path, weights, *options) -> np.ndarray:
    out = tmp_path / "cli.png"
    assert main(["sample", "--weights", str(weights), "--out", str(out), *map(str, options)]) == 0
    return pixels(out)


def test_sample_draws_what_a_direct_call_draws(tiny_checkpoint, weak_checkpoint, tmp_path):
    from course_lib.config import DEFAULT_AUTOGUIDANCE, DEFAULT_GUIDANCE
    from course_lib.data import draw_labels
    from course_lib.sprites import CLASS_SHARES

    # the options, and the same settings for a direct call (default guidance: 2 with a context, 2.5 with a guide;
    # no label and no guide: labels drawn in the class mix, seeded by --seed)
    cases = [
        (["--steps", 5, "--label", "food", "--n", 4], dict(n=4, steps=5, context=one_hot("food"),
                                                           guidance=DEFAULT_GUIDANCE)),
        (["--method", "ddpm", "--context", "1,0,1,0,0", "--n", 2, "--seed", 3],
         dict(n=2, method="ddpm", context=[1, 0, 1, 0, 0], guidance=DEFAULT_GUIDANCE, seed=3)),
        (["--guide", weak_checkpoint, "--steps", 5, "--n", 3, "--nrow", 2],
         dict(n=3, nrow=2, steps=5, guide=weak_checkpoint, guidance=DEFAULT_AUTOGUIDANCE)),
        (["--steps", 4, "--eta", 0.5, "--n", 2], dict(n=2, steps=4, eta=0.5, guidance=DEFAULT_GUIDANCE,
                                                      context=draw_labels(CLASS_SHARES, 2, seed=0))),
        (["--n", 16, "--seed", 5, "--steps", 3], dict(n=16, seed=5, steps=3, guidance=DEFAULT_GUIDANCE,
                                        context=draw_labels(CLASS_SHARES, 16, seed=5))),
        (["--context", "0,0,0,0,0", "--steps", 3, "--n", 2], dict(n=2, steps=3)),
    ]
    for options, settings in cases:
        expected = direct_grid(tmp_path, tiny_checkpoint, **settings)
        assert np.array_equal(cli_grid(tmp_path, tiny_checkpoint, *options), expected), options


def test_sample_gif_is_the_trajectory_of_the_direct_call(tiny_checkpoint, tmp_path):
    from course_lib.config import DEFAULT_GUIDANCE
    from course_lib.images import save_gif

    gif = tmp_path / "cli.gif"
    assert main(["sample", "--weights", str(tiny_checkpoint), "--steps", "5", "--n", "2", "--label", "food",
                 "--out", str(tmp_path / "cli.png"), "--gif", str(gif)]) == 0
    frames = direct_sample(tiny_checkpoint, 2, steps=5, context=one_hot("food"), guidance=DEFAULT_GUIDANCE,
                           capture_every=1).frames
    assert len(frames) == 6
    assert gif.read_bytes() == save_gif(frames, tmp_path / "direct.gif").read_bytes()


@pytest.mark.parametrize("label", ["human", "non-human", "food", "spell", "side-facing"])
def test_label_is_the_one_hot_vector_of_its_name(tiny_checkpoint, tmp_path, monkeypatch, label):
    from course_lib import samplers

    seen = {}

    def spy(model, sampler, n, **kw):
        seen.update(kw)
        return samplers.SampleResult(torch.zeros(n, 3, 16, 16), None, [])

    monkeypatch.setattr(samplers, "sample", spy)
    assert main(["sample", "--weights", str(tiny_checkpoint), "--label", label, "--steps", "2",
                 "--n", "1", "--out", str(tmp_path / "x.png")]) == 0
    assert seen["context"] == one_hot(label) and sum(seen["context"]) == 1


def test_guidance_reaches_the_samples(tiny_checkpoint, tmp_path):
    grids = {}
    for w in (1, 3):
        grids[w] = cli_grid(tmp_path, tiny_checkpoint, "--label", "food", "--guidance", w, "--steps", 4, "--n", 2)
        assert np.array_equal(grids[w], direct_grid(tmp_path, tiny_checkpoint, 2, steps=4, context=one_hot("food"),
                                                    guidance=w))
    assert not np.array_equal(grids[1], grids[3])


@pytest.mark.parametrize("guide,expected", [("auto", {"tiny": "tiny_step_000009.pt"}), ("none", {}),
                                            ("other.pt", {"tiny": "other.pt"})])
def test_evaluate_pairs_each_checkpoint_with_its_guide(tiny_checkpoint, tmp_path, monkeypatch, guide, expected):
    import shutil

    from course_lib import evaluation

    for step in (3, 9):
        shutil.copy(tiny_checkpoint, tiny_checkpoint.with_name(f"tiny_step_{step:06d}.pt"))
    seen = {}
    monkeypatch.setattr(evaluation, "run_evaluation", lambda weights, features, **kw: seen.update(kw["guides"]))
    report = tmp_path / "EVALUATION.md"
    report.write_text("the report\n")
    assert main(["evaluate", "--weights", str(tiny_checkpoint), "--guide", guide, "--out", str(report)]) == 0
    assert {name: path.name for name, path in seen.items()} == expected


def error_line(capsys) -> str:
    """What the user read on stderr after the progress bar: exactly one line, `error: ...`."""
    err = capsys.readouterr().err.rsplit("\r", 1)[-1]
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("extra,message", [
    (["--label", "dragon"], "unknown label 'dragon'; choose one of human, non-human"),
    (["--label", ""], "unknown label ''"),
    (["--context", "1,0"], "--context has 2 values but the model's context width is 5"),
    (["--context", ""], "--context '' must be 5 comma-separated numbers, one per label"),
    (["--context", "1,x,0,0,0"], "--context '1,x,0,0,0' must be 5 comma-separated numbers"),
    (["--context", "1,0,nan,0,0"], "context holds NaN or infinite values"),
    (["--context", "1,0,inf,0,0"], "context holds NaN or infinite values"),
    (["--label", "food", "--context", "1,0,0,0,0"], "either --label or --context"),
    (["--method", "ddim", "--steps", "21"], "steps=21 must be an integer from 1 to T=20"),
    (["--method", "ddim", "--eta", "2"], r"eta=2.0 must lie in \[0, 1\]"),
    (["--method", "ddim", "--eta", "nan"], r"eta=nan must lie in \[0, 1\]"),
    (["--method", "ddpm", "--eta", "0.5"], "eta=0.5 does not apply to ddpm"),
    (["--label", "food", "--guidance", "nan"], r"--guidance nan must lie in \[0, 20\]"),
    (["--label", "food", "--guidance", "inf"], r"--guidance inf must lie in \[0, 20\]"),
    (["--label", "food", "--guidance", "1e6"], r"--guidance 1e\+06 must lie in \[0, 20\]"),
    (["--label", "food", "--guidance", "-1"], r"--guidance -1 must lie in \[0, 20\]"),
    (["--context", "0,0,0,0,0", "--guidance", "3"], "--guidance does nothing without"),
    (["--n", "1000000000"], "--n 1000000000 is more than 1024 images"),
    (["--device", "bogus"], "--device 'bogus' is not a device; use cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:x"], "--device 'cuda:x' is not a device"),
])
def test_sample_bad_input(tiny_checkpoint, tmp_path, capsys, extra, message):
    out = tmp_path / "x.png"
    assert main(["sample", "--weights", str(tiny_checkpoint), "--steps", "2", "--out", str(out)] + extra) == 2
    assert re.search(message, error_line(capsys))
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_sample_on_a_missing_gpu_says_what_is_available(tiny_checkpoint, tmp_path, capsys):
    assert main(["sample", "--weights", str(tiny_checkpoint), "--device", "cuda",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "--device cuda is not available on this machine; available: cpu" in error_line(capsys)


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if the command starts sampling: a refused run must stop before the slow part."""
    from course_lib import samplers

    def refuse(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(samplers, "sample", refuse)


@pytest.mark.parametrize("outputs,message", [
    ({"--gif": "{weights}"}, "--gif {weights} is the --weights file"),
    ({"--out": "{weights}"}, "--out {weights} is the --weights file"),
    ({"--out": "{guide}"}, "--out {guide} is the --guide file"),
    ({"--gif": "{folder}/sub/../tiny.pt"}, r"--gif {folder}/sub/\.\./tiny\.pt is the --weights file"),
    ({"--gif": "{folder}/new.pt"}, r"--gif {folder}/new\.pt: a \.pt file is a checkpoint"),
    ({"--out": "{folder}/a.png", "--gif": "{folder}/a.png"}, r"--gif {folder}/a\.png is the --out file"),
    ({"--out": "{folder}"}, "--out {folder} is a folder; give a file name"),
    ({"--out": "{folder}/x.bmp"}, r"cannot write \.bmp images; use \.png, \.jpg, \.jpeg, \.gif or \.webp"),
    ({"--out": "{folder}/samples"}, r"has no image suffix; use \.png, \.jpg"),
    ({"--out": "{folder}/x.png", "--gif": "{folder}/x.webp"},
     r"--gif .*x\.webp: cannot write \.webp animations; use \.gif"),
])
def test_sample_never_overwrites_its_inputs(tiny_checkpoint, weak_checkpoint, tmp_path, capsys, no_sampling,
                                            outputs, message):
    names = {"weights": tiny_checkpoint, "guide": weak_checkpoint, "folder": tmp_path}
    before = tiny_checkpoint.read_bytes(), weak_checkpoint.read_bytes()
    options = [text.format(**names) for option, path in outputs.items() for text in (option, path)]
    assert main(["sample", "--weights", str(tiny_checkpoint), "--guide", str(weak_checkpoint)] + options) == 2
    assert re.search(message.format(**{k: re.escape(str(v)) for k, v in names.items()}), error_line(capsys))
    assert (tiny_checkpoint.read_bytes(), weak_checkpoint.read_bytes()) == before


@pytest.mark.parametrize("extra,message", [
    (["--out", "{weights}"], "--out {weights} is the --weights file"),
    (["--out", "{folder}/report.pt"], r"--out {folder}/report\.pt: a \.pt file is a checkpoint"),
    (["--guidance", "nan"], r"--guidance nan must lie in \[0, 20\]"),
    (["--autoguidance", "1e6"], r"--autoguidance 1e\+06 must lie in \[0, 20\]"),
    (["--device", "gpu"], "--device 'gpu' is not a device"),
])
def test_evaluate_bad_input_stops_before_the_run(tiny_checkpoint, tmp_path, capsys, monkeypatch, extra, message):
    from course_lib import evaluation

    def refuse(*args, **kwargs):
        raise AssertionError("the evaluation started")

    monkeypatch.setattr(evaluation, "run_evaluation", refuse)
    names = {"weights": tiny_checkpoint, "folder": tmp_path}
    before = tiny_checkpoint.read_bytes()
    assert main(["evaluate", "--weights", str(tiny_checkpoint)] + [e.format(**names) for e in extra]) == 2
    assert re.search(message.format(**{k: re.escape(str(v)) for k, v in names.items()}), error_line(capsys))
    assert tiny_checkpoint.read_bytes() == before


def test_labels_come_from_the_checkpoint(tiny_model, tmp_path, capsys):
    from course_lib.checkpoints import save_checkpoint
    from course_lib.config import ScheduleConfig

    unnamed = save_checkpoint(tmp_path / "unnamed.pt", tiny_model, ScheduleConfig(T=20))
    assert main(["sample", "--weights", str(unnamed), "--label", "food", "--steps", "2", "--n", "1",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown label 'food'; choose one of 0, 1, 2, 3, 4" in capsys.readouterr().err


def test_without_a_label_the_labels_follow_the_class_mix(tiny_checkpoint, tiny_model, tmp_path, capsys):
    from course_lib.checkpoints import save_checkpoint
    from course_lib.config import ScheduleConfig

    assert main(["sample", "--weights", str(tiny_checkpoint), "--steps", "2", "--n", "16",
                 "--out", str(tmp_path / "x.png")]) == 0
    assert "class mix (human 2, non-human 6, food 1, spell 6, side-facing 1)" in capsys.readouterr().out
    # a checkpoint whose class mix is unknown samples without context, and then --guidance alone does nothing
    unnamed = save_checkpoint(tmp_path / "unnamed.pt", tiny_model, ScheduleConfig(T=20))
    assert main(["sample", "--weights", str(unnamed), "--steps", "2", "--n", "2",
                 "--out", str(tmp_path / "y.png")]) == 0
    assert "class mix" not in capsys.readouterr().out
    assert main(["sample", "--weights", str(unnamed), "--steps", "2", "--guidance", "3",
                 "--out", str(tmp_path / "z.png")]) == 2
    assert "--guidance does nothing without --label, --context or --guide" in error_line(capsys)


def test_sample_missing_weights(tmp_path, capsys):
    assert main(["sample", "--weights", str(tmp_path / "none.pt")]) == 2
    assert "make train" in capsys.readouterr().err


def test_sample_writes_the_format_its_suffix_names(tiny_checkpoint, tmp_path):
    for suffix, fmt in ((".jpg", "JPEG"), (".jpeg", "JPEG"), (".gif", "GIF"), (".webp", "WEBP"), (".PNG", "PNG")):
        out = tmp_path / f"x{suffix}"
        assert main(["sample", "--weights", str(tiny_checkpoint), "--steps", "2", "--n", "1", "--out", str(out)]) == 0
        assert Image.open(out).format == fmt


def test_a_damaged_model_is_an_error_not_a_picture(tiny_model, tmp_path, capsys):
    from course_lib.checkpoints import save_checkpoint
    from course_lib.config import ScheduleConfig

    with torch.no_grad():
        next(tiny_model.parameters()).fill_(float("nan"))
    damaged = save_checkpoint(tmp_path / "nan.pt", tiny_model, ScheduleConfig(T=20))
    out = tmp_path / "x.png"
    assert main(["sample", "--weights", str(damaged), "--steps", "2", "--n", "1", "--out", str(out)]) == 2
    assert "NaN" in error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("error", [RuntimeError, OSError])
def test_errors_from_below_are_one_clean_line(tiny_checkpoint, tmp_path, capsys, monkeypatch, error):
    from course_lib import samplers

    def fail(*args, **kwargs):
        raise error("\x1b[1mout of memory\x1b[0m on the device.\n\tTry fewer images.")

    monkeypatch.setattr(samplers, "sample", fail)
    assert main(["sample", "--weights", str(tiny_checkpoint), "--steps", "2", "--out", str(tmp_path / "x.png")]) == 2
    assert error_line(capsys) == "error: out of memory on the device. Try fewer images.\n"


class RunsCode:
    """Unpickling this object would create a folder: a checkpoint must never run it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.mkdir, (self.marker,)


def write_bad_checkpoint(folder, kind):
    """A checkpoint file that is broken in one way; the one-line error the user should read names it."""
    import argparse

    from course_lib.checkpoints import FORMAT, save_checkpoint
    from course_lib.config import ScheduleConfig

    from conftest import TINY

    path = folder / f"{kind}.pt"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "code":
        torch.save({"format": FORMAT, "x": RunsCode(folder / "ran")}, path)
    elif kind == "object":
        torch.save({"format": FORMAT, "x": argparse.Namespace(a=1)}, path)
    elif kind == "no_state":
        torch.save({"format": FORMAT, "model_config": TINY.to_dict(),
                    "schedule_config": ScheduleConfig(T=20).to_dict(), "meta": {}}, path)
    elif kind == "manifest":
        from course_lib.model import UNet

        save_checkpoint(path, UNet(TINY), ScheduleConfig(T=20))
        (folder / "MANIFEST").write_text("not a manifest line\n")
    return path


@pytest.mark.parametrize("kind", ["random", "code", "object", "no_state", "manifest"])
def test_a_bad_checkpoint_is_one_clean_line(tmp_path, capsys, kind):
    path = write_bad_checkpoint(tmp_path, kind)
    assert main(["sample", "--weights", str(path), "--steps", "2", "--out", str(tmp_path / "x.png")]) == 2
    line = error_line(capsys)
    assert str(path) in line or "MANIFEST" in line
    assert "\x1b" not in line and "weights_only" not in line and "can still be loaded" not in line
    assert not (tmp_path / "ran").exists()


def test_sample_finds_the_shipped_weights_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "--steps", "1", "--n", "1", "--out", "x.png"]) == 0
    assert Image.open(tmp_path / "x.png").size == (4 * 16, 4 * 16)


def test_default_paths_are_the_course_folders_from_any_folder(tmp_path, monkeypatch):
    from course_lib import evaluation
    from course_lib.cli import build_parser
    from course_lib.config import DATA_DIR, EVALUATION_STEP_COUNTS, WEIGHTS_DIR

    monkeypatch.chdir(tmp_path)
    assert build_parser().parse_args(["data"]).out == DATA_DIR
    assert build_parser().parse_args(["sample"]).weights == WEIGHTS_DIR / "context.pt"
    seen = {}
    monkeypatch.setattr(evaluation, "run_evaluation", lambda weights, features, **kw: seen.update(
        weights=weights, features=features, **kw))
    assert main(["evaluate"]) == 0
    assert seen["weights"] == {"context": WEIGHTS_DIR / "context.pt"}
    assert seen["features"] == WEIGHTS_DIR / "features.pt"
    assert (seen["data_dir"], seen["out"]) == (DATA_DIR, WEIGHTS_DIR / "EVALUATION.md")
    assert seen["guides"] == {"context": WEIGHTS_DIR / "context_step_003000.pt"}
    assert seen["step_counts"] == EVALUATION_STEP_COUNTS
    assert main(["evaluate", "--steps", "4", "9"]) == 0 and seen["step_counts"] == (4, 9)


def test_missing_shipped_weights_say_restore_before_retrain(tmp_path, monkeypatch, capsys):
    from course_lib import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "WEIGHTS_DIR", tmp_path / "weights")
    assert main(["sample"]) == 2
    line = error_line(capsys)
    assert str(tmp_path / "weights" / "context.pt") in line
    assert line.index("git checkout weights/") < line.index("make train")


def sprite_file(path, scale: int = 1, seed: int = 0):
    """A random 16x16 RGB sprite, saved enlarged `scale` times (nearest neighbour); returns the path and the sprite."""
    small = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(small.repeat(scale, 0).repeat(scale, 1)).save(path)
    return path, small


def edit(tmp_path, weights, picture, *options) -> np.ndarray:
    out = tmp_path / "edited.png"
    assert main(["edit", str(picture), "--weights", str(weights), "--out", str(out), *map(str, options)]) == 0
    return pixels(out)


def test_edit_strength_is_sdedit_of_the_sprite(tiny_checkpoint, tmp_path):
    from course_lib.checkpoints import load_checkpoint
    from course_lib.config import DEFAULT_GUIDANCE
    from course_lib.editing import read_sprite, sdedit
    from course_lib.images import save_grid

    picture, small = sprite_file(tmp_path / "in.png", scale=4)
    ckpt = load_checkpoint(tiny_checkpoint)
    sprite = read_sprite(picture).expand(3, -1, -1, -1)
    direct = sdedit(ckpt.model, ckpt.schedule, sprite, 0.6, steps=5, context=one_hot("food"),
                    guidance=DEFAULT_GUIDANCE, seed=2)
    got = edit(tmp_path, tiny_checkpoint, picture, "--strength", 0.6, "--steps", 5, "--label", "food", "--n", 3,
               "--seed", 2)
    assert np.array_equal(got, pixels(save_grid(direct, tmp_path / "direct.png")))
    unchanged = edit(tmp_path, tiny_checkpoint, picture, "--strength", 0, "--steps", 5, "--n", 1)
    assert np.array_equal(unchanged, small.repeat(4, 0).repeat(4, 1))   # one sprite: no border, so edit reads it back


def test_edit_mask_regenerates_the_white_part_only(tiny_checkpoint, tmp_path):
    picture, small = sprite_file(tmp_path / "in.png")
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[:, 16:] = 255                                            # regenerate the right half
    Image.fromarray(mask).save(tmp_path / "mask.png")
    got = edit(tmp_path, tiny_checkpoint, picture, "--mask", tmp_path / "mask.png", "--method", "ddpm", "--n", 2)
    first = got[4:68, 4:68]                                       # the first sprite of the grid, 4x enlarged
    assert np.array_equal(first[:, :32], small[:, :8].repeat(4, 0).repeat(4, 1))
    assert not np.array_equal(first[:, 32:], small[:, 8:].repeat(4, 0).repeat(4, 1))


@pytest.mark.parametrize("extra,message", [
    ([], "give --strength S to redraw the sprite .* or --mask MASK.png"),
    (["--strength", "0.5", "--mask", "{folder}/in.png"], "one of the two"),
    (["--strength", "1.5"], r"strength=1.5 must be a number from 0"),
    (["--strength", "nan"], r"strength=nan must be a number from 0"),
    (["--strength", "0.5", "--out", "{folder}/in.png"], r"--out .*in\.png is the INPUT file"),
    (["--strength", "0.5", "--out", "{folder}/x.bmp"], r"cannot write \.bmp images"),
    (["--strength", "0.5", "--method", "ddpm", "--steps", "5"], "steps=5 does not apply to ddpm"),
    (["--strength", "0.5", "--guidance", "3"], "--guidance does nothing without --label or --context:"),
    (["--strength", "0.5", "--label", "dragon"], "unknown label 'dragon'"),
    (["--mask", "{folder}/grey.png"], "holds grey or coloured pixels"),
    (["--mask", "{folder}/small.png"], r"small\.png is 8x8 pixels: give a 16x16 sprite"),
])
def test_edit_bad_input(tiny_checkpoint, tmp_path, capsys, extra, message):
    picture, _ = sprite_file(tmp_path / "in.png")
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "small.png")
    before = picture.read_bytes()
    out = tmp_path / "x.png"
    options = [e.format(folder=tmp_path) for e in extra]
    assert main(["edit", str(picture), "--weights", str(tiny_checkpoint), "--out", str(out)] + options) == 2
    assert re.search(message, error_line(capsys))
    assert not out.exists() and picture.read_bytes() == before


@pytest.mark.parametrize("size,message", [(20, "is 20x20 pixels: give a 16x16 sprite or an exact enlargement"),
                                          (48, "not an exact 3x enlargement of a 16x16 sprite")])
def test_edit_refuses_a_picture_that_is_no_sprite(tiny_checkpoint, tmp_path, capsys, size, message):
    noise = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "in.png")
    assert main(["edit", str(tmp_path / "in.png"), "--weights", str(tiny_checkpoint), "--strength", "0.5",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert message in error_line(capsys)
