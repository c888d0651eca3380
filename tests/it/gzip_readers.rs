//! The sink's gzip objects are several gzip members back to back (one per ~4 MiB of lines,
//! compressed in parallel; `src/sink/gzip.rs`). A reader that stops after the first member would
//! lose the rest of the batch without an error, so each reader a user points at the store reads a
//! real multi-member object here and must see every line: zcat, Python's `gzip`, pandas and DuckDB
//! (the last three in the test tools' Python, `NETCHAOS_TEST_PYTHON`; the test fails without it).

use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::cli::{netchaos, object_files, run_ok};

/// The gzip members in `compressed`, counted by decoding one at a time.
fn members(compressed: &[u8]) -> usize {
    let mut rest = compressed;
    let mut count = 0;
    while !rest.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        std::io::copy(&mut decoder, &mut std::io::sink()).expect("a whole gzip member");
        rest = decoder.into_inner();
        count += 1;
    }
    count
}

/// Lines and the sum of every record's `bytes` (flow records; firewall sessions have none).
fn lines_and_bytes(plain: &[u8]) -> (u64, u64) {
    let mut lines = 0;
    let mut bytes = 0;
    for line in plain.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
        let record: Value = serde_json::from_slice(line).expect("a JSON line");
        lines += 1;
        bytes += record.get("bytes").and_then(Value::as_u64).unwrap_or(0);
    }
    (lines, bytes)
}

fn python_reads(object: &Path) -> Value {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with pandas and duckdb (scripts/test sets it up)");
    let script = r#"
import duckdb, gzip, hashlib, json, pandas, sys
path = sys.argv[1]
with gzip.open(path, "rb") as stream:
    plain = stream.read()
frame = pandas.read_json(path, lines=True, compression="gzip", dtype=False)
duck = duckdb.connect().sql(
    f"SELECT count(*), coalesce(sum(TRY_CAST(json_extract(json, '$.bytes') AS UBIGINT)), 0) "
    f"FROM read_json_objects('{path}', format='newline_delimited', compression='gzip')"
).fetchall()[0]
print(json.dumps({
    "gzip_lines": plain.count(b"\n"),
    "gzip_sha256": hashlib.sha256(plain).hexdigest(),
    "pandas_rows": len(frame),
    "pandas_bytes": int(frame["bytes"].fillna(0).astype("int64").sum()),
    "duckdb_rows": duck[0],
    "duckdb_bytes": int(duck[1]),
}))
"#;
    let output = Command::new(&python).arg("-c").arg(script).arg(object).output().expect("run the test tools' Python");
    assert!(output.status.success(), "Python could not read {}: {}", object.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn sha256_hex(plain: &[u8]) -> String {
    let output = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(plain)?;
            child.wait_with_output()
        })
        .expect("run sha256sum");
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn multi_member_gzip_objects_read_whole_in_every_tool() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("records.jsonl");
    run_ok(netchaos().args(["generate", "--count", "20000", "--seed", "5", "--eps", "0", "--quiet", "--output"]).arg(&input));
    let store = dir.path().join("store");
    // One batch of all 20,000 records (~14 MB): four members or more.
    run_ok(
        netchaos()
            .args(["sink", "-q", "--max-records", "100000", "--max-bytes", "256MiB", "--from"])
            .arg(&input)
            .arg("--store")
            .arg(&store),
    );
    let objects: Vec<_> =
        object_files(&store.join("data")).into_iter().filter(|path| path.to_string_lossy().ends_with(".json.gz")).collect();
    assert_eq!(objects.len(), 1, "one batch, one object: {objects:?}");
    let object = &objects[0];
    let compressed = std::fs::read(object).unwrap();
    let count = members(&compressed);
    assert!(count >= 3, "a 14 MB batch is several members, not {count}");

    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&compressed[..]).read_to_end(&mut plain).unwrap();
    assert_eq!(plain, std::fs::read(&input).unwrap(), "the object holds every input line, in order");
    let (lines, bytes) = lines_and_bytes(&plain);
    assert_eq!(lines, 20_000);
    assert!(bytes > 0);

    let zcat = Command::new("zcat").arg(object).output().expect("run zcat");
    assert!(zcat.status.success(), "zcat: {}", String::from_utf8_lossy(&zcat.stderr));
    assert_eq!(zcat.stdout, plain, "zcat reads every member");

    let read = python_reads(object);
    assert_eq!(read["gzip_lines"], lines, "Python's gzip: {read}");
    assert_eq!(read["gzip_sha256"].as_str(), Some(sha256_hex(&plain).as_str()), "Python's gzip reads the same bytes");
    assert_eq!((read["pandas_rows"].as_u64(), read["pandas_bytes"].as_u64()), (Some(lines), Some(bytes)), "pandas: {read}");
    assert_eq!((read["duckdb_rows"].as_u64(), read["duckdb_bytes"].as_u64()), (Some(lines), Some(bytes)), "DuckDB: {read}");
}
