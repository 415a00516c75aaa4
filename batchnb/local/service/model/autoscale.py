"""A useful subset of the Azure Batch autoscale formula language, evaluated against local samples.

A formula is a list of assignments (``$TargetDedicatedNodes = min(10, $x);``) separated by ``;`` or
line breaks, with ``//`` and ``/* */`` comments. Values are doubles, double vectors, time intervals,
timestamps and strings, as in Batch. Service sample variables (``$PendingTasks``, ``$ActiveTasks``, ...)
are read through ``.GetSample()``, ``.GetSamplePercent()``, ``.Count()``, ``.HistoryBeginTime()`` and
``.GetSamplePeriod()``.

``check_syntax`` finds everything that does not depend on sample data (unknown functions, misspelt
variables, writes to read-only variables) so the server can answer 400 AutoScalingFormulaSyntaxError
at once. ``evaluate`` reports data-dependent failures (too few samples, a bad value) in
``AutoScaleOutcome.error`` the way an autoscale run does, and then leaves the targets unchanged.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from batchnb.local.service.model.quotas import MAX_TARGET_NODES
from batchnb.local.service.model.token_cursor import TokenCursor

__all__ = [
    "SAMPLE_PERIOD",
    "AutoScaleContext",
    "AutoScaleOutcome",
    "AutoScaleSyntaxError",
    "Samples",
    "check_syntax",
    "evaluate",
]

# Batch records a sample of every metric every 30 seconds; percentages are measured against this.
SAMPLE_PERIOD = timedelta(seconds=30)

DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")

_SAMPLE_VARS = (
    "$ActiveTasks",
    "$RunningTasks",
    "$PendingTasks",
    "$SucceededTasks",
    "$FailedTasks",
    "$CPUPercent",
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$SampleNodeCount",
    "$UsableNodeCount",
    "$PreemptedNodeCount",
)
_SCALAR_VARS = ("$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$TaskSlotsPerNode")
_WRITABLE_VARS = ("$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$NodeDeallocationOption")
_READ_ONLY = frozenset(_SAMPLE_VARS + _SCALAR_VARS)

_INTERVALS = {
    "TimeInterval_Zero": timedelta(0),
    "TimeInterval_100ns": timedelta(microseconds=0.1),
    "TimeInterval_Microsecond": timedelta(microseconds=1),
    "TimeInterval_Millisecond": timedelta(milliseconds=1),
    "TimeInterval_Second": timedelta(seconds=1),
    "TimeInterval_Minute": timedelta(minutes=1),
    "TimeInterval_Hour": timedelta(hours=1),
    "TimeInterval_Day": timedelta(days=1),
    "TimeInterval_Week": timedelta(weeks=1),
    "TimeInterval_Year": timedelta(days=365),
}

_SAMPLE_METHODS = {"GetSample", "GetSamplePercent", "GetSamplePeriod", "Count", "HistoryBeginTime"}
_TIMESTAMP_MEMBERS = {"year", "month", "day", "weekday", "hour", "minute", "second"}

_MAX_DEPTH = 40  # nesting of the syntax tree; keeps evaluation far from Python's recursion limit
_MAX_STATEMENTS = 100


# ---------------------------------------------------------------------------------------------------
# Public data types


class AutoScaleSyntaxError(ValueError):
    """The formula cannot be evaluated at all (the service answers 400 AutoScalingFormulaSyntaxError)."""

    def __init__(self, message: str, position: int | None = None, line: int | None = None, col: int | None = None):
        self.position = position
        self.line = line
        self.col = col
        where = f"Line {line}, Col {col}: " if line is not None else ""
        super().__init__(f"{where}{message}")


@dataclass
class Samples:
    """One metric's history: (time, value) pairs, oldest first."""

    values: list[tuple[datetime, float]] = field(default_factory=list)

    def plus(self, other: Samples) -> Samples:
        """Add two series sample by sample (same timestamps), e.g. active + running = pending."""
        totals: dict[datetime, float] = {}
        for when, value in self.values + other.values:
            totals[when] = totals.get(when, 0.0) + value
        return Samples(sorted(totals.items()))


