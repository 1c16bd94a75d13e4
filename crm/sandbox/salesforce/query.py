"""Running a parsed SOQL query against the store, and the query cursors behind ``nextRecordsUrl``.

Binding checks every name and literal against the describe before anything runs, with the real
codes: INVALID_TYPE for an unknown object, INVALID_FIELD for an unknown column or a literal of the
wrong type, INVALID_QUERY_FILTER_OPERATOR for a malformed id. Evaluation follows SOQL, not SQL:
string comparison is case-insensitive, ``!=`` and ``NOT IN`` match nulls, ``= null`` finds them.
Results come in pages of 2,000 (``Sforce-Query-Options: batchSize`` may ask for 200-2,000); the
rest waits behind ``/query/<locator>-<offset>``. As in a real org, a user keeps at most 10 open
cursors: the oldest is dropped and its locator answers INVALID_QUERY_LOCATOR.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from crm.sandbox.salesforce.describe import FieldInfo, SObjectSchema, schema_for
from crm.sandbox.salesforce.ids import KEY_PREFIXES, IdFactory, to18
from crm.sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    Condition,
    Literal,
    Not,
    Query,
    SoqlError,
    located,
    parse,
)
from crm.sandbox.salesforce.store import RecordStore
from crm.sandbox.salesforce.validation import format_datetime, parse_datetime

PAGE_SIZE = 2000  # REST:dome_query, "2,000 records per batch by default"
MIN_PAGE_SIZE = 200
MAX_OPEN_CURSORS = 10
MAX_OFFSET = 2000  # SOQL OFFSET cap

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


@dataclass
class Cursor:
    rows: list[Record]
    page_size: int


class QueryEngine:
    def __init__(self, store: RecordStore, ids: IdFactory, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.ids = ids
        self.clock = clock
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()

    def run(
        self, text: str, *, include_deleted: bool, version: str, page_size: int = PAGE_SIZE
    ) -> dict[str, Any]:
        """The first page of ``text``'s results, opening a cursor when more remain."""
        query, schema, columns, matched = self.select(text, include_deleted=include_deleted)
        if query.count:
            return {"totalSize": len(matched), "done": True, "records": []}
        rows = [project(schema, r, columns, version) for r in matched]
        return self._page(Cursor(rows, page_size), None, 0, version)

    def select(
        self, text: str, *, include_deleted: bool
    ) -> tuple[Query, SObjectSchema, list[FieldInfo], list[Record]]:
        """Parse, bind and evaluate ``text``: the matching stored records, filtered, sorted and cut."""
        query = parse(text)
        schema = schema_for(query.sobject)
        if schema is None:
            message = (
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                "the describe call for the appropriate names."
            )
            raise SoqlError("INVALID_TYPE", located(text, query.sobject_pos, message))
        columns = self._columns(query, schema)
        predicate = self._predicate(query, schema, query.where) if query.where else (lambda r: True)
        source = self._candidates(query, schema, include_deleted)
        if source is None:
            source = list(self.store.all(schema.name) if include_deleted else self.store.live(schema.name))
        matched = [r for r in source if predicate(r)]
        if query.order_by:
            matched.sort(key=functools.cmp_to_key(self._comparator(query, schema)))
        if query.offset is not None:
            if query.offset > MAX_OFFSET:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
            matched = matched[query.offset :]
        if query.limit is not None:
            matched = matched[: query.limit]
        return query, schema, columns, matched

    def more(self, locator: str, version: str) -> dict[str, Any]:
        """The page a ``nextRecordsUrl`` points at (``<locator>-<offset>``)."""
        head, _, offset = locator.rpartition("-")
        cursor = self.cursors.get(head)
        if cursor is None or not offset.isdigit() or int(offset) > len(cursor.rows):
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        self.cursors.move_to_end(head)
        return self._page(cursor, head, int(offset), version)

    def _page(self, cursor: Cursor, locator: str | None, start: int, version: str) -> dict[str, Any]:
        end = start + cursor.page_size
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not body["done"]:
            if locator is None:
                locator = self.ids.new(KEY_PREFIXES["QueryLocator"])
                self.cursors[locator] = cursor
                while len(self.cursors) > MAX_OPEN_CURSORS:
                    self.cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        elif locator is not None:
            self.cursors.pop(locator, None)
        body["records"] = cursor.rows[start:end]
        return body

    def _candidates(self, query: Query, schema: SObjectSchema, include_deleted: bool) -> list[Record] | None:
        """Records an ``Id``/``Email`` ``=``/``IN`` term of a top-level AND narrows the scan to, from
        the store's indexes (the full predicate still runs on them); None when no term helps."""
        where = query.where
        terms = where.children if isinstance(where, BoolOp) and where.op == "AND" else [where]
        for term in terms:
            if not isinstance(term, Comparison) or term.op not in ("=", "IN"):
                continue
            info = schema.field(term.field)
            if info is None or not all(v.kind == "string" for v in term.values):
                continue
            found: dict[str, Record] = {}
            if info.name == "Id":
                for value in term.values:
                    record = self.store.get(value.value)
                    if record is not None and record["Id"].startswith(schema.key_prefix):
                        found[record["Id"]] = record
            elif info.name in schema.lookup_fields and not include_deleted:
                for value in term.values:
                    found.update((r["Id"], r) for r in self.store.find(schema, info.name, value.value))
            else:
                continue
            live = (r for r in found.values() if include_deleted or not r["IsDeleted"])
            return sorted(live, key=lambda r: r["Id"])  # ids grow with creation: scan order
        return None

    # ----- binding --------------------------------------------------------------------------------
    def _field(self, query: Query, schema: SObjectSchema, name: str, pos: int) -> FieldInfo:
        info = schema.field(name)
        if info is None:
            message = (
                f"No such column '{name}' on entity '{schema.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
                "or the describe call for the appropriate names."
            )
            raise SoqlError("INVALID_FIELD", located(query.text, pos, message))
        return info

    def _columns(self, query: Query, schema: SObjectSchema) -> list[FieldInfo]:
        columns: list[FieldInfo] = []
        for name, pos in query.fields:
            info = self._field(query, schema, name, pos)
            if info in columns:
                raise SoqlError(
                    "MALFORMED_QUERY", located(query.text, pos, f"duplicate field selected: {info.name}")
                )
            columns.append(info)
        return columns

    def _predicate(self, query: Query, schema: SObjectSchema, cond: Condition) -> Predicate:
        if isinstance(cond, Not):
            inner = self._predicate(query, schema, cond.child)
            return lambda r: not inner(r)
        if isinstance(cond, BoolOp):
            parts = [self._predicate(query, schema, c) for c in cond.children]
            if cond.op == "AND":
                return lambda r: all(p(r) for p in parts)
            return lambda r: any(p(r) for p in parts)
        return self._comparison(query, schema, cond)

    def _comparison(self, query: Query, schema: SObjectSchema, cond: Comparison) -> Predicate:
        info = self._field(query, schema, cond.field, cond.field_pos)
        if info.type == "address":
            message = f"field '{info.name}' can not be filtered in a query call"
            raise SoqlError("INVALID_FIELD", located(query.text, cond.field_pos, message))
        values = [self._bind(query, info, lit, like=cond.op == "LIKE") for lit in cond.values]
        name = info.name
        if cond.op == "LIKE":
            pattern = re.compile(values[0], re.IGNORECASE | re.DOTALL)
            return lambda r: isinstance(r.get(name), str) and pattern.fullmatch(r[name]) is not None
        if cond.op in ("IN", "NOT IN"):
            matchers = [_equals(v) for v in values]
            hit = lambda r: any(m(r.get(name)) for m in matchers)  # noqa: E731
            return hit if cond.op == "IN" else (lambda r: not hit(r))
        bound = values[0]
        if cond.op == "=":
            eq = _equals(bound)
            return lambda r: eq(r.get(name))
        if cond.op == "!=":
            eq = _equals(bound)
            return lambda r: not eq(r.get(name))
        return _ordering(cond.op, bound, name)

    def _bind(self, query: Query, info: FieldInfo, lit: Literal, *, like: bool) -> Any:
        """The literal in the field's stored form: a value, a (start, end) range, or a LIKE regex."""
        if lit.kind == "null":
            return None
        if lit.like_escape and not like:
            raise SoqlError("MALFORMED_QUERY", located(query.text, lit.pos, f"unexpected token: {lit.text}"))
        kind = info.type
        if info.is_string and lit.kind == "string":
            if kind in ("id", "reference"):
                canonical = to18(lit.value)
                if canonical is None and not like:
                    message = f"invalid ID field: {lit.value}"
                    raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", located(query.text, lit.pos, message))
                return lit.like if like else ("id", canonical)
            return lit.like if like else ("str", lit.value.lower())
        if kind == "boolean" and lit.kind == "boolean":
            return ("val", lit.value)
        if info.is_number and lit.kind == "number":
            return ("val", float(lit.value))
        if kind == "date" and lit.kind in ("date", "relative"):
            return self._date_value(lit, datetime_field=False)
        if kind == "datetime" and lit.kind in ("datetime", "relative"):
            return self._date_value(lit, datetime_field=True)
        raise SoqlError("INVALID_FIELD", located(query.text, lit.pos, _type_message(info)))

    def _date_value(self, lit: Literal, *, datetime_field: bool) -> Any:
        if lit.kind == "date":
            return ("val", lit.value)
        if lit.kind == "datetime":
            moment = parse_datetime(lit.value)
            return ("val", format_datetime(moment)) if moment else ("val", lit.value)
        name, days = lit.value
        today = self.clock().date()
        start, end = {
            "TODAY": (today, today + timedelta(days=1)),
            "YESTERDAY": (today - timedelta(days=1), today),
            "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
            "LAST_N_DAYS": (today - timedelta(days=days), today + timedelta(days=1)),
            "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=days + 1)),
        }[name]
        if datetime_field:
            tz = self.clock().tzinfo
            lo = format_datetime(datetime.combine(start, time(), tzinfo=tz))
            hi = format_datetime(datetime.combine(end, time(), tzinfo=tz))
            return ("range", lo, hi)
        return ("range", start.isoformat(), end.isoformat())

    def _comparator(self, query: Query, schema: SObjectSchema) -> Callable[[Record, Record], int]:
        items = [(self._field(query, schema, o.field, o.pos), o) for o in query.order_by]

        def compare(a: Record, b: Record) -> int:
            for info, item in items:
                x, y = _sort_key(a.get(info.name)), _sort_key(b.get(info.name))
                if x == y:
                    continue
                nulls_last = item.descending if item.nulls_last is None else item.nulls_last
                if x is None or y is None:
                    return (1 if nulls_last else -1) * (1 if x is None else -1)
                result = -1 if x < y else 1
                return -result if item.descending else result
            return 0

        return compare


