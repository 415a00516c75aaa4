"""The OData ``$filter`` subset and ``$select`` that Azure Batch list operations accept.

``parse_filter`` turns the text into a small syntax tree, checks every property and operator against
the operation's table (the ``*_FILTER_PROPS`` constants), and compiles the tree into plain closures so
that matching a large task list stays cheap. ``Filter.lower_bound`` lets the server answer the
monitoring query ``stateTransitionTime gt <last seen>`` from a change log instead of scanning a job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Union

from batchnb.local.service.model.token_cursor import TokenCursor

__all__ = [
    "FILE_FILTER_PROPS",
    "JOB_FILTER_PROPS",
    "JOB_SCHEDULE_FILTER_PROPS",
    "NODE_COUNTS_FILTER_PROPS",
    "NODE_FILTER_PROPS",
    "POOL_FILTER_PROPS",
    "PREP_RELEASE_STATUS_FILTER_PROPS",
    "SUPPORTED_IMAGES_FILTER_PROPS",
    "TASK_FILTER_PROPS",
    "Filter",
    "ODataError",
    "format_datetime",
    "parse_datetime",
    "parse_filter",
    "parse_select",
    "select",
]


class ODataError(ValueError):
    """A ``$filter`` the service refuses (the server answers 400 InvalidQueryParameterValue)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"Invalid $filter{where}: {message}")


# ---------------------------------------------------------------------------------------------------
# Filterable properties per operation (spec §6)

_ORDER = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_ALL = _ORDER | {"startswith"}
_EQ_NE = frozenset({"eq", "ne"})
_EQ = frozenset({"eq"})
_START = frozenset({"startswith"})


def _entity_props() -> dict[str, set[str]]:
    """What every top-level entity (task, pool, job, job schedule) filters on; fresh sets each time."""
    return {"id": set(_ALL), "state": set(_EQ_NE), "stateTransitionTime": set(_ORDER),
            "creationTime": set(_ORDER), "lastModified": set(_ORDER)}

TASK_FILTER_PROPS: dict[str, set[str]] = {
    **_entity_props(),
    "executionInfo/startTime": set(_ORDER),
    "executionInfo/endTime": set(_ORDER),
    "executionInfo/exitCode": set(_ORDER),
    "executionInfo/result": set(_EQ_NE),
    "executionInfo/retryCount": set(_ORDER),
    "executionInfo/requeueCount": set(_ORDER),
    "nodeInfo/nodeId": set(_EQ_NE | _START),
}

NODE_FILTER_PROPS: dict[str, set[str]] = {
    "state": set(_EQ_NE),
    "stateTransitionTime": set(_ORDER),
    "lastBootTime": set(_ORDER),
    "allocationTime": set(_ORDER),
    "startTaskInfo/state": set(_EQ),
    "startTaskInfo/result": set(_EQ_NE),
    "startTaskInfo/exitCode": set(_ORDER),
    "startTaskInfo/startTime": set(_ORDER),
    "startTaskInfo/endTime": set(_ORDER),
}

POOL_FILTER_PROPS: dict[str, set[str]] = {
    **_entity_props(),
    "allocationState": set(_EQ_NE),
    "allocationStateTransitionTime": set(_ORDER),
    "vmSize": set(_EQ_NE),
}

JOB_FILTER_PROPS: dict[str, set[str]] = {
    **_entity_props(),
    "executionInfo/startTime": set(_ORDER),
    "executionInfo/endTime": set(_ORDER),
    "executionInfo/poolId": set(_ALL),
}

JOB_SCHEDULE_FILTER_PROPS: dict[str, set[str]] = _entity_props()

FILE_FILTER_PROPS: dict[str, set[str]] = {"name": set(_START)}

NODE_COUNTS_FILTER_PROPS: dict[str, set[str]] = {"poolId": set(_EQ)}

SUPPORTED_IMAGES_FILTER_PROPS: dict[str, set[str]] = {
    "osType": set(_EQ_NE),
    "verificationType": set(_EQ_NE),
    "nodeAgentSKUId": set(_EQ_NE),
}

PREP_RELEASE_STATUS_FILTER_PROPS: dict[str, set[str]] = {
    "nodeId": set(_EQ),
    "poolId": set(_EQ),
    "jobPreparationTaskExecutionInfo/state": set(_EQ_NE),
    "jobReleaseTaskExecutionInfo/state": set(_EQ_NE),
}


# ---------------------------------------------------------------------------------------------------
# Datetimes

_ISO_FRACTION = re.compile(r"\.(\d{7,})")


