"""`dlfs show`: a concept's book form beside its torch form, method by method.

Each side is a list of objects (classes or functions, from the registry's ``show_scratch``/``show_torch``). A
class is cut into members: its definition (the ``class`` line, docstring and attributes) and each method.
Every member has a *role*: definition, set-up, forward, backward, step (an optimiser's or a Trainer's),
weights (the state-dict layout) or other; members pair up by role and name (forward with forward,
``_setup_layer`` with ``_setup_layer``), and a role that one side leaves to its base class (the torch side's
backward is autograd) names where that code lives.

A pair is printed in two columns when both fit the width, else one above the other, so no line is ever
wrapped (below about 110 columns, long lines are cut cleanly instead). Lines that are the same on both sides
are said once: a run of them becomes one row that says so, and a member that is the same on both sides
becomes one line. ``stats`` measures what is left: the share of the printed lines that appear twice.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.concepts import ROOT, locate, resolve

ROLES = ("definition", "set-up", "forward", "backward", "step", "weights", "other")
_BY_NAME = {
    "set-up": {"__init__", "_setup_layer", "build", "_spec", "_allocate", "_check_input", "_make_cell",
               "_make_rnn", "_make_conv", "_build_node", "_set_variant", "_draw_state", "_input",
               "_state_tensor", "_prepare", "_make_node", "setup_decay", "bind", "_batches",
               "_targets"},
    "forward": {"forward", "_output", "forward_step", "_run", "__call__", "step", "fit", "train_batch"},
    "backward": {"backward", "_input_grad", "_param_grad", "backward_step", "local_grads", "_run_backward",
                 "_backward", "_h_side_grads"},
    "step": {"_forward_backward", "_update", "_train_mode", "_loss_on", "_lr", "_params_finite",
             "_grad_norm", "_update_rule", "end_epoch", "_make_scheduler", "_ensure"},
    "weights": {"_mask_streams", "_rng_extra", "_restore_rng_extra", "state_dict", "load_state_dict",
                "grad_dict", "_canonical", "_load_canonical",
                "_canonical_grads", "params", "param_grads", "_views", "_param_views", "_grad_views",
                "_fused", "_tensors", "_rows", "_to_canonical", "_freeze_hh_bias"},
}
MIN_RUN = 1  # identical lines in a run of at least this many are said once
GUTTER = 5  # "1234 " before every source line


@dataclass
class Member:
    """One method (or a class's definition, or a function) of one side, with its source lines."""

    owner: str  # the class's name; "" for a function
    name: str  # the method's name; the class's own name for its definition
    role: str
    file: str
    first: int  # line number of ``lines[0]``
    lines: list[str]

    @property
    def label(self) -> str:
        return f"{self.owner}.{self.name}" if self.owner and self.name != self.owner else self.name

    @property
    def where(self) -> str:
        return f"{self.file}:{self.first}"


def role_of(name: str, is_function: bool = False) -> str:
    for role, names in _BY_NAME.items():
        if name in names:
            return role
    if is_function:
        return "backward" if name.endswith(("_backward", "_grads", "_deriv", "deriv")) else "forward"
    return "other"


def members(ref: str) -> list[Member]:
    """The members of the object ``"module:qualname"``: a function is one member, a class its definition
    and each method it defines itself."""
    obj = resolve(ref)
    file, first = locate(ref)
    source = textwrap.dedent("".join(inspect.getsourcelines(obj)[0]))  # type: ignore[arg-type]
    lines = source.splitlines()
    name = ref.split(":")[1].split(".")[-1]
    if not inspect.isclass(obj):
        return [Member("", name, role_of(name, True), file, first, lines)]
    cls = ast.parse(source).body[0]
    assert isinstance(cls, ast.ClassDef)
    out, head = [], []
    body_start = cls.body[0].lineno if cls.body else len(lines) + 1
    head.extend(range(1, body_start))  # the class line (and decorators)
    for node in cls.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        rows = list(range(start, (node.end_lineno or start) + 1))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append(Member(name, node.name, role_of(node.name), file, first + start - 1,
                              [lines[i - 1] for i in rows]))
        else:
            head.extend(rows)
    definition = Member(name, name, "definition", file, first, [lines[i - 1] for i in sorted(head)])
    return [definition, *out]


def _inherited(refs: tuple[str, ...], method: str) -> str | None:
    """Where the side's main class (the last class of ``refs``: the layer its operations serve)
    inherits ``method`` from, as a one-line note; None if nowhere."""
    classes = [obj for obj in map(resolve, refs) if inspect.isclass(obj)]
    for base in (classes[-1].__mro__[1:] if classes else ()):
        if method in vars(base) and base.__module__.split(".")[0] in ("scratch", "torch_impl"):
            fn = vars(base)[method]
            line = inspect.getsourcelines(fn)[1]
            rel = Path(inspect.getsourcefile(fn) or "").resolve().relative_to(ROOT).as_posix()
            doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
            return f"inherited {base.__name__}.{method} ({rel}:{line}){': ' + doc if doc else ''}"
    return None


@dataclass
class Stats:
    """What a rendering printed: source lines per side, and how many appear on both sides identically."""

    shown: int = 0  # non-blank source lines printed (both sides together)
    twice: int = 0  # of those, lines printed on both sides with the same text (counted on both)
    said_once: int = 0  # identical lines folded into "same on both sides" rows
    identical_before: int = 0  # lines identical on both sides before folding (counted on both)
    total_before: int = 0  # non-blank source lines of both sides before folding
    rows: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.twice / self.shown if self.shown else 0.0

    @property
    def share_before(self) -> float:
        return self.identical_before / self.total_before if self.total_before else 0.0


def pair_members(left: list[Member], right: list[Member]) -> list[tuple[str, list[Member], list[Member]]]:
    """(role, left members, right members) in role order, then in the left side's order: same-named
    members pair first, then the rest of a role in order; what is left over on one side goes into one
    group opposite nothing."""
    out: list[tuple[str, list[Member], list[Member]]] = []
    for role in ROLES:
        ls = [m for m in left if m.role == role]
        rs = [m for m in right if m.role == role]
        twins: dict[int, Member] = {}
        free = list(rs)
        # the same class and method first (Conv2D.__init__ with Conv2D.__init__), then the same
        # method of another class, then the rest of the role in order
        for same in (lambda a, b: (a.owner, a.name) == (b.owner, b.name), lambda a, b: a.name == b.name,
                     lambda a, b: True):
            for k, m in enumerate(ls):
                twin = None if k in twins else next((r for r in free if same(m, r)), None)
                if twin is not None:
                    twins[k] = twin
                    free.remove(twin)
        pairs: list[tuple[Member | None, Member | None]] = [(m, twins.get(k)) for k, m in enumerate(ls)]
        alone: list[Member] = []  # consecutive left members with no twin go into one group
        for a, b in pairs:
            if b is None:
                alone.append(a)  # type: ignore[arg-type]
                continue
            if alone:
                out.append((role, alone, []))
                alone = []
            out.append((role, [a] if a else [], [b]))
        if alone or free:
            out.append((role, alone, free))
    return out


Row = tuple[int | None, str]  # (line number, or None for a member's heading; text)


def block(ms: list[Member]) -> list[Row]:
    """The rows of ``ms``: a heading per member (when there are several), then its numbered lines."""
    rows: list[Row] = []
    for m in ms:
        if len(ms) > 1:
            rows.append((None, f"-- {m.label}  {m.where}"))
        rows += [(m.first + i, line) for i, line in enumerate(m.lines)]
    return rows


def _align(left: list[str], right: list[str]) -> list[tuple[int | None, int | None]]:
    """Row pairs (index into left or None, index into right or None), aligned as a diff aligns them."""
    rows: list[tuple[int | None, int | None]] = []
    sm = difflib.SequenceMatcher(None, [x.strip() for x in left], [x.strip() for x in right], autojunk=False)
    for _, i1, i2, j1, j2 in sm.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            rows.append((i1 + k if i1 + k < i2 else None, j1 + k if j1 + k < j2 else None))
    return rows


def _fit(text: str, width: int) -> str:
    """``text`` in ``width`` columns: padded, or cut with a marker (only below the supported width)."""
    return text.ljust(width) if len(text) <= width else text[:width - 1] + "\u2026"


def token_lines(texts: list[str]) -> list[list[tuple[Any, str]]]:
    """Pygments' Python tokens of ``texts``, split at line ends: one token list per line, so that a token
    spanning lines (a docstring) is painted on every line it covers."""
    from pygments.lexers import PythonLexer

    lines: list[list[tuple[Any, str]]] = [[]]
    for ttype, text in PythonLexer(stripnl=False, ensurenl=False).get_tokens("\n".join(texts)):
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append([])
            if part:
                lines[-1].append((ttype, part))
    return (lines + [[] for _ in texts])[:len(texts)]


def highlight(texts: list[str]) -> list[str]:
    """``texts`` (lines of Python) with terminal colours from pygments, one string per line."""
    from pygments import format as pyg_format
    from pygments.formatters import TerminalFormatter

    return [pyg_format(t, TerminalFormatter()) if t else "" for t in token_lines(texts)]


class Renderer:
    """Prints pairs of member groups in ``width`` columns and counts what it printed."""

    def __init__(self, width: int, color: bool = False) -> None:
        self.width, self.color = width, color
        self.col = (width - 3) // 2
        self.stats = Stats()

    def say(self, text: str = "", fitted: bool = False) -> None:
        """Add a printed row; ``fitted``: its cells are already cut to width (colour codes take none)."""
        self.stats.rows.append((text if fitted else _fit(text, self.width)).rstrip())

    def _cell(self, row: Row | None, painted: str | None, width: int) -> str:
        """One side of a printed row: ``1234 text`` in ``width`` columns (colour codes take no width)."""
        if row is None:
            return " " * width
        no, text = row
        plain = f"{no:>{GUTTER - 1}} {text}" if no is not None else f"{'':{GUTTER - 1}} {text}"
        if painted is None or no is None or len(plain) > width:
            return _fit(plain, width)
        return f"{no:>{GUTTER - 1}} {painted}" + " " * (width - len(plain))

    def _folded(self, n: int, sample: str) -> str:
        """A row saying lines once for both sides: ``both`` stands where a line number would."""
        if n == 1:  # one line: print it once, across both columns
            return f"{'both':>{GUTTER - 1}} {sample.rstrip()}"
        room = self.width - GUTTER - 40
        return (f"{'both':>{GUTTER - 1}} \u00b7\u00b7 {n} lines the same on both sides, from: "
                f"{textwrap.shorten(sample.strip(), max(room, 20), placeholder=' ...')}")

    def pair(self, role: str, ls: list[Member], rs: list[Member], note_l: str | None = None,
             note_r: str | None = None) -> None:
        def head(ms: list[Member], note: str | None) -> str:
            if len(ms) == 1:
                return f"{ms[0].label}  {ms[0].where}"
            return f"{len(ms)} members" if ms else (note or "(none)")

        L, R = block(ls), block(rs)
        Lt, Rt = [t for _, t in L], [t for _, t in R]
        self.stats.total_before += sum(1 for t in Lt + Rt if t.strip())
        rows = _align(Lt, Rt)
        same = [i is not None and j is not None and Lt[i].strip() == Rt[j].strip() and bool(Lt[i].strip())
                for i, j in rows]
        self.stats.identical_before += 2 * sum(same)
        if ls and rs and all(s or not ((i is not None and Lt[i].strip()) or (j is not None and Rt[j].strip()))
                             for s, (i, j) in zip(same, rows)):
            n = sum(1 for t in Lt if t.strip())
            self.say(f"{role}: {head(ls, None)} is the same on both sides ({', '.join(m.where for m in rs)}), "
                     f"{n} lines")
            self.stats.said_once += n
            self.stats.shown += n
            return
        pl = highlight(Lt) if self.color and Lt else [None] * len(L)
        pr = highlight(Rt) if self.color and Rt else [None] * len(R)
        if all(len(t) + GUTTER <= self.col for t in Lt + Rt):
            lefts = textwrap.wrap(f"{role}: {head(ls, note_l)}", self.col) or [""]
            rights = textwrap.wrap(head(rs, note_r), self.col) or [""]
            for k in range(max(len(lefts), len(rights))):  # a long heading wraps inside its column
                left = lefts[k] if k < len(lefts) else ""
                self.say((left.ljust(self.col) + " | " + (rights[k] if k < len(rights) else "")).rstrip(),
                         fitted=True)
            blank = [i is not None and j is not None and not Lt[i].strip() and not Rt[j].strip()
                     for i, j in rows]
            for kind, group in self._runs(same, blank):
                if kind == "folded":
                    n = sum(same[k] for k in group)
                    self.stats.said_once += n
                    self.stats.shown += n
                    self.say(self._folded(n, Lt[rows[group[0]][0]]))
                    continue
                i, j = rows[group[0]]
                self.stats.shown += (i is not None and bool(Lt[i].strip())) + (j is not None and bool(Rt[j].strip()))
                self.stats.twice += 2 * same[group[0]]
                left = self._cell(L[i] if i is not None else None, pl[i] if i is not None else None, self.col)
                right = self._cell(R[j] if j is not None else None, pr[j] if j is not None else None, self.col)
                self.say(left + " | " + right, fitted=True)
        else:
            for line in textwrap.wrap(f"{role}: {head(ls, note_l)}   (one above the other: wider than a column)",
                                      self.width, subsequent_indent="    "):
                self.say(line)
            for i, row in enumerate(L):
                self.stats.shown += bool(row[1].strip())
                self.say(self._cell(row, pl[i], self.width), fitted=True)
            for line in textwrap.wrap(f"-- torch: {head(rs, note_r)}", self.width, subsequent_indent="    "):
                self.say(line)
            twin = {j: k for k, (i, j) in enumerate(rows) if j is not None and same[k]}
            j = 0
            while j < len(R):
                run = j
                while run < len(R) and run in twin:
                    run += 1
                if run - j >= MIN_RUN:
                    self.stats.said_once += run - j
                    self.stats.shown += run - j
                    self.say(self._folded(run - j, Rt[j]))
                    j = run
                    continue
                self.stats.shown += bool(Rt[j].strip())
                self.stats.twice += 2 * (j in twin)
                self.say(self._cell(R[j], pr[j], self.width), fitted=True)
                j += 1
        self.say()

    @staticmethod
    def _runs(same: list[bool], blank: list[bool]) -> list[tuple[str, list[int]]]:
        """Row indices grouped: runs of >= MIN_RUN identical rows (blank rows on both sides inside may join
        them) are folded into one row; every other row stands alone."""
        out: list[tuple[str, list[int]]] = []
        k = 0
        while k < len(same):
            j = k
            while j < len(same) and (same[j] or (j > k and blank[j] and j + 1 < len(same) and same[j + 1])):
                j += 1
            if sum(same[k:j]) >= MIN_RUN:
                out.append(("folded", list(range(k, j))))
                k = j
            else:
                out.append(("row", [k]))
                k += 1
        return out


def equations(refs: tuple[str, ...]) -> list[str]:
    """The book's equations for the scratch objects ``refs``: the indented blocks of their module's
    docstring, then the first line of each object's docstring."""
    out: list[str] = []
    seen_modules = []
    for ref in refs:
        module = ref.split(":")[0]
        if module not in seen_modules:
            seen_modules.append(module)
            doc = inspect.getdoc(__import__("importlib").import_module(module)) or ""
            out += [line for line in doc.splitlines() if line.startswith("    ") and line.strip()]
    for ref in refs:
        doc = (inspect.getdoc(resolve(ref)) or "").split("\n")[0]
        if doc:
            out.append(f"{ref.split(':')[1]}: {doc}")
    return out


def render(scratch_refs: tuple[str, ...], torch_refs: tuple[str, ...], width: int,
           color: bool = False) -> Renderer:
    """The method-by-method comparison of the two sides' objects, in ``width`` columns."""
    r = Renderer(width, color)
    left = [m for ref in scratch_refs for m in members(ref)]
    right = [m for ref in torch_refs for m in members(ref)]
    for role, ls, rs in pair_members(left, right):
        method = {"forward": "forward", "backward": "backward", "weights": "state_dict"}.get(role)
        note_l = _inherited(scratch_refs, method) if method and not ls else None
        note_r = _inherited(torch_refs, method) if method and not rs else None
        r.pair(role, ls, rs, note_l, note_r)
    return r


def whole_files(left_file: str, right_file: str, width: int) -> list[str]:
    """Two whole files side by side (``--full``), aligned as a diff aligns them; long lines are cut."""
    L = (ROOT / left_file).read_text().splitlines()
    R = (ROOT / right_file).read_text().splitlines()
    col = (width - 3) // 2
    rows = []
    for i, j in _align(L, R):
        left = f"{i + 1:>{GUTTER - 1}} {L[i]}" if i is not None else ""
        right = f"{j + 1:>{GUTTER - 1}} {R[j]}" if j is not None else ""
        rows.append((_fit(left, col) + " | " + _fit(right, col)).rstrip())
    return rows


def whole_object(ref: str, width: int) -> list[str]:
    """One object's source, numbered, at full width (a concept written once for both backends)."""
    file, first = locate(ref)
    lines = inspect.getsourcelines(resolve(ref))[0]  # type: ignore[arg-type]
    return [f"{file}:{first}"] + [_fit(f"{first + i:>{GUTTER - 1}} {x.rstrip()}", width).rstrip()
                                  for i, x in enumerate(lines)]
