"""The query dialect of the STIX-shifter alertflex connector, parsed into a parametrized WHERE clause.

The connector (stix-shifter-modules-alertflex 8.1.3) sends the JPQL text that the Alertflex
Java controller ran: `SELECT a FROM Alert a WHERE <expr>`, with camelCase entity fields
(`a.srcIp`), `= != > >= < <=`, `LIKE`, `IN`, `BETWEEN ... AND ...`, `AND`, `OR`, `NOT` and
parentheses. It has quirks this parser accepts on purpose:

- `=`/`!=` quote every value (`a.alertSeverity = '3'`), while `> >= < <=` never quote,
  even strings (`a.agentName > abc`): values are coerced to the column's type, either way.
- `IN` lists come as `(v1 OR v2)` with bare values, as well as `('v1', 'v2')`.
- `MATCHES` arrives as `LIKE` with a regular-expression body: `.*` counts as `%`, `.+` as `_%`.
- `a.timeCollr BETWEEN 'YYYY-MM-DD HH:MM:SS.fff' AND '...'` is UTC without a zone.

The text is parsed by a grammar (lark, LALR) into a tree and the tree into SQLAlchemy
expressions whose values are all bound parameters: no query text ever reaches the SQL.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from lark import Lark, Tree
from lark.exceptions import LarkError
from sqlalchemy import ColumnElement, and_, not_, or_

from alertflow.api.alert_queries import c, ip_matches

MAX_QUERY_LENGTH = 8192
MAX_DEPTH = 64
"""Longer or deeper queries are refused before they cost a recursion or a huge statement."""

_GRAMMAR = r"""
start: "SELECT"i NAME "FROM"i NAME NAME "WHERE"i or_expr

?or_expr: and_expr ("OR"i and_expr)*
?and_expr: not_expr ("AND"i not_expr)*
?not_expr: "NOT"i not_expr -> negation
         | "(" or_expr ")"
         | comparison

comparison: field OP value                               -> compare
          | field "LIKE"i value                          -> like
          | field "NOT"i "LIKE"i value                   -> not_like
          | field "IN"i "(" value ((","|"OR"i) value)* ")" -> member
          | field "BETWEEN"i value "AND"i value           -> between

field: NAME "." NAME
value: STRING | BARE

