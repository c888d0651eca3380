//! A real headless Chromium for the web console's test, driven over WebDriver (fantoccini) through
//! Debian's `chromedriver`, whose path the test command exports as `NETCHAOS_TEST_CHROMEDRIVER`
//! (scripts/test installs `chromium` and `chromium-driver` when it is missing). Without it the
//! test fails: it never skips.
//!
//! Each [`Browser`] runs its own chromedriver on a free port, in a process group of its own, so
//! that dropping it (a test that panicked included) kills chromedriver and the Chromium it started.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use super::cli::free_port;

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

fn chromedriver() -> String {
    match std::env::var("NETCHAOS_TEST_CHROMEDRIVER") {
        Ok(path) if !path.trim().is_empty() => path,
        _ => panic!(
            "NETCHAOS_TEST_CHROMEDRIVER is not set: the console test needs chromedriver and Chromium. Run the suite with \
             scripts/test, which installs them, or `apt-get install chromium chromium-driver` and \
             `export NETCHAOS_TEST_CHROMEDRIVER=$(command -v chromedriver)` first"
        ),
    }
}

/// A headless Chromium session and the chromedriver behind it.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (no sandbox: the tests run as root).
    pub async fn start() -> Browser {
        let path = chromedriver();
        let port = free_port();
        let mut driver = Command::new(&path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start chromedriver ({path}): {error}"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = driver.try_wait().unwrap() {
                panic!("chromedriver ({path}) exited at once: {status}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"],
            },
        });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| panic!("no Chromium session through chromedriver: {error}"));
        Browser { client, driver }
    }

    /// The text of the element `css` once `ready` holds for it (polled), or a panic naming `what`
    /// with the last text seen.
    pub async fn wait_text(&self, css: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut last = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if ready(&text) {
                    return text;
                }
                last = Some(text);
            }
            assert!(Instant::now() < deadline, "{what}: `{css}` showed {last:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The attribute `name` of the element `css`, when there is one.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// Replaces the text of the input `id`.
    pub async fn fill(&self, id: &str, text: &str) {
        let input = self.client.find(Locator::Id(id)).await.unwrap_or_else(|error| panic!("no #{id}: {error}"));
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|error| panic!("no `{css}`: {error}"));
        element.click().await.unwrap_or_else(|error| panic!("cannot click `{css}`: {error}"));
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills chromedriver's process group (chromedriver and the Chromium it started) and reaps it.
fn kill_group(driver: &mut Child) {
    let group = format!("-{}", driver.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
    let _ = driver.kill();
    let _ = driver.wait();
}
