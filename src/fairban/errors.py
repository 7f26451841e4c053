"""Errors that reach a person as one clear line (data contract, "Errors")."""

from __future__ import annotations

from dataclasses import dataclass, field


def first_line(error: BaseException) -> str:
    """An error's message as one line for a log or a person (its type when empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class FairbanError(Exception):
    """An expected failure: the CLI prints ``str(error)`` on one line and exits non-zero."""

    exit_code = 1


class InputError(FairbanError):
    """Bad input: names the file and the row or key where it can, then what is wrong.

    ``str()`` reads like ``observations.csv row 1842: lat 123.4 is outside [-90, 90]``.
    """

    exit_code = 2

    def __init__(self, where: str | None, what: str) -> None:
        self.where = where
        self.what = what
        super().__init__(f"{where}: {what}" if where else what)


class NotFoundError(FairbanError):
    """A case, directive or other record that is not in the case store."""

    exit_code = 2


@dataclass
class ErrorList:
    """Collects input errors, keeping the first ``limit`` and counting the rest."""

    limit: int = 20
    kept: list[InputError] = field(default_factory=list)
    total: int = 0

    def add(self, error: InputError) -> None:
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(error)

    @property
    def full(self) -> bool:
        return len(self.kept) >= self.limit

    def __bool__(self) -> bool:
        return self.total > 0

    def lines(self) -> list[str]:
        out = [str(e) for e in self.kept]
        if self.total > len(self.kept):
            out.append(f"... and {self.total - len(self.kept)} more errors")
        return out

    def raise_first(self) -> None:
        """Raise the first error, for callers that need one line (the contract's rule)."""
        if self.kept:
            first = self.kept[0]
            more = self.total - 1
            what = first.what + (f" (and {more} more errors)" if more else "")
            raise InputError(first.where, what)