@dataclass
class AutoScaleContext:
    now: datetime
    pending: Samples  # $PendingTasks; Batch defines it as active + running (see Samples.plus)
    active: Samples
    running: Samples
    current_dedicated: int
    current_low_priority: int
    target_dedicated: int
    target_low_priority: int
    task_slots_per_node: int = 1
    # Any other service sample variable by its formula name, e.g. {"$CPUPercent": Samples(...)}.
    other_samples: dict[str, Samples] = field(default_factory=dict)


@dataclass
class AutoScaleOutcome:
    target_dedicated: int
    target_low_priority: int
    node_deallocation_option: str
    results: str  # "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;..."
    error: dict | None = None  # AutoScaleRunError shape: {"code", "message", "values": [{"name", "value"}]}


# ---------------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n\f\v]+)
  | (?P<linecomment>//[^\n]*)
  | (?P<blockcomment>/\*.*?\*/)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>"[^"\n]*")
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/<>!?:().,=;])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # number string name op end
    text: str
    pos: int
    newline_before: bool


class _Source:
    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, pos: int) -> tuple[int, int]:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, pos - self.line_starts[lo] + 1

    def error(self, message: str, pos: int) -> AutoScaleSyntaxError:
        line, col = self.where(pos)
        return AutoScaleSyntaxError(message, pos, line, col)


def _tokenize(src: _Source) -> list[_Tok]:
    text = src.text
    tokens: list[_Tok] = []
    pos = 0
    newline = True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if text.startswith("/*", pos) and (m is None or m.lastgroup != "blockcomment"):
            raise src.error("unterminated /* comment", pos)
        if m is None:
            if text[pos] == '"':
                raise src.error("unterminated string", pos)
            raise src.error(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        raw = m.group(0)
        if kind in ("ws", "linecomment", "blockcomment"):
            newline = newline or "\n" in raw
        else:
            tokens.append(_Tok(kind, raw, pos, newline))
            newline = False
        pos = m.end()
    tokens.append(_Tok("end", "", len(text), True))
    return tokens


# ---------------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class _Num:
    value: float


@dataclass(frozen=True)
class _Str:
    value: str


@dataclass(frozen=True)
class _Var:
    name: str
    pos: int


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Expr, ...]
    pos: int


@dataclass(frozen=True)
class _Method:
    target: _Expr
    name: str
    args: tuple[_Expr, ...]
    pos: int


@dataclass(frozen=True)
class _Member:
    target: _Expr
    name: str
    pos: int


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: _Expr
    pos: int


@dataclass(frozen=True)
class _Chain:
    """``first op1 e1 op2 e2 ...`` at one precedence level, evaluated left to right.

    Kept flat (not a left-leaning tree) so a long sum costs no recursion depth.
    """

    first: _Expr
    rest: tuple[tuple[str, _Expr, int], ...]  # (operator, operand, operator position)


@dataclass(frozen=True)
class _Ternary:
    cond: _Expr
    then: _Expr
    other: _Expr
    pos: int


_Expr = Union[_Num, _Str, _Var, _Call, _Method, _Member, _Unary, _Chain, _Ternary]


@dataclass(frozen=True)
class _Assign:
    name: str
    expr: _Expr
    pos: int


# ---------------------------------------------------------------------------------------------------
# Functions: name -> (min args, max args or None, implementation); arguments are evaluated values.


class _EvalError(Exception):
    def __init__(self, code: str, message: str, detail: str, pos: int) -> None:
        super().__init__(detail)
        self.code = code
        self.message = message
        self.detail = detail
        self.pos = pos


class _Fail(Exception):
    """A value-level failure; the evaluator adds the position and wraps it in _EvalError."""


class _Stop(Exception):
    pass


def _flatten(args: list[Any], fname: str) -> list[float]:
    out: list[float] = []
    for arg in args:
        if isinstance(arg, float):
            out.append(arg)
        elif isinstance(arg, list):
            out.extend(arg)
        else:
            raise _Fail(f"{fname}() takes doubles and double vectors, not {_type_name(arg)}")
    return out


def _nonempty(values: list[float], fname: str) -> list[float]:
    if not values:
        raise _Fail(f"{fname}() of an empty vector")
    return values


