"""Errors and warnings of nq21model, in one place."""
from __future__ import annotations

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


#: Violations listed in a message; the rest are counted (all are in ``.violations``).
_SHOWN = 30


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
        head = f"{n} problems in the input:"
        shown = [f"  - {v}" for v in self.violations[:_SHOWN]]
        if n > _SHOWN:
            shown.append(f"  … and {n - _SHOWN} more of the same kinds (fix these and run again)")
        return "\n".join([head] + shown)


class ParameterError(ValueError):
    """A scenario or command parameter out of its allowed range."""


class ConvergenceWarning(RuntimeWarning):
    """A statistical fit did not converge."""


class DataWarning(UserWarning):
    """Input that runs but that a user should look at (e.g. totals that do not add up)."""
