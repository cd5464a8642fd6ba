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
