"""Checking a student's function against a reference: the engine behind `exercises`.

A check runs the answer and the reference on the same seeded cases and explains the first mismatch,
in this order (the first hit wins):

    1. it raises: NotImplementedError means not solved yet (so does course_lib's own version given back);
       any other exception is named with its case
    2. it returns None, or not a (real) tensor
    3. it changed an input tensor (or a table of the schedule) in place
    4. a known mistake of the exercise reproduces its output on every case: that mistake's hint
       (also when the mistake shows as a wrong shape, as inf or as the same exception, so the hint is specific)
    5. a wrong shape; different outputs for the same inputs (it draws its own random numbers)
    6. what the function fed to a module it was given (`Exercise.inspect`)
    7. patterns against the reference: a flipped sign, a factor, off by one timestep (the reference at t - 1
       or t + 1, or with the schedule's tables read at t - 1 or t + 1; a division by zero at t = 0 does not
       hide it), then NaN or inf, then right on some groups of cases and wrong on others ("right for t > 0
       but wrong at t = 0")
    8. otherwise the largest difference on the first case that differs.

Outputs agree when |got - expected| <= tol * max(1, max |expected|) elementwise, so float32 and float64
answers, and any equivalent way of writing the formula, pass. Verdicts hold no timings or addresses: the
same answer gives the same text on every run. The global torch random state is left as it was.
"""
from __future__ import annotations

import copy
import math
import re
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch

RIGHT, WRONG, UNSOLVED = "right", "wrong", "unsolved"
OFF_BY_ONE = "The schedule is read one timestep off: use the values at t itself (timesteps run 0..T-1)."


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer. message: the text `check` prints (one line, at most two more of detail);
    hint_id: which explanation was given (None when right)."""

    passed: bool
    status: str  # RIGHT, WRONG or UNSOLVED
    message: str
    hint_id: str | None


@dataclass(frozen=True)
class Case:
    """One input: the positional arguments, a label naming it in verdicts ("t = 250, batch of 4") and tags that
    group the cases, as phrases ({"t": "at t = 0"}), so a verdict can say "right for t > 0 but wrong at t = 0"."""

    args: tuple
    label: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer and its hint. `fn` reproduces it (the reference's arguments and context), or
    `error` is a regular expression matching "Type: message on case label" of the exception it raises; with
    neither, a judge, an inspection or a group of cases gives the hint. tol: how close counts as reproduced
    (None: the exercise's tolerance)."""

    hint_id: str
    hint: str
    fn: Callable | None = None
    error: str | None = None
    tol: float | None = None


@dataclass(frozen=True)
class Exercise:
    """One exercise of a lab.

    reference(*args, **context) is the answer; cases(**context) the seeded inputs; params names the arguments;
    covers says what the cases span (a string, or a function of the cases); hint is the advice after a plain
    mismatch ("Check: <equation>." by default); context maps each keyword the check needs (e.g. schedule) to
    its type. Optional: alternatives (other answers that count as right), group_hints (the explanation when
    only the cases of one tag phrase are wrong), judge(args, output) -> (hint_id, text, *detail) or None,
    which replaces the comparison with the reference (for answers that may differ and still be right),
    inspect(args) -> (hint_id, text) or None, called on the arguments after the answer ran, and timestep_arg,
    the position of the timestep argument (for the off-by-one diagnosis).
    """

    name: str
    lab: int
    title: str
    equation: str
    reference: Callable
    cases: Callable[..., list[Case]]
    params: tuple[str, ...]
    covers: str | Callable[[list[Case]], str]
    hint: str = ""
    mistakes: tuple[Mistake, ...] = ()
    context: dict[str, type] = field(default_factory=dict)
    group_hints: dict[str, Mistake] = field(default_factory=dict)
    alternatives: tuple[Callable, ...] = ()
    judge: Callable | None = None
    inspect: Callable | None = None
    timestep_arg: int | None = None
    in_place_hint: str = "compute a new tensor (x = x - a * eps, not x -= a * eps)"
    tol: float = 1e-4

    @property
    def advice(self) -> str:
        return self.hint or f"Check: {self.equation}."


