"""Third-party readers of netchaos's Network Firewall and OCSF output, run by tests/it/aws_security.rs.

Each subcommand prints one JSON object. Nothing here uses netchaos's own code: Python's gzip
and json read the Network Firewall objects, the `jsonschema` package validates OCSF events
against the OCSF 1.1.0 Network Activity schema that the `ocsf-json-schema` package (PyPI)
bundles (its `ocsf/1.1.0.json` is schema.ocsf.io's own /1.1.0/export/schema, see that
package's ocsf/README.md), pyarrow reads the OCSF Parquet objects, and DuckDB the flows.
"""

import copy
import glob
import gzip
import json
import os
import re
import sys

# AWS Network Firewall's S3 key (Network Firewall developer guide, "Logging to Amazon S3"):
# AWSLogs/{account}/network-firewall/{log-type}/{region}/{firewall-name}/{yyyy}/{mm}/{dd}/{HH}/
# {account}_network-firewall_{log-type}_{region}_{firewall-name}_{yyyyMMddHHmm}_{hash}.log.gz
FIREWALL_KEY = re.compile(
    r"AWSLogs/(?P<account>\d{12})/network-firewall/(?P<type>flow|alert)/(?P<region>[a-z0-9-]+)/(?P<firewall>[^/]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/"
    r"(?P=account)_network-firewall_(?P=type)_(?P=region)_(?P=firewall)_(?P=y)(?P=m)(?P=d)(?P=h)\d{2}_[0-9a-f]{8}\.log\.gz"
)

# Amazon Security Lake's custom-source layout (Security Lake user guide, "Collecting data from
# custom sources"): ext/{source}/region={region}/accountId={account}/eventDay={YYYYMMDD}/.
SECURITY_LAKE_KEY = re.compile(r"ext/[^/]+/region=[a-z0-9-]+/accountId=\d{12}/eventDay=\d{8}/[^/]+\.(?:gz\.parquet|json\.gz)")

# dynatrace-oss/dynatrace-aws-s3-log-forwarder, src/log/processing/rules/aws/network-firewall.yaml
# (commit 1486c41a04ca), `known_key_path_pattern`, with the helper patterns of src/utils/helpers.py
# (commit 119b3f1d17f7) it is formatted with: a published reader's own test of a Network Firewall key.
DYNATRACE_HELPERS = {
    "aws_logs_prefix": "AWSLogs",
    "aws_account_id_pattern": r"\d{12}",
    "year_pattern": r"[2]\d{3}",
    "month_pattern": r"(0[1-9]|1[012])",
    "day_pattern": r"(0[1-9]|[12][0-9]|3[01])",
    "hour_pattern": r"([0][0-9]|[1][0-9]|[2][0-3])",
    "minutes_pattern": r"[0-5][0-9]",
    "aws_region_pattern": r"(us(-gov)?|ap|ca|cn|eu|il|sa|me|af|mx|eusc-de)-(central|((north(east|west)?|south(east|west)?)|(east|west)))-\d{1}",
    "aws_resource_name_pattern": r"[a-zA-Z0-9-_]{1,128}",
}
DYNATRACE = re.compile(
    r"^.*?{aws_logs_prefix}/{aws_account_id_pattern}/(network-firewall)/(alert|flow)/{aws_region_pattern}/{aws_resource_name_pattern}/{year_pattern}/{month_pattern}/{day_pattern}/{hour_pattern}/{aws_account_id_pattern}_(network-firewall)_(alert|flow)_{aws_region_pattern}_{aws_resource_name_pattern}_{year_pattern}{month_pattern}{day_pattern}{hour_pattern}{minutes_pattern}_[a-fA-F0-9]{{8}}(\.log\.gz)$".format(
        **DYNATRACE_HELPERS
    )
)

ENVELOPE = {"firewall_name", "availability_zone", "event_timestamp", "event"}


def files_under(root, top):
    out = []
    for path in glob.glob(os.path.join(root, top, "**", "*"), recursive=True):
        if os.path.isfile(path):
            out.append(os.path.relpath(path, root))
    return sorted(out)


