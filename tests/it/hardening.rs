//! What a hostile tester tried (issue 11, section 3), each pinned: absurd durations are refused at
//! parse time, an age too long for the clock never panics, a closed stderr ends a command quietly,
//! store errors no retry can fix stop the sink at once with one line, other errors are given up
//! after `--give-up-after` with nothing committed past what is stored, and a store that comes back
//! in time is caught up with exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use netchaos::sink::{Sink, SinkMessage, SinkSettings, Storage};

use crate::common::cli::{netchaos, number, run_ok, verify};

/// A generated input file and its manifest.
fn input(directory: &Path, count: u64) -> (PathBuf, PathBuf) {
    let (lines, manifest) = (directory.join("in.jsonl"), directory.join("in.json"));
    run_ok(
        netchaos()
            .args(["generate", "--seed", "11", "--eps", "0", "-q", "--count", &count.to_string()])
            .arg("--output")
            .arg(&lines)
            .arg("--manifest")
            .arg(&manifest),
    );
    (lines, manifest)
}

fn sink(lines: &Path, store: &Path) -> Command {
    let mut command = netchaos();
    command.args(["sink", "-q", "--from"]).arg(lines).arg("--store").arg(store);
    command
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr).lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect()
}

/// Runs `command`, which must fail within a few seconds with exactly one line on stderr.
fn fails_fast_with_one_line(command: &mut Command) -> (i32, String) {
    let started = Instant::now();
    let output = command.output().expect("spawn");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}: {:?}", started.elapsed(), stderr_lines(&output));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "one line: {lines:#?}");
    let code = output.status.code().expect("exited");
    assert_ne!(code, 0, "{}", lines[0]);
    (code, lines[0].clone())
}

#[test]
fn absurd_durations_are_refused_at_parse_time_with_one_line_and_exit_2() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let store = store.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["sink", "--from", "-", "--store", store, "--max-age", "500000000000y"],
        vec!["run", "--count", "10", "--store", store, "--max-age", "500000000000y"],
        vec!["sink", "--brokers", "127.0.0.1:1", "--store", store, "--idle-exit", "500000000000y"],
        vec!["sink", "--from", "-", "--store", store, "--give-up-after", "500000000000y"],
        vec!["run", "--count", "10", "--store", store, "--give-up-after", "11y"],
        vec!["generate", "--count", "10", "--duration", "3653d"],
    ];
    for args in cases {
        let (code, line) = fails_fast_with_one_line(netchaos().args(&args).stdin(Stdio::null()));
        assert_eq!(code, 2, "{args:?}: {line}");
        assert!(line.contains("longer than the 10y a duration may be"), "{args:?}: {line}");
    }
    assert!(!directory.path().join("store").exists(), "nothing ran");
    // The bound is in the help.
    for command in ["sink", "run"] {
        let help = run_ok(netchaos().args([command, "--help"]));
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains("--give-up-after") && text.contains("10y"), "{command} --help");
    }
}

#[tokio::test]
async fn a_batch_age_too_long_for_the_clock_never_panics() {
    let directory = tempfile::tempdir().unwrap();
    let storage = Storage::from_url(directory.path().to_str().unwrap()).unwrap();
    let settings = SinkSettings { max_age: Duration::MAX, ..SinkSettings::new("ages") };
    let mut sink = Sink::new(storage.clone(), settings);
    let payload = Bytes::from(crate::common::cli::valid_record().to_string());
    sink.push(SinkMessage { partition: 0, offset: 0, payload }).await.unwrap();
    let deadline = sink.next_deadline().expect("a batch is open");
    assert!(deadline > tokio::time::Instant::now() + Duration::from_secs(86_400 * 365), "not due by age");
    sink.flush_expired().await.unwrap();
    assert_eq!(sink.committed().get(&0).copied().unwrap_or(0), 0, "not flushed by age");
    sink.flush_all().await.unwrap();
    assert_eq!(sink.committed()[&0], 1);
}

#[test]
fn generate_into_a_pipe_closed_on_both_stdout_and_stderr_exits_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = netchaos()
        .args(["generate", "--count", "100000", "--eps", "0", "--seed", "3"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    // `2>&1 | head -1`: one line read, then the reader is gone.
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"event_type\""), "{first}");
    let status = child.wait().unwrap();
    assert_ne!(status.code(), Some(101), "a panic: {status:?}");
    assert!(matches!(status.code(), Some(0) | Some(141)), "{status:?}");
}

