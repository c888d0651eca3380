"""The workloads of scripts/crash-campaign: what one series runs (a file for `sink --from`, a seed
for `run`, a Kafka topic for `sink --brokers`), its sink command, and how its store is read,
verified and cleaned up. Loaded by the campaign; not a command of its own.
"""
import importlib.util
import json
import os
import random
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("audit_store", os.path.join(HERE, "audit-store.py"))
audit_store = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit_store)

SETTINGS = {"default": [], "fif4": ["--flushes-in-flight", "4"], "fif0": ["--flushes-in-flight", "0"]}
START_TIME = "2026-01-01T00:00:00Z"
KAFKA_PARTITIONS = 6


class Failure(Exception):
    """Something the campaign itself could not do (not a finding about netchaos)."""


class Environment:
    def __init__(self, args):
        self.binary = args.bin
        self.work = args.work
        self.max_records = args.max_records
        self.brokers = os.environ.get("NETCHAOS_TEST_BROKERS") or os.environ.get("KAFKA_BROKERS")
        self.s3_endpoint = os.environ.get("NETCHAOS_TEST_S3_ENDPOINT") or os.environ.get("S3_ENDPOINT")
        self.bucket = os.environ.get("NETCHAOS_TEST_S3_BUCKET") or os.environ.get("S3_BUCKET") or "netchaos"
        self.env = {key: value for key, value in os.environ.items() if key not in CLEARED}
        self.env["NETCHAOS_METRICS_ADDR"] = "off"

    def command(self, *args):
        return [self.binary, *args]

    def run(self, args, log_path, timeout=600):
        with open(log_path, "ab") as stderr:
            completed = subprocess.run(
                self.command(*args), stdout=subprocess.PIPE, stderr=stderr, env=self.env, timeout=timeout, check=False
            )
        return completed


# The variables netchaos reads as flag fallbacks: the campaign's flags alone decide.
CLEARED = {
    "EPS_TARGET", "WORKER_COUNT", "SEED", "LATENCY_SPIKE_PROB", "PORT_SCAN_PROB", "DATA_EXFIL_PROB", "CONN_RESET_PROB",
    "NETCHAOS_STORE", "KAFKA_BROKERS", "KAFKA_TOPIC", "NETCHAOS_LOG", "SINK_FLUSHES_IN_FLIGHT", "SINK_MAX_RECORDS",
    "SINK_MAX_AGE", "SINK_MAX_BYTES", "NETCHAOS_FROM", "NETCHAOS_SOURCE", "KAFKA_GROUP",
}


# ------------------------------------------------------------------ workloads


