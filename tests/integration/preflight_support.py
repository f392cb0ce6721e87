"""Running dbferry.mysql.preflight from a test, and the small schema most preflight tests start from."""

from __future__ import annotations

from typing import Any

from integration_support import sql


def module_connections(servers: Any, source: dict | None = None, target: dict | None = None) -> dict:
    return {
        "dbferry_source": source or servers.source.connection_options("ferry_source"),
        "dbferry_target": target or servers.target.connection_options("ferry_target"),
    }


def run_preflight(ansible: Any, servers: Any, db: str, *, source: dict | None = None, target: dict | None = None,
                  check_mode: bool = False, verbosity: int = 0, **options: Any):
    args = {"source": "{{ dbferry_source }}", "target": "{{ dbferry_target }}", "databases": {"include": [db]}}
    args.update(options)
    return ansible.run("dbferry.mysql.preflight", args, module_connections(servers, source, target),
                       check_mode=check_mode, verbosity=verbosity)


def only_check(run: Any, name: str, status: str = "error") -> dict:
    found = [c for c in run.result["checks"] if c["name"] == name and c["status"] == status]
    assert len(found) == 1, "expected one %s %s, got %r\n%s" % (status, name, found, "\n".join(run.result.get("report", [])))
    return found[0]


def make_shop(servers: Any, db: str) -> None:
    sql(servers.source,
        "CREATE TABLE `%s`.customers (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(80)) ENGINE=InnoDB" % db,
        "CREATE TABLE `%s`.orders (id INT PRIMARY KEY, customer_id BIGINT UNSIGNED, total DECIMAL(10,2))" % db,
        "CREATE TABLE `%s`.audit (id INT PRIMARY KEY)" % db,
        "INSERT INTO `%s`.customers VALUES (1, 'Ann'), (2, 'Bo')" % db,
        "INSERT INTO `%s`.orders VALUES (0, 1, 9.99), (-5, 2, 1.00)" % db)
