"""The runs query: one small grammar over run fields, options and results, compiled to SQLAlchemy.

    tag:baseline status:succeeded architecture.family:compact lr>0.1 test_acc>=85% params<200k owner:ada

A hand-written tokenizer (every token keeps its position) and recursive-descent parser::

    query   := or_expr?                      -- empty: every run
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary ("AND"? unary)*         -- terms side by side are ANDed
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or_expr ")" | term
    term    := FIELD OP VALUE | WORD | "quoted phrase"
    OP      := ":" | "=" | "!=" | ">" | ">=" | "<" | "<="

* A bare word or a quoted phrase is the text search of old: in the name, the owner or the
  architecture, case-insensitive; several words must all appear (a quoted phrase as it is).
* ``OR``, ``AND``, ``NOT`` (any case) are keywords; quote them to search for the word itself.
* Numbers take a k or M suffix (200k, 1.5M) and floats a percent (85% = 0.85); accuracies are
  fractions (test_acc>=0.85 or >=85%). A number must fit its column: within ±2,147,483,647 on a
  32-bit integer column (id, params, seed, epochs, the origins' ids), ±1e15 elsewhere (macs, options).
* ``:`` is "is" (equality), except on free text (name, architecture, data.source), where it means
  "contains" and ``=`` means "is exactly"; dates take YYYY-MM-DD (``created:2026-11-28`` is that day).
* ``f!=v`` is ``-f:v``: a negation also matches runs without the value (a queued run has no accuracy).
* Fields: FIELDS below (run columns, results, tag, starred, the origins sweep/search/study/group),
  and every run option by its dotted path (``lr``, ``augment.cutout``, ``architecture.stages``), read
  from the one declaration of options (backend.training.options) and compiled to a JSON path on
  ``runs.config`` (PostgreSQL ``#>>``, SQLite ``json_extract``). A list option (``architecture.stages``)
  is compared whole, written as the form writes it (``architecture.stages:8,8/16,16``).
* ``best_test_acc`` is refused as a filter and a sort: it is chosen on the test set; the headline is
  ``test_acc`` (test accuracy at the epoch chosen on validation).

Whatever was typed reaches SQL only as bound parameters. A query that does not parse, names an
unknown field, uses an operator the field's type has no meaning for, or gives a value it cannot
take is a 422 naming the field (``q``, or ``query`` in a saved view), the token, its position
(0-based, in characters) and what was expected (QueryError).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement as Column

from backend.core.errors import Refusal
from backend.core.limits import INT_MAX
from backend.core.statuses import RunStatus
from backend.core.tables import Run, RunStar, RunTag, StudyLaunch, StudyLaunchRun, User
from backend.organise.schemas import TAG_CHARS, TAG_MAX, TAG_PATTERN
from backend.training.options import Option, all_options

MAX_QUERY = 1000  # characters
MAX_TERMS = 50
MAX_DEPTH = 10  # nested parentheses and negations
MAX_COLUMNS = 20
MAX_NUMBER = Decimal(10) ** 15
MAX_INT_COLUMN = Decimal(INT_MAX)  # an integer column of PostgreSQL (ids, params, seed, epochs): 32 bits
OPS = ("!=", ">=", "<=", ":", "=", ">", "<")
EQUALITY = (":", "=", "!=")
ORDERED = (":", "=", "!=", ">", ">=", "<", "<=")


class QueryError(Refusal):
    """A query refused: 422 on ``field`` with the offending ``token``, its ``position`` (0-based
    characters) and what was ``expected``."""

    def __init__(self, field: str, problem: str, token: str, position: int, expected: str) -> None:
        shown = token if len(token) <= 40 else token[:40] + "…"
        super().__init__(field, f"{problem} at position {position} ({shown!r}): expected {expected}")
        self.token, self.position, self.expected = shown, position, expected

    def detail(self) -> list[dict[str, Any]]:
        out = super().detail()
        out[0].update(token=self.token, position=self.position, expected=self.expected)
        return out


# --- tokens -------------------------------------------------------------------------------------

Kind = Literal["(", ")", "OR", "AND", "NOT", "TERM", "TEXT", "EOF"]


@dataclass(frozen=True)
class Token:
    kind: Kind
    pos: int
    raw: str  # as typed
    field: str = ""  # TERM: the field's name as typed
    op: str = ""  # TERM
    value: str = ""  # TERM: the value, unquoted; TEXT: the words
    value_pos: int = 0


_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)[ \t]*(!=|>=|<=|:|=|>|<)[ \t]*")
_BARE = re.compile(r"[^\s()\"]+")
_VALUE = re.compile(r"[^\s()]+")
_KEYWORDS: dict[str, Kind] = {"or": "OR", "and": "AND", "not": "NOT"}


def _quoted(text: str, start: int, where: str) -> tuple[str, int]:
    """The string opened by the quote at ``start`` (backslash escapes \\" and \\\\) and the index after it."""
    out, i = [], start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise QueryError(where, "unterminated quote", text[start:], start, 'a closing "')


def tokenize(text: str, where: str = "q") -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(Token("(" if c == "(" else ")", i, c))
            i += 1
        elif c == "-" and i + 1 < len(text) and not text[i + 1].isspace() and text[i + 1] not in "-)":
            out.append(Token("NOT", i, "-"))
            i += 1
        elif c == '"':
            value, end = _quoted(text, i, where)
            out.append(Token("TEXT", i, text[i:end], value=value, value_pos=i))
            i = end
        elif m := _FIELD.match(text, i):
            j = m.end()
            if j < len(text) and text[j] == '"':
                value, end = _quoted(text, j, where)
            elif vm := _VALUE.match(text, j):
                value, end = vm.group(), vm.end()
            else:
                raise QueryError(where, "a field with no value", text[i:j].rstrip(), i,
                                 f"a value after '{m.group(1)}{m.group(2)}' (quote it if it holds spaces)")
            out.append(Token("TERM", i, text[i:end], field=m.group(1), op=m.group(2), value=value, value_pos=j))
            i = end
        else:
            m = _BARE.match(text, i)
            assert m is not None  # c is neither space, parenthesis nor quote
            word = m.group()
            kind = _KEYWORDS.get(word.lower())
            out.append(Token(kind, i, word) if kind else Token("TEXT", i, word, value=word, value_pos=i))
            i = m.end()
    out.append(Token("EOF", len(text), ""))
    return out


# --- the tree -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    token: Token


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class AllOf:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    nodes: tuple[Node, ...]


Node = Term | Not | AllOf | AnyOf
_STARTS = ("(", "NOT", "TERM", "TEXT")


class _Parser:
    def __init__(self, tokens: list[Token], where: str) -> None:
        self.tokens, self.i, self.where, self.terms = tokens, 0, where, 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def fail(self, problem: str, expected: str, token: Token | None = None) -> QueryError:
        t = token or self.peek()
        return QueryError(self.where, problem, t.raw or "end of the query", t.pos, expected)

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def or_expr(self, depth: int) -> Node:
        nodes = [self.and_expr(depth)]
        while self.peek().kind == "OR":
            self.take()
            if self.peek().kind not in _STARTS:
                raise self.fail("nothing after OR", "a term after OR")
            nodes.append(self.and_expr(depth))
        return nodes[0] if len(nodes) == 1 else AnyOf(tuple(nodes))

    def and_expr(self, depth: int) -> Node:
        nodes = [self.unary(depth)]
        while self.peek().kind in (*_STARTS, "AND"):
            if self.peek().kind == "AND":
                self.take()
                if self.peek().kind not in _STARTS:
                    raise self.fail("nothing after AND", "a term after AND")
            nodes.append(self.unary(depth))
        return nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))

    def unary(self, depth: int) -> Node:
        t = self.peek()
        if t.kind == "NOT":
            if depth >= MAX_DEPTH:
                raise self.fail("too deeply nested", f"at most {MAX_DEPTH} nested negations and parentheses")
            self.take()
            if self.peek().kind not in _STARTS:
                raise self.fail(f"nothing to negate after {t.raw!r}", "a term to negate")
            return Not(self.unary(depth + 1))
        return self.primary(depth)

    def primary(self, depth: int) -> Node:
        t = self.peek()
        if t.kind == "(":
            if depth >= MAX_DEPTH:
                raise self.fail("too deeply nested", f"at most {MAX_DEPTH} nested negations and parentheses")
            self.take()
            if self.peek().kind == ")":
                raise self.fail("empty parentheses", "a term inside the parentheses")
            node = self.or_expr(depth + 1)
            if self.peek().kind != ")":
                raise self.fail("unclosed parenthesis", "')'" if self.peek().kind == "EOF" else "')' or a term",
                                t if self.peek().kind == "EOF" else None)
            self.take()
            return node
        if t.kind in ("TERM", "TEXT"):
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise self.fail("too many terms", f"at most {MAX_TERMS} terms")
            return Term(self.take())
        problem = {")": "a ')' without its '('", "EOF": "the query ends too early"}.get(
            t.kind, f"{t.raw!r} cannot start a term")
        raise self.fail(problem, "a term (field:value, a word or a quoted phrase)")


