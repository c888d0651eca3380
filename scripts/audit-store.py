#!/usr/bin/env python3
"""An offset-level audit of a netchaos store, independent of `netchaos verify` (stdlib only).

    scripts/audit-store.py --store DIR|s3://bucket/prefix [--s3-endpoint URL]
                           [--expect-records N] [--expect-partitions N] [--json]

It lists the store's data and DLQ objects and reads their keys (src/sink/keys.rs):

    {data|dlq}/source={source}/dt=YYYY-MM-DD/hour=HH/part-{partition}-{first}-{last}[-e{epoch}]{.json.gz|.json.zst|.json}

(`-e{epoch}` is optional: keys with and without a writer epoch are read alike). Every other root
(`meta/`, `fence/`, `manifests/`, `episodes/`) is ignored, as are the local store's `#N` staging
files (counted). Then, per source and partition, it checks that

  * the data objects tile the offsets from 0 with no gap and no overlap (two objects with the same
    range under different `dt=`/`hour=` folders, or of different epochs, overlap too);
  * each data object's lines plus its DLQ object's lines (same file name) equal its range size;
  * no DLQ object is an orphan (a DLQ object without its data object);

and over the whole store that no `event_id` is stored twice, and (when asked) that the records and
partitions are as many as expected. Exit 0 when all holds, 1 when not, 2 on bad usage.

S3 is read with signed (SigV4) ListObjectsV2 and GetObject requests, path-style, credentials from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region from AWS_REGION (default us-east-1).
"""
import argparse
import datetime
import gzip
import hashlib
import hmac
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

NAME = re.compile(r"^part-(\d+)-(\d+)-(\d+)(?:-e(\d+))?(\.json\.gz|\.json\.zst|\.json)$")
DATE = re.compile(r"^dt=\d{4}-\d{2}-\d{2}$")
HOUR = re.compile(r"^hour=([01]\d|2[0-3])$")
EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"]*)"')
ROOTS = ("data", "dlq")


class UsageError(Exception):
    pass


# ------------------------------------------------------------------ stores


class LocalStore:
    def __init__(self, root):
        self.root = root

    def list(self, prefix=""):
        """Every key under `prefix` (relative to the store root) with its size."""
        base = os.path.join(self.root, prefix) if prefix else self.root
        found = []
        for directory, _subdirectories, files in os.walk(base):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    size = os.path.getsize(path)
                except FileNotFoundError:
                    continue  # renamed or deleted while we listed
                found.append((os.path.relpath(path, self.root).replace(os.sep, "/"), size))
        return sorted(found)

    def get(self, key):
        with open(os.path.join(self.root, key), "rb") as file:
            return file.read()

    def delete(self, key):
        os.remove(os.path.join(self.root, key))


