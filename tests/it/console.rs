//! The web console in a real headless Chromium, against a running `netchaos generate`: the page
//! shows the status as it streams (rate chart, counts), an episode injected through its form
//! appears in the timeline and goes from active to finished, its End button ends another one, an
//! API refusal shows the server's error, pause and resume change what it shows, and the injected
//! episode's records are in the output afterwards.

use std::fs::File;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::Value;

use crate::common::browser::{Browser, PATIENCE};
use crate::common::cli::{free_port, netchaos};

/// A generator serving its control API (and the console) on a port of its own.
struct Generator {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Generator {
    /// On loopback, without a token.
    fn start(args: &[&str]) -> Generator {
        Generator::start_on("127.0.0.1", None, args)
    }

    /// On `host` (a fresh port), guarded by `token` when given.
    fn start_on(host: &str, token: Option<&str>, args: &[&str]) -> Generator {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = |name: &str| dir.path().join(name);
        let mut command = netchaos();
        if let Some(token) = token {
            command.env("NETCHAOS_CONTROL_TOKEN", token);
        }
        let child = command
            .arg("generate")
            .arg("--output")
            .arg(path("out.jsonl"))
            .arg("--episodes")
            .arg(path("episodes.jsonl"))
            .args(["--control-addr", &format!("{host}:{port}"), "-q"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(File::create(path("stderr.txt")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the control server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Generator { child: Some(child), port, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits for the run to end successfully.
    async fn finish(&mut self, limit: Duration) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let stderr = std::fs::read_to_string(self.path("stderr.txt")).unwrap_or_default();
                assert!(status.success(), "generate failed: {stderr}");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("generate did not end within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `data-state` values an episode row took, polled until it is `finished`.
async fn states_until_finished(browser: &Browser, id: &str) -> Vec<String> {
    let row = format!("tr[data-episode-id=\"{id}\"]");
    let deadline = Instant::now() + PATIENCE;
    let mut states: Vec<String> = Vec::new();
    loop {
        if let Some(state) = browser.attr(&row, "data-state").await
            && states.last() != Some(&state)
        {
            states.push(state);
        }
        if states.last().is_some_and(|state| state == "finished") {
            return states;
        }
        assert!(Instant::now() < deadline, "episode {id} did not finish in the timeline: its states were {states:?}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Pixels of the canvas `#chart` drawn in the achieved rate's colour.
async fn achieved_pixels(browser: &Browser) -> u64 {
    let script = "const c = document.getElementById('chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
                  let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i] === 0x7b && d[i + 1] === 0xd8 && d[i + 2] === 0x8f) n++; } return n;";
    browser.client.execute(script, vec![]).await.unwrap().as_u64().unwrap()
}

/// The episode id the notice names after an injection (`injected ID: command N at ...`), once it
/// names another than `before` (the notice of an earlier injection may still show).
async fn injected_id(browser: &Browser, kind: &str, before: &str) -> String {
    let earlier = format!("injected {before}:");
    let notice = browser
        .wait_text("#notice", &format!("the {kind} injection"), |text| {
            text.starts_with("injected ") && (before.is_empty() || !text.starts_with(&earlier))
        })
        .await;
    let id = notice.trim_start_matches("injected ").split(':').next().unwrap().to_owned();
    assert!(id.contains("-s"), "{notice}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_run_and_drives_it_in_a_real_browser() {
    let browser = Browser::start().await;
    let mut run = Generator::start(&["--seed", "16", "--eps", "300", "--duration", "40s", "--speed", "2", "--workers", "1"]);
    let page = format!("http://127.0.0.1:{}/", run.port);
    browser.client.goto(&page).await.unwrap();
    assert_eq!(browser.client.title().await.unwrap(), "netchaos console");

    // The status streams in: the run, its speed and target, records that grow, counts, the chart.
    let run_id = browser.wait_text("#status-run", "the run id", |text| text.len() == 16).await;
    assert!(run_id.chars().all(|c| c.is_ascii_hexdigit()), "{run_id}");
    browser.wait_text("#status-speed", "the speed", |text| text == "2×").await;
    browser.wait_text("#status-target", "the target rate", |text| text == "300").await;
    browser.wait_text("#connection", "the event stream", |text| text == "live").await;
    let first = browser.wait_text("#status-records", "records", |text| text != "0").await;
    browser.wait_text("#status-records", "records that grow", |text| text != first).await;
    browser.wait_text("#type-vpc_flow td.n", "the vpc_flow count", |text| text != "0").await;
    browser
        .wait_text("#status-achieved", "the achieved rate", |text| text.replace(',', "").parse::<f64>().is_ok_and(|rate| rate > 0.0))
        .await;
    let deadline = Instant::now() + PATIENCE;
    while achieved_pixels(&browser).await < 50 {
        assert!(Instant::now() < deadline, "the chart draws no achieved-rate line");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A port scan injected through the form for 4 s: listed, active, then finished.
    browser.client.find(Locator::Id("inject-kind")).await.unwrap().select_by_value("port_scan").await.unwrap();
    browser.fill("inject-duration", "4s").await;
    browser.fill("inject-target", "service ssh").await;
    browser.click("#inject-submit").await;
    let scan_id = injected_id(&browser, "port_scan", "").await;
    let row = format!("tr[data-episode-id=\"{scan_id}\"]");
    let listed = browser.wait_text(&row, "the injected scan's row", |text| text.contains("port_scan")).await;
    assert!(listed.contains("service ssh") && listed.contains("(injected)"), "{listed}");
    let states = states_until_finished(&browser, &scan_id).await;
    assert!(states.iter().any(|state| state == "active"), "the scan was never shown active: {states:?}");
    assert!(states.iter().all(|state| ["pending", "active", "finished"].contains(&state.as_str())), "{states:?}");
    assert!(browser.client.find(Locator::Css(&format!("{row} button.end"))).await.is_err(), "a finished episode has an End button");

    // A long brute force, ended with its row's End button.
    browser.client.find(Locator::Id("inject-kind")).await.unwrap().select_by_value("brute_force").await.unwrap();
    browser.fill("inject-duration", "1h").await;
    browser.fill("inject-target", "any").await;
    browser.click("#inject-submit").await;
    let brute_id = injected_id(&browser, "brute_force", &scan_id).await;
    let brute_row = format!("tr[data-episode-id=\"{brute_id}\"]");
    browser.wait_text(&brute_row, "the brute force row", |text| text.contains("brute_force")).await;
    browser.click(&format!("{brute_row} button.end")).await;
    browser.wait_text("#notice", "the end command", |text| text.starts_with(&format!("ended {brute_id}"))).await;
    states_until_finished(&browser, &brute_id).await;

    // A refusal shows the server's error; the next accepted command clears it.
    browser.fill("rate-eps", "50000000").await;
    browser.click("#rate-submit").await;
    let error = browser.wait_text("#error", "the rate refusal", |text| !text.is_empty()).await;
    assert!(error.contains("eps") && error.contains("out of range") && error.contains("1000000"), "{error}");

    // Pause and resume change what the page shows.
    browser.click("#pause").await;
    browser.wait_text("#status-paused", "the pause", |text| text == "paused").await;
    assert_eq!(browser.wait_text("#error", "the error cleared", |_| true).await, "");
    // The pause takes effect at the next boundary no lane has reached; a status a second after shows it.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let held = browser.wait_text("#status-time", "the logical time", |_| true).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(browser.wait_text("#status-time", "the logical time", |_| true).await, held, "logical time moved while paused");
    browser.click("#pause").await;
    let again = browser.wait_text("#error", "pausing twice", |text| !text.is_empty()).await;
    assert!(again.contains("already paused"), "{again}");
    browser.click("#resume").await;
    browser.wait_text("#status-paused", "the resume", |text| text == "running").await;
    browser.wait_text("#status-time", "the logical time after resuming", |text| text != held).await;

    run.finish(Duration::from_secs(60)).await;
    browser.close().await;

    // The scan's records are in the output, labelled with its id and kind.
    let output = std::fs::read_to_string(run.path("out.jsonl")).unwrap();
    let scan_records: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["label"]["episode_id"] == scan_id.as_str())
        .collect();
    assert!(scan_records.len() > 10, "the scan injected through the console wrote {} records", scan_records.len());
    assert!(scan_records.iter().all(|record| record["label"]["kind"] == "port_scan"));
    let episodes = std::fs::read_to_string(run.path("episodes.jsonl")).unwrap();
    assert!(episodes.contains(&format!("\"{scan_id}\"")) && episodes.contains(&format!("\"{brute_id}\"")), "{episodes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_sends_the_token_it_is_given_and_keeps_it_for_the_tab() {
    let token = "console-T0KEN-7d1a";
    let browser = Browser::start().await;
    let run = Generator::start_on("0.0.0.0", Some(token), &["--seed", "17", "--eps", "100", "--duration", "30s"]);
    browser.client.goto(&format!("http://127.0.0.1:{}/", run.port)).await.unwrap();
    // Without the token the API refuses, and the page says why.
    let error = browser.wait_text("#error", "the refusal without a token", |text| !text.is_empty()).await;
    assert!(error.contains("token"), "{error}");
    assert_eq!(browser.wait_text("#status-run", "no run id", |_| true).await, "–");
    // With it, the status and the event stream come.
    browser.fill("token", token).await;
    browser.click("h1").await;
    browser.wait_text("#status-run", "the run id with the token", |text| text.len() == 16).await;
    browser.wait_text("#connection", "the event stream with the token", |text| text == "live").await;
    assert_eq!(browser.wait_text("#error", "the error cleared", |_| true).await, "");
    // The tab keeps it (sessionStorage) across a reload.
    browser.client.refresh().await.unwrap();
    browser.wait_text("#status-run", "the run id after a reload", |text| text.len() == 16).await;
    browser.wait_text("#connection", "the event stream after a reload", |text| text == "live").await;
    browser.close().await;
}