#[test]
fn commands_with_a_closed_stderr_keep_their_exit_codes() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = input(directory.path(), 500);
    let store = directory.path().join("store");
    run_ok(&mut sink(&lines, &store));
    // `2>&-`, through a shell as a user types it.
    let run_closed = |args: &str| {
        let script = format!("exec \"$0\" {args} 2>&-");
        let output = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_netchaos"))
            .env("NETCHAOS_METRICS_ADDR", "off")
            .env("NETCHAOS_CONTROL_ADDR", "off")
            .output()
            .unwrap();
        output.status.code()
    };
    let verify_args = format!("verify --store '{}' --manifest '{}'", store.display(), manifest.display());
    assert_eq!(run_closed(&verify_args), Some(0));
    assert_eq!(run_closed(&format!("verify --store '{}/nowhere'", directory.path().display())), Some(2), "a usage error stays 2");

    // A failure reported on a stderr whose reader is gone: exit 1, no panic.
    std::fs::write(store.join("dlq"), b"a file").unwrap();
    let bad = std::fs::read(&lines).unwrap();
    let bad_lines = directory.path().join("bad.jsonl");
    std::fs::write(&bad_lines, [b"not json\n".as_slice(), &bad].concat()).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = sink(&bad_lines, &store).arg("--source").arg("in").stderr(writer).status().unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn a_store_path_under_a_regular_file_fails_at_once_with_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, _) = input(directory.path(), 100);
    let file = directory.path().join("afile");
    std::fs::write(&file, b"").unwrap();
    let (code, line) = fails_fast_with_one_line(&mut sink(&lines, &file.join("store")));
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("afile/store") && line.contains("Not a directory"), "{line}");
}

#[test]
fn a_file_where_the_store_needs_a_directory_fails_at_once_with_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, _) = input(directory.path(), 100);
    let store = directory.path().join("store");
    std::fs::create_dir(&store).unwrap();
    std::fs::write(store.join("data"), b"in the way").unwrap();
    let (code, line) = fails_fast_with_one_line(&mut sink(&lines, &store));
    assert_eq!(code, 1, "{line}");
    assert!(line.contains(&format!("{}/data", store.display())) && line.contains("Not a directory"), "names the path: {line}");
    assert!(line.contains("move that file away") && line.contains("nothing past the stored batches was committed"), "{line}");
}

#[test]
fn a_symbolic_link_loop_in_the_store_fails_at_once_with_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, _) = input(directory.path(), 100);
    let store = directory.path().join("store");
    std::fs::create_dir_all(store.join("data")).unwrap();
    std::os::unix::fs::symlink("other", store.join("data/source=in")).unwrap();
    std::os::unix::fs::symlink("source=in", store.join("data/other")).unwrap();
    let (code, line) = fails_fast_with_one_line(&mut sink(&lines, &store));
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("data/source=in") && line.contains("symbolic link") && line.contains("fix or remove the link"), "{line}");
}

#[test]
fn a_read_only_store_directory_fails_at_once_with_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, _) = input(directory.path(), 100);
    let store = directory.path().join("store");
    std::fs::create_dir(&store).unwrap();
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&lines, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut command = sink(&lines, &store);
    // Root writes through any mode: run the sink as an unprivileged user then, from a copy of the
    // binary that user can reach (the checkout may sit where it cannot).
    if is_root(directory.path()) {
        use std::os::unix::process::CommandExt;
        let binary = directory.path().join("netchaos");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_netchaos"), &binary).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_netchaos"), &binary).unwrap();
        }
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        command = Command::new(&binary);
        command.env("NETCHAOS_METRICS_ADDR", "off").env("NETCHAOS_CONTROL_ADDR", "off").env_remove("NETCHAOS_LOG");
        command.args(["sink", "-q", "--from"]).arg(&lines).arg("--store").arg(&store);
        command.uid(65534).gid(65534);
    }
    let (code, line) = fails_fast_with_one_line(&mut command);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains(&store.display().to_string()) && line.contains("Permission denied"), "names the path: {line}");
    assert!(line.contains("let this user write the store directory"), "{line}");
}

fn is_root(probe: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let file = probe.join("owner-probe");
    std::fs::write(&file, b"").unwrap();
    let root = std::fs::metadata(&file).unwrap().uid() == 0;
    std::fs::remove_file(file).unwrap();
    root
}

/// A failure a retry can outlive: `data` is a symbolic link to a directory that does not exist
/// (yet), so every write under it fails until the link goes or its target appears.
fn block_data(store: &Path) -> PathBuf {
    std::fs::create_dir_all(store).unwrap();
    let blocker = store.join("data");
    std::os::unix::fs::symlink(store.join("not-yet/data"), &blocker).unwrap();
    blocker
}

#[test]
fn a_store_failing_past_give_up_after_is_given_up_and_the_rerun_is_exactly_once() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = input(directory.path(), 3_000);
    let store = directory.path().join("store");
    let blocker = block_data(&store);
    let started = Instant::now();
    let output = sink(&lines, &store).args(["--max-records", "1000", "--give-up-after", "2s"]).output().unwrap();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(15), "{elapsed:?}");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.contains("gave up on `data/source=in") && last.contains("--give-up-after"), "{last}");
    assert!(text.contains("store operation failed; retrying"), "it did retry first: {text}");

    std::fs::remove_file(&blocker).unwrap();
    run_ok(sink(&lines, &store).args(["--max-records", "1000"]));
    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((number(&report, "lost"), number(&report, "duplicated"), number(&report, "landed")), (0, 0, 3_000), "{report}");
}

#[test]
fn a_store_that_comes_back_before_give_up_after_is_caught_up_exactly_once() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = input(directory.path(), 3_000);
    let store = directory.path().join("store");
    let blocker = block_data(&store);
    let mut child = sink(&lines, &store).args(["--max-records", "1000", "--give-up-after", "1m"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("store operation failed; retrying"), "{first}");
    std::fs::remove_file(&blocker).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!((number(&report, "lost"), number(&report, "duplicated"), number(&report, "landed")), (0, 0, 3_000), "{report}");
}