def firewall(root):
    """Every Network Firewall object: its key, its envelope, its EVE events."""
    out = {"keys": 0, "dynatrace": 0, "bad_keys": [], "netflow": 0, "alert": 0, "bad_lines": [], "sessions": 0, "alerts_without_flow": 0}
    flow_ids, alert_ids = set(), set()
    tuples = []
    for key in files_under(root, "AWSLogs"):
        if "/network-firewall/" not in key:
            continue
        out["keys"] += 1
        if DYNATRACE.match(key):
            out["dynatrace"] += 1
        match = FIREWALL_KEY.fullmatch(key)
        if not match:
            out["bad_keys"].append(key)
            continue
        with gzip.open(os.path.join(root, key), "rt", newline="") as body:
            content = body.read()
        for line in content.split("\n")[:-1]:
            line_object = json.loads(line)
            event = line_object.get("event", {})
            problems = []
            if set(line_object) != ENVELOPE:
                problems.append("envelope")
            if not re.fullmatch(r"\d{10}", str(line_object.get("event_timestamp"))) or not isinstance(line_object.get("event_timestamp"), str):
                problems.append("event_timestamp")
            if line_object.get("firewall_name") != match.group("firewall"):
                problems.append("firewall_name")
            if not str(line_object.get("availability_zone", "")).startswith(match.group("region")):
                problems.append("availability_zone")
            kind = event.get("event_type")
            wanted = "netflow" if match.group("type") == "flow" else "alert"
            if kind != wanted:
                problems.append(f"event_type {kind} in a {match.group('type')} object")
            if kind == "netflow":
                out["netflow"] += 1
                netflow = event.get("netflow", {})
                if not all(name in netflow for name in ("pkts", "bytes", "start", "end")):
                    problems.append("netflow fields")
                if event["flow_id"] not in flow_ids:
                    flow_ids.add(event["flow_id"])
                    # The first event of a session is client to server.
                    tuples.append([event["src_ip"], event.get("src_port", 0), event["dest_ip"], event.get("dest_port", 0), event["proto"]])
            elif kind == "alert":
                out["alert"] += 1
                alert = event.get("alert", {})
                if not (alert.get("action") == "blocked" and isinstance(alert.get("signature_id"), int) and alert.get("signature") and alert.get("severity") in (1, 2, 3)):
                    problems.append("alert fields")
                alert_ids.add(event["flow_id"])
            if problems:
                out["bad_lines"].append([key, problems, line[:300]])
    out["sessions"] = len(flow_ids)
    out["alert_sessions"] = len(alert_ids)
    out["alerts_without_flow"] = len(alert_ids - flow_ids)
    out["bad_keys"] = out["bad_keys"][:5]
    out["bad_lines"] = out["bad_lines"][:5]
    out["tuples"] = tuples
    return out


def consistency(root, records):
    """The firewall's sessions of normal conversations against the VPC flow records of the same
    store (v5-all text): how many of their client-to-server tuples DuckDB finds among the flows'
    packet addresses. `records` (the generated JSON lines) says which sessions are normal: an
    anomaly kind writes one record per attack connection, the firewall's or a flow, not both."""
    import duckdb

    numbers = {"TCP": 6, "UDP": 17, "ICMP": 1}
    normal, normal_records = set(), 0
    with open(records) as lines:
        for line in lines:
            record = json.loads(line)
            if record["event_type"] == "firewall" and record.get("label") is None:
                normal_records += 1
                normal.add((record["src_ip"], record.get("src_port", 0), record["dest_ip"], record.get("dest_port", 0), record["protocol"].upper()))
    sessions = firewall(root)
    sessions["tuples"] = [t for t in sessions["tuples"] if tuple(t) in normal]
    files = [os.path.join(root, key) for key in files_under(root, "AWSLogs") if "/vpcflowlogs/" in key]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE sessions (src VARCHAR, sport INTEGER, dst VARCHAR, dport INTEGER, proto INTEGER)")
    connection.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", [[s, sp, d, dp, numbers[p]] for s, sp, d, dp, p in sessions["tuples"]])
    relation = f"read_csv({files!r}, delim=' ', header=true, nullstr='-', compression='gzip', all_varchar=true)"
    matched = connection.execute(
        f"""SELECT count(*) FROM sessions WHERE EXISTS (
              SELECT 1 FROM {relation} f
              WHERE f."pkt-srcaddr" = sessions.src AND f."pkt-dstaddr" = sessions.dst
                AND CAST(f.srcport AS INTEGER) = sessions.sport AND CAST(f.dstport AS INTEGER) = sessions.dport
                AND CAST(f.protocol AS INTEGER) = sessions.proto)"""
    ).fetchone()[0]
    unmatched = connection.execute(
        f"""SELECT * FROM sessions WHERE NOT EXISTS (
              SELECT 1 FROM {relation} f
              WHERE f."pkt-srcaddr" = sessions.src AND f."pkt-dstaddr" = sessions.dst
                AND CAST(f.srcport AS INTEGER) = sessions.sport AND CAST(f.dstport AS INTEGER) = sessions.dport
                AND CAST(f.protocol AS INTEGER) = sessions.proto) LIMIT 5"""
    ).fetchall()
    return {"normal": normal_records, "sessions": len(sessions["tuples"]), "matched": matched, "unmatched": [list(row) for row in unmatched]}


