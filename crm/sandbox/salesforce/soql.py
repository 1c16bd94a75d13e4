"""A SOQL tokenizer and recursive-descent parser for the subset the product sends.

Grammar (keywords case-insensitive)::

    query      := SELECT (COUNT '(' ')' | field (',' field)*) FROM object
                  [WHERE condition] [ORDER BY order (',' order)*] [LIMIT int] [OFFSET int]
    condition  := NOT term | term (AND term)* | term (OR term)*
    term       := '(' condition ')' | field op value | field [NOT] IN '(' value (',' value)* ')'
                  | field LIKE string
    op         := = | != | <> | < | > | <= | >=
    value      := 'string' | number | TRUE | FALSE | NULL | date | datetime | TODAY | YESTERDAY
                  | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n
    order      := field [ASC | DESC] [NULLS (FIRST | LAST)]

As in real SOQL, AND and OR never mix without parentheses, and NOT only opens a condition
("Parentheses are required whenever you mix the operators", SOQL:sforce_api_calls_soql_select_
logicaloperators). String escapes follow SOQL:sforce_api_calls_soql_select_quotedstringescapes:
``\\n \\r \\t \\b \\f`` (either case), ``\\" \\' \\\\``, ``\\uXXXX``, and ``\\% \\_`` inside LIKE only;
any other backslash is MALFORMED_QUERY. Errors carry Salesforce's caret rendering of the spot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KEYWORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
        "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "COUNT", "GROUP", "HAVING", "WITH",
        "FOR", "USING", "INCLUDES", "EXCLUDES",
    }
)  # fmt: skip
RELATIVE_DATES = frozenset({"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"})
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


class SoqlError(Exception):
    """A query refused before it runs: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE …"""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def located(query: str, pos: int, text: str) -> str:
    """Salesforce's error text: the line around the error, a caret under it, then the reason."""
    pos = max(0, min(pos, len(query)))
    line_start = query.rfind("\n", 0, pos) + 1
    line_end = query.find("\n", pos)
    line = query[line_start : line_end if line_end != -1 else len(query)]
    row = query.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    start = 0 if len(line) <= 100 else max(0, col - 41)
    excerpt = line[start : start + 100]
    return f"\n{excerpt}\n{' ' * (col - 1 - start)}^\nERROR at Row:{row}:Column:{col}\n{text}"


@dataclass(frozen=True)
class Token:
    kind: str  # ident, keyword, string, number, date, datetime, op, punct, eof
    value: Any
    pos: int
    text: str
    like: str | None = None  # strings: the LIKE regex, honouring \% and \_
    like_escape: bool = False  # strings: uses \% or \_, which only LIKE allows


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, boolean, null, date, datetime, relative
    value: Any
    pos: int
    text: str
    like: str | None = None
    like_escape: bool = False


@dataclass
class Comparison:
    field: str
    field_pos: int
    op: str  # = != < > <= >= IN NOT IN LIKE
    values: list[Literal]


@dataclass
class Not:
    child: Condition


@dataclass
class BoolOp:
    op: str  # AND, OR
    children: list[Condition]


Condition = Comparison | Not | BoolOp


@dataclass
class OrderItem:
    field: str
    pos: int
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce's default for the direction


@dataclass
class Query:
    text: str
    sobject: str
    sobject_pos: int
    fields: list[tuple[str, int]] = field(default_factory=list)
    count: bool = False
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        if query[pos] == "'":
            token, pos = _string(query, pos)
            tokens.append(token)
            continue
        m = _TOKEN_RE.match(query, pos)
        if m is None:
            bad = query[pos]
            raise SoqlError("MALFORMED_QUERY", located(query, pos, f"unexpected token: '{bad}'"))
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ident" and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper(), pos, text))
        elif kind != "ws":
            value: Any = text
            if kind == "number":
                value = float(text) if "." in text else int(text)
            tokens.append(Token(kind, value, pos, text))
        pos = m.end()
    tokens.append(Token("eof", None, len(query), "<EOF>"))
    return tokens


def _string(query: str, start: int) -> tuple[Token, int]:
    """A quoted literal, decoded, plus the LIKE pattern it stands for."""
    out: list[str] = []
    like: list[str] = []
    like_escape = False
    pos = start + 1
    while pos < len(query):
        ch = query[pos]
        if ch == "'":
            text = query[start : pos + 1]
            value = "".join(out)
            return Token("string", value, start, text, "".join(like), like_escape), pos + 1
        if ch == "\\":
            nxt = query[pos + 1 : pos + 2]
            if nxt.lower() in _ESCAPES or nxt in _ESCAPES:
                decoded = _ESCAPES.get(nxt, _ESCAPES.get(nxt.lower(), ""))
                out.append(decoded)
                like.append(re.escape(decoded))
                pos += 2
                continue
            if nxt in ("%", "_"):
                out.append(nxt)
                like.append(re.escape(nxt))
                like_escape = True
                pos += 2
                continue
            hex_digits = query[pos + 2 : pos + 6]
            if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", hex_digits):
                decoded = chr(int(hex_digits, 16))
                out.append(decoded)
                like.append(re.escape(decoded))
                pos += 6
                continue
            raise SoqlError("MALFORMED_QUERY", located(query, pos, _bad_escape(query, start, pos)))
        out.append(ch)
        like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        pos += 1
    raise SoqlError("MALFORMED_QUERY", located(query, len(query), "unexpected token: '<EOF>'"))


