//! The dashboard (issue 7): server-rendered pages for the people who decide.
//!
//! Login: a form posts an API key (read scope or more); the server answers with a random
//! session token in an `HttpOnly; SameSite=Strict` cookie and keeps only the token → key id
//! and scope in memory (12 hours; a restart logs everyone out). The key is never put in a
//! URL, a page or a log. Every page without a valid session redirects to `/login`.
//!
//! Pages are plain HTML with inline SVG charts and one stylesheet; no JavaScript. The
//! experiment page is `rctgate_analysis::render::experiment_sections` (the same sections as
//! `rctgate analyze --format html`) plus the data-quality summary.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rctgate_analysis::chart::{self, PortfolioPoint};
use rctgate_analysis::format;
use rctgate_analysis::ledger::Ledger;
use rctgate_analysis::render::{escape, experiment_sections, page, page_with_header};
use rctgate_analysis::Scorecard;
use rctgate_domain::{Experiment, Scope, Status};
use rctgate_store::{AnalyzeOptions, ModelView};
use serde::Deserialize;

use crate::AppState;

const COOKIE_NAME: &str = "rctgate_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Session tokens → who logged in.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, (String, Instant)>>,
}

impl Sessions {
    fn open(&self, key_id: String) -> String {
        let token = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (_, expires)| *expires > Instant::now());
        map.insert(token.clone(), (key_id, Instant::now() + SESSION_TTL));
        token
    }

    fn find(&self, token: &str) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(id, _)| id.clone())
    }

    fn close(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token);
    }
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| token.to_string())
}

/// A logged-in viewer; pages without one redirect to the login form.
pub struct Viewer;

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        session_token(&parts.headers)
            .and_then(|token| state.sessions.find(&token))
            .map(|_| Viewer)
            .ok_or_else(|| Redirect::to("/login"))
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/experiments") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/experiments", get(experiments))
        .route("/experiments/{key}", get(experiment))
        .route("/models/{name}", get(model))
        .route("/portfolio", get(portfolio))
}

fn nav() -> &'static str {
    "<nav aria-label=\"main\"><a href=\"/experiments\">Experiments</a><a href=\"/portfolio\">Portfolio</a>\
     <form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form></nav>"
}

fn shell(title: &str, body: &str) -> Html<String> {
    Html(page_with_header(title, nav(), body))
}

async fn login_form() -> Html<String> {
    Html(login_page(None))
}

fn login_page(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error-box\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        "rctgate: log in",
        &format!(
            "<h1>rctgate</h1><p>No model ships without a randomized controlled trial.</p>{error}\
             <form method=\"post\" action=\"/login\"><label for=\"key\">API key (read scope or more)</label>\
             <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" required>\
             <button class=\"primary\" type=\"submit\">Log in</button></form>"
        ),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let identity = state.store.authenticate(form.key.trim());
    match identity {
        Some(identity) if identity.scope.allows(Scope::Read) => {
            let token = state.sessions.open(identity.key_id);
            let cookie = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200");
            let mut response = Redirect::to("/experiments").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Some(_) => (
            StatusCode::FORBIDDEN,
            Html(login_page(Some(
                "This key cannot read results; use a read or admin key.",
            ))),
        )
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Html(login_page(Some("That API key is not valid."))),
        )
            .into_response(),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        state.sessions.close(&token);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("rctgate_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        shell(
            "rctgate",
            &format!("<h1>Not available</h1><p>{}</p>", escape(message)),
        ),
    )
        .into_response()
}

/// The scorecard of an experiment as the API would answer it.
async fn scorecard(state: &AppState, key: String, segment: Option<String>) -> Result<Scorecard, Response> {
    let results = state
        .blocking(move |store| {
            let options = AnalyzeOptions {
                segment: segment.as_deref(),
                series: true,
            };
            store.results(&key, &options)
        })
        .await
        .map_err(|err| error_page(err.status, &err.message))?;
    serde_json::from_value(results.clone()).map_err(|_| {
        let reason = results["error"]
            .as_str()
            .unwrap_or("The scorecard could not be read.");
        error_page(StatusCode::OK, reason)
    })
}

fn days_running(experiment: &Experiment) -> String {
    let Some(started) = experiment.analysis.start.or(experiment.started_at) else {
        return "-".to_string();
    };
    let end = experiment.stopped_at.unwrap_or_else(chrono::Utc::now);
    format!("{}", (end - started).num_days().max(0))
}