def _elementwise(fn: Callable[[float], float], fname: str) -> Callable[[list[Any]], Any]:
    def apply(args: list[Any]) -> Any:
        (arg,) = args
        if isinstance(arg, float):
            return fn(arg)
        if isinstance(arg, list):
            return [fn(v) for v in arg]
        raise _Fail(f"{fname}() takes a double or a double vector, not {_type_name(arg)}")

    return apply


def _log_domain(fn: Callable[[float], float]) -> Callable[[float], float]:
    def safe(x: float) -> float:
        if x <= 0:
            raise _Fail("logarithm of a value <= 0")
        return fn(x)

    return safe


def _percentile(args: list[Any]) -> float:
    vec, p = args
    values = sorted(_nonempty(_flatten([vec], "percentile"), "percentile"))
    if not isinstance(p, float) or not 0 <= p <= 100:
        raise _Fail("percentile() needs a percentage between 0 and 100")
    index = (len(values) - 1) * p / 100
    lo, hi = math.floor(index), math.ceil(index)
    return values[lo] + (values[hi] - values[lo]) * (index - lo)


def _val(args: list[Any]) -> float:
    vec, i = args
    if not isinstance(vec, list) or not isinstance(i, float):
        raise _Fail("val() takes a double vector and an index")
    if not (0 <= i < len(vec)) or i != int(i):
        raise _Fail(f"val() index {_fmt(i)} is outside a vector of {len(vec)}")
    return vec[int(i)]


def _stop(args: list[Any]) -> float:
    raise _Stop()


_FUNCTIONS: dict[str, tuple[int, int | None, Callable[[list[Any]], Any]]] = {
    "avg": (1, None, lambda a: statistics.fmean(_nonempty(_flatten(a, "avg"), "avg"))),
    "sum": (1, None, lambda a: math.fsum(_flatten(a, "sum"))),
    "min": (1, None, lambda a: min(_nonempty(_flatten(a, "min"), "min"))),
    "max": (1, None, lambda a: max(_nonempty(_flatten(a, "max"), "max"))),
    "len": (1, None, lambda a: float(len(_flatten(a, "len")))),
    "range": (1, None, lambda a: (lambda v: max(v) - min(v))(_nonempty(_flatten(a, "range"), "range"))),
    "std": (1, None, lambda a: statistics.pstdev(_nonempty(_flatten(a, "std"), "std"))),
    "norm": (1, None, lambda a: math.sqrt(math.fsum(v * v for v in _flatten(a, "norm")))),
    "ceil": (1, 1, _elementwise(lambda x: float(math.ceil(x)), "ceil")),
    "floor": (1, 1, _elementwise(lambda x: float(math.floor(x)), "floor")),
    "lg": (1, 1, _elementwise(_log_domain(math.log2), "lg")),
    "ln": (1, 1, _elementwise(_log_domain(math.log), "ln")),
    "log": (1, 1, _elementwise(_log_domain(math.log10), "log")),
    "percentile": (2, 2, _percentile),
    "rand": (0, 0, lambda a: random.random()),
    "val": (2, 2, _val),
    "stop": (0, 0, _stop),
    "time": (0, 1, lambda a: a),  # needs the context: handled by the evaluator
}


# ---------------------------------------------------------------------------------------------------
# Parser


