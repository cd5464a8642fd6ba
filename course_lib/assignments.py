"""Student versions of the labs, made by nbgrader from the committed labs.

The labs in labs/ are the instructor's source: complete, executed, and marked for nbgrader. In each
exercise the solution lies between `### BEGIN SOLUTION` and `### END SOLUTION` in a cell whose metadata
makes it an autograded answer; the check cell after it (locked, with points) calls `exercises.check`, which
tells the student what is wrong and carries on with course_lib's version, and holds a hidden test
(`### BEGIN HIDDEN TESTS`: `exercises.assert_solved`) that only the grader runs. The hidden test ends
its cell: when grading an unsolved lab it raises, and nothing after it in that cell would run.

`nbgrader generate_assignment` turns the source into the student version: each solution becomes
`raise NotImplementedError()`, hidden tests go, outputs are cleared. `write_student_labs` runs it in a
throw-away course folder and copies the result to exercises/ (git-ignored), never over a student's work
unless asked; `course_folder` lays out the folder nbgrader works in, for a class on a JupyterHub too.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .config import PROJECT_ROOT

LABS_DIR = PROJECT_ROOT / "labs"
EXERCISES_DIR = PROJECT_ROOT / "exercises"  # the student versions (git-ignored)
ASSIGNMENT = "labs"                          # the nbgrader assignment that holds the four labs
# A lab's slowest cell takes about a minute on a 2-core CPU; nbgrader's default limit is 30 s per cell.
CELL_TIMEOUT_S = 600
NBGRADER_CONFIG = f"""\
c = get_config()
c.CourseDirectory.course_id = "diffusion-sprites"
c.Execute.timeout = {CELL_TIMEOUT_S}
"""


def lab_notebooks(labs_dir: str | Path = LABS_DIR) -> list[Path]:
    """The labs, in order (1_sampling.ipynb, 2_training.ipynb, ...)."""
    labs = sorted(Path(labs_dir).glob("[0-9]_*.ipynb"))
    if not labs:
        raise FileNotFoundError(f"no lab notebooks (N_name.ipynb) in {labs_dir}")
    return labs


def course_folder(root: str | Path, labs_dir: str | Path = LABS_DIR) -> Path:
    """Lay out an nbgrader course folder at root: nbgrader_config.py and source/labs/ with the labs.
    Returns root; nbgrader commands run there (`cd root && nbgrader generate_assignment labs`)."""
    root = Path(root)
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    for lab in lab_notebooks(labs_dir):
        shutil.copy2(lab, source / lab.name)
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    return root


def nbgrader(root: str | Path, *args: str) -> None:
    """Run one nbgrader command in the course folder root; its log is shown only when it fails. The
    environment's bin folder goes first on PATH: nbgrader runs tools installed beside it (alembic)."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, capture_output=True, text=True,
                          env=env)
    if done.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def write_student_labs(out_dir: str | Path = EXERCISES_DIR, fresh: tuple[str, ...] = (),
                       labs_dir: str | Path = LABS_DIR) -> dict[str, str]:
    """Write the student version of every lab to out_dir. A lab already there is the student's work and is
    kept, unless its number or file name is in `fresh`: then the old file is first renamed to
    NAME.ipynb.bak-YYYYmmdd-HHMMSS. Returns {file name: what happened}."""
    out_dir = Path(out_dir)
    labs = {lab.name: lab for lab in lab_notebooks(labs_dir)}
    wanted = {name for name in labs if name in fresh or name.split("_")[0] in fresh}
    unknown = [f for f in fresh if not any(f in (name, name.split("_")[0]) for name in labs)]
    if unknown:
        raise ValueError(f"no lab {', '.join(unknown)}; the labs are {', '.join(labs)} (give a number or file name)")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = course_folder(tmp, labs_dir)
        nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
        for name in labs:
            target = out_dir / name
            if target.exists() and name not in wanted:
                report[name] = f"kept (your work; `make exercises LAB={name.split('_')[0]}` gives a fresh copy)"
                continue
            if target.exists():
                backup = target.with_name(f"{name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
                target.rename(backup)
                report[name] = f"fresh copy (your old one is {backup.name})"
            else:
                report[name] = "written"
            tmp_target = target.with_name(f".{name}.tmp")
            shutil.copyfile(root / "release" / ASSIGNMENT / name, tmp_target)
            tmp_target.replace(target)
    return report