async fn experiments(State(state): State<AppState>, _viewer: Viewer) -> Response {
    let listed = state.blocking(|store| store.list_experiments()).await;
    let Ok(experiments) = listed else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The experiments could not be read.",
        );
    };
    let mut rows = String::new();
    for experiment in experiments.iter().rev() {
        let (verdict, lift, srm) = if experiment.status == Status::Draft {
            ("draft".to_string(), "-".to_string(), String::new())
        } else {
            match scorecard(&state, experiment.key.clone(), None).await {
                Ok(card) => {
                    let lift = card
                        .metrics
                        .first()
                        .and_then(|m| m.variants.get(1))
                        .and_then(|row| row.comparison())
                        .and_then(|c| {
                            Some(format::effect_with_interval(
                                c.effect?,
                                c.ci_low,
                                c.ci_high,
                                card.difference,
                            ))
                        })
                        .unwrap_or_else(|| "-".to_string());
                    let srm = if card.srm.ok {
                        "<span class=\"badge ok\">SRM ok</span>".to_string()
                    } else {
                        "<span class=\"badge bad\">SRM</span>".to_string()
                    };
                    (card.decision.verdict.as_str().to_string(), lift, srm)
                }
                Err(_) => ("invalid".to_string(), "-".to_string(), String::new()),
            }
        };
        let model = experiment
            .model
            .as_ref()
            .map(|m| format!("<a href=\"/models/{0}\">{0}</a>", escape(m)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td><a href=\"/experiments/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td><span class=\"badge {3}\">{4}</span></td>\
             <td>{5}</td><td>{6}</td><td>{7}</td></tr>",
            escape(&experiment.key),
            experiment.status.as_str(),
            model,
            escape(&verdict),
            escape(&verdict.replace('_', " ")),
            escape(&lift),
            days_running(experiment),
            srm
        ));
    }
    let body = format!(
        "<h1>Experiments</h1><div class=\"scroll\"><table><thead><tr><th scope=\"col\">experiment</th><th scope=\"col\">status</th>\
         <th scope=\"col\">model</th><th scope=\"col\">verdict</th><th scope=\"col\">primary lift [CI]</th>\
         <th scope=\"col\">days</th><th scope=\"col\">SRM</th></tr></thead><tbody>{rows}</tbody></table></div>"
    );
    shell("rctgate: experiments", &body).into_response()
}

#[derive(Deserialize)]
struct ExperimentParams {
    segment: Option<String>,
}

async fn experiment(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(key): Path<String>,
    Query(params): Query<ExperimentParams>,
) -> Response {
    let segment = params
        .segment
        .filter(|s| !s.is_empty())
        .or_else(|| Some("device".to_string()));
    let card = match scorecard(&state, key.clone(), segment).await {
        Ok(card) => card,
        Err(response) => return response,
    };
    let summary_key = key.clone();
    let quality = match state
        .blocking(move |store| store.events_summary(&summary_key))
        .await
    {
        Ok(summary) => {
            let exposures: Vec<String> = summary
                .exposures
                .iter()
                .map(|(v, n)| format!("{} {}", escape(v), format::count(*n)))
                .collect();
            let events: Vec<String> = summary
                .metric_events
                .iter()
                .map(|(e, n)| format!("{} {}", escape(e), format::count(*n)))
                .collect();
            format!(
                "<section aria-label=\"data quality\"><h2>Data quality</h2><ul><li>Exposed units: {}</li>\
                 <li>Exposure events: {}</li><li>Metric events of exposed units: {}</li><li>Last event: {}</li></ul></section>",
                exposures.join(", "),
                format::count(summary.exposure_events),
                if events.is_empty() { "none".to_string() } else { events.join(", ") },
                summary.last_event_ts.map(rctgate_domain::event::format_ts).unwrap_or_else(|| "none".to_string())
            )
        }
        Err(_) => String::new(),
    };
    let experiment = state.blocking(move |store| store.get_experiment(&key)).await.ok();
    let model = experiment
        .and_then(|e| e.model)
        .map(|m| format!("<p>Model: <a href=\"/models/{0}\">{0}</a></p>", escape(&m)))
        .unwrap_or_default();
    let body = format!("{}{model}{quality}", experiment_sections(&card));
    shell(&format!("rctgate: {}", card.experiment), &body).into_response()
}