class Workload:
    """What one series runs: the sink command of every attempt, and how to check the result."""

    def __init__(self, group, environment, series_seed, records, directory):
        self.mode, self.store_kind, self.setting = group.split("/")
        self.environment = environment
        self.seed = series_seed
        self.records = records
        self.directory = directory
        # Unique per invocation: a replayed series must not find the store or topic of an earlier one.
        self.tag = f"c{random.SystemRandom().randrange(1 << 16):04x}{series_seed:08x}"
        if self.store_kind == "s3":
            if not environment.s3_endpoint:
                raise Failure("an s3 group needs NETCHAOS_TEST_S3_ENDPOINT (or S3_ENDPOINT): run `eval \"$(scripts/stack up)\"`")
            # Short: s3s-fs names a file after the base64 of the whole key.
            self.store = f"s3://{environment.bucket}/{self.tag}"
            self.store_args = ["--store", self.store, "--s3-endpoint", environment.s3_endpoint]
        else:
            self.store = os.path.join(directory, "store")
            self.store_args = ["--store", self.store]
        self.reader = audit_store.open_store(self.store, environment.s3_endpoint)
        self.manifest = os.path.join(directory, "manifest.json")
        self.expected = records
        self.log = os.path.join(directory, "campaign.log")
        self.sink_args = ["--max-records", str(environment.max_records), *SETTINGS[self.setting]]

    def generator_args(self):
        return ["--seed", str(self.seed), "--count", str(self.records), "--eps", "0", "--workers", "2", "--start-time", START_TIME, "--quiet"]

    def prepare(self):
        if self.mode == "from":
            self._prepare_file()
        elif self.mode == "kafka":
            self._prepare_topic()

    def _prepare_file(self):
        raw = os.path.join(self.directory, "raw.jsonl")
        completed = self.environment.run(["generate", *self.generator_args(), "--output", raw, "--manifest", self.manifest], self.log)
        if completed.returncode != 0:
            raise Failure(f"generate exited {completed.returncode}: see {self.log}")
        # Invalid lines among the valid ones, so that DLQ objects are written (and audited) too.
        rng = random.Random(self.seed)
        garbage = [b'{"event_type": "vpc_flow", ', b"[1, 2, 3]", b'{"colour": "red"}', b"\xff\xfe not text", b'"a string"']
        self.invalid = 0
        self.input = os.path.join(self.directory, "g.jsonl")
        with open(raw, "rb") as source, open(self.input, "wb") as target:
            for line in source:
                if rng.random() < 0.004:
                    target.write(rng.choice(garbage) + b"\n")
                    self.invalid += 1
                target.write(line)
        os.remove(raw)
        self.expected = self.records + self.invalid

    def _prepare_topic(self):
        if not self.environment.brokers:
            raise Failure("a kafka group needs NETCHAOS_TEST_BROKERS (or KAFKA_BROKERS): run `eval \"$(scripts/stack up)\"`")
        self.topic, self.group = f"{self.tag}k", f"{self.tag}-group"
        completed = self.environment.run(
            ["generate", "--brokers", self.environment.brokers, "--topic", self.topic, "--partitions", str(KAFKA_PARTITIONS),
             *self.generator_args(), "--manifest", self.manifest],
            self.log,
        )
        if completed.returncode != 0:
            raise Failure(f"generate --brokers exited {completed.returncode}: see {self.log}")

    def attempt_args(self):
        if self.mode == "from":
            return ["sink", "--from", self.input, *self.store_args, *self.sink_args, "--quiet"]
        if self.mode == "run":
            return ["run", *self.generator_args(), *self.store_args, *self.sink_args]
        return [
            "sink", "--brokers", self.environment.brokers, "--topic", self.topic, "--group", self.group, *self.store_args,
            *self.sink_args, "--quiet", "--max-age", "2s", "--idle-exit", "8s",
            # A killed member is expelled after 6 s instead of librdkafka's 45 s, so restarts rejoin fast.
            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000",
        ]

    def progress(self):
        """(data object keys, offsets the partitions reach): what the store shows now."""
        keys, reach = set(), {}
        for key, _size in self.reader.list("data/"):
            parsed = audit_store.parse_key(key)
            if parsed is None:
                continue
            keys.add(key)
            _root, source, partition, _first, last, _epoch, _name, _ext = parsed
            reach[(source, partition)] = max(reach.get((source, partition), 0), last + 1)
        return keys, sum(reach.values())

    def run_finished(self):
        """`run` only: whether the store holds the run's manifest (written when a run ends)."""
        return self.mode == "run" and bool(self.reader.list("manifests/"))

    def verify(self):
        args = ["verify", "--json", *self.store_args]
        if self.mode != "run":  # `run` keeps its manifest in the store
            args += ["--manifest", self.manifest]
        completed = self.environment.run(args, self.log)
        try:
            report = json.loads(completed.stdout)
        except json.JSONDecodeError:
            tail = open(self.log, errors="replace").read()[-1500:]
            raise Failure(f"verify printed no JSON (exit {completed.returncode}); the end of {self.log}:\n{tail}") from None
        return report, completed.returncode

    def cleanup(self):
        if self.store_kind == "s3":
            for key, _size in self.reader.list(""):
                self.reader.delete(key)
        shutil.rmtree(self.directory, ignore_errors=True)
