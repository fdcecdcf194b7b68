//! The router driven in process (`tower::ServiceExt::oneshot`, no socket, no binary) over a
//! store in a temporary directory: authentication, the mapping of errors to SPEC §4 bodies,
//! the request limits and the results cache. The binary-level tests (`crates/cli/tests`)
//! keep what needs a real process: durability across kills, real clients, the browser.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use rctgate_domain::{KeySpec, Scope};
use rctgate_server::{app, AppState, Governance, Limits};
use rctgate_store::{Store, LOCAL_ACTOR};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    router: Router,
    store: Arc<Store>,
    admin: String,
    read: String,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fixture(name: &str, limits: Limits) -> Fixture {
    let dir = std::env::temp_dir().join(format!("rctgate-in-process-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Arc::new(Store::open(dir.join("rctgate.duckdb")).expect("store"));
    let key = |scope| {
        store
            .create_key(&KeySpec::scopes(scope), LOCAL_ACTOR)
            .expect("key")
            .key
    };
    let (admin, read) = (key(Scope::Admin), key(Scope::Read));
    let state = AppState::new(
        Arc::clone(&store),
        limits,
        Governance::default(),
        Default::default(),
    )
    .expect("state");
    Fixture {
        router: app(state),
        store,
        admin,
        read,
        _dir: TempDir(dir),
    }
}

/// One request: the status, the `x-rctgate-cache` header and the body as JSON (or a string).
async fn call(
    f: &Fixture,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let request = request
        .header("Content-Type", "application/json")
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("request");
    let response = f.router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let cache = response
        .headers()
        .get("x-rctgate-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, cache, value)
}

fn experiment(key: &str) -> String {
    json!({"key": key, "hypothesis": "h",
           "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
           "metrics": {"primary": "bookings"}})
    .to_string()
}

fn metric() -> String {
    json!({"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase"}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_answers_401_and_403_with_a_sentence() {
    let f = fixture("auth", Limits::default()).await;
    let (status, _, body) = call(&f, "GET", "/v1/experiments", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("API key is required")),
        "{body}"
    );
    let (status, _, body) = call(&f, "GET", "/v1/experiments", Some("rctg_nope_nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = call(&f, "POST", "/v1/metrics", Some(&f.read), Some(metric())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "This key has scope `read`; this request needs scope `experiment`."
    );
    // Revoked: the next request is refused, saying so.
    let id = f
        .read
        .trim_start_matches("rctg_")
        .split('_')
        .next()
        .expect("id")
        .to_string();
    assert_eq!(
        call(&f, "GET", "/v1/experiments", Some(&f.read), None).await.0,
        StatusCode::OK
    );
    f.store.revoke_key(&id, LOCAL_ACTOR).expect("revoke");
    let (status, _, body) = call(&f, "GET", "/v1/experiments", Some(&f.read), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("revoked")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_become_spec_bodies() {
    let f = fixture("errors", Limits::default()).await;
    let a = Some(f.admin.as_str());
    let (status, _, body) = call(&f, "GET", "/v1/experiments/nope", a, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("nope")),
        "{body}"
    );
    let bad = json!({"name": "m", "kind": "proportion", "event": "e", "direction": "up"}).to_string();
    let (status, _, body) = call(&f, "POST", "/v1/metrics", a, Some(bad)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("direction")),
        "{body}"
    );
    assert_eq!(
        call(&f, "POST", "/v1/metrics", a, Some(metric())).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&f, "POST", "/v1/experiments", a, Some(experiment("x")))
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, _, body) = call(&f, "POST", "/v1/experiments", a, Some(experiment("x"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _, body) = call(&f, "POST", "/v1/experiments/x/stop", a, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a draft cannot stop: {body}");
    let (status, _, body) = call(&f, "GET", "/v1/no-such-route", a, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "a JSON body everywhere: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_batches_past_the_limits_get_413() {
    let limits = Limits {
        max_body_bytes: 4096,
        max_batch_events: 3,
        ..Limits::default()
    };
    let f = fixture("limits", limits).await;
    let a = Some(f.admin.as_str());
    let event = |i: usize| {
        json!({"type": "metric", "id": format!("e{i}"), "unit": "u", "event": "booking",
               "ts": "2026-11-26T12:00:00Z"})
        .to_string()
    };
    let batch = |n: usize| (0..n).map(event).collect::<Vec<_>>().join("\n");
    let (status, _, body) = call(&f, "POST", "/v1/events", a, Some(batch(3))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(&f, "POST", "/v1/events", a, Some(batch(4))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _, body) = call(&f, "POST", "/v1/events", a, Some("x".repeat(5000))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(
        f.store.event_count().expect("count"),
        3,
        "nothing of a refused batch is stored"
    );
}

/// Metric `bookings` and experiment `x` on it, started (its analysis window opens now).
async fn start_trial(f: &Fixture) {
    let a = Some(f.admin.as_str());
    assert_eq!(
        call(f, "POST", "/v1/metrics", a, Some(metric())).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(f, "POST", "/v1/experiments", a, Some(experiment("x")))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(f, "POST", "/v1/experiments/x/start", a, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_cached_until_the_data_changes() {
    let f = fixture("cache", Limits::default()).await;
    start_trial(&f).await;
    let a = Some(f.admin.as_str());
    let path = "/v1/experiments/x/results";
    let (status, cache, first) = call(&f, "GET", path, Some(&f.read), None).await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("miss")));
    let (_, cache, second) = call(&f, "GET", path, Some(&f.read), None).await;
    assert_eq!((cache.as_deref(), &second), (Some("hit"), &first));
    // Inside the analysis window, which opened when the experiment started.
    let exposure = json!({"type": "exposure", "id": "x1", "unit": "u1", "experiment": "x",
                          "variant": "control", "ts": chrono::Utc::now().to_rfc3339()});
    assert_eq!(
        call(&f, "POST", "/v1/events", a, Some(exposure.to_string()))
            .await
            .0,
        StatusCode::OK
    );
    let (_, cache, third) = call(&f, "GET", path, Some(&f.read), None).await;
    assert_eq!(
        cache.as_deref(),
        Some("miss"),
        "a new event makes the entry stale"
    );
    assert_eq!(third["units"]["control"], 1, "{third}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_miss_together_share_one_analysis() {
    let f = Arc::new(fixture("flight", Limits::default()).await);
    start_trial(&f).await;
    let a = Some(f.admin.as_str());
    // Enough units that an analysis takes a while: the requests below overlap it.
    let now = chrono::Utc::now();
    let events: Vec<String> = (0..2_000)
        .flat_map(|i| {
            let variant = if i % 2 == 0 { "control" } else { "treatment" };
            let exposure = json!({"type": "exposure", "id": format!("x{i}"), "unit": format!("u{i}"),
                                  "experiment": "x", "variant": variant, "ts": now.to_rfc3339()});
            let booking = json!({"type": "metric", "id": format!("b{i}"), "unit": format!("u{i}"),
                                 "event": "booking", "ts": now.to_rfc3339()});
            [exposure.to_string(), booking.to_string()]
        })
        .collect();
    assert_eq!(
        call(&f, "POST", "/v1/events", a, Some(events.join("\n"))).await.0,
        StatusCode::OK
    );
    let path = "/v1/experiments/x/results";
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let read = f.read.clone();
                call(&f, "GET", path, Some(&read), None).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.expect("request"));
    }
    let misses = answers
        .iter()
        .filter(|(_, cache, _)| cache.as_deref() == Some("miss"))
        .count();
    assert_eq!(misses, 1, "one analysis for 8 requests that missed together");
    for (status, cache, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert!(matches!(cache.as_deref(), Some("hit" | "miss")), "{cache:?}");
        assert_eq!(body, &answers[0].2);
    }
    assert_eq!(answers[0].2["units"]["control"], 1_000, "{}", answers[0].2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_query_string_gets_a_json_sentence_on_every_route() {
    let f = fixture("query", Limits::default()).await;
    // A type that does not parse, a parameter the route does not have, a repeated one.
    let cases = [
        ("/v1/experiments/ranker/results?series=maybe", "segment"),
        ("/v1/experiments/ranker/results?bogus=1", "series"),
        ("/v1/events/summary?experiment=a&experiment=b", "experiment"),
        ("/v1/audit?limit=many", "limit"),
        ("/v1/models/ranker/gate?versions=7", "version"),
        ("/v1/models/ranker/monitoring?trial=3", "trials"),
    ];
    for (path, named) in cases {
        let (status, _, body) = call(&f, "GET", path, Some(&f.admin), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: not a JSON error: {body}"));
        assert!(
            error.starts_with("The query string is invalid ("),
            "{path}: {error}"
        );
        assert!(error.contains(named), "{path}: {error} should name {named}");
        assert!(body["field"].is_string(), "{path}: the field is named: {body}");
    }
    // A path asked with a method it does not take, and no path at all: sentences too.
    let (status, _, body) = call(&f, "DELETE", "/v1/audit", Some(&f.admin), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not take that method")),
        "{body}"
    );
    let (status, _, body) = call(&f, "GET", "/v1/nothing-here", Some(&f.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().is_some(), "{body}");
}

/// `POST /login` with `key` as a browser's form sends it: the status, the session cookie
/// (`name=token`) if one was set, the `Retry-After` header.
async fn log_in(f: &Fixture, key: &str) -> (StatusCode, Option<String>, Option<String>) {
    let request = Request::builder()
        .method("POST")
        .uri("/login")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("key={key}")))
        .expect("request");
    let response = f.router.clone().oneshot(request).await.expect("response");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let cookie = header("set-cookie").and_then(|c| c.split(';').next().map(str::to_string));
    (response.status(), cookie, header("retry-after"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_escapes_what_users_write_under_a_strict_policy() {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let f = fixture("xss", Limits::default()).await;
    let script = r#"<script>alert("owned")</script>"#;
    assert_eq!(
        call(&f, "POST", "/v1/metrics", Some(&f.admin), Some(metric()))
            .await
            .0,
        StatusCode::CREATED
    );
    let experiment = json!({"key": "xss", "hypothesis": script,
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "metrics": {"primary": "bookings"}});
    let (status, _, body) = call(
        &f,
        "POST",
        "/v1/experiments",
        Some(&f.admin),
        Some(experiment.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, cookie, _) = log_in(&f, &f.read).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a session cookie");
    let request = Request::builder()
        .uri("/experiments/xss")
        .header("Cookie", cookie)
        .body(Body::empty())
        .expect("request");
    let response = f.router.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a Content-Security-Policy")
        .to_string();
    assert_eq!(
        response
            .headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    let page = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec(),
    )
    .expect("utf-8");
    assert!(
        !page.contains(script),
        "the hypothesis reached the page unescaped"
    );
    assert!(
        page.contains("&lt;script&gt;alert("),
        "the hypothesis is shown, escaped"
    );
    assert!(
        !page.contains("<script"),
        "the dashboard has no script of its own"
    );
    // No inline anything but the one style sheet, allowed by its hash.
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let style = page
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .expect("the page's style sheet");
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
    assert!(
        policy.contains(&format!("style-src 'sha256-{hash}'")),
        "{policy} should allow the style sheet"
    );
    assert!(
        policy.contains("form-action 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_per_address() {
    let f = fixture("logins", Limits::default()).await;
    for attempt in 1..=10 {
        let (status, cookie, _) = log_in(&f, "rctg_not_a_key").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert!(cookie.is_none());
    }
    // The eleventh is refused unread, even with the right key.
    for key in ["rctg_not_a_key", f.read.as_str()] {
        let (status, cookie, retry_after) = log_in(&f, key).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(cookie.is_none(), "no session while the address is refused");
        let seconds: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
        assert!((1..=300).contains(&seconds), "{seconds}");
    }
    // The API's keys are not the dashboard's logins: they still work.
    assert_eq!(
        call(&f, "GET", "/v1/experiments", Some(&f.read), None).await.0,
        StatusCode::OK
    );
}