class _Parser(TokenCursor[_Tok]):
    def __init__(self, src: _Source) -> None:
        super().__init__(_tokenize(src))
        self.src = src

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text == text

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            raise self.src.error(f"expected '{text}' but found {self.describe(tok)}", tok.pos)
        return tok

    @staticmethod
    def describe(tok: _Tok) -> str:
        if tok.kind == "end":
            return "end of formula"
        return repr(tok.text if len(tok.text) <= 30 else tok.text[:27] + "...")

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.src.error("expression is nested too deeply", pos)

    def parse(self) -> list[_Assign]:
        statements: list[_Assign] = []
        while True:
            while self.at(";"):
                self.take()
            tok = self.peek()
            if tok.kind == "end":
                break
            statements.append(self.statement())
            if len(statements) > _MAX_STATEMENTS:
                raise self.src.error(f"a formula may have at most {_MAX_STATEMENTS} statements", tok.pos)
            nxt = self.peek()
            if self.at(";"):
                self.take()
            elif nxt.kind != "end" and not nxt.newline_before:
                raise self.src.error(f"expected ';' but found {self.describe(nxt)}", nxt.pos)
        if not statements:
            raise self.src.error("the formula has no statements", 0)
        return statements

    def statement(self) -> _Assign:
        tok = self.take()
        if tok.kind != "name" or tok.text in _FUNCTIONS or tok.text in _INTERVALS:
            raise self.src.error(f"expected a variable to assign but found {self.describe(tok)}", tok.pos)
        if tok.text in _READ_ONLY:
            raise self.src.error(f"{tok.text} is read-only", tok.pos)
        if tok.text.lower() in DEALLOCATION_OPTIONS:
            raise self.src.error(f"{tok.text!r} is a reserved word", tok.pos)
        eq = self.take()
        if eq.kind != "op" or eq.text != "=":
            raise self.src.error(f"expected '=' after {tok.text} but found {self.describe(eq)}", eq.pos)
        return _Assign(tok.text, self.expression(), tok.pos)

    def expression(self) -> _Expr:
        start = self.peek().pos
        self.nest(start)
        cond = self.logical_or()
        if self.at("?"):
            q = self.take()
            then = self.expression()
            self.expect(":")
            other = self.expression()
            cond = _Ternary(cond, then, other, q.pos)
        self.depth -= 1
        return cond

    def _binary_level(self, ops: tuple[str, ...], lower: Callable[[], _Expr]) -> _Expr:
        first = lower()
        rest: list[tuple[str, _Expr, int]] = []
        while self.peek().kind == "op" and self.peek().text in ops:
            op = self.take()
            rest.append((op.text, lower(), op.pos))
        return _Chain(first, tuple(rest)) if rest else first

    def logical_or(self) -> _Expr:
        return self._binary_level(("||",), self.logical_and)

    def logical_and(self) -> _Expr:
        return self._binary_level(("&&",), self.equality)

    def equality(self) -> _Expr:
        return self._binary_level(("==", "!="), self.relational)

    def relational(self) -> _Expr:
        return self._binary_level(("<", "<=", ">", ">="), self.additive)

    def additive(self) -> _Expr:
        return self._binary_level(("+", "-"), self.multiplicative)

    def multiplicative(self) -> _Expr:
        return self._binary_level(("*", "/"), self.unary)

    def unary(self) -> _Expr:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("-", "+", "!"):
            self.take()
            self.nest(tok.pos)
            operand = self.unary()
            self.depth -= 1
            return _Unary(tok.text, operand, tok.pos)
        return self.postfix()

    def postfix(self) -> _Expr:
        node = self.primary()
        while self.at("."):
            self.take()
            name = self.take()
            if name.kind != "name" or name.text.startswith("$"):
                raise self.src.error(f"expected a method name after '.' but found {self.describe(name)}", name.pos)
            if self.at("("):
                if name.text not in _SAMPLE_METHODS:
                    raise self.src.error(f"unknown method {name.text}()", name.pos)
                node = _Method(node, name.text, self.arguments(), name.pos)
            else:
                if name.text not in _TIMESTAMP_MEMBERS:
                    raise self.src.error(f"unknown member .{name.text}", name.pos)
                node = _Member(node, name.text, name.pos)
        return node

    def arguments(self) -> tuple[_Expr, ...]:
        self.expect("(")
        args: list[_Expr] = []
        if not self.at(")"):
            args.append(self.expression())
            while self.at(","):
                self.take()
                args.append(self.expression())
        self.expect(")")
        return tuple(args)

    def primary(self) -> _Expr:
        tok = self.take()
        if tok.kind == "number":
            return _Num(float(tok.text))
        if tok.kind == "string":
            return _Str(tok.text[1:-1])
        if tok.kind == "op" and tok.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        if tok.kind == "name":
            if self.at("(") and not tok.text.startswith("$"):
                if tok.text not in _FUNCTIONS:
                    raise self.src.error(f"unknown function {tok.text}()", tok.pos)
                args = self.arguments()
                lo, hi, _ = _FUNCTIONS[tok.text]
                if len(args) < lo or (hi is not None and len(args) > hi):
                    want = str(lo) if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
                    raise self.src.error(f"{tok.text}() takes {want} argument(s), not {len(args)}", tok.pos)
                return _Call(tok.text, args, tok.pos)
            return _Var(tok.text, tok.pos)
        raise self.src.error(f"expected a value but found {self.describe(tok)}", tok.pos)


