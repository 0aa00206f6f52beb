"""A concept's two implementations as HTML: members paired by role (as `dlfs show` pairs them), lines
aligned as a diff aligns them, highlighted by Pygments, and what is the same on both sides said once.

``comparison(left_refs, right_refs)`` returns the groups a template lays out in two columns:

    [Group(role="forward", left=Head(...), right=Head(...), rows=[Row(...), ...], same=False), ...]

A row is one aligned line (a cell per side) or a *fold*: a run of lines identical on both sides, shown
once across both columns and collapsed. A group whose members are identical line for line is one fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup
from pygments import format as pyg_format
from pygments.formatters import HtmlFormatter

from study.show import Member, _align, _inherited, block, members, pair_members, token_lines

FORMATTER = HtmlFormatter(nowrap=True)


def css() -> str:
    """Pygments' colours for ``.hl`` blocks (the default style)."""
    return HtmlFormatter(style="default").get_style_defs(".hl")


def highlight(lines: list[str]) -> list[Markup]:
    """``lines`` of Python as HTML, one string per line (no span crosses a line)."""
    return [Markup(pyg_format(tokens, FORMATTER)) if tokens else Markup("") for tokens in token_lines(lines)]


@dataclass
class Cell:
    """One side of an aligned row: the source line's number (None for a member's heading) and HTML."""

    line: int | None
    html: Markup
    file: str = ""


@dataclass
class Row:
    left: Cell | None = None
    right: Cell | None = None
    fold: list[Cell] = field(default_factory=list)  # lines the same on both sides, said once

    @property
    def kind(self) -> str:
        return "fold" if self.fold else "pair"


@dataclass
class Head:
    """A group's heading on one side: what it holds and where (``file:line``), or where it is inherited."""

    label: str
    file: str = ""
    line: int = 0
    note: str = ""


@dataclass
class Group:
    role: str
    left: Head
    right: Head
    rows: list[Row]
    same: bool = False  # every line identical: the group is one fold

    @property
    def folded_lines(self) -> int:
        return sum(len(r.fold) for r in self.rows)


def _head(ms: list[Member], note: str | None) -> Head:
    if len(ms) == 1:
        return Head(ms[0].label, ms[0].file, ms[0].first)
    if ms:
        return Head(", ".join(m.label for m in ms), ms[0].file, ms[0].first)
    return Head("(none)", note=note or "")


def _cells(ms: list[Member]) -> list[Cell]:
    rows = block(ms)
    painted = highlight([text for _, text in rows])
    files = [m.file for m in ms for _ in range(len(m.lines) + (len(ms) > 1))]
    return [Cell(no, html if no is not None else Markup(f"<em>{escape(text)}</em>"), file)
            for (no, text), html, file in zip(rows, painted, files)]


def group(role: str, ls: list[Member], rs: list[Member], note_l: str | None = None,
          note_r: str | None = None) -> Group:
    """One pair of member groups, aligned; runs of lines identical on both sides become folds."""
    L, R = _cells(ls), _cells(rs)
    Lt = [t for m in ls for t in ([f"-- {m.label}"] if len(ls) > 1 else []) + m.lines]
    Rt = [t for m in rs for t in ([f"-- {m.label}"] if len(rs) > 1 else []) + m.lines]
    rows: list[Row] = []
    for i, j in _align(Lt, Rt):
        same = i is not None and j is not None and Lt[i].strip() == Rt[j].strip()
        if same and L[i].line is not None:
            if rows and rows[-1].fold:
                rows[-1].fold.append(L[i])
            else:
                rows.append(Row(fold=[L[i]]))
            continue
        rows.append(Row(L[i] if i is not None else None, R[j] if j is not None else None))
    same_all = bool(ls and rs) and all(r.fold or not any(
        c is not None and c.line is not None and str(c.html).strip() for c in (r.left, r.right))
        for r in rows)
    return Group(role, _head(ls, note_l), _head(rs, note_r), rows, same_all)


def comparison(left_refs: tuple[str, ...], right_refs: tuple[str, ...]) -> list[Group]:
    """The method-by-method comparison of two sides' objects (``"module:qualname"`` references)."""
    left = [m for ref in left_refs for m in members(ref)]
    right = [m for ref in right_refs for m in members(ref)]
    out = []
    for role, ls, rs in pair_members(left, right):
        method = {"forward": "forward", "backward": "backward", "weights": "state_dict"}.get(role)
        note_l = _inherited(left_refs, method) if method and not ls else None
        note_r = _inherited(right_refs, method) if method and not rs else None
        out.append(group(role, ls, rs, note_l, note_r))
    return out


def single(refs: tuple[str, ...]) -> list[Group]:
    """Objects written once for both backends (in the ``dlfs`` core): each member as one fold."""
    out = []
    for ref in refs:
        for m in members(ref):
            cells = _cells([m])
            out.append(Group(m.role, Head(m.label, m.file, m.first), Head(m.label, m.file, m.first),
                             [Row(fold=cells)], same=True))
    return out