async fn model(State(state): State<AppState>, _viewer: Viewer, Path(name): Path<String>) -> Response {
    let view: ModelView = match state.blocking(move |store| store.get_model(&name)).await {
        Ok(view) => view,
        Err(err) => return error_page(err.status, &err.message),
    };
    let mut body = format!("<h1>Model {}</h1>", escape(&view.name));
    if let Some(description) = &view.description {
        body.push_str(&format!("<p>{}</p>", escape(description)));
    }
    body.push_str(&format!(
        "<p>Production: <strong>{}</strong>{}</p>",
        escape(view.production.as_deref().unwrap_or("none")),
        view.production_flag
            .as_ref()
            .map(|f| format!(" <span class=\"flag\">{}</span>", escape(f)))
            .unwrap_or_default()
    ));
    body.push_str("<h2>Versions</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">version</th><th scope=\"col\">artifact</th><th scope=\"col\">offline metrics</th><th scope=\"col\">registered</th></tr></thead><tbody>");
    for version in &view.versions {
        let metrics: Vec<String> = version
            .offline_metrics
            .iter()
            .map(|(k, v)| format!("{} {}", escape(k), format::significant(*v, 4)))
            .collect();
        body.push_str(&format!(
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&version.version),
            if view.production.as_deref() == Some(version.version.as_str()) {
                " <span class=\"badge ok\">production</span>"
            } else {
                ""
            },
            escape(version.artifact_uri.as_deref().unwrap_or("-")),
            metrics.join(", "),
            version
                .created_at
                .map(rctgate_domain::event::format_ts)
                .unwrap_or_default()
        ));
    }
    body.push_str("</tbody></table></div><h2>Promotion history</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">when</th><th scope=\"col\">version</th><th scope=\"col\">from</th><th scope=\"col\">evidence</th></tr></thead><tbody>");
    for promotion in view.promotions.iter().rev() {
        let evidence = &promotion.evidence;
        let basis = evidence["basis"].as_str().unwrap_or_default();
        let text = match basis {
            "override" => format!(
                "<span class=\"flag\">{}</span>: {}",
                escape(promotion.flag.as_deref().unwrap_or_default()),
                escape(evidence["reason"].as_str().unwrap_or_default())
            ),
            _ => {
                let experiment = evidence["experiment"].as_str().unwrap_or_default();
                let primary = &evidence["primary"];
                let lift = primary["effect"]
                    .as_f64()
                    .map(|e| {
                        format!(
                            ", {} {}",
                            escape(primary["metric"].as_str().unwrap_or_default()),
                            format::effect_with_interval(
                                e,
                                primary["ci_low"].as_f64(),
                                primary["ci_high"].as_f64(),
                                rctgate_domain::Difference::Relative
                            )
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "{basis}: <a href=\"/experiments/{0}\">{0}</a> ({1}{lift})",
                    escape(experiment),
                    escape(evidence["verdict"].as_str().unwrap_or_default())
                )
            }
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{text}</td></tr>",
            rctgate_domain::event::format_ts(promotion.at),
            escape(&promotion.version),
            escape(promotion.previous.as_deref().unwrap_or("none"))
        ));
    }
    body.push_str("</tbody></table></div>");
    shell(&format!("rctgate: {}", view.name), &body).into_response()
}

async fn portfolio(State(state): State<AppState>, _viewer: Viewer) -> Response {
    let ledger: Ledger = match state.blocking(|store| store.ledger()).await {
        Ok(ledger) => ledger,
        Err(err) => return error_page(err.status, &err.message),
    };
    let mut body = String::from("<h1>Portfolio: offline gain against business lift</h1>");
    for correlation in &ledger.correlations {
        let points: Vec<PortfolioPoint> = ledger
            .entries
            .iter()
            .filter_map(|e| {
                Some(PortfolioPoint {
                    label: e.experiment.clone(),
                    offline_gain: *e.offline_gain.get(&correlation.offline_metric)?,
                    lift: e.lift?,
                    shipped: e.verdict == "ship",
                })
            })
            .collect();
        let describe = |c: &rctgate_analysis::ledger::Correlation| match c.r {
            Some(r) => format!(
                "{:+.2}{} over {} trials",
                r,
                match (c.ci_low, c.ci_high) {
                    (Some(lo), Some(hi)) => format!(" [{lo:+.2}, {hi:+.2}]"),
                    _ => String::new(),
                },
                c.n
            ),
            None => c.reason.clone().unwrap_or_default(),
        };
        body.push_str(&format!(
            "<section aria-label=\"portfolio {0}\"><h2>Offline {0}</h2><p>Pearson r: <strong>{1}</strong> · Spearman rho: <strong>{2}</strong>. \
             Booking.com measured about -0.1 over 23 comparisons: offline gains did not predict business gains.</p>{3}</section>",
            escape(&correlation.offline_metric),
            escape(&describe(&correlation.pearson)),
            escape(&describe(&correlation.spearman)),
            chart::portfolio(&points, &correlation.offline_metric)
        ));
    }
    body.push_str("<h2>Trials</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">trial</th><th scope=\"col\">model</th><th scope=\"col\">versions</th><th scope=\"col\">offline gain</th><th scope=\"col\">business lift [CI]</th><th scope=\"col\">verdict</th></tr></thead><tbody>");
    for entry in &ledger.entries {
        let gains: Vec<String> = entry
            .offline_gain
            .iter()
            .map(|(k, v)| {
                format!(
                    "{} {}",
                    escape(k),
                    format::effect(*v, rctgate_domain::Difference::Relative)
                )
            })
            .collect();
        let lift = entry
            .lift
            .map(|l| {
                format::effect_with_interval(
                    l,
                    entry.ci_low,
                    entry.ci_high,
                    rctgate_domain::Difference::Relative,
                )
            })
            .unwrap_or_else(|| "-".to_string());
        body.push_str(&format!(
            "<tr><td><a href=\"/experiments/{0}\">{0}</a></td><td><a href=\"/models/{1}\">{1}</a></td><td>{2} → {3}</td><td>{4}</td><td>{5}</td><td><span class=\"badge {6}\">{7}</span></td></tr>",
            escape(&entry.experiment),
            escape(&entry.model),
            escape(entry.control_version.as_deref().unwrap_or("none")),
            escape(&entry.treatment_version),
            if gains.is_empty() { "-".to_string() } else { gains.join(", ") },
            escape(&lift),
            escape(&entry.verdict),
            escape(&entry.verdict.replace('_', " "))
        ));
    }
    body.push_str("</tbody></table></div>");
    shell("rctgate: portfolio", &body).into_response()
}