def _type_message(info: FieldInfo) -> str:
    expected = {
        "int": "integer",
        "double": "double",
        "currency": "double",
        "percent": "double",
        "boolean": "boolean",
        "date": "date",
        "datetime": "dateTime",
    }.get(info.type, "string")
    quoting = "should be enclosed in quotes" if expected == "string" else "should not be enclosed in quotes"
    return f"value of filter criterion for field '{info.name}' must be of type {expected} and {quoting}"


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _equals(bound: Any) -> Callable[[Any], bool]:
    if bound is None:
        return lambda v: v is None
    tag = bound[0]
    if tag == "range":
        _, lo, hi = bound
        return lambda v: isinstance(v, str) and lo <= v < hi
    if tag == "id":
        target = bound[1]
        return lambda v: isinstance(v, str) and to18(v) == target
    target = bound[1]
    return lambda v: v is not None and _normal(v) == target


def _ordering(op: str, bound: Any, name: str) -> Predicate:
    if bound is None:
        return lambda r: False
    if bound[0] == "range":
        _, lo, hi = bound
        tests: dict[str, Callable[[Any], bool]] = {
            "<": lambda v: v < lo,
            ">": lambda v: v >= hi,
            "<=": lambda v: v < hi,
            ">=": lambda v: v >= lo,
        }
    else:
        target = bound[1]
        tests = {
            "<": lambda v: v < target,
            ">": lambda v: v > target,
            "<=": lambda v: v <= target,
            ">=": lambda v: v >= target,
        }
    test = tests[op]

    def check(r: Record) -> bool:
        value = r.get(name)
        if value is None:
            return False
        normal = _normal(value) if bound[0] != "range" else value
        try:
            return bool(test(normal))
        except TypeError:
            return False

    return check


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def project(schema: SObjectSchema, record: Record, columns: list[FieldInfo] | None, version: str) -> Record:
    """A record as the API shows it: ``attributes`` first, then the asked-for fields (all when
    ``columns`` is None), compound address fields assembled from their parts."""
    out: Record = {
        "attributes": {
            "type": schema.name,
            "url": f"/services/data/v{version}/sobjects/{schema.name}/{record['Id']}",
        }
    }
    for info in columns if columns is not None else list(schema.fields.values()):
        out[info.name] = (
            address(schema, record, info.name) if info.type == "address" else record.get(info.name)
        )
    return out


def address(schema: SObjectSchema, record: Record, compound: str) -> dict[str, Any] | None:
    parts = schema.compound_parts(compound)
    prefix = compound[: -len("Address")]
    values = {}
    for part in parts:
        key = part.name[len(prefix) :] if part.name.startswith(prefix) else part.name
        values[key[0].lower() + key[1:]] = record.get(part.name)
    if all(v is None for v in values.values()):
        return None
    return values