def _names_read(node: _Expr) -> list[_Var]:
    if isinstance(node, _Var):
        return [node]
    if isinstance(node, (_Num, _Str)):
        return []
    if isinstance(node, _Call):
        return [v for arg in node.args for v in _names_read(arg)]
    if isinstance(node, _Method):
        return _names_read(node.target) + [v for arg in node.args for v in _names_read(arg)]
    if isinstance(node, (_Member, _Unary)):
        return _names_read(node.target if isinstance(node, _Member) else node.operand)
    if isinstance(node, _Chain):
        return _names_read(node.first) + [v for _, operand, _ in node.rest for v in _names_read(operand)]
    return _names_read(node.cond) + _names_read(node.then) + _names_read(node.other)


def _parse(formula: str) -> tuple[_Source, list[_Assign]]:
    if not isinstance(formula, str):
        raise AutoScaleSyntaxError("the formula must be a string")
    src = _Source(formula)
    statements = _Parser(src).parse()
    # Statements run in order without branches, so a name read before any assignment is always a mistake.
    defined = set(_READ_ONLY) | set(_WRITABLE_VARS)
    for statement in statements:
        for var in _names_read(statement.expr):
            if var.name in defined or var.name in _INTERVALS or var.name.lower() in DEALLOCATION_OPTIONS:
                continue
            raise src.error(f"undefined variable {var.name}", var.pos)
        defined.add(statement.name)
    return src, statements


def check_syntax(formula: str) -> None:
    """Raise AutoScaleSyntaxError (with line and column) unless the formula can be evaluated."""
    _parse(formula)


# ---------------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class _Option:
    """A node deallocation option word such as ``taskcompletion``."""

    name: str


@dataclass(frozen=True)
class _SampleSet:
    name: str
    samples: Samples


def _type_name(value: Any) -> str:
    if isinstance(value, float):
        return "a double"
    if isinstance(value, list):
        return "a double vector"
    if isinstance(value, timedelta):
        return "a time interval"
    if isinstance(value, datetime):
        return "a timestamp"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, _Option):
        return "a deallocation option"
    if isinstance(value, _SampleSet):
        return f"the sample set {value.name} (use .GetSample())"
    return type(value).__name__


def _fmt(value: Any) -> str:
    """Format a value the way the results string shows it."""
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, list):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, timedelta):
        total = value.total_seconds()
        sign = "-" if total < 0 else ""
        ticks = abs(round(total * 10_000_000))
        days, rest = divmod(ticks, 86_400 * 10_000_000)
        hours, rest = divmod(rest, 3_600 * 10_000_000)
        minutes, rest = divmod(rest, 60 * 10_000_000)
        seconds, frac = divmod(rest, 10_000_000)
        text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
        return text + (f".{frac:07d}" if frac else "")
    if isinstance(value, _Option):
        return value.name
    return str(value)


_INSUFFICIENT = ("InsufficientSampleData", "Autoscale evaluation failed due to insufficient sample data")
_EVAL_FAILED = ("AutoScaleFormulaEvaluationError", "Autoscale evaluation failed")


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