def class_validator():
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema("1.1.0")).get_class_schema("network_activity", ["cloud", "security_control"])
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def ocsf_events(path):
    if os.path.isdir(path):
        for key in files_under(path, "ext"):
            if key.endswith(".json.gz"):
                with gzip.open(os.path.join(path, key), "rt") as body:
                    for line in body:
                        yield json.loads(line)
    else:
        with open(path) as body:
            for line in body:
                yield json.loads(line)


def ocsf_validate(path):
    """Every event against the class schema, and the rules the schema cannot state."""
    validator = class_validator()
    out = {"events": 0, "invalid": 0, "errors": [], "activities": {}, "rule_breaks": [], "correlated": 0, "profiles": []}
    first = None
    for event in ocsf_events(path):
        out["events"] += 1
        first = first or event
        errors = sorted(validator.iter_errors(event), key=lambda error: list(error.path))
        if errors:
            out["invalid"] += 1
            if len(out["errors"]) < 5:
                out["errors"].append([error.message[:200] + " at " + "/".join(map(str, error.path)) for error in errors[:3]])
        activity = event.get("activity_id")
        out["activities"][str(activity)] = out["activities"].get(str(activity), 0) + 1
        rules = []
        if event.get("class_uid") != 4001 or event.get("type_uid") != 400100 + activity:
            rules.append("type_uid")
        if event.get("metadata", {}).get("version") != "1.1.0":
            rules.append("version")
        if activity == 5 and (event.get("action_id") != 2 or event.get("disposition_id") not in (2, 6)):
            rules.append("refuse is denied and blocked or dropped")
        if activity == 6 and event.get("action_id") != 1:
            rules.append("traffic is allowed")
        if not (isinstance(event.get("time"), int) and event["time"] > 10**12):
            rules.append("time in epoch ms")
        if event.get("metadata", {}).get("correlation_uid"):
            out["correlated"] += 1
        if rules and len(out["rule_breaks"]) < 5:
            out["rule_breaks"].append([rules, json.dumps(event)[:300]])
        profiles = sorted(event.get("metadata", {}).get("profiles", []))
        if profiles not in out["profiles"]:
            out["profiles"].append(profiles)
    # The schema is a real check: damaged copies of a valid event fail it.
    damaged = []
    if first is not None:
        missing = copy.deepcopy(first)
        del missing["src_endpoint"]
        damaged.append(missing)
        wrong_type = copy.deepcopy(first)
        wrong_type["activity_id"] = str(wrong_type["activity_id"])
        damaged.append(wrong_type)
        unknown = copy.deepcopy(first)
        unknown["not_an_ocsf_attribute"] = 1
        damaged.append(unknown)
        bad_traffic = copy.deepcopy(first)
        bad_traffic["traffic"] = {"bytes": "many"}
        damaged.append(bad_traffic)
    out["damaged"] = len(damaged)
    out["damaged_rejected"] = sum(1 for event in damaged if not validator.is_valid(event))
    return out


def ocsf_parquet(root):
    """pyarrow reads every OCSF Parquet object under Security Lake's layout; keys checked."""
    import pyarrow.parquet as pq

    keys = files_under(root, "ext")
    out = {"keys": len(keys), "bad_keys": [k for k in keys if not SECURITY_LAKE_KEY.fullmatch(k)][:5], "rows": 0, "columns": [], "classes": []}
    classes = set()
    for key in keys:
        if not key.endswith(".gz.parquet"):
            continue
        table = pq.read_table(os.path.join(root, key))
        out["rows"] += table.num_rows
        if not out["columns"]:
            out["columns"] = table.schema.names
        classes.update(table.column("class_uid").to_pylist())
        codecs = {pq.ParquetFile(os.path.join(root, key)).metadata.row_group(0).column(0).compression}
        out.setdefault("codecs", sorted(codecs))
    out["classes"] = sorted(classes)
    return out


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    result = {"firewall": firewall, "consistency": consistency, "ocsf-validate": ocsf_validate, "ocsf-parquet": ocsf_parquet}[command](*args)
    result.pop("tuples", None) if command == "firewall" else None
    print(json.dumps(result))
