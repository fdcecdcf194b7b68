//! Test harness: runs the real `rctgate` binary and talks to it over HTTP on
//! loopback, the way users and CI pipelines do.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_rctgate");

/// A fresh directory under the system temp dir, unique per call.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("rctgate-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `rctgate ARGS` to completion.
pub fn rctgate(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run rctgate")
}

/// Runs `rctgate ARGS` with environment variables.
pub fn rctgate_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run rctgate")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The id of every stored metric event of `db`, one per row (a repeat would show twice), read
/// back through `rctgate export --format csv`.
pub fn stored_metric_event_ids(db: &Path) -> Vec<String> {
    let out = temp_dir("exported-ids");
    let output = rctgate(&["export", path(&out), "--format", "csv", "--db", path(db)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = std::fs::read_to_string(out.join("metric_events.csv")).expect("metric_events.csv");
    let ids = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap_or_default().to_string())
        .collect();
    let _ = std::fs::remove_dir_all(&out);
    ids
}

/// `rctgate keys create --scope SCOPE --db DB`; the key is stdout's last line.
pub fn create_key(db: &Path, scope: &str) -> String {
    let out = rctgate(&["keys", "create", "--scope", scope, "--db", path(db)]);
    assert!(out.status.success(), "keys create: {}", stderr(&out));
    stdout(&out)
        .lines()
        .last()
        .expect("a key line")
        .trim()
        .to_string()
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A running `rctgate serve` on a free loopback port.
pub struct Server {
    child: Child,
    pub url: String,
    /// The admin key printed on first start, if this start printed one.
    pub first_key: Option<String>,
    pub stdout_lines: Vec<String>,
}

impl Server {
    pub fn start(db: &Path) -> Server {
        Self::start_with(db, &[])
    }

    pub fn start_with(db: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--db", path(db), "--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rctgate serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        let mut first_key = None;
        let url = loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("serve exited before listening; stdout: {seen:?}"),
            };
            if line.starts_with("rctg_") {
                first_key = Some(line.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("rctgate listening on ") {
                let url = url.trim().to_string();
                seen.push(line);
                break url;
            }
            seen.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            url,
            first_key,
            stdout_lines: seen,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }

    pub fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> (u16, Value) {
        http(method, &format!("{}{path}", self.url), key, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// One HTTP call; returns the status and the body as JSON (or as a string).
pub fn http(method: &str, url: &str, key: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let agent = agent();
    let auth = key.map(|k| format!("Bearer {k}"));
    let result = match method {
        "GET" | "DELETE" => {
            let mut request = if method == "GET" {
                agent.get(url)
            } else {
                agent.delete(url)
            };
            if let Some(a) = &auth {
                request = request.header("Authorization", a);
            }
            request.call()
        }
        _ => {
            let mut request = match method {
                "PUT" => agent.put(url),
                _ => agent.post(url),
            };
            if let Some(a) = &auth {
                request = request.header("Authorization", a);
            }
            match body {
                Some(b) => request.header("Content-Type", "application/json").send(b),
                None => request.send_empty(),
            }
        }
    };
    let response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

pub const METRICS_TOML: &str = r#"
[metrics.bookings]
kind = "proportion"
event = "booking"
window_hours = 168
direction = "increase"

[metrics.clicks]
kind = "count"
event = "click"
window_hours = 168
direction = "increase"
"#;

/// A minimal experiment body for the API.
pub fn experiment_json(key: &str) -> String {
    serde_json::json!({
        "key": key,
        "hypothesis": "v7 ranks hotels people book",
        "variants": [
            {"name": "control", "weight": 0.5, "payload": {"model": "v6"}},
            {"name": "treatment", "weight": 0.5, "payload": {"model": "v7"}}
        ],
        "metrics": {"primary": "bookings", "proxies": ["clicks"]},
        "coverage": 0.5
    })
    .to_string()
}

pub fn metric_json(name: &str, event: &str) -> String {
    serde_json::json!({"name": name, "kind": "proportion", "event": event, "window_hours": 168,
                       "direction": "increase"})
    .to_string()
}

/// NDJSON exposure events `first..first+n` of `experiment`.
pub fn exposures(experiment: &str, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| {
            let variant = if i % 2 == 0 { "control" } else { "treatment" };
            format!(
                r#"{{"type":"exposure","id":"x{i}","unit":"u{i}","experiment":"{experiment}","variant":"{variant}","ts":"2026-11-26T12:00:00Z"}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Like [`http`], but a transport failure (server gone) is `None`, not a panic.
pub fn try_http(method: &str, url: &str, key: &str, body: &str) -> Option<(u16, Value)> {
    let agent = agent();
    let request = match method {
        "PUT" => agent.put(url),
        _ => agent.post(url),
    };
    let response = request
        .header("Authorization", format!("Bearer {key}"))
        .send(body)
        .ok()?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// A server on a fresh database with an admin and an assign key, the two
/// catalog metrics (`bookings`, `clicks`) and `experiment` created, and
/// started when `start` is set.
pub struct Trial {
    pub server: Server,
    pub db: PathBuf,
    pub admin: String,
    pub assign: String,
    pub read: String,
}

/// Creates the metrics `bookings` (event `booking`) and `clicks` (event `click`) on `server`
/// with `key`, each answered 201.
pub fn define_metrics(server: &Server, key: &str) {
    for (metric, event) in [("bookings", "booking"), ("clicks", "click")] {
        let (status, body) = server.call(
            "POST",
            "/v1/metrics",
            Some(key),
            Some(&metric_json(metric, event)),
        );
        assert_eq!(status, 201, "{body}");
    }
}

/// Creates the metrics of [`define_metrics`] and the experiment `experiment` (JSON) on
/// `server` with the admin key `admin`, each answered 201.
pub fn define_trial(server: &Server, admin: &str, experiment: &str) {
    define_metrics(server, admin);
    let (status, body) = server.call("POST", "/v1/experiments", Some(admin), Some(experiment));
    assert_eq!(status, 201, "{body}");
}

pub fn trial(name: &str, experiment: &Value, start: bool) -> Trial {
    let db = temp_dir(name).join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let assign = create_key(&db, "assign");
    let read = create_key(&db, "read");
    let server = Server::start(&db);
    let a = Some(admin.as_str());
    define_trial(&server, &admin, &experiment.to_string());
    if start {
        let key = experiment["key"].as_str().unwrap_or_default();
        let (status, body) = server.call("POST", &format!("/v1/experiments/{key}/start"), a, None);
        assert_eq!(status, 200, "{body}");
    }
    Trial {
        server,
        db,
        admin,
        assign,
        read,
    }
}

/// [`experiment_json`] as a value, to adjust before [`trial`].
pub fn experiment_value(key: &str) -> Value {
    serde_json::from_str(&experiment_json(key)).expect("valid JSON")
}

/// Polls the events summary until `experiment` has `expected` stored
/// exposures or `timeout` passes; returns the last count. Exposures from
/// `/v1/decide` and OFREP are written asynchronously.
pub fn wait_for_exposures(
    server: &Server,
    key: &str,
    experiment: &str,
    expected: u64,
    timeout: Duration,
) -> u64 {
    let started = std::time::Instant::now();
    let path = format!("/v1/events/summary?experiment={experiment}");
    loop {
        let (_, summary) = server.call("GET", &path, Some(key), None);
        let stored = summary["exposure_events"].as_u64().unwrap_or(0);
        if stored == expected || started.elapsed() > timeout {
            return stored;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn simulation_start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc)
}

fn simulated_metric(event: &str, lift: f64) -> rctgate_simulate::SimMetric {
    rctgate_simulate::SimMetric {
        event: event.into(),
        rate: if event == "click" { 2.0 } else { 0.3 },
        lifts: vec![1.0, lift],
        value: None,
        window_hours: 168.0,
        pre_days: 0,
        late_share: 0.0,
    }
}

/// Creates `experiment` (metrics `bookings` and `clicks`, analysed from 2026-10-01) with
/// `key`, starts it, sends 4,000 simulated units' events with the given lifts on bookings and
/// clicks with `ingest`, stops it with `key`, and returns its frozen scorecard as `reader`
/// sees it.
pub fn run_trial(
    server: &Server,
    [key, ingest, reader]: [&str; 3],
    experiment: &Value,
    booking_lift: f64,
    click_lift: f64,
) -> Value {
    let a = Some(key);
    let name = experiment["key"].as_str().expect("an experiment key").to_string();
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&experiment.to_string()));
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call("POST", &format!("/v1/experiments/{name}/start"), a, None);
    assert_eq!(status, 200, "{body}");
    let mut scenario = rctgate_simulate::Scenario::two_arms(
        &name,
        4000,
        simulation_start(),
        vec![
            simulated_metric("booking", booking_lift),
            simulated_metric("click", click_lift),
        ],
    );
    scenario.unit_prefix = format!("{name}-");
    let lines: Vec<String> = rctgate_simulate::events(&scenario)
        .map(|e| e.to_json(&name).to_string())
        .collect();
    for chunk in lines.chunks(10_000) {
        let (status, body) = server.call("POST", "/v1/events", Some(ingest), Some(&chunk.join("\n")));
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = server.call("POST", &format!("/v1/experiments/{name}/stop"), a, None);
    assert_eq!(status, 200, "{body}");
    let (_, frozen) = server.call(
        "GET",
        &format!("/v1/experiments/{name}/results"),
        Some(reader),
        None,
    );
    frozen
}

/// The webhook secret the tests' servers sign with.
pub const SECRET: &str = "webhook-secret";

/// One received request: headers (names lower-cased) and body.
pub type Delivery = (Vec<(String, String)>, String);

/// A one-route HTTP receiver of every request.
pub fn receiver() -> (String, std::sync::mpsc::Receiver<Delivery>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok() && !line.trim_end().is_empty() {
                if let Some((name, value)) = line.trim_end().split_once(": ") {
                    headers.push((name.to_lowercase(), value.to_string()));
                }
                line.clear();
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = sender.send((headers, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (url, received)
}

/// The next webhook delivery of `event`, its signature (under [`SECRET`]) checked
/// independently of the server's code.
pub fn delivery(received: &std::sync::mpsc::Receiver<Delivery>, event: &str) -> Value {
    loop {
        let (headers, body) = received
            .recv_timeout(Duration::from_secs(20))
            .expect("a webhook delivery");
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(body.as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            header("x-rctgate-signature"),
            Some(expected),
            "signature of {body}"
        );
        if header("x-rctgate-event").as_deref() == Some(event) {
            return serde_json::from_str(&body).expect("JSON body");
        }
    }
}

/// An HTTP client that shows redirects instead of following them.
pub fn page_agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

/// A dashboard page: (status, headers as (name, value), body).
pub fn get(url: &str, cookie: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let mut request = page_agent().get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", format!("rctgate_session={cookie}"));
    }
    let response = request.call().expect("request");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    (
        status,
        headers,
        response.into_body().read_to_string().unwrap_or_default(),
    )
}

/// Logs in to the dashboard with an API key: (status, the session's Set-Cookie).
pub fn login(url: &str, key: &str) -> (u16, Option<String>) {
    let response = page_agent()
        .post(format!("{url}/login"))
        .content_type("application/x-www-form-urlencoded")
        .send(format!("key={key}"))
        .expect("login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.status().as_u16(), cookie)
}

/// The session token of a login's Set-Cookie, as [`get`] sends it.
pub fn session_token(cookie: &str) -> String {
    cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, token)| token.to_string())
        .expect("a session token in the cookie")
}

/// A hotel-ranker trial of `treatment` against `control` (versions; none: the behaviour
/// before the model) on `metrics`, analysed from 2026-10-01 for 3,000 planned units.
pub fn version_trial(key: &str, control: Option<&str>, treatment: &str, metrics: Value) -> Value {
    serde_json::json!({
        "key": key, "hypothesis": format!("{treatment} sells more than {control:?}"),
        "model": "hotel-ranker",
        "variants": [{"name": "control", "weight": 0.5, "model_version": control},
                     {"name": "treatment", "weight": 0.5, "model_version": treatment}],
        "metrics": metrics,
        "analysis": {"method": "frequentist", "start": "2026-10-01T00:00:00Z", "planned_units": 3000}
    })
}