def parse(text: str, where: str = "q") -> Node | None:
    """The query's tree (None for an empty query); QueryError naming the token where it does not parse."""
    if len(text) > MAX_QUERY:
        raise QueryError(where, "too long", text[MAX_QUERY:MAX_QUERY + 10], MAX_QUERY,
                         f"at most {MAX_QUERY} characters")
    if "\x00" in text:
        raise QueryError(where, "a NUL character", "\\x00", text.index("\x00"), "text without NUL characters")
    tokens = tokenize(text, where)
    if tokens[0].kind == "EOF":
        return None
    parser = _Parser(tokens, where)
    node = parser.or_expr(0)
    if parser.peek().kind != "EOF":
        t = parser.peek()
        raise parser.fail("a ')' without its '('" if t.kind == ")" else f"unexpected {t.raw!r}",
                          "a term, OR, or the end")
    return node


# --- values -------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)([kKM%]?)$")


def _number(t: Token, where: str, *, integer: bool, percent: bool, limit: Decimal = MAX_NUMBER) -> Decimal:
    m = _NUMBER.match(t.value.replace("_", ""))
    what = "an integer (200k = 200,000, 1.5M)" if integer else (
        "a number (0.1, 1e-3, 200k" + (", 85%)" if percent else ")"))
    if not m:
        raise QueryError(where, f"{t.field}: not a number", t.value, t.value_pos, what)
    try:
        value = Decimal(m.group(1))
    except InvalidOperation:
        raise QueryError(where, f"{t.field}: not a number", t.value, t.value_pos, what) from None
    suffix = m.group(2)
    if suffix == "%" and not percent:
        raise QueryError(where, f"{t.field}: a percent", t.value, t.value_pos, what)
    factors = {"k": Decimal(1000), "K": Decimal(1000), "M": Decimal(1_000_000), "%": Decimal("0.01")}
    try:
        value *= factors.get(suffix, Decimal(1))
        huge = abs(value) > limit
    except ArithmeticError:  # an exponent past what Decimal holds (1e999999999k)
        huge = True
    if huge:
        raise QueryError(where, f"{t.field}: out of range", t.value, t.value_pos,
                         "a number within ±1e15" if limit == MAX_NUMBER else f"a number within ±{limit:,}")
    if integer and value != value.to_integral_value():
        raise QueryError(where, f"{t.field}: not a whole number", t.value, t.value_pos, what)
    return value


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _boolean(t: Token, where: str) -> bool:
    word = t.value.lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise QueryError(where, f"{t.field}: not true or false", t.value, t.value_pos, "true or false (yes/no)")