class _Evaluator:
    def __init__(self, src: _Source, ctx: AutoScaleContext) -> None:
        self.src = src
        self.ctx = ctx
        self.now = _as_utc(ctx.now)
        samples = {
            "$PendingTasks": ctx.pending,
            "$ActiveTasks": ctx.active,
            "$RunningTasks": ctx.running,
            **ctx.other_samples,
        }
        self.vars: dict[str, Any] = {
            name: _SampleSet(name, samples.get(name) or Samples()) for name in _SAMPLE_VARS
        }
        self.vars.update(
            {
                "$CurrentDedicatedNodes": float(ctx.current_dedicated),
                "$CurrentLowPriorityNodes": float(ctx.current_low_priority),
                "$TaskSlotsPerNode": float(ctx.task_slots_per_node),
                "$TargetDedicatedNodes": float(ctx.target_dedicated),
                "$TargetLowPriorityNodes": float(ctx.target_low_priority),
                "$NodeDeallocationOption": _Option("requeue"),
            }
        )
        self.user_order: list[str] = []

    def fail(self, detail: str, pos: int, kind: tuple[str, str] = _EVAL_FAILED) -> _EvalError:
        line, col = self.src.where(pos)
        return _EvalError(kind[0], kind[1], f"Line {line}, Col {col}: {detail}", pos)

    def run(self, statements: list[_Assign]) -> None:
        for statement in statements:
            try:
                value = self.eval(statement.expr)
            except (OverflowError, ValueError, ArithmeticError):
                # Time arithmetic at the edges of the calendar; report it like any other bad value.
                raise self.fail("a value is out of range", statement.pos) from None
            if isinstance(value, _SampleSet):
                raise self.fail(f"cannot assign {_type_name(value)}", statement.pos)
            if statement.name == "$NodeDeallocationOption":
                if not isinstance(value, _Option):
                    raise self.fail(
                        "$NodeDeallocationOption must be one of " + ", ".join(DEALLOCATION_OPTIONS), statement.pos
                    )
            elif isinstance(value, _Option):
                raise self.fail(f"{value.name} can only be assigned to $NodeDeallocationOption", statement.pos)
            elif statement.name in ("$TargetDedicatedNodes", "$TargetLowPriorityNodes"):
                if not isinstance(value, float) or not math.isfinite(value):
                    raise self.fail(f"{statement.name} must be a finite double, not {_fmt(value)}", statement.pos)
            if statement.name not in _WRITABLE_VARS and statement.name not in self.user_order:
                self.user_order.append(statement.name)
            self.vars[statement.name] = value

    # -- expressions ------------------------------------------------------------------------------

    def eval(self, node: _Expr) -> Any:
        if isinstance(node, _Num):
            return node.value
        if isinstance(node, _Str):
            return node.value
        if isinstance(node, _Var):
            if node.name in self.vars:
                return self.vars[node.name]
            if node.name in _INTERVALS:
                return _INTERVALS[node.name]
            if node.name.lower() in DEALLOCATION_OPTIONS:
                return _Option(node.name.lower())
            raise self.fail(f"undefined variable {node.name}", node.pos)
        if isinstance(node, _Ternary):
            cond = self.eval(node.cond)
            if not isinstance(cond, float):
                raise self.fail(f"the condition of '?' must be a double, not {_type_name(cond)}", node.pos)
            return self.eval(node.then if cond != 0 else node.other)
        if isinstance(node, _Chain):
            return self.chain(node)
        if isinstance(node, _Unary):
            return self.unary(node)
        if isinstance(node, _Call):
            return self.call(node)
        if isinstance(node, _Method):
            return self.method(node)
        return self.member(node)

    def unary(self, node: _Unary) -> Any:
        value = self.eval(node.operand)
        if node.op == "!":
            if isinstance(value, float):
                return 1.0 if value == 0 else 0.0
        elif isinstance(value, (float, timedelta)):
            return -value if node.op == "-" else value
        elif isinstance(value, list):
            return [-v for v in value] if node.op == "-" else value
        raise self.fail(f"'{node.op}' does not apply to {_type_name(value)}", node.pos)

    def chain(self, node: _Chain) -> Any:
        value = self.eval(node.first)
        for op, operand, pos in node.rest:
            if op in ("&&", "||"):
                if not isinstance(value, float):
                    raise self.fail(f"'{op}' needs doubles, not {_type_name(value)}", pos)
                if (op == "&&" and value == 0) or (op == "||" and value != 0):
                    # Short-circuit: the right side is not evaluated (it may lack samples).
                    value = 1.0 if op == "||" else 0.0
                    continue
                right = self.eval(operand)
                if not isinstance(right, float):
                    raise self.fail(f"'{op}' needs doubles, not {_type_name(right)}", pos)
                value = 1.0 if right != 0 else 0.0
                continue
            right = self.eval(operand)
            try:
                value = _apply(op, value, right)
            except _Fail as exc:
                raise self.fail(str(exc), pos) from None
            except (OverflowError, ValueError):
                raise self.fail(f"'{op}' gives a value out of range", pos) from None
        return value

    def call(self, node: _Call) -> Any:
        args = [self.eval(arg) for arg in node.args]
        if node.name == "time":
            if not args:
                return self.now
            if not isinstance(args[0], str):
                raise self.fail("time() takes a date string", node.pos)
            try:
                return _as_utc(datetime.fromisoformat(args[0].strip().replace("Z", "+00:00")))
            except ValueError:
                raise self.fail(f"time() cannot read {args[0]!r}", node.pos) from None
        try:
            result = _FUNCTIONS[node.name][2](args)
        except _Fail as exc:
            raise self.fail(str(exc), node.pos) from None
        except (OverflowError, ValueError) as exc:
            raise self.fail(f"{node.name}(): {exc}", node.pos) from None
        return float(result) if isinstance(result, (int, float)) else result

    def member(self, node: _Member) -> Any:
        value = self.eval(node.target)
        if not isinstance(value, datetime):
            raise self.fail(f".{node.name} needs a timestamp, not {_type_name(value)}", node.pos)
        if node.name == "weekday":
            return float(value.isoweekday() % 7)  # Sunday 0, Monday 1, as in Batch
        return float(getattr(value, node.name))

    # -- sample sets ---------------------------------------------------------------------------------

    def window(self, args: list[Any], node: _Method) -> tuple[datetime, datetime]:
        if len(args) == 1 or (len(args) == 2 and isinstance(args[1], float)):
            (back,) = args[:1]
            if not isinstance(back, timedelta):
                raise self.fail(f"{node.name}() needs a time interval, not {_type_name(back)}", node.pos)
            return self.now - back, self.now
        a, b = args[:2]
        if not isinstance(a, timedelta) or not isinstance(b, timedelta):
            raise self.fail(f"{node.name}() needs two time intervals", node.pos)
        near, far = sorted((a, b))
        return self.now - far, self.now - near

    def method(self, node: _Method) -> Any:
        target = self.eval(node.target)
        if not isinstance(target, _SampleSet):
            raise self.fail(f".{node.name}() needs a sample variable, not {_type_name(target)}", node.pos)
        args = [self.eval(arg) for arg in node.args]
        history = target.samples.values
        if node.name == "Count":
            self.arity(node, args, 0, 0)
            return float(len(history))
        if node.name == "GetSamplePeriod":
            self.arity(node, args, 0, 0)
            return SAMPLE_PERIOD
        if node.name == "HistoryBeginTime":
            self.arity(node, args, 0, 0)
            if not history:
                raise self.fail(f"{target.name} has no samples yet", node.pos, _INSUFFICIENT)
            return _as_utc(history[0][0])
        if node.name == "GetSamplePercent":
            self.arity(node, args, 1, 2)
            start, end = self.window(args, node)
            return self.percent(history, start, end)
        # GetSample
        self.arity(node, args, 1, 3)
        if len(args) == 1 and isinstance(args[0], float):
            count = args[0]
            if not math.isfinite(count) or count < 1 or count != int(count):
                raise self.fail("GetSample() needs a whole number of samples >= 1", node.pos)
            if len(history) < count:
                raise self.fail(
                    f"Insufficient data from data set: {target.name} wanted {_fmt(count)} samples, "
                    f"received {len(history)}",
                    node.pos,
                    _INSUFFICIENT,
                )
            return [v for _, v in history[len(history) - int(count) :]]
        start, end = self.window(args, node)
        wanted = args[-1] if isinstance(args[-1], float) else 0.0
        if not 0 <= wanted <= 100:
            raise self.fail("the sample percentage must be between 0 and 100", node.pos)
        received = self.percent(history, start, end)
        if received < wanted:
            raise self.fail(
                f"Insufficient data from data set: {target.name} wanted {_fmt(wanted)}%, "
                f"received {_fmt(math.floor(received))}%",
                node.pos,
                _INSUFFICIENT,
            )
        return [v for when, v in history if start < _as_utc(when) <= end]

    def arity(self, node: _Method, args: list[Any], lo: int, hi: int) -> None:
        if not lo <= len(args) <= hi:
            raise self.fail(f"{node.name}() takes {lo} to {hi} argument(s), not {len(args)}", node.pos)

    @staticmethod
    def percent(history: list[tuple[datetime, float]], start: datetime, end: datetime) -> float:
        expected = (end - start) / SAMPLE_PERIOD
        if expected <= 0:
            return 100.0
        got = sum(1 for when, _ in history if start < _as_utc(when) <= end)
        return min(100.0, 100.0 * got / math.floor(max(expected, 1)))


