#!/usr/bin/env python3
"""Runs netchaos's reference detector pack over a store and writes its alerts.

Every `rules/*.sql` file is one detection rule: a plain DuckDB query over two views this script
sets up from the store's data objects (`STORE/data/**/*.json[.gz|.zst]`, JSON lines):

- `flows`: the `vpc_flow` records, with `t` (the record's `start`, Unix seconds);
- `firewall`: the `firewall` records, with `t` (their `timestamp`, as Unix seconds).

The records' `label` is never read: the rules see what a SOC would see. Each rule returns rows of
`time` (Unix seconds), `src`, `dst`, `kind`, `technique` and `score`; each row becomes one alert
in the schema `netchaos score` reads (`alert_id`, `time`, `entity`, `kind`, `technique`,
`score`, `rule`), one JSON object a line.

DuckDB comes from PyPI. Without it importable, the script makes a virtual environment of its own
(under `$XDG_CACHE_HOME/netchaos-detectors`, else `~/.cache/netchaos-detectors`), installs
`duckdb==DUCKDB_VERSION` there and runs itself again with that environment's Python.
`NETCHAOS_DETECTORS_PYTHON=PATH` names a Python that already has DuckDB instead (the test suite's),
and `--no-install` makes a missing DuckDB an error rather than an install.

    python3 examples/detectors/run.py --store ./netchaos-data --out alerts.jsonl
    netchaos score --store ./netchaos-data --alerts alerts.jsonl
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

DUCKDB_VERSION = "2.0.0"
HERE = pathlib.Path(__file__).resolve().parent
# Set in the environment of a run started by this script, so that it never starts another.
REEXEC_MARK = "NETCHAOS_DETECTORS_REEXEC"

# The record fields the rules may use, with their types (the JSON Schema `netchaos schema` prints).
# Both record types share one file, so one column list covers both; `protocol` is a number in flow
# records and a name in firewall records, hence text. `label` is left out on purpose.
COLUMNS = {
    "event_type": "VARCHAR",
    "event_id": "VARCHAR",
    # vpc_flow
    "interface_id": "VARCHAR",
    "srcaddr": "VARCHAR",
    "dstaddr": "VARCHAR",
    "srcport": "INTEGER",
    "dstport": "INTEGER",
    "protocol": "VARCHAR",
    "packets": "BIGINT",
    "bytes": "BIGINT",
    "start": "BIGINT",
    "end": "BIGINT",
    "action": "VARCHAR",
    "log_status": "VARCHAR",
    "vpc_id": "VARCHAR",
    "tcp_flags": "INTEGER",
    "flow_direction": "VARCHAR",
    # firewall
    "timestamp": "VARCHAR",
    "src_ip": "VARCHAR",
    "src_port": "INTEGER",
    "dest_ip": "VARCHAR",
    "dest_port": "INTEGER",
    "app_proto": "VARCHAR",
    "direction": "VARCHAR",
    "rule": "VARCHAR",
    "bytes_sent": "BIGINT",
    "bytes_received": "BIGINT",
    "packets_sent": "BIGINT",
    "packets_received": "BIGINT",
    "duration_ms": "BIGINT",
    "session_end_reason": "VARCHAR",
}

# The columns a rule returns.
RULE_COLUMNS = ["time", "src", "dst", "kind", "technique", "score"]


def fail(message):
    print(f"detectors: error: {message}", file=sys.stderr)
    sys.exit(2)


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, type=pathlib.Path, help="the store `netchaos run --store` wrote")
    parser.add_argument("--out", default="-", help="where the alerts go (JSON lines); `-` for stdout (the default)")
    parser.add_argument("--rules", default=HERE / "rules", type=pathlib.Path, help="the folder of .sql rules")
    parser.add_argument("--rule", action="append", default=[], help="run only this rule (its file name without .sql); repeatable")
    parser.add_argument("--no-install", action="store_true", help="fail, rather than install DuckDB, when it is missing")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB's threads (0: its default)")
    return parser.parse_args()


def venv_dir():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(cache) / "netchaos-detectors" / f"venv-duckdb-{DUCKDB_VERSION}"


def reexec(python):
    """Runs this script again under `python`, once."""
    if os.environ.get(REEXEC_MARK):
        fail(f"{python} cannot import duckdb either: install duckdb=={DUCKDB_VERSION} into it")
    env = dict(os.environ, **{REEXEC_MARK: "1"})
    os.execve(python, [python, __file__, *sys.argv[1:]], env)


def ensure_duckdb(args):
    """Imports DuckDB, from the named Python, this one, or a virtual environment made for it."""
    named = os.environ.get("NETCHAOS_DETECTORS_PYTHON")
    if named and not os.environ.get(REEXEC_MARK) and os.path.abspath(named) != os.path.abspath(sys.executable):
        reexec(named)
    try:
        import duckdb  # noqa: F401  (imported for the caller, through sys.modules)

        return sys.modules["duckdb"]
    except ImportError:
        pass
    if named or args.no_install:
        fail(f"{sys.executable} cannot import duckdb: install duckdb=={DUCKDB_VERSION} into it, or drop --no-install")
    venv = venv_dir()
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"detectors: installing duckdb=={DUCKDB_VERSION} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"duckdb=={DUCKDB_VERSION}"], check=True)
    reexec(str(python))


def data_files(store):
    data = store / "data"
    if not data.is_dir():
        fail(f"{store} holds no data/ folder: give the store `netchaos run --store DIR` wrote")
    suffixes = (".json", ".json.gz", ".json.zst")
    files = sorted(str(path) for path in data.rglob("*") if path.is_file() and path.name.endswith(suffixes))
    if not files:
        fail(f"{data} holds no data objects (*.json, *.json.gz, *.json.zst)")
    return files


def load(duckdb, files, threads):
    con = duckdb.connect()
    if threads > 0:
        con.execute(f"SET threads = {threads}")
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS.items()) + "}"
    con.execute(
        "CREATE TABLE records AS SELECT * FROM read_json(?, format = 'newline_delimited', "
        f"columns = {columns}, hive_partitioning = false)",
        [files],
    )
    con.execute(
        "CREATE VIEW flows AS SELECT *, start AS t FROM records "
        "WHERE event_type = 'vpc_flow' AND log_status = 'OK'"
    )
    con.execute(
        "CREATE VIEW firewall AS SELECT *, epoch(CAST(timestamp AS TIMESTAMPTZ)) AS t FROM records "
        "WHERE event_type = 'firewall'"
    )
    # RFC 1918 space: what the rules call internal.
    con.execute(
        "CREATE MACRO is_internal(address) AS "
        "regexp_matches(address, '^(10\\.|192\\.168\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)')"
    )
    return con


def rfc3339(seconds):
    moment = datetime.datetime.fromtimestamp(float(seconds), tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_rule(con, path):
    relation = con.sql(path.read_text())
    missing = [column for column in RULE_COLUMNS if column not in relation.columns]
    if missing:
        fail(f"{path} returns no column {', '.join(missing)}; a rule returns {', '.join(RULE_COLUMNS)}")
    rows = relation.select(", ".join(f'"{column}"' for column in RULE_COLUMNS)).order("time, src, dst").fetchall()
    alerts = []
    for number, (at, src, dst, kind, technique, score) in enumerate(rows):
        entity = {name: value for name, value in (("src", src), ("dst", dst)) if value is not None}
        alert = {"alert_id": f"{path.stem}-{number:05}", "time": rfc3339(at), "entity": entity, "kind": kind}
        if technique is not None:
            alert["technique"] = technique
        if score is not None:
            alert["score"] = round(float(score), 4)
        alert["rule"] = path.stem
        alerts.append(alert)
    return alerts


def main():
    args = arguments()
    files = data_files(args.store)
    duckdb = ensure_duckdb(args)
    rules = sorted(args.rules.glob("*.sql"))
    if args.rule:
        unknown = sorted(set(args.rule) - {path.stem for path in rules})
        if unknown:
            fail(f"no rule {', '.join(unknown)} in {args.rules}; the rules are {', '.join(path.stem for path in rules)}")
        rules = [path for path in rules if path.stem in args.rule]
    if not rules:
        fail(f"{args.rules} holds no .sql rules")
    began = time.monotonic()
    con = load(duckdb, files, args.threads)
    count = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    print(f"detectors: {count} records read in {time.monotonic() - began:.1f}s", file=sys.stderr)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    with out:
        for path in rules:
            began = time.monotonic()
            alerts = run_rule(con, path)
            for alert in alerts:
                out.write(json.dumps(alert) + "\n")
            print(f"detectors: {path.stem}: {len(alerts)} alerts in {time.monotonic() - began:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
