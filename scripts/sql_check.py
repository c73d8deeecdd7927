#!/usr/bin/env python3
"""Runs every SQL statement the hub sent during the test suite on a current ClickHouse release.

The hub appends each statement it sends to the file named by SME_HUB_SQL_LOG (see
hub/src/store/statements.rs); scripts/test.sh sets it for `cargo test` and then runs this
script on it. The statements go through chDB (ClickHouse in-process, from PyPI's
`chdb-core`, pinned in scripts/setup.sh), in a fresh database:

1. the hub's own migrations, as logged (`{db}` replaced), create the schema;
2. every logged query runs as sent (its parameters bound to the suite's values);
3. every logged insert is checked by an `INSERT … SELECT` of no rows into the same columns.

Exits 1 naming each statement that fails and ClickHouse's error; exits 2 when the log is
missing or holds no migrations or queries (the check would prove nothing).

Usage: sql_check.py LOG_FILE
"""

import json
import sys
import tempfile

DATABASE = "sme"
SHOWN_CHARS = 1500


def load(path):
    ddl, queries, inserts = [], {}, {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not a JSON line ({e}); delete the file and run the suite again")
            kind = entry.get("kind")
            if kind == "ddl":
                if entry["sql"] not in ddl:
                    ddl.append(entry["sql"])
            elif kind == "query":
                queries.setdefault(entry["sql"], None)
            elif kind == "insert":
                inserts.setdefault((entry["table"], tuple(entry["columns"])), None)
            else:
                sys.exit(f"{path}:{number}: unknown kind {kind!r}")
    return ddl, list(queries), list(inserts)


def shown(sql):
    sql = sql.strip()
    if len(sql) <= SHOWN_CHARS:
        return sql
    return f"{sql[:SHOWN_CHARS]} … ({len(sql)} characters in all)"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    try:
        ddl, queries, inserts = load(path)
    except FileNotFoundError:
        print(f"{path}: no SQL log; run the suite with SME_HUB_SQL_LOG={path} first", file=sys.stderr)
        sys.exit(2)
    if not ddl or not queries:
        print(
            f"{path}: {len(ddl)} migration statements and {len(queries)} queries logged; "
            "expected both (did the suite run with SME_HUB_SQL_LOG set?)",
            file=sys.stderr,
        )
        sys.exit(2)

    from chdb import session

    with tempfile.TemporaryDirectory(prefix="sme-sql-check-") as data:
        s = session.Session(data)
        version = s.query("SELECT version()", "TSV").bytes().decode().strip()
        failures = []

        def run(what, sql):
            try:
                s.query(sql, "Null")
            except Exception as e:  # chDB raises its own error type with ClickHouse's text
                failures.append((what, sql, str(e).strip()))

        for template in ddl:
            # `{each_period}` is expanded by the hub once per stored period.
            sql = template.replace("{db}", f"`{DATABASE}`").replace("{each_period}", "1 = 1")
            run("migration", sql)
        if failures:
            report(version, failures, path)
        s.query(f"USE `{DATABASE}`")
        for sql in queries:
            run("query", sql)
        for table, columns in inserts:
            cols = ", ".join(f"`{c}`" for c in columns)
            run(
                f"insert into {table}",
                f"INSERT INTO `{table}` ({cols}) SELECT {cols} FROM `{table}` WHERE 0",
            )
        if failures:
            report(version, failures, path)
        s.close()
    print(
        f"SQL check: {len(ddl)} migration statements, {len(queries)} queries and "
        f"{len(inserts)} inserts the hub sent run on ClickHouse {version} (chDB)"
    )


def report(version, failures, path):
    for what, sql, error in failures:
        print(f"--- {what} fails on ClickHouse {version}:\n{shown(sql)}\n>>> {error}\n", file=sys.stderr)
    print(
        f"{len(failures)} statements from {path} fail on ClickHouse {version}; the SQL must run on "
        "18.16 and on current releases (alias every subquery in a join, no LowCardinality …)",
        file=sys.stderr,
    )
    sys.exit(1)


if __name__ == "__main__":
    main()