def _vector_op(op: str, left: list[float] | float, right: list[float] | float) -> list[float]:
    if isinstance(left, list) and isinstance(right, list) and len(left) != len(right):
        raise _Fail(f"vectors of different lengths ({len(left)} and {len(right)})")
    n = len(left) if isinstance(left, list) else len(right)  # type: ignore[arg-type]
    lv = left if isinstance(left, list) else [left] * n
    rv = right if isinstance(right, list) else [right] * n
    return [_arith(op, a, b) for a, b in zip(lv, rv)]


def _arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise _Fail("division by zero")
    return a / b


_COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _apply(op: str, left: Any, right: Any) -> Any:
    if op in _COMPARE:
        comparable = (
            (isinstance(left, float) and isinstance(right, float))
            or (isinstance(left, timedelta) and isinstance(right, timedelta))
            or (isinstance(left, datetime) and isinstance(right, datetime))
            or (op in ("==", "!=") and type(left) is type(right) and isinstance(left, (str, _Option)))
        )
        if not comparable:
            raise _Fail(f"cannot compare {_type_name(left)} with {_type_name(right)}")
        return 1.0 if _COMPARE[op](left, right) else 0.0
    if isinstance(left, float) and isinstance(right, float):
        return _arith(op, left, right)
    if isinstance(left, (list, float)) and isinstance(right, (list, float)):
        return _vector_op(op, left, right)
    try:
        if isinstance(left, timedelta):
            if isinstance(right, float) and op in ("*", "/"):
                if op == "/" and right == 0:
                    raise _Fail("division by zero")
                return left * right if op == "*" else left / right
            if isinstance(right, timedelta):
                if op in ("+", "-"):
                    return left + right if op == "+" else left - right
                if op == "/":
                    if not right:
                        raise _Fail("division by zero")
                    return left / right
            if isinstance(right, datetime) and op == "+":
                return right + left
        if isinstance(left, float) and isinstance(right, timedelta) and op == "*":
            return right * left
        if isinstance(left, datetime):
            if isinstance(right, timedelta) and op in ("+", "-"):
                return left + right if op == "+" else left - right
            if isinstance(right, datetime) and op == "-":
                return left - right
    except OverflowError:
        raise _Fail("time value out of range") from None
    raise _Fail(f"'{op}' does not apply to {_type_name(left)} and {_type_name(right)}")


