"""The student versions of the labs (nbgrader generate_assignment) and nbgrader's autograde.

The slow tests execute every lab: the student versions as a student gets them (nothing solved: every check
must say "not solved yet" and the lab must run on), and nbgrader's autograde of the solutions (full points)
and of the unsolved versions (zero points, no crash).
"""
from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from course_lib.assignments import ASSIGNMENT, CELL_TIMEOUT_S, course_folder, lab_notebooks, nbgrader, \
    write_student_labs

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
OPTIONAL_LABS = {"5_beyond"}  # labs after the course's four, without exercises
STUB = "raise NotImplementedError()"


def solution_lines(lab) -> list[str]:
    """Every code line between the solution markers of a lab."""
    source = "\n".join(c.source for c in nbformat.read(lab, as_version=4).cells if c.cell_type == "code")
    return [line.strip() for block in SOLUTION.findall(source) for line in block.splitlines() if line.strip()]


def graded_cells(nb) -> dict[str, dict]:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


@pytest.fixture(scope="module")
def student_labs(tmp_path_factory):
    out = tmp_path_factory.mktemp("exercises")
    report = write_student_labs(out)
    assert set(report.values()) == {"written"}
    return out


def test_labs_carry_nbgrader_markers():
    """Every solution cell has a check cell with points after it, and every check cell names its exercise."""
    total = 0
    for lab in lab_notebooks():
        nb = nbformat.read(lab, as_version=4)
        cells = graded_cells(nb)
        answers = [k for k, v in cells.items() if v["solution"]]
        assert len(answers) >= 2 or (lab.stem in OPTIONAL_LABS and not answers), (
            f"{lab.name} has {len(answers)} exercises")
        for name in answers:
            check = cells[f"check_{name}"]
            assert check["grade"] and check["locked"] and check["points"] > 0
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade"):
                assert "### BEGIN HIDDEN TESTS" in c.source and "exercises.check(" in c.source
                assert c.source.rstrip().endswith("### END HIDDEN TESTS"), (
                    f"{lab.name}: the hidden test must end its check cell; code after it would not run when an "
                    f"unsolved lab is graded, and later cells would miss what it defines:\n{c.source}")
        total += len(answers)
    assert 10 <= total <= 15


def test_student_versions_have_stubs_and_no_solutions(student_labs):
    stubs = 0
    for lab in lab_notebooks():
        student = (student_labs / lab.name).read_text()
        nb = nbformat.read(student_labs / lab.name, as_version=4)
        assert "BEGIN SOLUTION" not in student and "BEGIN HIDDEN TESTS" not in student
        assert "assert_solved" not in student, "the hidden grading tests must not reach students"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        left = [line for line in solution_lines(lab) if line in code.splitlines() or f"    {line}" in code]
        assert not left, f"{lab.name}: solution lines left in the student version: {left}"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "outputs must be cleared"
        stubs += code.count(STUB)
    assert stubs >= 10


def test_fresh_copy_keeps_other_labs(student_labs, tmp_path):
    """A student's work is never overwritten unless asked for, and then kept as a backup."""
    out = tmp_path / "mine"
    shutil.copytree(student_labs, out)
    first, second = lab_notebooks()[:2]
    (out / first.name).write_text((out / first.name).read_text().replace(STUB, "return 42", 1))
    (out / second.name).write_text((out / second.name).read_text().replace(STUB, "return 43", 1))
    report = write_student_labs(out, fresh=(first.name.split("_")[0],))
    assert report[first.name].startswith("fresh copy") and report[second.name].startswith("kept")
    assert "return 42" not in (out / first.name).read_text()
    assert "return 43" in (out / second.name).read_text()
    backups = list(out.glob(f"{first.name}.bak-*"))
    assert len(backups) == 1 and "return 42" in backups[0].read_text()
    with pytest.raises(ValueError, match="no lab 9"):
        write_student_labs(out, fresh=("9",))


@pytest.mark.parametrize("lab", [lab.name for lab in lab_notebooks()])
def test_student_version_runs_unsolved(student_labs, lab, tmp_path):
    """Top to bottom with nothing solved: no error, and every check says so and carries on."""
    nb = nbformat.read(student_labs / lab, as_version=4)
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(tmp_path)}}).execute()
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    for c in checks:
        text = "".join(o.get("text", "") for o in c.outputs)
        assert "not solved yet" in text and "goes on with course_lib" in text, text


def test_autograde_gives_full_points_to_solutions_and_none_to_stubs(tmp_path):
    root = course_folder(tmp_path)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    for student, folder in (("solution", root / "source" / ASSIGNMENT), ("blank", root / "release" / ASSIGNMENT)):
        shutil.copytree(folder, root / "submitted" / student / ASSIGNMENT)
    nbgrader(root, "autograde", ASSIGNMENT, "--create", "--force")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as book:
        scores = {student: {(nb.name, g.name): (g.score, g.max_score)
                            for nb in book.find_submission(ASSIGNMENT, student).notebooks for g in nb.grades}
                  for student in ("solution", "blank")}
    assert len(scores["solution"]) >= 10 and scores["solution"].keys() == scores["blank"].keys()
    assert all(score == top > 0 for score, top in scores["solution"].values()), scores["solution"]
    assert all(score == 0 for score, _ in scores["blank"].values()), scores["blank"]
    # No crash: in the unsolved version only the grading cells fail, and only on their hidden test.
    for lab in (root / "autograded" / "blank" / ASSIGNMENT).glob("*.ipynb"):
        for c in json.loads(lab.read_text())["cells"]:
            errors = [o for o in c.get("outputs", []) if o["output_type"] == "error"]
            grading = c["metadata"].get("nbgrader", {}).get("grade")
            assert not errors or (grading and errors[0]["ename"] == "AssertionError"), (lab.name, c["source"])
