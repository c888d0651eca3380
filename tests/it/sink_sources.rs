//! `sink --from` and `run` against inputs that are not what a rerun assumes: a stream stopped by
//! SIGTERM, a second stream or another file under the same source name, a file still being
//! written, a rerun of `run` with other settings; and the usage errors that must exit 2.
//! Through the real binary, into a local store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::cli::{free_port, netchaos, number, object_files, run_ok, sample, scrape, stored_lines, verify};

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `generate --count N --seed S` as bytes, with its manifest written to `manifest`.
fn generated(count: u64, seed: u64, manifest: &Path) -> Vec<u8> {
    run_ok(
        netchaos()
            .args(["generate", "--count", &count.to_string(), "--seed", &seed.to_string(), "--eps", "0", "--quiet"])
            .arg("--manifest")
            .arg(manifest),
    )
    .stdout
}

/// `sink --from -` fed `input` through a pipe that is then closed.
fn sink_stdin(store: &Path, input: &[u8], extra: &[&str]) -> Output {
    let mut child = netchaos()
        .args(["sink", "--from", "-", "--quiet"])
        .args(extra)
        .arg("--store")
        .arg(store)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused run exits before reading: a broken pipe is its answer, not the test's failure.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a usage error: exit 2 and exactly one line on stderr, containing `needle`.
fn assert_usage_error(output: &Output, needle: &str) {
    let stderr = stderr_of(output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains(needle), "`{needle}` in: {stderr}");
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap().success());
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect()
}

/// Sends 5,000 lines to `sink --from FROM` through `writer` (stdin when `fifo` is `None`), keeps
/// it open, waits until the sink has read them all, SIGTERMs it and checks that it exits 0 with
/// every line stored once.
fn sigterm_mid_stream(fifo: Option<&Path>) {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let input = generated(5_000, 11, &directory.path().join("manifest.json"));
    let port = free_port();
    let from = fifo.map_or_else(|| "-".to_owned(), |path| path.to_str().unwrap().to_owned());
    // No batch fills or ages: everything read is still buffered when the signal comes.
    let mut child = netchaos()
        .args(["sink", "--from", &from, "--max-age", "1h", "--metrics-addr", &format!("127.0.0.1:{port}")])
        .arg("--store")
        .arg(&store)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut writer: Box<dyn Write> = match fifo {
        Some(path) => Box::new(std::fs::OpenOptions::new().write(true).open(path).unwrap()),
        None => Box::new(stdin),
    };
    writer.write_all(&input).unwrap();
    writer.flush().unwrap();
    // The writer stays open, as a producer that never ends keeps it: no EOF will come.
    let started = Instant::now();
    loop {
        let consumed = std::panic::catch_unwind(|| sample(&scrape(port), "netchaos_sink_records_consumed_total")).unwrap_or(0.0);
        if consumed >= 5_000.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the sink read {consumed} of 5,000 lines");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, "TERM");
    let status = wait_with_deadline(&mut child, Duration::from_secs(20));
    drop(writer);
    assert_eq!(status.and_then(|status| status.code()), Some(0), "the first SIGTERM stops the sink cleanly (it waited for an EOF)");

    let mut landed = stored_lines(&store, "data");
    let mut expected = lines_of(&input);
    landed.sort();
    expected.sort();
    assert_eq!(landed.len(), 5_000, "every line read before the signal is stored, once");
    assert!(landed == expected, "the stored records are the lines sent");
}

#[test]
fn a_sigterm_on_stdin_stops_reading_stores_every_line_read_and_exits_zero() {
    sigterm_mid_stream(None);
}

#[test]
fn a_sigterm_on_a_fifo_stops_reading_stores_every_line_read_and_exits_zero() {
    let directory = tempfile::tempdir().unwrap();
    let fifo = directory.path().join("flows.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    sigterm_mid_stream(Some(&fifo));
}

#[test]
fn a_second_stdin_stream_is_refused_unless_named() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (first_manifest, second_manifest) = (directory.path().join("one.json"), directory.path().join("two.json"));
    let first = generated(3_000, 1, &first_manifest);
    let second = generated(3_000, 2, &second_manifest);
    let output = sink_stdin(&store, &first, &["--max-records", "1000"]);
    assert!(output.status.success(), "{}", stderr_of(&output));

    // Resuming the second stream by line number would skip its first 3,000 lines.
    let refused = sink_stdin(&store, &second, &[]);
    assert_usage_error(&refused, "--source NAME");
    assert_eq!(stored_lines(&store, "data").len(), 3_000, "the refused run stored nothing");

    let named = sink_stdin(&store, &second, &["--source", "second"]);
    assert!(named.status.success(), "{}", stderr_of(&named));
    let (report, code) = verify(&store, &[&first_manifest, &second_manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((number(&report, "landed"), number(&report, "lost"), number(&report, "duplicated")), (6_000, 0, 0));
}

#[test]
fn another_file_of_the_same_name_is_refused_and_the_same_file_resumes() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (a, b) = (directory.path().join("a"), directory.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (a_manifest, b_manifest) = (directory.path().join("a.json"), directory.path().join("b.json"));
    std::fs::write(a.join("flows.jsonl"), generated(2_000, 3, &a_manifest)).unwrap();
    std::fs::write(b.join("flows.jsonl"), generated(2_000, 4, &b_manifest)).unwrap();
    let sink = |file: &Path, extra: &[&str]| {
        netchaos().args(["sink", "--quiet", "--from"]).arg(file).args(extra).arg("--store").arg(&store).output().unwrap()
    };

    assert!(sink(&a.join("flows.jsonl"), &[]).status.success());
    let again = sink(&a.join("flows.jsonl"), &[]);
    assert!(again.status.success(), "the same file resumes: {}", stderr_of(&again));
    assert_eq!(stored_lines(&store, "data").len(), 2_000, "nothing twice");

    let other = sink(&b.join("flows.jsonl"), &[]);
    assert_usage_error(&other, "--source NAME");
    assert!(stderr_of(&other).contains("a/flows.jsonl"), "says which file the source came from: {}", stderr_of(&other));
    assert_eq!(stored_lines(&store, "data").len(), 2_000, "the refused run stored nothing");

    assert!(sink(&b.join("flows.jsonl"), &["--source", "flows-b"]).status.success());
    let (report, code) = verify(&store, &[&a_manifest, &b_manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((number(&report, "landed"), number(&report, "lost"), number(&report, "duplicated")), (4_000, 0, 0));
    let meta: Vec<_> = object_files(&store.join("meta")).into_iter().filter(|path| path.ends_with("source.json")).collect();
    assert_eq!(meta.len(), 2, "one identity per source: {meta:?}");
}

#[test]
fn an_unterminated_last_line_of_a_file_waits_for_its_newline() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let manifest = directory.path().join("manifest.json");
    let input = generated(1_000, 5, &manifest);
    // The writer is in the middle of line 1,000: half of it is on disk, without its newline.
    let cut = input.len() - 1 - 300;
    let file = directory.path().join("growing.jsonl");
    std::fs::write(&file, &input[..cut]).unwrap();

    let first = run_ok(netchaos().args(["sink", "--quiet", "--from"]).arg(&file).arg("--store").arg(&store));
    let warnings: Vec<String> = lines_of(&first.stderr).into_iter().filter(|line| line.contains("no newline")).collect();
    assert_eq!(warnings.len(), 1, "warned once: {}", stderr_of(&first));
    assert!(warnings[0].contains("line 1000") && warnings[0].contains("rerun"), "{}", warnings[0]);
    assert_eq!(stored_lines(&store, "data").len(), 999, "the cut line is not stored");
    assert!(object_files(&store.join("dlq")).is_empty(), "nor sent to the DLQ as invalid JSON");
    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!((code, number(&report, "lost")), (Some(1), 1), "the missing record is missing: {report}");

    std::fs::write(&file, &input).unwrap();
    let second = run_ok(netchaos().args(["sink", "--quiet", "--from"]).arg(&file).arg("--store").arg(&store));
    assert!(!stderr_of(&second).contains("no newline"), "{}", stderr_of(&second));
    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "the completed line is stored once: {report}");
    assert_eq!((number(&report, "landed"), number(&report, "invalid"), number(&report, "duplicated")), (1_000, 0, 0));
}

#[test]
fn usage_errors_of_sink_exit_two_with_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let sink = |extra: &[&str]| netchaos().arg("sink").args(extra).arg("--store").arg(&store).output().unwrap();

    assert_usage_error(&sink(&["--from", directory.path().to_str().unwrap()]), "is a directory");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let file = directory.path().join("empty.jsonl");
    std::fs::write(&file, b"").unwrap();
    let from = file.to_str().unwrap();
    assert_usage_error(&sink(&["--from", from, "--metrics-addr", &address]), "--metrics-addr");
    // TEST-NET-1: an address of no interface of this machine.
    assert_usage_error(&sink(&["--from", from, "--metrics-addr", "192.0.2.1:9751"]), "--metrics-addr");
}

#[test]
fn a_rerun_of_run_after_a_kill_with_other_settings_is_refused_and_the_same_settings_resume() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let settings = ["run", "--seed", "7", "--count", "300000", "--eps", "40000", "--max-age", "300ms", "--quiet"];
    // A start that stops before storing anything (here: its metrics address is taken) binds nothing.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let unstarted =
        netchaos().args(settings).args(["--workers", "3", "--metrics-addr", &address]).arg("--store").arg(&store).output().unwrap();
    assert_usage_error(&unstarted, "--metrics-addr");
    let mut child = netchaos().args(settings).args(["--workers", "4"]).arg("--store").arg(&store).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while object_files(&store.join("data")).len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "no batch landed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(object_files(&store.join("manifests")).is_empty(), "killed before it finished");

    let other = netchaos().args(settings).args(["--workers", "2"]).arg("--store").arg(&store).output().unwrap();
    assert_usage_error(&other, "--workers");
    let other_rate = netchaos().args(settings).args(["--workers", "4", "--eps", "30000"]).arg("--store").arg(&store).output().unwrap();
    assert_usage_error(&other_rate, "--eps");

    // The same settings (the start time, not given, is the first run's) resume: nothing lost or twice.
    let same = netchaos().args(settings).args(["--workers", "4"]).arg("--store").arg(&store).output().unwrap();
    assert_eq!(same.status.code(), Some(0), "{}", stderr_of(&same));
    let (report, code) = verify(&store, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((number(&report, "landed"), number(&report, "lost"), number(&report, "duplicated")), (300_000, 0, 0));
}

/// Peak resident memory (VmHWM, KiB) of `netchaos ARGS`, read from /proc while it runs, and its
/// stderr and stdout.
fn peak_rss_kib(arguments: &[&str]) -> (u64, String, Vec<u8>) {
    let mut child = netchaos().args(arguments).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|line| line.starts_with("VmHWM:"))
        {
            peak = peak.max(line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{arguments:?}: {}", reader.join().unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    (peak, reader.join().unwrap(), stdout)
}

#[test]
fn a_dlq_heavy_input_stays_inside_the_memory_budget() {
    let directory = tempfile::tempdir().unwrap();
    let input = directory.path().join("escapes.jsonl");
    // 60 MB of invalid lines whose every byte JSON escapes as `\u0001`: 6 bytes in the DLQ for 1.
    let mut line = vec![0x01u8; 1500];
    line.push(b'\n');
    std::fs::write(&input, line.repeat(40_000)).unwrap();
    let store = directory.path().join("store");
    let (peak, stderr, stdout) = peak_rss_kib(&[
        "sink",
        "--from",
        input.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--memory-budget",
        "128MiB",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&stdout).unwrap_or_else(|error| panic!("no JSON summary ({error}): {stderr}"));
    assert_eq!((number(&summary, "records_valid"), number(&summary, "records_invalid")), (0, 40_000), "{summary}\n{stderr}");
    // The budget sets 32 MiB aside for the process already; 16 MiB more for the code and libraries
    // of a test build. Counting raw bytes only, this peaked at 297 MB.
    let allowance_kib = 16 * 1024;
    assert!(peak > 0 && peak < 128 * 1024 + allowance_kib, "peak RSS {peak} KiB under --memory-budget 128MiB");
}

/// The piece layouts hold each batch's pieces uncompressed while they are built (OCSF's JSON is
/// 1.8× the records, Parquet keeps column buffers): `--memory-budget` counts them, so a large
/// input in each stays inside it.
#[test]
fn the_piece_layouts_stay_inside_the_memory_budget() {
    let directory = tempfile::tempdir().unwrap();
    let input = directory.path().join("records.jsonl");
    crate::common::cli::run_ok(
        crate::common::cli::netchaos()
            .args(["generate", "--seed", "8", "--count", "150000", "--eps", "0", "--quiet", "--output"])
            .arg(&input),
    );
    let layouts: [&[&str]; 3] =
        [&["--format", "ocsf"], &["--format", "ocsf", "--file-format", "parquet"], &["--layout", "aws", "--file-format", "parquet"]];
    for (case, layout) in layouts.into_iter().enumerate() {
        let store = directory.path().join(format!("store-{case}"));
        let mut arguments = vec!["sink", "--from", input.to_str().unwrap(), "--store", store.to_str().unwrap()];
        arguments.extend(["--max-records", "1000000", "--memory-budget", "96MiB", "--json"]);
        arguments.extend_from_slice(layout);
        let (peak, stderr, stdout) = peak_rss_kib(&arguments);
        let summary: serde_json::Value =
            serde_json::from_slice(&stdout).unwrap_or_else(|error| panic!("no JSON summary ({error}): {stderr}"));
        assert_eq!(number(&summary, "records_valid"), 150_000, "{layout:?}: {summary}");
        // As above: 16 MiB beside the budget for the code and libraries of a test build.
        assert!(peak > 0 && peak < (96 + 16) * 1024, "{layout:?}: peak RSS {peak} KiB under --memory-budget 96MiB");
    }
}
