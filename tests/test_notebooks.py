"""The committed labs: executed in order with outputs, pictures and an animation in each, widget state saved
so that a static viewer (nbconvert, GitHub) shows the controls. nbval (`make test`) re-executes them."""
import json
import re
from pathlib import Path

import pytest

LABS = sorted((Path(__file__).resolve().parents[1] / "labs").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_the_labs_in_order():
    assert [p.stem for p in LABS] == ["1_sampling", "2_training", "3_context", "4_fast_sampling", "5_beyond"]


@pytest.fixture(params=LABS, ids=lambda p: p.stem)
def lab(request):
    return json.loads(request.param.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_executed_once_in_order_without_errors(lab):
    counts = [c["execution_count"] for c in code_cells(lab)]
    assert counts == list(range(1, len(counts) + 1))
    assert not [o for c in code_cells(lab) for o in c["outputs"] if o["output_type"] == "error"]


def test_same_setup_cell_first(lab):
    first = "".join(code_cells(lab)[0]["source"])
    reference = "".join(code_cells(json.loads(LABS[0].read_text()))[0]["source"])
    assert first == reference


def test_has_pictures_and_an_animation_or_widget(lab):
    mimes = [m for c in code_cells(lab) for o in c["outputs"] for m in o.get("data", {})]
    assert mimes.count("image/png") >= 2
    assert "application/vnd.jupyter.widget-view+json" in mimes


def test_widget_state_is_saved_with_its_state_key(lab):
    state = lab["metadata"]["widgets"][WIDGET_STATE]
    assert state["state"], "no widget models saved"
    views = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in code_cells(lab)
             for o in c["outputs"] if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    missing = [v for v in views if v not in state["state"]]
    assert not missing, f"widget views without saved state: {missing}"


def test_only_unrepeatable_cells_skip_output_comparison(lab):
    ignored = [c for c in code_cells(lab) if "nbval-ignore-output" in c["metadata"].get("tags", [])]
    for cell in ignored:
        assert "time.perf_counter" in "".join(cell["source"]), "only timing cells may skip nbval's comparison"


def animations(nb):
    """The HTML of every animation output (matplotlib's JavaScript player with its frames embedded)."""
    html = ["".join(o["data"]["text/html"]) for c in code_cells(nb) for o in c["outputs"]
            if "text/html" in o.get("data", {})]
    return [h for h in html if "_anim_img" in h]


def test_has_an_animation_that_plays_without_a_kernel(lab):
    assert any("data:image/png;base64," in h for h in animations(lab))


def test_sanitizer_removes_every_line_of_the_embedded_frames(lab):
    """Frames are PNGs whose bytes change with the CPU's rounding (float32 kernels differ between CPUs): nbval
    must compare the animation's code, not its pixels, and the base64 spans many backslash-ended lines."""
    from nbval.plugin import get_sanitize_patterns
    patterns = get_sanitize_patterns((Path(__file__).parent / "nbval_sanitize.cfg").read_text())
    html = animations(lab)
    assert html
    for h in html:
        for regex, replace in patterns:
            h = re.sub(regex, replace, h)
        assert "base64,DATA" in h
        leftover = re.findall(r"[A-Za-z0-9+/=]{60,}", h)
        assert not leftover, f"base64 left after sanitizing: {leftover[0][:40]}..."
