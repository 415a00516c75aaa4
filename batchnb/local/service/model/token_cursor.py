"""A cursor over a token list that ends with an ``end`` token: the shared base of the two
hand-written parsers, the OData ``$filter`` parser (http/odata.py) and the autoscale formula parser
(model/autoscale.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar


class _Token(Protocol):
    kind: str


TokenT = TypeVar("TokenT", bound=_Token)


class TokenCursor(Generic[TokenT]):
    """``peek``/``take`` over ``tokens``; ``take`` never moves past the ``end`` token, so a parser
    that asks for more than the input holds meets ``end`` (and reports it) instead of an IndexError.
    ``depth`` is for the parser to count open nesting and refuse input deep enough to exhaust the stack."""

    def __init__(self, tokens: Sequence[TokenT]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> TokenT:
        return self.tokens[self.i]

    def take(self) -> TokenT:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok
