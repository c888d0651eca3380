//! One conformance suite for every `Storage` backend: a local directory and the real S3 server of
//! `scripts/stack up` (s3s-fs on 127.0.0.1:19000). The S3 half needs the stack: without it these
//! tests fail, they never skip. Also `run` and `verify` against an `s3://` store end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::cli::{netchaos, number, run_ok, summary};
use crate::common::kafka::{s3_server, serial, unique};
use bytes::Bytes;
use netchaos::sink::{S3Options, Storage};

fn s3_storage() -> Storage {
    let (endpoint, bucket) = s3_server();
    let options = S3Options { endpoint: Some(endpoint), region: None, virtual_hosted: false };
    Storage::open(&format!("s3://{bucket}/{}", unique("conformance")), &options).unwrap()
}

/// What every backend must do, in the sink's and verify's terms.
async fn conformance(storage: &Storage) {
    assert_eq!(storage.list("").await.unwrap(), vec![], "a new prefix is empty");
    storage.put("data/source=a/dt=2026-01-01/one.json.gz", Bytes::from_static(b"1\n")).await.unwrap();
    storage.put("data/source=b/two.json.gz", Bytes::from_static(b"22\n")).await.unwrap();
    storage.put("dlq/source=a/three.json.gz", Bytes::new()).await.unwrap();
    assert_eq!(
        storage.list("data").await.unwrap(),
        vec![("data/source=a/dt=2026-01-01/one.json.gz".to_owned(), 2), ("data/source=b/two.json.gz".to_owned(), 3)],
        "listing is recursive, sorted, relative to the store's prefix, with sizes"
    );
    assert_eq!(storage.list("data/source=a").await.unwrap().len(), 1, "a prefix matches whole segments");
    assert_eq!(storage.list("data/source=").await.unwrap().len(), 0, "not a partial segment");
    assert_eq!(storage.list("").await.unwrap().len(), 3);
    assert_eq!(storage.get("dlq/source=a/three.json.gz").await.unwrap(), Bytes::new(), "empty objects exist");
    // A rewrite replaces the object whole.
    storage.put("data/source=b/two.json.gz", Bytes::from_static(b"333\n")).await.unwrap();
    assert_eq!(storage.get("data/source=b/two.json.gz").await.unwrap(), Bytes::from_static(b"333\n"));
    // Deleting is idempotent; a missing object is an error to read.
    storage.delete("data/source=a/dt=2026-01-01/one.json.gz").await.unwrap();
    storage.delete("data/source=a/dt=2026-01-01/one.json.gz").await.unwrap();
    assert!(storage.get("data/source=a/dt=2026-01-01/one.json.gz").await.is_err());
    assert_eq!(storage.list("data").await.unwrap(), vec![("data/source=b/two.json.gz".to_owned(), 4)]);
    // A large object round-trips byte for byte.
    let large: Vec<u8> = (0..6_000_000u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    storage.put("data/large.bin", Bytes::from(large.clone())).await.unwrap();
    assert!(storage.get("data/large.bin").await.unwrap() == large);
    // Creating only where nothing is: what makes a writer epoch (a fence) unique.
    let fence = "fence/source=a/part-00000/e0000000001-00000000000000000000";
    assert!(storage.put_new(fence, Bytes::from_static(b"first")).await.unwrap(), "created");
    assert!(!storage.put_new(fence, Bytes::from_static(b"second")).await.unwrap(), "a second create is refused");
    assert_eq!(storage.get(fence).await.unwrap(), Bytes::from_static(b"first"), "and changes nothing");
}

#[tokio::test]
async fn the_local_backend_conforms() {
    let directory = tempfile::tempdir().unwrap();
    conformance(&Storage::from_url(directory.path().join("store").to_str().unwrap()).unwrap()).await;
}

/// Runs `test` holding [`serial`]: the stack's S3 server is shared with the tests that stop it
/// for an outage (`s3_sink`), which must not run meanwhile.
fn against_the_stack(test: impl Future<Output = ()>) {
    let _serial = serial();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test);
}

#[test]
fn the_s3_backend_conforms() {
    against_the_stack(async { conformance(&s3_storage()).await });
}

#[test]
fn a_wrong_secret_is_an_error_not_an_empty_store() {
    against_the_stack(a_wrong_secret_is_refused());
}

async fn a_wrong_secret_is_refused() {
    let (endpoint, bucket) = s3_server();
    let wrong = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default() + "-wrong";
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_access_key_id(std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default())
        .with_secret_access_key(wrong)
        .with_retry(object_store::RetryConfig { max_retries: 0, ..Default::default() })
        .build()
        .unwrap();
    let storage = Storage::new(std::sync::Arc::new(store), "anything", "s3://wrong-secret");
    assert!(storage.list("").await.is_err());
}

#[test]
fn run_and_verify_work_against_an_s3_store() {
    let _serial = serial();
    let (endpoint, bucket) = s3_server();
    let store = format!("s3://{bucket}/{}", unique("run"));
    let output = run_ok(netchaos().args([
        "run",
        "--count",
        "50000",
        "--eps",
        "0",
        "--seed",
        "21",
        "--s3-endpoint",
        &endpoint,
        "--store",
        &store,
        "--json",
    ]));
    let audit = &summary(&output)["verify"];
    assert_eq!((number(audit, "lost"), number(audit, "duplicated")), (0, 0), "{audit}");
    let mut command = netchaos();
    command.args(["verify", "--json", "--s3-endpoint", &endpoint, "--store", &store]);
    let output = command.output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_eq!(number(&report, "landed"), 50_000);
    assert_eq!(number(&report, "lost"), 0);
}

#[test]
fn stored_objects_are_gzip_json_lines_that_python_reads() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    run_ok(netchaos().args(["run", "--count", "3000", "--eps", "0", "--seed", "22", "--quiet"]).arg("--store").arg(&store));
    let script = r#"
import glob, gzip, json, sys
count = 0
for path in glob.glob(sys.argv[1] + "/data/**/*.json.gz", recursive=True):
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            assert record["event_type"] in ("vpc_flow", "firewall"), record
            count += 1
print(count)
"#;
    let output = std::process::Command::new("python3").arg("-c").arg(script).arg(&store).output().expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "3000");
}
