"""Third-party readers of netchaos's AWS-layout objects, run by tests/it/aws_layout.rs.

Each subcommand prints one JSON object. Nothing here uses netchaos's own code: DuckDB reads
the text objects as AWS's Athena DDL describes them, pyarrow reads the Parquet objects, and
the key patterns are the readers' own, copied from their sources (named below).
"""

import glob
import gzip
import json
import os
import re
import sys

# AWS's field table (VPC user guide, "Available fields"), versions 2-5, and the Parquet /
# Athena type of each: int for INT_32, bigint for INT_64, string for the rest.
INT32 = {"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path"}
INT64 = {"packets", "bytes", "start", "end"}

# Grafana Loki, tools/lambda-promtail/lambda-promtail/s3.go (commit 05833ffef2c3), `filenameRegex`.
LOKI = re.compile(
    r"AWSLogs\/(?P<account_id>\d+)\/(?P<type>\w+)\/(?P<region>[\w-]+)\/(?P<year>\d+)\/(?P<month>\d+)\/(?P<day>\d+)\/\d+\_(?:elasticloadbalancing|vpcflowlogs)\_\w+-\w+-\d_(?:(?:app|nlb|net)\.*?)?(?P<src>[a-zA-Z0-9\-]+)"
)

# turbot/tailpipe-plugin-aws, tables/vpc_flow_log/vpc_flow_log_table.go (commit 263729a8f97d),
# the default S3 `file_layout`, a grok pattern:
TAILPIPE_GROK = "AWSLogs/(%{DATA:org_id}/)?%{NUMBER:account_id}/vpcflowlogs/%{DATA:region}/%{YEAR:year}/%{MONTHNUM:month}/%{MONTHDAY:day}/(%{NUMBER:hour}/)?%{DATA}.log.gz"
# The grok definitions it uses, from logstash-patterns-core's patterns/legacy/grok-patterns.
GROK = {
    "DATA": r".*?",
    "NUMBER": r"(?:(?<![0-9.+-])(?>[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+))))",
    "YEAR": r"(?>\d\d){1,2}",
    "MONTHNUM": r"(?:0?[1-9]|1[0-2])",
    "MONTHDAY": r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])",
}


def grok_to_regex(pattern):
    def named(match):
        name, field = match.group(1), match.group(2)
        body = GROK[name]
        return f"(?P<{field}>{body})" if field else body

    seen = set()

    def unique(match):
        # A grok field may repeat; Python's named groups may not.
        name, field = match.group(1), match.group(2)
        if field and field in seen:
            return GROK[name]
        if field:
            seen.add(field)
        return named(match)

    return re.compile(re.sub(r"%\{(\w+)(?::(\w+))?\}", unique, pattern))


TAILPIPE = grok_to_regex(TAILPIPE_GROK)


def flow_keys(root):
    keys = []
    for path in glob.glob(os.path.join(root, "AWSLogs", "**", "*"), recursive=True):
        key = os.path.relpath(path, root)
        if os.path.isfile(path) and ("/vpcflowlogs/" in key or "/aws-service=vpcflowlogs/" in key):
            keys.append(key)
    return sorted(keys)


def keys(root):
    out = {"keys": 0, "loki": 0, "tailpipe": 0, "bad": []}
    for key in flow_keys(root):
        out["keys"] += 1
        loki = LOKI.search(key)
        if loki and loki.group("type") == "vpcflowlogs" and loki.group("src").startswith("fl-"):
            out["loki"] += 1
        else:
            out["bad"].append(("loki", key))
        if TAILPIPE.fullmatch(key):
            out["tailpipe"] += 1
        else:
            out["bad"].append(("tailpipe", key))
    out["bad"] = out["bad"][:5]
    return out


def text(root):
    """DuckDB reads the text objects as AWS's Athena DDL describes them."""
    import duckdb

    files = [os.path.join(root, key) for key in flow_keys(root) if key.endswith(".log.gz")]
    headers = set()
    tokens = {"lines": 0, "bad": 0}
    for path in files:
        with gzip.open(path, "rt", newline="") as body:
            content = body.read()
        assert content.endswith("\n") and "\r" not in content, path
        lines = content.split("\n")[:-1]
        header = lines[0].split(" ")
        headers.add(" ".join(header))
        for line in lines[1:]:
            tokens["lines"] += 1
            parts = line.split(" ")
            if len(parts) != len(header) or "" in parts:
                tokens["bad"] += 1
    assert len(headers) == 1, headers
    names = headers.pop().split(" ")

    def sql_type(name):
        return "INTEGER" if name in INT32 else "BIGINT" if name in INT64 else "VARCHAR"

    columns = "{" + ", ".join(f"'{name}': '{sql_type(name)}'" for name in names) + "}"
    connection = duckdb.connect()
    relation = f"read_csv({files!r}, delim=' ', header=true, nullstr='-', columns={columns}, compression='gzip', auto_detect=false)"
    count = connection.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    described = connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    nulls = connection.execute(f"SELECT count(*) FROM {relation} WHERE \"log-status\" = 'NODATA' AND srcaddr IS NULL").fetchone()[0] if "log-status" in names else 0
    sums = connection.execute(f"SELECT sum(bytes), sum(packets) FROM {relation}").fetchone()
    return {
        "files": len(files),
        "fields": names,
        "rows": count,
        "types": {row[0]: row[1] for row in described},
        "nodata_nulls": nulls,
        "bytes": sums[0],
        "packets": sums[1],
        "token_lines": tokens["lines"],
        "token_bad": tokens["bad"],
    }


def parquet(root):
    import pyarrow.parquet as pq

    files = [os.path.join(root, key) for key in flow_keys(root) if key.endswith(".log.parquet")]
    rows = 0
    types = {}
    codecs = set()
    for path in files:
        table = pq.read_table(path)
        rows += table.num_rows
        for field in table.schema:
            types.setdefault(field.name, str(field.type))
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                codecs.add(metadata.row_group(group).column(column).compression)
    return {"files": len(files), "rows": rows, "types": types, "codecs": sorted(codecs)}


def s3_rows(endpoint, bucket, prefix):
    """pyarrow's own S3 client reads every flow object under the prefix and counts its rows."""
    import pyarrow.fs as fs
    import pyarrow.parquet as pq

    host = endpoint.split("://", 1)[-1]
    s3 = fs.S3FileSystem(
        endpoint_override=host,
        scheme="http",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
    )
    selector = fs.FileSelector(f"{bucket}/{prefix}/AWSLogs", recursive=True)
    rows = 0
    files = 0
    for info in s3.get_file_info(selector):
        if info.type != fs.FileType.File:
            continue
        files += 1
        if info.path.endswith(".log.parquet"):
            rows += pq.read_table(info.path, filesystem=s3).num_rows
        elif "/vpcflowlogs/" in info.path:
            with s3.open_input_stream(info.path, compression="gzip") as stream:
                rows += stream.read().count(b"\n") - 1
    return {"files": files, "rows": rows}


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    result = {"keys": keys, "text": text, "parquet": parquet, "s3-rows": s3_rows}[command](*args)
    print(json.dumps(result))
