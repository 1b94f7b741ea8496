"""Errors and warnings of nq21model, in one place."""
from __future__ import annotations

import re
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """One broken rule at one place of one input file.

    ``row`` is the row number as the user sees it in Excel (the header is row 1),
    ``column`` the header as the user's file spells it; either may be None when
    the rule concerns the whole file.
    """

    file: str
    row: int | None
    column: str | None
    rule: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.rule}"


#: Lines of a message; the rest are counted (every violation is in ``.violations``).
_SHOWN = 30
#: Violations of one kind (one file, column and rule, whatever the values) listed each;
#: more of a kind make one line, its first and the rows of the others.
_EACH = 3
_VALUES = re.compile(r"'[^']*'|\d+(?:,\d{3})*")  # a value, a number (1,234 too)


class DataError(ValueError):
    """Input data that breaks the schema; carries every violation found."""

    def __init__(self, violations: list[Violation] | Violation):
        if isinstance(violations, Violation):
            violations = [violations]
        self.violations = list(violations)
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.violations)
        if n == 1:
            return str(self.violations[0])
        kinds: dict = {}  # a blank in 9,000 rows is one line, not 9,000
        for v in self.violations:  # one without a row is said in full (its values are all there is)
            kind = (v.file, v.column, _VALUES.sub("·", v.rule)) if v.row is not None else id(v)
            kinds.setdefault(kind, []).append(v)
        lines = []
        for same in kinds.values():
            if len(same) <= _EACH:
                lines += [f"  - {v}" for v in same]
                continue
            rows = [v.row for v in same[1:] if v.row is not None]
            listed = ", ".join(map(str, rows[:10])) + (", …" if len(rows) > 10 else "")
            lines.append(f"  - {same[0]} — and {len(same) - 1:,} more like it" + (f" (rows {listed})" if rows else ""))
        shown = lines[:_SHOWN]
        if len(lines) > _SHOWN:
            shown.append(f"  … and {len(lines) - _SHOWN} more (fix these and run again)")
        return "\n".join([f"{n:,} problems in the input:"] + shown)


class ParameterError(ValueError):
    """A scenario or command parameter out of its allowed range."""


class ConvergenceWarning(RuntimeWarning):
    """A statistical fit did not converge."""


class DataWarning(UserWarning):
    """Input that runs but that a user should look at (e.g. totals that do not add up)."""


_DEFERRED = threading.local()


def warn(message: str, category: type[Warning] | None = None, stacklevel: int = 2) -> None:
    """``warnings.warn`` (a :class:`DataWarning` by default), or the warning kept for
    later on a thread inside :func:`deferred_warnings`."""
    category = DataWarning if category is None else category
    sink = getattr(_DEFERRED, "sink", None)
    if sink is not None:
        sink.append((message, category))
    else:
        warnings.warn(message, category, stacklevel=stacklevel + 1)


@contextmanager
def deferred_warnings():
    """The :func:`warn` warnings of this thread kept in the list it yields, not shown:
    a file read on another thread warns when its results are taken, in the order a
    reading one file after the other would warn (Python's warnings know no threads)."""
    sink: list = []
    outer, _DEFERRED.sink = getattr(_DEFERRED, "sink", None), sink
    try:
        yield sink
    finally:
        _DEFERRED.sink = outer
