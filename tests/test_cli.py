import subprocess
import sys

import pytest

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


def test_sample_writes_grid_and_gif(tiny_checkpoint, tmp_path):
    out, gif = tmp_path / "s.png", tmp_path / "s.gif"
    assert main(["sample", "--weights", str(tiny_checkpoint), "--method", "ddim", "--steps", "5", "--label", "food",
                 "--n", "4", "--out", str(out), "--gif", str(gif)]) == 0
    from PIL import Image

    assert Image.open(out).size == (4 * (4 * 17 + 1), 4 * (1 * 17 + 1))  # 4 images in a row, 1 px gaps, x4
    assert Image.open(gif).n_frames > 2
    assert main(["sample", "--weights", str(tiny_checkpoint), "--method", "ddpm", "--context", "1,0,1,0,0",
                 "--n", "2", "--out", str(out)]) == 0
    assert main(["sample", "--weights", str(tiny_checkpoint), "--guide", str(tiny_checkpoint), "--steps", "5",
                 "--n", "2", "--out", str(out)]) == 0


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


@pytest.mark.parametrize("extra,message", [
    (["--label", "dragon"], "unknown label 'dragon'; choose one of human, non-human"),
    (["--context", "1,0"], "--context has 2 values but the model's context width is 5"),
    (["--label", "food", "--context", "1,0,0,0,0"], "either --label or --context"),
    (["--method", "ddim", "--steps", "21"], "steps=21 must be an integer from 1 to T=20"),
    (["--method", "ddim", "--eta", "2"], r"eta=2.0 must lie in \[0, 1\]"),
    (["--method", "ddpm", "--eta", "0.5"], "eta=0.5 does not apply to ddpm"),
])
def test_sample_bad_input(tiny_checkpoint, tmp_path, capsys, extra, message):
    import re

    assert main(["sample", "--weights", str(tiny_checkpoint), "--out", str(tmp_path / "x.png")] + extra) == 2
    assert re.search(message, capsys.readouterr().err)


def test_labels_come_from_the_checkpoint(tiny_model, tmp_path, capsys):
    from course_lib.checkpoints import save_checkpoint
    from course_lib.config import ScheduleConfig

    unnamed = save_checkpoint(tmp_path / "unnamed.pt", tiny_model, ScheduleConfig(T=20))
    assert main(["sample", "--weights", str(unnamed), "--label", "food", "--steps", "2", "--n", "1",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown label 'food'; choose one of 0, 1, 2, 3, 4" in capsys.readouterr().err


def test_sample_missing_weights(tmp_path, capsys):
    assert main(["sample", "--weights", str(tmp_path / "none.pt")]) == 2
    assert "make train" in capsys.readouterr().err