def _bad_escape(query: str, start: int, pos: int) -> str:
    end = query.find("'", pos + 2)
    literal = query[start : end + 1 if end != -1 else len(query)]
    sequence = query[pos : pos + 2]
    return f"Invalid string literal {literal}. Illegal character sequence '{sequence}' in string literal."


class Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    # ----- token helpers --------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, *keywords: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in keywords

    def at_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.value == char

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.tok
        return SoqlError(
            "MALFORMED_QUERY", located(self.query, token.pos, f"unexpected token: '{token.text}'")
        )

    def expect_keyword(self, keyword: str) -> Token:
        if not self.at(keyword):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if not self.at_punct(char):
            raise self.unexpected()
        return self.advance()

    def ident(self) -> Token:
        if self.tok.kind != "ident":
            raise self.unexpected()
        return self.advance()

    # ----- grammar --------------------------------------------------------------------------------
    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[tuple[str, int]] = []
        count = False
        if self.at("COUNT"):
            self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            while True:
                token = self.ident()
                fields.append((token.value, token.pos))
                if not self.at_punct(","):
                    break
                self.advance()
        self.expect_keyword("FROM")
        sobject = self.ident()
        query = Query(self.query, sobject.value, sobject.pos, fields, count)
        if self.at("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.at("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by = [self.order_item()]
            while self.at_punct(","):
                self.advance()
                query.order_by.append(self.order_item())
        if self.at("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.at("OFFSET"):
            self.advance()
            query.offset = self.integer()
        if self.tok.kind != "eof":
            raise self.unexpected()
        return query

    def integer(self) -> int:
        token = self.tok
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
            raise self.unexpected()
        self.advance()
        return int(token.value)

    def order_item(self) -> OrderItem:
        token = self.ident()
        item = OrderItem(token.value, token.pos)
        if self.at("ASC", "DESC"):
            item.descending = self.advance().value == "DESC"
        if self.at("NULLS"):
            self.advance()
            if not self.at("FIRST", "LAST"):
                raise self.unexpected()
            item.nulls_last = self.advance().value == "LAST"
        return item

    def condition(self) -> Condition:
        if self.at("NOT"):
            self.advance()
            return Not(self.term())
        first = self.term()
        if not self.at("AND", "OR"):
            return first
        op = self.tok.value
        children = [first]
        while self.at("AND", "OR"):
            if self.tok.value != op:
                raise self.unexpected()
            self.advance()
            children.append(self.term())
        return BoolOp(op, children)

    def term(self) -> Condition:
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        name = self.ident()
        if self.at("NOT"):
            self.advance()
            self.expect_keyword("IN")
            return Comparison(name.value, name.pos, "NOT IN", self.value_list())
        if self.at("IN"):
            self.advance()
            return Comparison(name.value, name.pos, "IN", self.value_list())
        if self.at("LIKE"):
            self.advance()
            value = self.value()
            if value.kind != "string":
                raise self.unexpected(Token(value.kind, value.value, value.pos, value.text))
            return Comparison(name.value, name.pos, "LIKE", [value])
        if self.tok.kind != "op":
            raise self.unexpected()
        op = self.advance().value
        return Comparison(name.value, name.pos, "!=" if op == "<>" else op, [self.value()])

    def value_list(self) -> list[Literal]:
        self.expect_punct("(")
        values = [self.value()]
        while self.at_punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return values

    def value(self) -> Literal:
        token = self.tok
        if token.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return Literal(token.kind, token.value, token.pos, token.text, token.like, token.like_escape)
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", token.value == "TRUE", token.pos, token.text)
        if token.kind == "keyword" and token.value == "NULL":
            self.advance()
            return Literal("null", None, token.pos, token.text)
        if token.kind == "ident" and token.value.split(":")[0].upper() in RELATIVE_DATES:
            name, _, days = token.value.partition(":")
            needs_n = name.upper().endswith("_N_DAYS")
            if needs_n != bool(days):
                raise self.unexpected()
            self.advance()
            return Literal("relative", (name.upper(), int(days or 0)), token.pos, token.text)
        raise self.unexpected()


def parse(query: str) -> Query:
    return Parser(query).parse()
