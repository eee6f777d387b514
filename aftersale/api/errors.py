"""Errors the endpoints raise, answered as JSON with the path of the value at fault."""

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class ApiError(Exception):
    """An answer with `status` naming the value at `loc` (e.g. ["path", "external_id"])
    and what is wrong with it, in the shape of a validation error."""

    def __init__(self, status: int, loc: Sequence[str | int], msg: str, kind: str) -> None:
        super().__init__(msg)
        self.status, self.loc, self.msg, self.kind = status, list(loc), msg, kind

    def body(self) -> dict[str, object]:
        """The JSON answer: {"detail": [{"type", "loc", "msg"}]}."""
        return {"detail": [{"type": self.kind, "loc": self.loc, "msg": self.msg}]}


def found(value: T | None, *, loc: Sequence[str | int], what: str) -> T:
    """`value`, or a 404 naming `loc` when the store has no such `what`: another store's
    objects are as unknown as those that do not exist."""
    if value is None:
        raise ApiError(404, loc, f"this store has no {what}", "not_found")
    return value


def without_nul(value: str, *, loc: Sequence[str | int]) -> str:
    """`value`, or a 422 naming `loc` when it holds a NUL character: PostgreSQL refuses one
    in a text comparison (a server error otherwise), and no stored value holds one."""
    if "\x00" in value:
        raise ApiError(422, loc, "must not contain a NUL character", "nul_character")
    return value
