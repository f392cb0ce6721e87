"""The statements a module ran on its servers, for its ``queries`` result (as community.mysql's modules return them).

``connection.execute`` hands every statement the server carried out to
``record``; nothing is kept unless a module process called ``start`` (the
agent, the CLI and the tests never do). Kept are the statements that change
a server, as the operator would write them by hand:

- reads never pass through ``execute`` (``fetch_*`` run them), and session
  set-up is left out (``SET SESSION``, ``SET TRANSACTION``, ``SET @var``):
  it changes nothing outside the module's own session;
- writes to the rows of dbferry's own ``_dbferry`` schema are left out:
  a change run in the task checkpoints every chunk there, thousands of
  lines that say nothing the result does not (creating or dropping the
  schema and its tables is listed);
- no password reaches the list: a bound argument is shown only when it is
  a number (a session id, a port), any other as ``?``, since it may be a
  password or a row's data; and a quoted literal written into the
  statement after ``IDENTIFIED ... BY``/``AS``/``USING`` or
  ``PASSWORD``/``MASTER_PASSWORD`` (a migration file may hold one) is
  shown as ``'********'``.

One list per process, appended to from any thread (``list.append`` is
atomic): a change run in the task uses several sessions at once.
"""

from __future__ import annotations

import decimal
import re
from typing import Any, Optional

#: The statements kept since ``start``; None when nothing is recorded.
_RECORDED: Optional[list[str]] = None

#: Statements that only set up the session that runs them.
_SESSION_SETUP = re.compile(r"\s*SET\s+(SESSION\b|TRANSACTION\b|@(?!@GLOBAL\.))", re.IGNORECASE)

#: Row writes into dbferry's own schema (the quoted name, as engine/state.py writes it).
_OWN_ROWS = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b[^`]*`_dbferry`\.", re.IGNORECASE)

#: A quoted literal that is a password: after IDENTIFIED [VIA|WITH plugin] BY|AS|USING, or [MASTER_]PASSWORD [=] [(].
_PASSWORD_LITERAL = re.compile(
    r"(\bIDENTIFIED\b(?:\s+(?:VIA|WITH)\s+\w+)?\s+(?:BY|AS|USING)\s+(?:PASSWORD\s*\(\s*)?|\b(?:\w+_)?PASSWORD\s*(?:=\s*)?(?:\(\s*)?)"
    r"('(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\")",
    re.IGNORECASE,
)

#: What a bound argument that is not a number is shown as.
HIDDEN_ARGUMENT = "?"


def start() -> list[str]:
    """Start keeping the statements this process runs from now on; the list they go to."""
    global _RECORDED  # pylint: disable=global-statement  # one recorder per module process, on purpose
    _RECORDED = []
    return _RECORDED


def record(sql: str, args: Any = None) -> None:
    """Keep ``sql`` (run with ``args``) when recording, unless it is session set-up or a write to dbferry's own rows."""
    recorded = _RECORDED
    if recorded is None or _SESSION_SETUP.match(sql) or _OWN_ROWS.match(sql):
        return
    recorded.append(shown(sql, args))


def shown(sql: str, args: Any = None) -> str:
    """``sql`` as the list shows it: numbers bound in place, other arguments as ``?``, password literals masked."""
    text = _PASSWORD_LITERAL.sub(lambda found: found.group(1) + "'********'", sql)
    if args is None:
        return text
    if isinstance(args, dict):
        return text % {key: _argument(value) for key, value in args.items()}
    values = args if isinstance(args, (list, tuple)) else (args,)
    return text % tuple(_argument(value) for value in values)


def _argument(value: Any) -> str:
    """A bound argument as shown: a number as its literal, anything else hidden (a password, a row's value)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    return HIDDEN_ARGUMENT