def _date(t: Token, where: str) -> tuple[datetime, datetime | None]:
    """(the moment, the end of its day when only a day was given)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t.value):
            day = date.fromisoformat(t.value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(t.value)
        return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)), None
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31's next day, year 1 east of UTC
        raise QueryError(where, f"{t.field}: not a date", t.value, t.value_pos,
                         "a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM (UTC), from year 2 to 9998") from None


def _choices(t: Token, where: str, choices: tuple[str, ...]) -> list[str]:
    """A value of ``choices``, or several separated by commas (any of them)."""
    out = []
    for word in t.value.split(","):
        if word not in choices:
            raise QueryError(where, f"{t.field}: unknown value {word!r}", t.value, t.value_pos,
                             "one of " + ", ".join(choices) + " (several: a,b)")
        out.append(word)
    return out


# --- fields -------------------------------------------------------------------------------------

FieldKind = Literal["number", "integer", "accuracy", "text", "user", "choice", "bool", "date", "list", "tag",
                    "starred", "origin", "study"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind
    help: str
    column: Callable[[], Any] | None = None  # the SQL expression (run columns, JSON paths)
    choices: tuple[str, ...] = ()
    option: Option | None = None
    attribute: str | None = None  # the Run attribute its value is read from (columns of the list)
    limit: Decimal = MAX_NUMBER  # the largest magnitude its column holds (MAX_INT_COLUMN: a 32-bit integer)

    def sql(self) -> Any:
        """Its SQL expression (every field but tag, starred and study has one)."""
        assert self.column is not None, self.name
        return self.column()

    @property
    def ops(self) -> tuple[str, ...]:
        return ORDERED if self.kind in ("number", "integer", "accuracy", "date") else EQUALITY


def _col(name: str) -> Callable[[], Any]:
    return lambda: getattr(Run, name)


_RUN_FIELDS = [
    Field("id", "integer", "the run's id", _col("id"), attribute="id", limit=MAX_INT_COLUMN),
    Field("name", "text", "the run's name (':' contains, '=' is exactly)", _col("name"), attribute="name"),
    Field("owner", "user", "the owner's username", lambda: User.username),
    Field("status", "choice", "the run's status", _col("status"), choices=tuple(RunStatus)),
    Field("architecture", "text", "the architecture's name (':' contains)", _col("architecture"),
          attribute="architecture"),
    Field("params", "integer", "parameters", _col("params"), attribute="params", limit=MAX_INT_COLUMN),
    Field("macs", "integer", "multiply-accumulates per image", _col("macs"), attribute="macs"),
    Field("seed", "integer", "the seed", _col("seed"), attribute="seed", limit=MAX_INT_COLUMN),
    Field("epochs", "integer", "planned epochs", _col("epochs"), attribute="epochs", limit=MAX_INT_COLUMN),
    Field("epochs_done", "integer", "epochs recorded", _col("epochs_done"), attribute="epochs_done",
          limit=MAX_INT_COLUMN),
    Field("best_epoch", "integer", "the epoch chosen on validation", _col("best_epoch"), attribute="best_epoch",
          limit=MAX_INT_COLUMN),
    Field("holdout", "integer", "validation images held out", _col("holdout"), attribute="holdout",
          limit=MAX_INT_COLUMN),
    Field("created", "date", "when it was made (UTC)", _col("created_at")),
    Field("started", "date", "when it started (UTC)", _col("started_at")),
    Field("finished", "date", "when it ended (UTC)", _col("finished_at")),
    Field("test_acc", "accuracy", "the headline: test accuracy at the epoch chosen on validation",
          _col("test_acc_at_best_val"), attribute="test_acc_at_best_val"),
    Field("val_acc", "accuracy", "validation accuracy of the chosen epoch", _col("best_val_acc"),
          attribute="best_val_acc"),
    Field("final_test_acc", "accuracy", "test accuracy of the last epoch", _col("final_test_acc"),
          attribute="final_test_acc"),
    Field("train_acc", "accuracy", "training accuracy of the last epoch", _col("last_train_acc"),
          attribute="last_train_acc"),
    Field("last_test_acc", "accuracy", "test accuracy of the last epoch", _col("last_test_acc"),
          attribute="last_test_acc"),
    Field("train_loss", "number", "training loss of the last epoch", _col("last_train_loss"),
          attribute="last_train_loss"),
    Field("test_loss", "number", "test loss of the last epoch", _col("last_test_loss"), attribute="last_test_loss"),
    Field("last_lr", "number", "the learning rate of the last epoch", _col("last_lr"), attribute="last_lr"),
    Field("train_seconds", "number", "seconds of training (sum of epochs)", _col("train_seconds"),
          attribute="train_seconds"),
    Field("elapsed_s", "number", "seconds from start to end", _col("elapsed_s"), attribute="elapsed_s"),
    Field("tag", "tag", "a tag of the run"),
    Field("starred", "starred", "starred by you"),
    Field("sweep", "origin", "made by this sweep (an id; any or none)", _col("sweep_id"), limit=MAX_INT_COLUMN),
    Field("search", "origin", "a trial of this search (an id; any or none)", _col("search_id"), limit=MAX_INT_COLUMN),
    Field("group", "origin", "one of this group of repeats (an id; any or none)", _col("group_id"),
          limit=MAX_INT_COLUMN),
    Field("study", "study", "launched by this study (an id; any or none)", limit=MAX_INT_COLUMN),
]
ALIASES = {"test_acc_at_best_val": "test_acc", "best_val_acc": "val_acc", "last_train_acc": "train_acc",
           "last_train_loss": "train_loss", "last_test_loss": "test_loss", "created_at": "created",
           "started_at": "started", "finished_at": "finished", "sweep_id": "sweep", "search_id": "search",
           "group_id": "group", "tags": "tag"}
REFUSED = {"best_test_acc": "best_test_acc is a maximum over epochs of test accuracy, chosen on the test set: never "
                            "a basis for a choice"}
REFUSED_EXPECTED = "test_acc (the headline: test accuracy at the epoch chosen on validation) or val_acc"


def _option_field(opt: Option) -> Field:
    path = tuple(opt.name.split("."))
    kind: FieldKind = {"bool": "bool", "int": "integer", "float": "number", "choice": "choice", "text": "text",
                       "ints": "list", "stages": "list"}[opt.kind]  # type: ignore[assignment]
    default = opt.default if not opt.name.startswith("architecture.") else None

    def column() -> Any:
        node = Run.config[path]
        expr = (node.as_boolean() if kind == "bool" else node.as_float() if kind in ("integer", "number")
                else node.as_string())
        # a config stored before an option existed lacks it: it trained with the default
        return func.coalesce(expr, default) if default is not None and kind != "list" else expr

    return Field(opt.name, kind, opt.title + (f" ({opt.unit})" if opt.unit else ""), column,
                 choices=tuple(map(str, opt.choices)), option=opt)


@functools.cache
def fields() -> dict[str, Field]:
    """Every field a query may name: the run's own (FIELDS) and every run option by its dotted path
    (a run column wins where both exist: epochs, seed — the same value)."""
    out = {f.name: f for f in _RUN_FIELDS}
    for opt in all_options():
        out.setdefault(opt.name, _option_field(opt))
    return out


def run_fields() -> list[Field]:
    return list(_RUN_FIELDS)


def resolve(name: str, where: str, pos: int) -> Field:
    key = ALIASES.get(name, name)
    if key in REFUSED:
        raise QueryError(where, REFUSED[key], name, pos, REFUSED_EXPECTED)
    found = fields().get(key)
    if found is None:
        close = difflib.get_close_matches(key, list(fields()) + list(ALIASES), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise QueryError(where, f"unknown field {name!r}", name, pos,
                         hint + "a run field (" + ", ".join(f.name for f in _RUN_FIELDS)
                         + ") or a run option's dotted path (lr, batch_size, augment.cutout, architecture.family, …)")
    return found


# --- compiling ----------------------------------------------------------------------------------

def _negate(expr: ColumnElement[bool]) -> ColumnElement[bool]:
    """Not matching: NULL (a value the run does not have) counts as not matching, on both databases."""
    return not_(expr.is_(true()))


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op in (":", "=", "!="):
        expr: ColumnElement[bool] = column == value
        return _negate(expr) if op == "!=" else expr
    ordered: dict[str, ColumnElement[bool]] = {">": column > value, ">=": column >= value, "<": column < value,
                                               "<=": column <= value}
    return ordered[op]


def _equality_only(f: Field, t: Token, where: str) -> None:
    if t.op not in f.ops:
        raise QueryError(where, f"{t.field}: no order", t.op, t.pos + t.raw.index(t.op, len(t.field)),
                         " or ".join(repr(o) for o in f.ops) + f" ({f.name} is {f.kind})")


def _list_value(f: Field, t: Token, where: str) -> list[Any]:
    assert f.option is not None
    try:
        value = f.option.parse(t.value)
    except ValueError:
        value = None
    example = "8,8/16,16" if f.option.kind == "stages" else "128,64"
    leaves = [x for item in value for x in (item if isinstance(item, list) else [item])] if value else []
    if not isinstance(value, list) or not value or any(abs(x) > MAX_NUMBER for x in leaves):
        raise QueryError(where, f"{t.field}: not a list", t.value, t.value_pos,
                         f"the list as the form writes it, e.g. {f.name}:{example}")
    return value


def _list_equal(f: Field, value: list[Any]) -> ColumnElement[bool]:
    """A list option equal to ``value``: every element, and nothing past the end of each level."""
    base = tuple(f.name.split("."))
    conditions: list[ColumnElement[bool]] = []

    def walk(prefix: tuple[Any, ...], items: list[Any]) -> None:
        for i, item in enumerate(items):
            if isinstance(item, list):
                walk((*prefix, i), item)
            else:
                conditions.append(Run.config[(*base, *prefix, i)].as_float() == item)
        conditions.append(Run.config[(*base, *prefix, len(items))].as_string().is_(None))

    walk((), value)
    return and_(*conditions)


def _text_search(words: str) -> ColumnElement[bool]:
    text = words.lower()  # matched as it is: % and _ are no wildcards (autoescape), on every database
    return or_(func.lower(Run.name).contains(text, autoescape=True),
               User.username.contains(text, autoescape=True),
               func.lower(Run.architecture).contains(text, autoescape=True))


def _term(t: Token, where: str, viewer_id: int | None) -> ColumnElement[bool]:
    if t.kind == "TEXT":
        return _text_search(t.value)
    f = resolve(t.field, where, t.pos)
    _equality_only(f, t, where)
    negated = t.op == "!="
    op = "=" if negated else t.op
    expr: ColumnElement[bool]
    if f.kind in ("number", "integer", "accuracy"):
        number = _number(t, where, integer=f.kind == "integer", percent=f.kind != "integer", limit=f.limit)
        if f.kind == "accuracy" and not 0 <= number <= 1:
            raise QueryError(where, f"{t.field}: an accuracy is a fraction from 0 to 1", t.value, t.value_pos,
                             "a fraction such as 0.85, or a percent such as 85%")
        expr = _compare(f.sql(), op, int(number) if f.kind == "integer" and f.option is None else float(number))
    elif f.kind == "date":
        moment, day_end = _date(t, where)
        column = f.sql()
        if day_end is not None and op in (":", "="):
            expr = and_(column >= moment, column < day_end)
        elif day_end is not None and op in (">", "<="):  # after that day / up to its end
            expr = column >= day_end if op == ">" else column < day_end
        else:
            expr = _compare(column, op, moment)
    elif f.kind == "text":
        expr = (func.lower(f.sql()).contains(t.value.lower(), autoescape=True) if op == ":"
                else f.sql() == t.value)
    elif f.kind == "user":
        expr = f.sql() == t.value.strip().lower()
    elif f.kind == "choice":
        wanted = _choices(t, where, f.choices)
        expr = f.sql().in_(wanted) if len(wanted) > 1 else f.sql() == wanted[0]
    elif f.kind == "bool":
        expr = f.sql() == _boolean(t, where)
    elif f.kind == "list":
        expr = _list_equal(f, _list_value(f, t, where))
    elif f.kind == "tag":
        tag = t.value.strip().lower()
        if not TAG_PATTERN.fullmatch(tag):
            raise QueryError(where, "tag: not a tag", t.value, t.value_pos, f"1 to {TAG_MAX} characters of {TAG_CHARS}")
        expr = exists().where(RunTag.run_id == Run.id, RunTag.tag == tag)
    elif f.kind == "starred":
        wanted_star = _boolean(t, where)
        starred = (exists().where(RunStar.run_id == Run.id, RunStar.user_id == viewer_id)
                   if viewer_id is not None else false())
        expr = starred if wanted_star else not_(starred)
    else:  # origin, study: an id, any, or none
        word = t.value.lower()
        if f.kind == "study":
            launched = select(StudyLaunchRun.run_id).join(StudyLaunch, StudyLaunch.id == StudyLaunchRun.launch_id)
            if word not in ("any", "none"):
                study_id = int(_number(t, where, integer=True, percent=False, limit=f.limit))
                launched = launched.where(StudyLaunch.study_id == study_id)
            expr = Run.id.in_(launched.where(StudyLaunchRun.run_id.is_not(None)))
            expr = not_(expr) if word == "none" else expr
        elif word in ("any", "none"):
            expr = f.sql().is_not(None) if word == "any" else f.sql().is_(None)
        else:
            expr = f.sql() == int(_number(t, where, integer=True, percent=False, limit=f.limit))
    return _negate(expr) if negated else expr


def compile_node(node: Node, where: str, viewer_id: int | None) -> ColumnElement[bool]:
    if isinstance(node, Term):
        return _term(node.token, where, viewer_id)
    if isinstance(node, Not):
        return _negate(compile_node(node.node, where, viewer_id))
    parts = [compile_node(n, where, viewer_id) for n in node.nodes]
    return and_(*parts) if isinstance(node, AllOf) else or_(*parts)


def condition(text: str | None, viewer_id: int | None = None, where: str = "q") -> ColumnElement[bool] | None:
    """The WHERE clause of a query (over ``runs`` joined with ``users`` on its owner), None for an
    empty one; QueryError when it does not parse or names what cannot be asked."""
    node = parse(text or "", where)
    return None if node is None else compile_node(node, where, viewer_id)


def check(text: str, where: str = "query") -> str:
    """The query, if it parses and compiles (a saved view never holds one that does not)."""
    condition(text, None, where)
    return text


# --- columns and sorting ------------------------------------------------------------------------

def column_fields() -> dict[str, Field]:
    """What the list may show as a column (``?columns=``): every run option and every result."""
    return {name: f for name, f in fields().items() if f.option is not None or f.attribute is not None}


def parse_columns(text: str | None, where: str = "columns") -> list[str]:
    """Comma-separated column names (``?columns=``): see check_columns."""
    return check_columns([n for n in (text or "").split(",") if n.strip()], where)


def check_columns(names: list[str], where: str = "columns") -> list[str]:
    """Column names known, distinct, at most MAX_COLUMNS, aliases resolved (422 on ``where`` otherwise)."""
    if len(names) > MAX_COLUMNS:
        raise Refusal(where, f"{len(names)} columns is over the limit of {MAX_COLUMNS}")
    known = column_fields()
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        key = ALIASES.get(name, name)
        if key in REFUSED:
            raise Refusal(where, f"{REFUSED[key]}; show {REFUSED_EXPECTED}")
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
            raise Refusal(where, f"unknown column {name[:60]!r}" + (f" (did you mean {' or '.join(close)}?)"
                                                                     if close else "")
                          + ": expected a run option's dotted path (lr, augment.cutout, …) or a result")
        if key not in out:
            out.append(key)
    return out


def column_value(run: Run, name: str) -> Any:
    """A chosen column's value for one run: a result from its row, an option from its stored config."""
    f = column_fields()[name]
    if f.attribute is not None:
        return getattr(run, f.attribute)
    node: Any = run.config
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return f.option.default if f.option is not None and not name.startswith("architecture.") else None
        node = node[part]
    return node