class RecordingNet(torch.nn.Module):
    """A stand-in for a noise predictor with a known output, net(x, t, c) = 0.3 x + 0.5 t / T + 0.2 (c . w),
    w = (1..K) / K, that records each call (x, t, c) in `calls`, so a check can say what an answer fed it."""

    def __init__(self, T: int):
        super().__init__()
        self.T, self.calls = T, []

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((x, t, c))
        out = 0.3 * x + 0.5 / self.T * t.view(-1, 1, 1, 1).to(x.dtype)
        if c is not None:
            out = out + 0.2 * (c.to(x.dtype) @ (torch.arange(1, c.shape[1] + 1) / c.shape[1])).view(-1, 1, 1, 1)
        return out


# ----------------------------------------------------------------------------- the API over a registry

_LAST: dict[str, tuple[Callable, dict]] = {}  # name -> the last (answer, context) given to `check`


def result(registry: dict[str, Exercise], name: str, answer: Any, context: dict) -> CheckResult:
    """The verdict on `answer` for registry[name]; ValueError or TypeError only for a misuse of the API."""
    if name not in registry:
        raise ValueError(f"unknown exercise {name!r}; the exercises are {', '.join(registry)}")
    ex = registry[name]
    takes = ", ".join(f"{k}=" for k in ex.context) or "no context keywords"
    if set(context) != set(ex.context):
        raise ValueError(f"the check of {name} takes {takes}; got {', '.join(f'{k}=' for k in context) or 'none'}")
    for key, kind in ex.context.items():
        if not isinstance(context[key], kind):
            raise TypeError(f"{key}= must be a {kind.__name__}, got {type(context[key]).__name__}")
    return evaluate(ex, answer, context)


def check(registry: dict[str, Exercise], name: str, answer: Any, context: dict) -> Callable:
    """Print the verdict, remember the answer, and return it when right, else the reference bound to `context`."""
    verdict = result(registry, name, answer, context)
    _LAST[name] = (answer, dict(context))
    print(verdict.message)
    return answer if verdict.passed else bind(registry[name], context)


def assert_solved(registry: dict[str, Exercise], name: str) -> None:
    """Re-check the last answer given to `check`; AssertionError with the verdict unless it is right."""
    if name not in registry:
        raise ValueError(f"unknown exercise {name!r}; the exercises are {', '.join(registry)}")
    if name not in _LAST:
        raise AssertionError(f"{name} was never checked: run the cell with exercises.check({name!r}, ...) first.")
    verdict = result(registry, name, *_LAST[name])
    if not verdict.passed:
        raise AssertionError(verdict.message)


def bind(ex: Exercise, context: dict) -> Callable:
    """The reference with its context filled in, called like the student's function."""
    if not context:
        return ex.reference

    def bound(*args, **kwargs):
        return ex.reference(*args, **kwargs, **context)

    bound.__name__ = bound.__qualname__ = ex.name
    bound.__doc__ = f"course_lib's {ex.name} (lab {ex.lab}): {ex.equation}"
    bound.reference_of = ex.name
    return bound


# ----------------------------------------------------------------------------- running and comparing

