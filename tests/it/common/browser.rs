//! Opens a page in headless Chromium (Debian's `chromium`, which `scripts/test` installs) and
//! reports what a person would get: whether it loaded, every network request it made, every
//! console error, its SVG charts, and screenshots.
//!
//! It speaks the DevTools protocol over a websocket on loopback, so requests and console
//! messages are observed as the browser reports them, not guessed from the page. When Chromium
//! is missing a test fails under `CI=true` and says loudly that it was skipped elsewhere.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The flags the issue asks for, plus a fresh profile and the DevTools port.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
];

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// One SVG element as laid out on the page.
#[derive(Debug, Clone)]
pub struct Svg {
    pub label: String,
    pub width: f64,
    pub height: f64,
    /// Drawn shapes inside it: polylines, paths, circles, lines, rects.
    pub shapes: u64,
    pub polylines: u64,
    pub texts: u64,
}

/// What opening a page gave.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    /// Every request the page made, the document itself included.
    pub requests: Vec<String>,
    /// Console errors and warnings, uncaught exceptions, and browser log errors.
    pub console_errors: Vec<String>,
    /// Resources the page's performance timeline saw (a second, independent record).
    pub resources: Vec<String>,
    pub title: String,
    pub text: String,
    pub scripts: u64,
    pub svgs: Vec<Svg>,
    pub screenshot: PathBuf,
    /// One screenshot per element matched by `figure` (the charts), in page order.
    pub figure_shots: Vec<PathBuf>,
}

pub fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RIGHTSIZE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Where screenshots go: `target/browser-screenshots/` (never committed).
pub fn screenshot_dir() -> PathBuf {
    let d = super::repo_root().join("target/browser-screenshots");
    std::fs::create_dir_all(&d).expect("screenshot folder");
    d
}