def _results(ev: _Evaluator, dedicated: int, low_priority: int, option: str) -> str:
    parts = [
        f"$TargetDedicatedNodes={dedicated}",
        f"$TargetLowPriorityNodes={low_priority}",
        f"$NodeDeallocationOption={option}",
    ]
    for name in sorted(ev.user_order, key=lambda n: n.lstrip("$").lower()):
        parts.append(f"{name}={_fmt(ev.vars[name])}")
    return ";".join(parts)


def _target(value: Any) -> int:
    # Clamped here so that 1e400 (inf) or NaN cannot raise; the core quota decides the rest.
    value = float(value)
    if math.isnan(value):
        return 0
    return int(max(0.0, min(float(MAX_TARGET_NODES), math.floor(value) if math.isfinite(value) else value)))


def evaluate(formula: str, ctx: AutoScaleContext) -> AutoScaleOutcome:
    """Run the formula once. Syntax errors raise; data-dependent errors come back in ``error``."""
    src, statements = _parse(formula)
    ev = _Evaluator(src, ctx)
    try:
        ev.run(statements)
    except _Stop:
        pass
    except _EvalError as exc:
        dedicated, low = max(0, ctx.target_dedicated), max(0, ctx.target_low_priority)
        return AutoScaleOutcome(
            target_dedicated=dedicated,
            target_low_priority=low,
            node_deallocation_option="requeue",
            results=_results(ev, dedicated, low, "requeue"),
            error={"code": exc.code, "message": exc.message, "values": [{"name": "Message", "value": exc.detail}]},
        )
    option = ev.vars["$NodeDeallocationOption"].name
    dedicated = _target(ev.vars["$TargetDedicatedNodes"])
    low = _target(ev.vars["$TargetLowPriorityNodes"])
    return AutoScaleOutcome(dedicated, low, option, _results(ev, dedicated, low, option), None)