def _describe(exc: BaseException) -> str:
    """'Type: first line of the message', without memory addresses, at most 160 characters."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"0x[0-9a-fA-F]+", "0x...", lines[0] if lines else "")
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _call(fn: Callable, args: tuple, context: dict | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **(context or {}))


def _quiet(fn: Callable, args: tuple, context: dict) -> Any:
    """fn on a fresh copy of args; None where it raises (references and mistakes only)."""
    try:
        return _call(fn, copy.deepcopy(args), context)
    except Exception:
        return None


def _f64(x: torch.Tensor) -> torch.Tensor:
    return x.detach().to("cpu", torch.float64)


def _close(got: Any, want: Any, tol: float) -> bool:
    """Same shape and |got - want| <= tol * max(1, max |want|) elementwise; inf and NaN must sit where want has them."""
    if not isinstance(got, torch.Tensor) or not isinstance(want, torch.Tensor) or got.shape != want.shape:
        return False
    g, w = _f64(got), _f64(want)
    finite = torch.isfinite(w)
    scale = max(1.0, w[finite].abs().max().item()) if finite.any() else 1.0
    same = (g == w) | (g.isnan() & w.isnan())
    return bool(torch.where(finite, (g - w).abs() <= tol * scale, same).all())


def _save_tables(context: dict) -> list[tuple[str, Any, str, torch.Tensor, torch.Tensor]]:
    """Every tensor attribute of the context objects, with a copy: (name, object, attribute, tensor, copy)."""
    return [(key, obj, attr, value, value.clone()) for key, obj in context.items()
            for attr, value in getattr(obj, "__dict__", {}).items() if isinstance(value, torch.Tensor)]


def _changed_argument(ex: Exercise, before: tuple, after: tuple, saved: list) -> str | None:
    """The name of an argument (or a context table) the answer changed in place; context tables are restored."""
    for name, old, new in zip(ex.params, before, after):
        if isinstance(old, torch.Tensor) and not (isinstance(new, torch.Tensor) and new.shape == old.shape
                                                  and torch.equal(new, old)):
            return name
    changed = None
    for key, obj, attr, original, copy_ in saved:
        if getattr(obj, attr, None) is not original or not torch.equal(original, copy_):
            original.copy_(copy_)
            setattr(obj, attr, original)
            changed = changed or f"{key}.{attr}"
    return changed


def _kind(x: Any) -> str:
    """'None', 'a float', 'an int', 'a numpy.ndarray', ..."""
    if x is None:
        return "None"
    module = type(x).__module__
    name = type(x).__name__ if module == "builtins" else f"{module.split('.')[0]}.{type(x).__name__}"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def join_and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ----------------------------------------------------------------------------- the verdict

def _right(ex: Exercise, cases: list[Case]) -> CheckResult:
    covers = ex.covers(cases) if callable(ex.covers) else ex.covers
    return CheckResult(True, RIGHT, f"✓ {ex.name} is right ({len(cases)} cases: {covers}).", None)


def _wrong(ex: Exercise, hint_id: str, text: str, *detail: str) -> CheckResult:
    lines = [f"✗ {ex.name}: {text} The lab goes on with course_lib's {ex.name}."] + [f"  {d}" for d in detail if d]
    return CheckResult(False, WRONG, "\n".join(lines), hint_id)


def evaluate(ex: Exercise, answer: Any, context: dict) -> CheckResult:
    """The verdict on `answer` (see the module docstring); never raises for a bad answer."""
    if not callable(answer):
        return _wrong(ex, "not_a_function", f"{ex.name} is {_kind(answer)}, not a function.")
    if answer is ex.reference or getattr(answer, "reference_of", None) == ex.name:
        return CheckResult(False, UNSOLVED, f"… {ex.name}: this is course_lib's {ex.name}, not yours: run the cell "
                                            f"that defines yours first.", "reference_given")
    with torch.random.fork_rng(devices=[]):
        cases = ex.cases(**context)
        outputs, notes = [], []
        for case in cases:
            args, saved = copy.deepcopy(case.args), _save_tables(context)
            try:
                out = _call(answer, args)
            except NotImplementedError:
                return CheckResult(False, UNSOLVED, f"… {ex.name}: not solved yet (it raises NotImplementedError). "
                                                    f"The lab goes on with course_lib's {ex.name}.", "unsolved")
            except Exception as exc:
                return _raised(ex, exc, cases, outputs, context)
            changed = _changed_argument(ex, case.args, args, saved)  # (restores the context's tables)
            if out is None:
                return _wrong(ex, "returns_none", "your function returns None: did you forget `return`?")
            if not ex.judge and not isinstance(out, torch.Tensor):
                return _wrong(ex, "wrong_type", f"your function returns {_kind(out)}, not a torch.Tensor.",
                              _type_advice(out))
            if changed:
                return _wrong(ex, "in_place", f"your function changed {changed} in place, so the caller's "
                                              f"{changed.split('.')[0]} changes too.", f"Instead, {ex.in_place_hint}.")
            outputs.append(out)
            notes.append(ex.inspect(args) if ex.inspect else None)
        if ex.judge:
            verdicts = (ex.judge(c.args, o) for c, o in zip(cases, outputs))
            return next((_wrong(ex, *v) for v in verdicts if v), None) or _right(ex, cases)
        for case, out in zip(cases, outputs):
            if out.is_complex():
                return _wrong(ex, "complex", f"your output is complex on case {case.label}: the square root of a "
                                             f"negative number? In Python (-0.5) ** 0.5 is a complex number.")
        expected = [_quiet(ex.reference, c.args, context) for c in cases]
        for fn in (None, *ex.alternatives):
            want = expected if fn is None else [_quiet(fn, c.args, context) for c in cases]
            if all(_close(o, w, ex.tol) for o, w in zip(outputs, want)):
                return _right(ex, cases)
        return _diagnose(ex, answer, cases, outputs, expected, notes, context)


def _type_advice(out: Any) -> str:
    if isinstance(out, (float, int)):
        return "float() and .item() turn a tensor into a Python number: return the tensor itself."
    if isinstance(out, list):
        return "Return the tensor itself (torch.tensor(...) turns a list into one)."
    if isinstance(out, tuple):
        return "Return the result alone, as one tensor."
    return "Compute with torch functions (or convert with torch.from_numpy)." if isinstance(out, np.ndarray) else ""


def _raised(ex: Exercise, exc: Exception, cases: list[Case], outputs: list, context: dict) -> CheckResult:
    """Name the exception; a mistake explains it when it raises alike on this case (and agrees on the cases
    before), or when its `error` pattern matches; an IndexError on a timestep is off by one."""
    case, said = cases[len(outputs)], _describe(exc)
    text = f"your function raised {said} on case {case.label}."
    for m in ex.mistakes:
        if m.fn and all(_close(o, _quiet(m.fn, c.args, context), m.tol or ex.tol) for c, o in zip(cases, outputs)):
            try:
                _call(m.fn, copy.deepcopy(case.args), context)
            except Exception as mine:
                if _describe(mine) == said:
                    return _wrong(ex, m.hint_id, text, m.hint)
    known = next((m for m in ex.mistakes if m.error and re.search(m.error, f"{said} on case {case.label}")), None)
    if known:
        return _wrong(ex, known.hint_id, text, known.hint)
    if ex.timestep_arg is not None and isinstance(exc, IndexError) and "out of bounds" in said:
        return _wrong(ex, "off_by_one", text, OFF_BY_ONE)
    return _wrong(ex, "raises", text)


def _diagnose(ex: Exercise, answer: Callable, cases: list[Case], outputs: list, expected: list, notes: list,
              context: dict) -> CheckResult:
    for m in ex.mistakes:
        if m.fn and all(_close(o, _quiet(m.fn, c.args, context), m.tol or ex.tol) for c, o in zip(cases, outputs)):
            return _wrong(ex, m.hint_id, m.hint)
    for case, out, want in zip(cases, outputs, expected):
        if out.shape != want.shape:
            return _wrong(ex, "shape", f"on case {case.label} your output has shape {tuple(out.shape)}, not "
                                       f"{tuple(want.shape)}.", _shape_advice(out, want))
    first = next(i for i, (o, w) in enumerate(zip(outputs, expected)) if not _close(o, w, ex.tol))
    if not _close(_quiet(answer, cases[first].args, {}), outputs[first], 1e-6):
        return _wrong(ex, "random", "your function gives different outputs for the same inputs: it draws random "
                                    "numbers of its own. Use the random inputs it is given.")
    note = next((n for n in notes if n), None)
    if note:
        return _wrong(ex, *note)
    return _patterns(ex, cases, outputs, expected, context) or _first_difference(ex, cases[first], outputs[first],
                                                                                 expected[first])


def _not_finite(ex: Exercise, cases: list[Case], outputs: list) -> CheckResult | None:
    for case, out in zip(cases, outputs):
        g = _f64(out)
        if not torch.isfinite(g).all():
            what = "NaN" if g.isnan().any() else "inf"
            return _wrong(ex, "not_finite", f"your output holds {what} on case {case.label}: a division by zero or "
                                            f"the square root of a negative number?")
    return None


def _shape_advice(out: torch.Tensor, want: torch.Tensor) -> str:
    if want.dim() == 0:
        return "The result is one number: average over every element with .mean()."
    if out.dim() > want.dim() or out.numel() > want.numel():
        return ("A (B,) tensor broadcast against a (B, C, H, W) one? Give per-image values the shape (B, 1, 1, 1) "
                "with .view(-1, 1, 1, 1).")
    return ""


def _patterns(ex: Exercise, cases: list[Case], outputs: list, expected: list, context: dict) -> CheckResult | None:
    """A flipped sign, a factor, off by one timestep, NaN or inf, or right on some groups of cases only."""
    if all(_close(o, -w, ex.tol) for o, w in zip(outputs, expected)):
        return _wrong(ex, "flipped_sign", "your output is minus the expected one on every case: a flipped sign.",
                      ex.advice)
    found = _factor(ex, cases, outputs, expected) or _off_by_one(ex, cases, outputs, expected, context)
    found = found or _not_finite(ex, cases, outputs)
    return found or _groups(ex, cases, [_close(o, w, ex.tol) for o, w in zip(outputs, expected)])


def _factor(ex: Exercise, cases: list[Case], outputs: list, expected: list) -> CheckResult | None:
    """Output = k * expected on every case (k may change with the case)."""
    ks = []
    for case, out, want in zip(cases, outputs, expected):
        g, w = _f64(out).flatten(), _f64(want).flatten()
        if w.numel() < 2 or not (w @ w) > 0:
            return None
        k = (g @ w / (w @ w)).item()
        if not _close(g, k * w, ex.tol):
            return None
        ks.append((k, case.label))
    off = [(k, label) for k, label in ks if not math.isclose(k, 1.0, rel_tol=1e-3)]
    if not off:
        return None
    k, label = off[0]
    other = next(((k2, l2) for k2, l2 in ks if not math.isclose(k2, k, rel_tol=1e-3)), None)
    if other is None:
        return _wrong(ex, "factor", f"your output is {k:.4g} times the expected one on every case: a missing "
                                    f"coefficient or square root?", ex.advice)
    return _wrong(ex, "factor", f"your output is {k:.4g} times the expected one on case {label} but {other[0]:.4g} "
                                f"times on case {other[1]}: a coefficient that changes with the case is off, a missing "
                                f"square root?", ex.advice)


def _off_by_one(ex: Exercise, cases: list[Case], outputs: list, expected: list, context: dict) -> CheckResult | None:
    """The reference at t - 1 or t + 1 (where that stays in 0..T-1), or with every 1-D table of the context read
    at t - 1 or t + 1 (wrapping around, as schedule.alpha_bar[t - 1] does at t = 0)."""
    if ex.timestep_arg is None:
        return None
    for d in (-1, 1):
        at_t, tables = [], {k: _read_off(obj, d) for k, obj in context.items()}
        for case in cases:
            args = list(case.args)
            args[ex.timestep_arg] = args[ex.timestep_arg] + d
            below = args[ex.timestep_arg] < 0
            at_t.append(None if (below.any() if isinstance(below, torch.Tensor) else below)
                        else _quiet(ex.reference, tuple(args), context))
        for shifted in (at_t, [_quiet(ex.reference, c.args, tables) for c in cases]):
            usable = [(o, s, w) for o, s, w in zip(outputs, shifted, expected) if s is not None]
            if (usable and all(_close(o, s, ex.tol) for o, s, _ in usable)
                    and any(not _close(s, w, ex.tol) for _, s, w in usable)):
                return _wrong(ex, "off_by_one", f"your output is the expected one at t {'-+'[d > 0]} 1.", OFF_BY_ONE)
    return None


def _read_off(obj: Any, d: int) -> SimpleNamespace:
    """A copy of obj whose 1-D tensors (tables indexed by timestep) are read at t + d."""
    return SimpleNamespace(**{k: v.roll(-d) if isinstance(v, torch.Tensor) and v.dim() == 1 else v
                              for k, v in vars(obj).items()})


def _groups(ex: Exercise, cases: list[Case], ok: list[bool]) -> CheckResult | None:
    """Right on every case of some tag phrases and wrong on others: an exact split first, else one where the
    right phrases hold no wrong case."""
    splits = []
    for dim in cases[0].tags:
        values = list(dict.fromkeys(c.tags[dim] for c in cases))
        wrong = [v for v in values if any(not k for c, k in zip(cases, ok) if c.tags[dim] == v)]
        if 0 < len(wrong) < len(values):
            exact = all(not k for c, k in zip(cases, ok) if c.tags[dim] in wrong)
            splits.append((not exact, [v for v in values if v not in wrong], wrong))
    if not splits:
        return None
    _, right, wrong = min(splits, key=lambda s: s[0])
    said = f"right {join_and(right)} but wrong {join_and(wrong)}"
    known = ex.group_hints.get(wrong[0]) if len(wrong) == 1 else None
    return _wrong(ex, known.hint_id, f"{said}: {known.hint}") if known else _wrong(ex, "partly_right", f"{said}.",
                                                                                   ex.advice)


def _first_difference(ex: Exercise, case: Case, out: torch.Tensor, want: torch.Tensor) -> CheckResult:
    g, w = _f64(out), _f64(want)
    diff = (g - w).abs()
    i = int(diff.flatten().argmax())
    where = f" at index {tuple(int(j) for j in np.unravel_index(i, tuple(g.shape)))}" if g.dim() else ""
    return _wrong(ex, "mismatch", f"on case {case.label} your output differs from the expected one by up to "
                                  f"{diff.max().item():.3g}.",
                  f"Expected {w.flatten()[i].item():.4g}, got {g.flatten()[i].item():.4g}{where}.", ex.advice)