OP: "!=" | "<>" | ">=" | "<=" | "=" | ">" | "<"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:[^'\\]|\\.|'')*'/s
BARE: /[^\s'(),=<>!]+/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)

FIELDS: dict[str, Any] = {
    "alertUuid": c.alert_uuid,
    "nodeId": c.node_id,
    "refId": c.ref_id,
    "alertSource": c.source,
    "alertType": c.type,
    "eventId": c.event,
    "alertSeverity": c.severity,
    "categories": c.category,
    "description": c.description,
    "srcIp": c.srcip,
    "dstIp": c.dstip,
    "srcHostname": c.srcagent,
    "dstHostname": c.dstagent,
    "srcPort": c.srcport,
    "dstPort": c.dstport,
    "userName": c.user,
    "processName": c.process,
    "fileName": c.file,
    "agentName": c.agent,
    "sensorId": c.sensor,
    "alertStatus": c.status,
    "info": c.info,
    "timeCollr": c.time_collr,
    "hashMd5": c.hash_md5,
    "hashSha1": c.hash_sha1,
    "hashSha256": c.hash_sha256,
    "protocol": c.proto,
}
"""Alertflex entity field -> alert column: the connector's fields and a few more of the same entity."""

_NUMERIC = {"alertSeverity", "srcPort", "dstPort"}
_ADDRESSES = {"srcIp", "dstIp"}
_UNSTORED = {"processId": "alertflow stores no process id"}


class QueryError(ValueError):
    """A query that cannot be run; `code` is the connector's error code (2000 parse, 1005 parameter)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse(query: str) -> ColumnElement[bool]:
    """The WHERE clause of a connector query; QueryError when it does not parse or names no column."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(2000, f"the query is longer than {MAX_QUERY_LENGTH} characters")
    try:
        tree = _PARSER.parse(query)
    except LarkError as exc:
        raise QueryError(2000, f"the query does not parse: {_first_line(exc)}") from None
    if _depth(tree) > MAX_DEPTH:
        raise QueryError(2000, f"the query nests deeper than {MAX_DEPTH} levels")
    entity, alias, where = tree.children[1], tree.children[2], tree.children[3]
    if str(entity) != "Alert":
        raise QueryError(2000, f"the query selects from {str(entity)[:64]!r}; only Alert is searchable")
    if str(tree.children[0]) != str(alias):
        raise QueryError(2000, "the query selects another alias than the one FROM declares")
    return _Compiler(str(alias)).expr(where)


def _first_line(exc: LarkError) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _depth(tree: Tree[Any]) -> int:
    """The tree's depth, without recursion (a hostile query may nest thousands of levels)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.children if isinstance(child, Tree))
    return deepest


class _Compiler:
    """Tree -> SQLAlchemy, every literal a bound parameter coerced to its column's type."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def expr(self, node: Tree[Any]) -> ColumnElement[bool]:
        kind = node.data
        if kind == "or_expr":
            return or_(*(self.expr(child) for child in node.children))
        if kind == "and_expr":
            return and_(*(self.expr(child) for child in node.children))
        if kind == "negation":
            return not_(self.expr(node.children[0]))
        name, column = self.field(node.children[0])
        values = [_literal(v) for v in node.children[1:] if isinstance(v, Tree)]
        if kind == "compare":
            op = str(node.children[1])
            return _compare(name, column, "!=" if op == "<>" else op, values[0])
        if kind == "like":
            return column.like(_like_pattern(values[0]))
        if kind == "not_like":
            return column.not_like(_like_pattern(values[0]))
        if kind == "member":
            return column.in_([_coerce(name, v) for v in values])
        if kind == "between":
            return column.between(_coerce(name, values[0]), _coerce(name, values[1]))
        raise QueryError(2000, f"unexpected part of the query: {kind}")

    def field(self, node: Tree[Any]) -> tuple[str, Any]:
        alias, name = str(node.children[0]), str(node.children[1])
        if alias != self.alias:
            raise QueryError(2000, f"{alias[:64]}.{name[:64]} does not use the alias {self.alias}")
        if name in _UNSTORED:
            raise QueryError(1005, f"a.{name}: {_UNSTORED[name]}")
        if name not in FIELDS:
            raise QueryError(1005, f"a.{name[:64]} is not a searchable alert field")
        return name, FIELDS[name]


def _literal(node: Tree[Any]) -> str:
    """The text of a quoted or bare value, backslash escapes and doubled quotes undone."""
    token = node.children[0]
    if token.type == "BARE":
        return str(token)
    body = str(token)[1:-1]
    return re.sub(r"\\(.)|''", lambda m: m.group(1) if m.group(1) is not None else "'", body, flags=re.S)


def _coerce(name: str, value: str) -> Any:
    """`value` as the column's type: a 64-bit integer, a UTC datetime MariaDB can hold, or text."""
    if name in _NUMERIC:
        try:
            number: int | None = int(value)
        except ValueError:
            number = None
        if number is None or not -(2**63) <= number < 2**63:
            raise QueryError(1005, f"a.{name} is a 64-bit integer, not {value[:64]!r}")
        return number
    if name == "timeCollr":
        try:
            at: datetime | None = datetime.fromisoformat(value)
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        except (ValueError, OverflowError):
            at = None
        if at is None or at.year < 1000:  # MariaDB's DATETIME starts at year 1000
            raise QueryError(1005, f"a.timeCollr wants 'YYYY-MM-DD HH:MM:SS.fff' (UTC), not {value[:64]!r}")
        return at
    return value


def _compare(name: str, column: Any, op: str, raw: str) -> ColumnElement[bool]:
    if name in _ADDRESSES and op in ("=", "!=") and _is_address(raw):
        matches = ip_matches(column, raw)
        return matches if op == "=" else not_(matches)
    value = _coerce(name, raw)
    comparisons = {
        "=": column.__eq__,
        "!=": column.__ne__,
        ">": column.__gt__,
        ">=": column.__ge__,
        "<": column.__lt__,
        "<=": column.__le__,
    }
    result: ColumnElement[bool] = comparisons[op](value)
    return result


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _like_pattern(value: str) -> str:
    """A LIKE pattern; the connector's MATCHES leaves regex wildcards, which become LIKE's."""
    return value.replace(".*", "%").replace(".+", "_%")