impl Browser {
    /// Starts Chromium, or returns `None` (after saying so on stderr) when it is not installed
    /// and this is not CI. Under `CI=true` a missing browser is a test failure.
    pub fn start(test: &str) -> Option<Browser> {
        let Some(exe) = chromium() else {
            let msg = "chromium not found: run the tests with scripts/test (it installs Debian's chromium) or set RIGHTSIZE_CHROMIUM";
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: {msg}");
            }
            eprintln!("\n*** SKIPPED {test}: {msg} ***\n");
            return None;
        };
        let profile = tempfile::tempdir().expect("profile folder");
        let child = Command::new(&exe)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-address=127.0.0.1")
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start {}: {e}", exe.display()));
        // Chromium writes the port it chose and the browser's websocket path into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(p), Some(w)) = (lines.next(), lines.next()) {
                    break (p.trim().to_string(), w.trim().to_string());
                }
            }
            assert!(
                Instant::now() < deadline,
                "{test}: chromium did not open its DevTools port within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let (ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}{path}"))
            .unwrap_or_else(|e| panic!("{test}: cannot reach chromium's DevTools socket: {e}"));
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200))).ok();
        }
        Some(Browser {
            child,
            ws,
            next_id: 0,
            _profile: profile,
        })
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut msg = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("DevTools {method}: {e}"));
        self.next_id
    }

    /// The next protocol message, or `None` when none arrived within the read timeout.
    fn receive(&mut self) -> Option<Value> {
        match self.ws.read() {
            Ok(Message::Text(t)) => Some(serde_json::from_str(&t).expect("DevTools sends JSON")),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                None
            }
            Err(e) => panic!("DevTools socket: {e}"),
        }
    }

    /// Sends a command and waits for its answer, handing every event on the way to `events`.
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        events: &mut Vec<Value>,
    ) -> Value {
        let id = self.send(session, method, params);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(m) = self.receive() {
                if m["id"].as_u64() == Some(id) {
                    if let Some(e) = m.get("error") {
                        panic!("DevTools {method} failed: {e}");
                    }
                    return m["result"].clone();
                }
                if m.get("method").is_some() {
                    events.push(m);
                }
            }
        }
        panic!("DevTools {method}: no answer within 60 s");
    }

    /// Collects events until `until` matches one or `wait` passes.
    fn drain(&mut self, events: &mut Vec<Value>, wait: Duration, until: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(m) = self.receive() {
                let done = until(&m);
                if m.get("method").is_some() {
                    events.push(m);
                }
                if done {
                    return;
                }
            }
        }
    }

    /// Opens a local file in a new tab at 1200 px wide, waits for it to load, and records
    /// everything a test checks. Screenshots are named `<name>.png` and `<name>-figN.png`.
    pub fn open(&mut self, file: &Path, name: &str) -> Page {
        let url = format!(
            "file://{}",
            file.canonicalize().expect("page exists").display()
        );
        let mut ev = Vec::new();
        let target = self.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            &mut ev,
        );
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
            &mut ev,
        );
        let sid = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        let s = Some(sid.as_str());
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            self.call(s, domain, json!({}), &mut ev);
        }
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            &mut ev,
        );
        ev.clear();
        self.call(s, "Page.navigate", json!({"url": url}), &mut ev);
        let sid_c = sid.clone();
        self.drain(&mut ev, Duration::from_secs(30), move |m| {
            m["method"] == "Page.loadEventFired" && m["sessionId"] == sid_c.as_str()
        });
        assert!(
            ev.iter().any(|m| m["method"] == "Page.loadEventFired"),
            "{url} did not finish loading within 30 s"
        );
        // Late requests or errors (a lazy image, a timer) would arrive in this window.
        self.drain(&mut ev, Duration::from_millis(1500), |_| false);

        let probe = r#"JSON.stringify({
            title: document.title,
            text: document.body ? document.body.innerText : "",
            scripts: document.scripts.length,
            height: Math.ceil(document.documentElement.scrollHeight),
            resources: performance.getEntriesByType("resource").map(e => e.name),
            svgs: [...document.querySelectorAll("svg")].map(s => {
                const r = s.getBoundingClientRect();
                return { label: s.getAttribute("aria-label") || "", width: r.width, height: r.height,
                         shapes: s.querySelectorAll("polyline,path,circle,line,rect").length,
                         polylines: s.querySelectorAll("polyline").length,
                         texts: s.querySelectorAll("text").length };
            }),
            figures: [...document.querySelectorAll("figure")].map(f => {
                const r = f.getBoundingClientRect();
                return { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
            })
        })"#;
        let out = self.call(
            s,
            "Runtime.evaluate",
            json!({"expression": probe, "returnByValue": true}),
            &mut ev,
        );
        let info: Value =
            serde_json::from_str(out["result"]["value"].as_str().expect("probe result"))
                .expect("probe JSON");

        let height = info["height"]
            .as_f64()
            .unwrap_or(900.0)
            .clamp(900.0, 12000.0);
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1200, "height": height as u64, "deviceScaleFactor": 1, "mobile": false}),
            &mut ev,
        );
        let dir = screenshot_dir();
        let screenshot = dir.join(format!("{name}.png"));
        self.capture(s, json!({"format": "png"}), &screenshot, &mut ev);
        let mut figure_shots = Vec::new();
        for (i, f) in info["figures"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = dir.join(format!("{name}-fig{}.png", i + 1));
            let clip = json!({"x": f["x"], "y": f["y"], "width": f["width"], "height": f["height"], "scale": 1});
            self.capture(s, json!({"format": "png", "clip": clip}), &path, &mut ev);
            figure_shots.push(path);
        }

        let mut requests = Vec::new();
        let mut console_errors = Vec::new();
        for m in ev.iter().filter(|m| m["sessionId"] == sid.as_str()) {
            let p = &m["params"];
            match m["method"].as_str().unwrap_or("") {
                "Network.requestWillBeSent" => {
                    requests.push(p["request"]["url"].as_str().unwrap_or("").to_string())
                }
                "Runtime.consoleAPICalled"
                    if matches!(p["type"].as_str(), Some("error" | "warning" | "assert")) =>
                {
                    console_errors.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                "Runtime.exceptionThrown" => {
                    console_errors.push(format!("exception: {}", p["exceptionDetails"]))
                }
                "Log.entryAdded"
                    if matches!(p["entry"]["level"].as_str(), Some("error" | "warning")) =>
                {
                    console_errors.push(format!("log: {}", p["entry"]["text"]))
                }
                _ => {}
            }
        }
        self.call(
            None,
            "Target.closeTarget",
            json!({"targetId": target_id}),
            &mut ev,
        );

        let svgs = info["svgs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| Svg {
                label: v["label"].as_str().unwrap_or("").to_string(),
                width: v["width"].as_f64().unwrap_or(0.0),
                height: v["height"].as_f64().unwrap_or(0.0),
                shapes: v["shapes"].as_u64().unwrap_or(0),
                polylines: v["polylines"].as_u64().unwrap_or(0),
                texts: v["texts"].as_u64().unwrap_or(0),
            })
            .collect();
        Page {
            url,
            requests,
            console_errors,
            resources: info["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            title: info["title"].as_str().unwrap_or("").to_string(),
            text: info["text"].as_str().unwrap_or("").to_string(),
            scripts: info["scripts"].as_u64().unwrap_or(0),
            svgs,
            screenshot,
            figure_shots,
        }
    }

    fn capture(&mut self, s: Option<&str>, params: Value, path: &Path, ev: &mut Vec<Value>) {
        let shot = self.call(s, "Page.captureScreenshot", params, ev);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let mut ev = Vec::new();
        let id = self.send(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.receive() {
                Some(m) if m["id"].as_u64() == Some(id) => break,
                Some(m) => ev.push(m),
                None => {}
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What keeps a rendered page from being self-contained with `charts` drawn SVG charts:
/// requests besides the page itself, fetched resources, console errors, scripts, and charts
/// missing, not laid out, or not drawn. Empty when the page is fine.
pub fn problems(page: &Page, charts: usize) -> Vec<String> {
    let mut p = Vec::new();
    let others: Vec<&String> = page.requests.iter().filter(|u| **u != page.url).collect();
    if !others.is_empty() || page.requests.len() != 1 {
        p.push(format!(
            "requests besides the page itself: {:?}",
            page.requests
        ));
    }
    if !page.resources.is_empty() {
        p.push(format!("fetched resources: {:?}", page.resources));
    }
    if !page.console_errors.is_empty() {
        p.push(format!("console errors: {:?}", page.console_errors));
    }
    if page.scripts != 0 {
        p.push(format!("{} script elements", page.scripts));
    }
    if page.svgs.len() != charts {
        p.push(format!("{} SVG charts, expected {charts}", page.svgs.len()));
    }
    for svg in &page.svgs {
        if svg.width < 300.0 || svg.height < 100.0 {
            p.push(format!("chart {:?} is not laid out: {svg:?}", svg.label));
        }
        if svg.polylines < 1 || svg.texts < 5 || svg.shapes < 10 {
            p.push(format!("chart {:?} is nearly empty: {svg:?}", svg.label));
        }
    }
    p
}

/// Fails the test unless [`problems`] finds none.
pub fn assert_self_contained_with_charts(page: &Page, charts: usize) {
    let p = problems(page, charts);
    assert!(p.is_empty(), "{}:\n{}", page.url, p.join("\n"));
}