def _sign(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class S3Store:
    def __init__(self, url, endpoint):
        rest = url[len("s3://"):]
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise UsageError(f"{url} names no bucket: use s3://bucket/prefix")
        self.prefix = prefix.strip("/")
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or "https://s3.amazonaws.com"
        parsed = urllib.parse.urlsplit(endpoint)
        self.scheme, self.host = parsed.scheme, parsed.netloc
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.access_key = os.environ.get("AWS_ACCESS_KEY_ID")
        self.secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not self.access_key or not self.secret_key:
            raise UsageError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to read an s3:// store")

    def _request(self, path, query, method="GET"):
        """A signed request of `path` (already URI-encoded) with `query` (a dict); the response body."""
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload = hashlib.sha256(b"").hexdigest()
        canonical_query = "&".join(
            f"{urllib.parse.quote(name, safe='-_.~')}={urllib.parse.quote(value, safe='-_.~')}" for name, value in sorted(query.items())
        )
        headers = {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, path, canonical_query, "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)), signed, payload]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _sign(_sign(_sign(_sign(("AWS4" + self.secret_key).encode(), day), self.region), "s3"), "aws4_request")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(f"{self.scheme}://{self.host}{path}" + (f"?{canonical_query}" if canonical_query else ""), method=method)
        for name, value in headers.items():
            if name != "host":
                request.add_header(name, value)
        request.add_header(
            "Authorization", f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}?{canonical_query}: HTTP {error.code}: {error.read()[:300]!r}") from None

    def _full(self, key):
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix=""):
        full_prefix = self._full(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        found, token = [], None
        namespace = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        while True:
            query = {"list-type": "2", "prefix": full_prefix}
            if token:
                query["continuation-token"] = token
            root = ElementTree.fromstring(self._request(f"/{urllib.parse.quote(self.bucket)}", query))
            for item in root.iter(f"{namespace}Contents"):
                key = item.findtext(f"{namespace}Key")
                size = int(item.findtext(f"{namespace}Size") or 0)
                if self.prefix:
                    key = key[len(self.prefix) + 1:]
                found.append((key, size))
            if root.findtext(f"{namespace}IsTruncated") != "true":
                return sorted(found)
            token = root.findtext(f"{namespace}NextContinuationToken")

    def _object_path(self, key):
        return f"/{urllib.parse.quote(self.bucket)}/{urllib.parse.quote(self._full(key), safe='/-_.~')}"

    def get(self, key):
        return self._request(self._object_path(key), {})

    def delete(self, key):
        self._request(self._object_path(key), {}, method="DELETE")


def open_store(location, endpoint=None):
    if location.startswith("s3://"):
        return S3Store(location, endpoint)
    if location.startswith("file://"):
        location = location[len("file://"):]
    return LocalStore(location)


# ------------------------------------------------------------------ keys


def parse_key(key):
    """(root, source, partition, first, last, epoch, name, extension) of an object key, or None."""
    segments = key.split("/")
    if len(segments) != 5 or segments[0] not in ROOTS or not segments[1].startswith("source="):
        return None
    source = segments[1][len("source="):]
    if not source or not DATE.match(segments[2]) or not HOUR.match(segments[3]):
        return None
    match = NAME.match(segments[4])
    if not match:
        return None
    partition, first, last = int(match[1]), int(match[2]), int(match[3])
    if first > last:
        return None
    epoch = int(match[4]) if match[4] is not None else None
    return segments[0], source, partition, first, last, epoch, segments[4], match[5]


def object_lines(raw, extension):
    if extension == ".json.gz":
        raw = gzip.decompress(raw)
    elif extension == ".json.zst":
        raise RuntimeError("zstd objects cannot be read with the Python standard library: audit a gzip store")
    return [line for line in raw.split(b"\n") if line]


# ------------------------------------------------------------------ the audit


def audit(store, expect_records=None, expect_partitions=None, check_event_ids=True):
    problems, staging, foreign = [], 0, []
    objects = {}  # (root, source, name) -> list of (key, partition, first, last, epoch, extension)
    for root in ROOTS:
        for key, _size in store.list(root + "/"):
            if "#" in key.rsplit("/", 1)[-1]:
                staging += 1
                continue
            parsed = parse_key(key)
            if parsed is None:
                foreign.append(key)
                continue
            kind, source, partition, first, last, epoch, name, extension = parsed
            objects.setdefault((kind, source, name), []).append((key, partition, first, last, epoch, extension))
    for key in foreign:
        problems.append(f"foreign object under a data or DLQ root: {key}")

    ranges = {}  # (source, partition) -> list of (first, last, key)
    records, event_ids, repeated_ids = 0, set(), 0
    dlq_names = {(source, name) for (kind, source, name) in objects if kind == "dlq"}
    data_names = {(source, name) for (kind, source, name) in objects if kind == "data"}
    for (kind, source, name), copies in sorted(objects.items()):
        if kind != "data":
            if (source, name) not in data_names:
                problems.append(f"orphan DLQ object (no data object of the same name): {copies[0][0]}")
            continue
        dlq_lines = []
        if (source, name) in dlq_names:
            for key, *_rest, extension in objects[("dlq", source, name)]:
                dlq_lines.extend(object_lines(store.get(key), extension))
        for key, partition, first, last, _epoch, extension in copies:
            lines = object_lines(store.get(key), extension)
            ranges.setdefault((source, partition), []).append((first, last, key))
            size = last - first + 1
            if len(lines) + len(dlq_lines) != size:
                problems.append(f"{key}: {len(lines)} data + {len(dlq_lines)} DLQ lines for a range of {size} offsets")
            records += len(lines) + len(dlq_lines)
            if check_event_ids:
                for line in lines:
                    match = EVENT_ID.search(line)
                    if match:
                        if match[1] in event_ids:
                            repeated_ids += 1
                        else:
                            event_ids.add(match[1])
    if repeated_ids:
        problems.append(f"{repeated_ids} event ids stored more than once")

    partitions, gaps, overlaps, covered = [], 0, 0, 0
    for (source, partition), spans in sorted(ranges.items()):
        spans.sort()
        position, holes, doubled = 0, 0, 0
        for first, last, key in spans:
            if first > position:
                holes += first - position
                problems.append(f"source {source} partition {partition}: offsets {position}..{first - 1} are in no object (hole before {key})")
            elif first < position:
                doubled += min(last, position - 1) - first + 1
                problems.append(f"source {source} partition {partition}: {key} overlaps offsets {first}..{min(last, position - 1)}")
            position = max(position, last + 1)
        gaps += holes
        overlaps += doubled
        covered += position
        partitions.append({"source": source, "partition": partition, "objects": len(spans), "end": position, "holes": holes, "overlaps": doubled})
    if expect_records is not None and records != expect_records:
        problems.append(f"{records} records stored (data and DLQ lines), {expect_records} expected")
    if expect_records is not None and covered != expect_records:
        problems.append(f"the partitions' objects reach {covered} offsets in all, {expect_records} expected")
    if expect_partitions is not None and len(partitions) != expect_partitions:
        problems.append(f"{len(partitions)} partitions hold objects, {expect_partitions} expected")
    return {
        "ok": not problems,
        "objects": sum(len(copies) for copies in objects.values()),
        "records": records,
        "partitions": len(partitions),
        "gap_offsets": gaps,
        "overlap_offsets": overlaps,
        "repeated_event_ids": repeated_ids,
        "staging_files": staging,
        "problems": problems,
        "per_partition": partitions,
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="a local directory, file://DIR or s3://bucket/prefix")
    parser.add_argument("--s3-endpoint", help="the S3 server (default AWS_ENDPOINT_URL, else AWS)")
    parser.add_argument("--expect-records", type=int, help="records (data + DLQ lines) the store must hold")
    parser.add_argument("--expect-partitions", type=int, help="partitions that must hold objects")
    parser.add_argument("--no-event-ids", action="store_true", help="skip the event-id uniqueness check")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    try:
        store = open_store(args.store, args.s3_endpoint)
        if isinstance(store, LocalStore) and not os.path.isdir(store.root):
            raise UsageError(f"{args.store} is not a directory: name a store that exists")
        result = audit(store, args.expect_records, args.expect_partitions, not args.no_event_ids)
    except UsageError as error:
        print(f"audit-store: {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError, ElementTree.ParseError) as error:
        print(f"audit-store: cannot read {args.store}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "OK" if result["ok"] else "FAILED"
        print(
            f"audit: {verdict}, {result['records']} records in {result['objects']} objects over {result['partitions']} partitions; "
            f"{result['gap_offsets']} offsets in holes, {result['overlap_offsets']} in overlaps, "
            f"{result['repeated_event_ids']} repeated event ids, {result['staging_files']} staging files"
        )
        for problem in result["problems"][:50]:
            print(f"  {problem}")
        if len(result["problems"]) > 50:
            print(f"  ... and {len(result['problems']) - 50} more")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