def parse_datetime(s: str) -> datetime:
    """Parse an ISO 8601 (0-7+ fractional digits, ``Z`` or offset) or RFC 1123 time into aware UTC."""
    text = s.strip()
    if not text:
        raise ValueError("empty datetime")
    if "," in text or text[-3:].upper() == "GMT":
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            raise ValueError(f"not an RFC 1123 datetime: {text!r}") from exc
        if dt is None:
            raise ValueError(f"not an RFC 1123 datetime: {text!r}")
    else:
        # Batch writes 100 ns ticks (7 digits); datetime holds microseconds, so drop the rest.
        text = _ISO_FRACTION.sub(lambda m: "." + m.group(1)[:6], text)
        if text[-1:] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 datetime: {s!r}") from exc
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError as exc:  # e.g. year 1 with a positive offset
        raise ValueError(f"datetime out of range: {s!r}") from exc


def format_datetime(dt: datetime) -> str:
    """Format like the service: ``2026-11-25T19:00:00.1234560Z`` (UTC, 7 fractional digits)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def _sort_key(dt: datetime) -> str:
    """A string that sorts like the UTC instant (microsecond precision)."""
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        f".{dt.microsecond:06d}"
    )


# Documents carry times as ISO strings. The service's own form ('...:SS.fffffffZ', 28 characters) is
# compared as text, which avoids parsing 100,000 timestamps per query; other forms are parsed once.
_KEY_CACHE: dict[str, str | None] = {}
_KEY_CACHE_MAX = 100_000


def _doc_time_key(value: Any) -> str | None:
    if isinstance(value, str):
        if len(value) == 28 and value[27] == "Z" and value[19] == "." and value[10] == "T" and value[4] == "-":
            return value[:26]
        try:
            return _KEY_CACHE[value]
        except KeyError:
            pass
        try:
            key: str | None = _sort_key(parse_datetime(value))
        except ValueError:
            key = None
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[value] = key
        return key
    if isinstance(value, datetime):
        return _sort_key(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return None


# ---------------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class _Compare:
    prop: str
    op: str  # eq ne gt ge lt le startswith
    value: Any  # str | int | float | bool | datetime | None


@dataclass(frozen=True)
class _And:
    parts: tuple[_Node, ...]  # flat, so long chains need no deep recursion


@dataclass(frozen=True)
class _Or:
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Not:
    operand: _Node


_Node = Union[_Compare, _And, _Or, _Not]


# ---------------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>(?i:datetime)'(?P<dtbody>[^']*)')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*(?:/[A-Za-z_$][A-Za-z0-9_$]*)*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_MAX_DEPTH = 100
_MAX_LENGTH = 32_768


@dataclass(frozen=True)
class _Tok:
    kind: str  # datetime string number name punct end
    text: str
    pos: int
    value: Any = None


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] == "'":
                raise ODataError("unterminated string literal", pos)
            raise ODataError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup
        if kind == "dtbody":  # lastgroup reports the innermost group
            kind = "datetime"
        raw = m.group(0)
        if kind == "datetime":
            body = m.group("dtbody")
            try:
                value: Any = parse_datetime(body)
            except ValueError:
                raise ODataError(f"invalid datetime literal {_short(raw)}", pos) from None
            tokens.append(_Tok("datetime", raw, pos, value))
        elif kind == "string":
            tokens.append(_Tok("string", raw, pos, raw[1:-1].replace("''", "'")))
        elif kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(_Tok("number", raw, pos, value))
        elif kind in ("name", "punct"):
            tokens.append(_Tok(kind, raw, pos))
        pos = m.end()
    tokens.append(_Tok("end", "", n))
    return tokens


# ---------------------------------------------------------------------------------------------------
# Parser (recursive descent; 'and' binds tighter than 'or', as in OData)


class _Parser(TokenCursor[_Tok]):
    def __init__(self, text: str, allowed: dict[str, set[str]]) -> None:
        super().__init__(_tokenize(text))
        self.allowed = allowed

    def is_keyword(self, tok: _Tok, *words: str) -> bool:
        return tok.kind == "name" and tok.text.lower() in words

    def expect_punct(self, ch: str) -> _Tok:
        tok = self.take()
        if tok.kind != "punct" or tok.text != ch:
            raise ODataError(f"expected {ch!r} but found {self._describe(tok)}", tok.pos)
        return tok

    @staticmethod
    def _describe(tok: _Tok) -> str:
        return "end of filter" if tok.kind == "end" else _short(tok.text)

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise ODataError("empty filter", 0)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise ODataError(f"unexpected {self._describe(tok)}; expected 'and', 'or' or the end", tok.pos)
        return node

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ODataError("filter is nested too deeply", pos)

    def parse_or(self) -> _Node:
        return self._chain("or", self.parse_and, _Or)

    def parse_and(self) -> _Node:
        return self._chain("and", self.parse_unary, _And)

    def _chain(self, word: str, parse_part: Callable[[], _Node], combine: Callable[[tuple[_Node, ...]], _Node]) -> _Node:
        """``part (word part)*``: one node, or ``combine`` of all of them."""
        parts = [parse_part()]
        while self.is_keyword(self.peek(), word):
            self.take()
            parts.append(parse_part())
        return parts[0] if len(parts) == 1 else combine(tuple(parts))

    def parse_unary(self) -> _Node:
        tok = self.peek()
        if self.is_keyword(tok, "not"):
            self.take()
            self.enter(tok.pos)
            node: _Node = _Not(self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> _Node:
        tok = self.take()
        if tok.kind == "punct" and tok.text == "(":
            self.enter(tok.pos)
            node = self.parse_or()
            self.expect_punct(")")
            self.depth -= 1
            return node
        if self.is_keyword(tok, "startswith") and self.peek().text == "(":
            return self.parse_startswith(tok)
        if tok.kind != "name" or tok.text.lower() in ("and", "or", "not"):
            raise ODataError(f"expected a property name but found {self._describe(tok)}", tok.pos)
        prop = tok.text
        if prop not in self.allowed:
            raise ODataError(f"property {_short(prop)} cannot be used in a filter here", tok.pos)
        op_tok = self.take()
        op = op_tok.text.lower() if op_tok.kind == "name" else ""
        if op not in _COMPARISONS:
            raise ODataError(
                f"expected an operator (eq ne gt ge lt le) after {_short(prop)} but found "
                f"{self._describe(op_tok)}",
                op_tok.pos,
            )
        if op not in self.allowed[prop]:
            raise ODataError(f"operator '{op}' is not supported for property {_short(prop)}", op_tok.pos)
        value = self.parse_literal()
        return _Compare(prop, op, value)

    def parse_startswith(self, fn_tok: _Tok) -> _Node:
        self.expect_punct("(")
        prop_tok = self.take()
        if prop_tok.kind != "name":
            raise ODataError(f"expected a property name but found {self._describe(prop_tok)}", prop_tok.pos)
        prop = prop_tok.text
        if prop not in self.allowed:
            raise ODataError(f"property {_short(prop)} cannot be used in a filter here", prop_tok.pos)
        if "startswith" not in self.allowed[prop]:
            raise ODataError(f"function 'startswith' is not supported for property {_short(prop)}", fn_tok.pos)
        self.expect_punct(",")
        lit = self.take()
        if lit.kind != "string":
            raise ODataError(f"startswith needs a quoted string but found {self._describe(lit)}", lit.pos)
        self.expect_punct(")")
        node: _Node = _Compare(prop, "startswith", lit.value)
        # OData v3 clients often write `startswith(p,'x') eq true`.
        nxt = self.peek()
        if self.is_keyword(nxt, "eq", "ne"):
            self.take()
            b = self.take()
            if not self.is_keyword(b, "true", "false"):
                raise ODataError(f"expected true or false but found {self._describe(b)}", b.pos)
            if (nxt.text.lower() == "eq") != (b.text.lower() == "true"):
                node = _Not(node)
        return node

    def parse_literal(self) -> Any:
        tok = self.take()
        if tok.kind in ("string", "number", "datetime"):
            return tok.value
        if tok.kind == "name":
            word = tok.text.lower()
            if word == "true":
                return True
            if word == "false":
                return False
            if word == "null":
                return None
        raise ODataError(f"expected a literal value but found {self._describe(tok)}", tok.pos)


# ---------------------------------------------------------------------------------------------------
# Compilation into closures

_Pred = Callable[[dict], bool]


def _getter(prop: str) -> Callable[[dict], Any]:
    parts = prop.split("/")
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: doc.get(key)
    if len(parts) == 2:
        a, b = parts

        def get2(doc: dict) -> Any:
            inner = doc.get(a)
            return inner.get(b) if isinstance(inner, dict) else None

        return get2

    def get_n(doc: dict) -> Any:
        cur: Any = doc
        for part in parts:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(part)
        return cur

    return get_n


def _ordered(op: str, key: Callable[[Any], Any], lit: Any) -> _Pred:
    """A comparison of ``key(value)`` against ``lit``; a key of None means 'not comparable'."""
    if op == "eq":
        return lambda v: (k := key(v)) is not None and k == lit
    if op == "ne":
        return lambda v: (k := key(v)) is None or k != lit
    if op == "gt":
        return lambda v: (k := key(v)) is not None and k > lit
    if op == "ge":
        return lambda v: (k := key(v)) is not None and k >= lit
    if op == "lt":
        return lambda v: (k := key(v)) is not None and k < lit
    return lambda v: (k := key(v)) is not None and k <= lit


def _str_key(v: Any) -> str | None:
    return v.lower() if isinstance(v, str) else None


def _num_key(v: Any) -> float | int | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _bool_key(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _value_predicate(op: str, lit: Any) -> Callable[[Any], bool]:
    if op == "startswith":
        prefix = lit.lower()
        return lambda v: isinstance(v, str) and v.lower().startswith(prefix)
    if lit is None:
        # Only equality makes sense against null; ordering against null matches nothing.
        if op == "eq":
            return lambda v: v is None
        if op == "ne":
            return lambda v: v is not None
        return lambda v: False
    if isinstance(lit, bool):
        if op in ("eq", "ne"):
            return _ordered(op, _bool_key, lit)
        return lambda v: False
    if isinstance(lit, datetime):
        return _ordered(op, _doc_time_key, _sort_key(lit))
    if isinstance(lit, str):
        return _ordered(op, _str_key, lit.lower())
    return _ordered(op, _num_key, lit)


def _compile(node: _Node) -> _Pred:
    if isinstance(node, _Compare):
        get = _getter(node.prop)
        test = _value_predicate(node.op, node.value)
        return lambda doc: test(get(doc))
    if isinstance(node, (_And, _Or)):
        return _junction([_compile(part) for part in node.parts], any_of=isinstance(node, _Or))
    operand = _compile(node.operand)
    return lambda doc: not operand(doc)


def _junction(preds: list[_Pred], *, any_of: bool) -> _Pred:
    """``and`` (``any_of`` False) or ``or`` of the parts, stopping at the first part that decides; two
    parts, the usual case, get a plain lambda (the filter runs once per entity of a large list)."""
    if len(preds) == 2:
        first, second = preds
        if any_of:
            return lambda doc: first(doc) or second(doc)
        return lambda doc: first(doc) and second(doc)

    def junction(doc: dict) -> bool:
        for pred in preds:
            if bool(pred(doc)) is any_of:
                return any_of
        return not any_of

    return junction


def _conjuncts(node: _Node) -> list[_Node]:
    if isinstance(node, _And):
        return [leaf for part in node.parts for leaf in _conjuncts(part)]
    return [node]


class Filter:
    """A parsed, checked and compiled ``$filter``."""

    __slots__ = ("text", "_tree", "_match")

    def __init__(self, text: str, tree: _Node) -> None:
        self.text = text
        self._tree = tree
        self._match = _compile(tree)

    def matches(self, doc: dict) -> bool:
        """Whether the entity's REST JSON satisfies the filter."""
        return self._match(doc)

    def lower_bound(self, prop: str) -> tuple[datetime, bool] | None:
        """The tightest ``prop gt/ge <datetime>`` bound every match must satisfy, as (time, inclusive).

        Only a conjunction is bounded: under ``or`` or ``not`` a clause no longer constrains all matches.
        """
        best: tuple[datetime, bool] | None = None
        for clause in _conjuncts(self._tree):
            if not (isinstance(clause, _Compare) and clause.prop == prop and isinstance(clause.value, datetime)):
                continue
            if clause.op not in ("gt", "ge"):
                continue
            bound = (clause.value, clause.op == "ge")
            if best is None or bound[0] > best[0] or (bound[0] == best[0] and not bound[1]):
                best = bound
        return best

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def parse_filter(text: str, allowed: dict[str, set[str]]) -> Filter:
    """Parse ``text`` against the properties and operators ``allowed`` for one list operation."""
    if not isinstance(text, str):
        raise ODataError("filter must be a string")
    if len(text) > _MAX_LENGTH:
        raise ODataError(f"filter is longer than {_MAX_LENGTH} characters")
    return Filter(text, _Parser(text, allowed).parse())


# ---------------------------------------------------------------------------------------------------
# $select


def parse_select(text: str) -> list[str]:
    """Split a ``$select`` value into property names (spaces around commas are allowed)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def select(doc: dict, fields: list[str]) -> dict:
    """Keep only the listed top-level properties that the entity has (names are case-sensitive)."""
    return {name: doc[name] for name in fields if name in doc}
