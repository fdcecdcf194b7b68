//! `rctgate demo` and the dashboard over HTTP: the story is written, sessions guard every
//! page, and the pages carry their verdicts and charts. (tests/browser/test_dashboard.py
//! drives the same pages in chromium.)

mod common;

use std::time::Duration;

use common::*;

#[test]
fn the_demo_story_in_the_dashboard() {
    let db = temp_dir("dashboard").join("demo.duckdb");
    let started = std::time::Instant::now();
    let output = rctgate(&["demo", "--db", path(&db)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the demo takes under a minute"
    );
    let out = stdout(&output);
    let key = out.lines().last().expect("key line").trim().to_string();
    assert!(key.starts_with("rctg_"), "{out}");
    assert!(
        out.contains("refused by the gate") && out.contains("production v8"),
        "{out}"
    );
    let again = rctgate(&["demo", "--db", path(&db)]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "the demo never writes into a database with data"
    );

    let output = rctgate(&[
        "gate",
        "check",
        "--model",
        "hotel-ranker",
        "--version",
        "v7",
        "--db",
        path(&db),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let page = temp_dir("dashboard-html").join("v7.html");
    let output = rctgate(&[
        "analyze",
        "ranker-v7",
        "--db",
        path(&db),
        "--format",
        "html",
        "--output",
        path(&page),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(
        html.matches("<svg").count() >= 2,
        "forest plot and cumulative chart inline"
    );
    assert!(html.contains("proxy_over_optimization") && !html.contains("NaN"));

    let assign = create_key(&db, "assign");
    let server = Server::start(&db);
    let url = server.url.clone();
    let (status, headers, _) = get(&format!("{url}/experiments"), None);
    assert_eq!(status, 303);
    assert!(
        headers.iter().any(|(k, v)| k == "location" && v == "/login"),
        "{headers:?}"
    );
    assert_eq!(login(&url, "rctg_wrong").0, 401);
    assert_eq!(login(&url, &assign).0, 403, "an assign key cannot read results");
    let (status, cookie) = login(&url, &key);
    assert_eq!(status, 303);
    let cookie = cookie.expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(&key),
        "the cookie holds a session token, not the key"
    );
    let token = session_token(&cookie);

    for (path, must) in [
        ("/experiments", vec!["ranker-v7", "no ship", "SRM ok"]),
        (
            "/experiments/ranker-v7",
            vec![
                "Verdict",
                "no ship",
                "<svg",
                "proxy_over_optimization",
                "Data quality",
                "Effect by days since first exposure",
                "the first 1 day against the rest",
            ],
        ),
        (
            "/models/hotel-ranker",
            vec![
                "Production: <strong>v8</strong>",
                "ranker-v8",
                "aria-label=\"alerts\"",
                "lift_decayed",
                "hotel-ranker-v8-holdout",
                "value_saturation",
            ],
        ),
        ("/models/support-assistant", vec!["promoted without RCT evidence"]),
        (
            "/experiments/ranker-v9-disagreement",
            vec![
                "The design's comparisons",
                "candidate: t1 vs t2 (triggered units) · decides the verdict",
                "Triggered units",
                "15.",
                "leaves",
                "Effect by model confidence",
            ],
        ),
        (
            "/experiments/assistant-suggested-replies",
            vec![
                "feature: t1 vs t2 (triggered units)",
                "model_cost: t2 vs control (all units)",
            ],
        ),
        (
            "/portfolio",
            vec![
                "Pearson",
                "<svg",
                "ranker-v7",
                "What added latency cost",
                "ranker-latency-cost +30 ms",
                "per +10% latency",
            ],
        ),
    ] {
        let (status, _, body) = get(&format!("{url}{path}"), Some(&token));
        assert_eq!(status, 200, "{path}");
        for text in must {
            assert!(body.contains(text), "{path} shows {text}");
        }
        assert!(!body.contains("NaN"), "{path} shows NaN");
    }
    let (status, _, _) = get(&format!("{url}/experiments/nope"), Some(&token));
    assert_eq!(status, 404);
}