def option_sort(name: str) -> Column[Any] | None:
    """The ORDER BY expression of a run option (scalar options only), None when it is not one."""
    f = fields().get(name)
    if f is None or f.option is None or f.kind == "list":
        return None
    expr: Column[Any] = f.sql()
    return expr


def sortable_options() -> list[str]:
    return [name for name, f in fields().items() if f.option is not None and f.kind != "list"]


SHOWN = {"id", "name", "architecture", "params", "macs", "test_acc", "val_acc", "train_acc", "last_test_acc",
         "train_seconds"}  # the list's own columns: never offered twice


def column_choices() -> list[dict[str, Any]]:
    """The column chooser's list (the runs page): each column's name, label, group, the list's sort
    key for it (None: not sortable) and the kind of its values (accuracies show as percents)."""
    from backend.runs.service import SORTABLE  # the list's summary columns (service imports this module)

    out = []
    for name, f in column_fields().items():
        if name in SHOWN:
            continue
        group: str
        if f.option is not None:
            sort = name if f.kind != "list" else None
            group = f.option.group
        else:
            sort = f.attribute if f.attribute in SORTABLE else None
            group = "run"
        out.append({"name": name, "title": f.help, "group": group, "sort": sort, "kind": f.kind})
    return out


def field_help() -> list[dict[str, str]]:
    """The query's fields for the page's help: the run's own, then a word about the options."""
    return [{"name": f.name, "kind": f.kind, "help": f.help} for f in _RUN_FIELDS]
