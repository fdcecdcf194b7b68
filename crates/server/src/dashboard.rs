//! The dashboard (issue 7): server-rendered pages for the people who decide.
//!
//! Login: a form posts an API key (read scope or more); the server answers with a random
//! session token in an `HttpOnly; SameSite=Strict` cookie and keeps only the token → key id
//! in memory (12 hours; a restart logs everyone out). The key is never put in a URL, a page
//! or a log. Every page without a valid session redirects to `/login`, and every page checks
//! the session's key again, so revoking or expiry of the key logs its sessions out.
//!
//! A session whose key has the `experiment` scope sees buttons to start a draft and stop a
//! running trial: POST forms carrying the session's CSRF token (a second random value, in the
//! page, never in the cookie; with `SameSite=Strict` a belt and braces). Stopping freezes the
//! verdict, so its button leads to a confirmation page first. A read-only session sees no
//! buttons, and its POSTs answer 403.
//!
//! Pages are maud templates (escaped by default) with inline SVG charts (plotters) and one
//! stylesheet; no JavaScript. The
//! experiment page is `rctgate_report::render::experiment_sections` (the same sections as
//! `rctgate analyze --format html`) plus the data-quality summary.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped};
use rctgate_analysis::distribution::{Distributions, Shape, Shift};
use rctgate_analysis::format;
use rctgate_analysis::ledger::{Correlation, Ledger};
use rctgate_analysis::{FrozenResult, Scorecard};
use rctgate_domain::event::format_ts;
use rctgate_domain::{Difference, Experiment, OverrideRequest, OverrideStatus, Scope, Status};
use rctgate_report::chart::{self, PortfolioPoint};
use rctgate_report::render::{self, experiment_sections, page};
use rctgate_store::{EventsSummary, KeyIdentity, ModelView, Promotion};
use serde::Deserialize;

use crate::error::ApiError;
use crate::monitor::Watched;
use crate::query_params::{Parameters, QueryParams};
use crate::sessions::{ClientAddress, COOKIE_NAME, LOGIN_FAILURES, LOGIN_WINDOW};
use crate::state::AppState;
use rctgate_analysis::saturation::DEFAULT_SATURATION_TRIALS;
use rctgate_store::RaisedAlert;

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

/// A logged-in viewer whose key is still valid; pages without one redirect to the login form
/// (and a session whose key was revoked or expired is closed on the way).
pub struct Viewer {
    identity: Arc<KeyIdentity>,
    csrf: String,
}

impl Viewer {
    /// Whether this session may start and stop trials.
    fn runs_trials(&self) -> bool {
        self.identity.allows(Scope::Experiment)
    }

    /// The 403 page, unless the session may start and stop trials.
    fn refuse_unless_runs_trials(&self) -> Option<Response> {
        (!self.runs_trials()).then(|| {
            error_page(
                StatusCode::FORBIDDEN,
                &crate::auth::forbidden(&self.identity, Scope::Experiment).message,
            )
        })
    }

    /// The 403 page, unless the session may start and stop trials and `csrf` is this
    /// session's token.
    fn refuse_form(&self, csrf: &str) -> Option<Response> {
        if let Some(refused) = self.refuse_unless_runs_trials() {
            return Some(refused);
        }
        let same = csrf.len() == self.csrf.len()
            && csrf
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |differ, (a, b)| differ | (a ^ b))
                == 0;
        (!same).then(|| {
            error_page(
                StatusCode::FORBIDDEN,
                "This form is out of date or did not come from this page; reload the page and try again.",
            )
        })
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_token(&parts.headers).ok_or_else(|| Redirect::to("/login"))?;
        let session = state
            .sessions
            .find(&token)
            .ok_or_else(|| Redirect::to("/login"))?;
        match state.store.key_identity(&session.key_id) {
            Ok(identity) => Ok(Viewer {
                identity,
                csrf: session.csrf,
            }),
            Err(_) => {
                state.sessions.close(&token);
                Err(Redirect::to("/login"))
            }
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/experiments") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/experiments", get(experiments))
        .route("/experiments/{key}", get(experiment))
        .route("/experiments/{key}/start", post(start))
        .route("/experiments/{key}/stop", get(confirm_stop).post(stop))
        .route("/models/{name}", get(model))
        .route("/portfolio", get(portfolio))
        .layer(axum::middleware::map_response(crate::page_headers::secure))
}

fn nav() -> Markup {
    html! {
        nav aria-label="main" {
            a href="/experiments" { "Experiments" }
            a href="/portfolio" { "Portfolio" }
            form method="post" action="/logout" { button type="submit" { "Log out" } }
        }
    }
}

fn shell(title: &str, body: Markup) -> Html<String> {
    Html(page(title, nav(), body).into_string())
}

async fn login_form() -> Html<String> {
    Html(login_page(None))
}

fn login_page(error: Option<&str>) -> String {
    page(
        "rctgate: log in",
        html! {},
        html! {
            h1 { "rctgate" }
            p { "No model ships without a randomized controlled trial." }
            @if let Some(error) = error { p.error-box role="alert" { (error) } }
            form method="post" action="/login" {
                label for="key" { "API key (read scope or more)" }
                input #key name="key" type="password" autocomplete="current-password" required;
                button.primary type="submit" { "Log in" }
            }
        },
    )
    .into_string()
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddress(from): ClientAddress,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(wait) = state.sessions.login_wait(from) {
        let seconds = wait.as_secs().max(1);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Html(login_page(Some(&format!(
                "Too many failed logins from this address ({LOGIN_FAILURES} in {} minutes); try again in {seconds} seconds.",
                LOGIN_WINDOW.as_secs() / 60
            )))),
        )
            .into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let identity = state.store.authenticate(form.key.trim());
    if identity.is_err() {
        state.sessions.login_failed(from);
    }
    match identity {
        Ok(identity) if identity.allows(Scope::Read) => {
            state.sessions.login_succeeded(from);
            let token = state.sessions.open(identity.key_id.clone());
            let cookie = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200");
            let mut response = Redirect::to("/experiments").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Ok(_) => (
            StatusCode::FORBIDDEN,
            Html(login_page(Some(
                "This key cannot read results; use a key with the read, experiment or admin scope.",
            ))),
        )
            .into_response(),
        Err(rejection) => (
            StatusCode::UNAUTHORIZED,
            Html(login_page(Some(&rejection.to_string()))),
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
        shell("rctgate", html! { h1 { "Not available" } p { (message) } }),
    )
        .into_response()
}

/// The scorecard of an experiment as the API would answer it.
async fn scorecard(state: &AppState, key: String, segment: Option<String>) -> Result<Scorecard, Response> {
    let result = crate::results::cached_result(state, key, segment, true)
        .await
        .map_err(|err| error_page(err.status, &err.message))?;
    match result {
        FrozenResult::Scorecard(card) => Ok(*card),
        // A stopped trial whose scorecard could not be computed: its reason is the page.
        FrozenResult::Unanalysable(failed) => Err(error_page(StatusCode::OK, &failed.error)),
    }
}

fn days_running(experiment: &Experiment) -> String {
    let Some(started) = experiment.analysis.start.or(experiment.started_at) else {
        return "-".to_string();
    };
    let end = experiment.stopped_at.unwrap_or_else(chrono::Utc::now);
    format!("{}", (end - started).num_days().max(0))
}

fn effect_text(card: &Scorecard) -> String {
    card.metrics
        .first()
        .and_then(|m| render::treatment_effect(m, card.difference))
        .unwrap_or_else(|| "-".to_string())
}

/// One row of the experiment list.
struct ListRow {
    experiment: Experiment,
    verdict: String,
    lift: String,
    srm_ok: Option<bool>,
}

async fn experiments(State(state): State<AppState>, _viewer: Viewer) -> Response {
    let Ok(experiments) = state.blocking(|store| store.list_experiments()).await else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The experiments could not be read.",
        );
    };
    let mut rows = Vec::new();
    for experiment in experiments.into_iter().rev() {
        let row = if experiment.status == Status::Draft {
            ListRow {
                experiment,
                verdict: "draft".into(),
                lift: "-".into(),
                srm_ok: None,
            }
        } else {
            match scorecard(&state, experiment.key.clone(), None).await {
                Ok(card) => ListRow {
                    verdict: card.decision.verdict.as_str().to_string(),
                    lift: effect_text(&card),
                    srm_ok: Some(card.srm.ok),
                    experiment,
                },
                Err(_) => ListRow {
                    experiment,
                    verdict: "invalid".into(),
                    lift: "-".into(),
                    srm_ok: None,
                },
            }
        };
        rows.push(row);
    }
    let body = html! {
        h1 { "Experiments" }
        div.scroll { table {
            thead { tr {
                @for header in ["experiment", "status", "model", "verdict", "primary lift [CI]", "days", "SRM"] {
                    th scope="col" { (header) }
                }
            } }
            tbody { @for row in &rows {
                tr {
                    td { a href={ "/experiments/" (row.experiment.key) } { (row.experiment.key) } }
                    td { (row.experiment.status.as_str()) }
                    td { @if let Some(model) = &row.experiment.model { a href={ "/models/" (model) } { (model) } } }
                    td { span class={ "badge " (row.verdict) } { (row.verdict.replace('_', " ")) } }
                    td { (row.lift) }
                    td { (days_running(&row.experiment)) }
                    td {
                        @match row.srm_ok {
                            Some(true) => span.badge.ok { "SRM ok" },
                            Some(false) => span.badge.bad { "SRM" },
                            None => "",
                        }
                    }
                }
            } }
        } }
    };
    shell("rctgate: experiments", body).into_response()
}

#[derive(Deserialize)]
struct ExperimentParams {
    segment: Option<String>,
}

impl Parameters for ExperimentParams {
    const EXPECTED: &'static str = "the only parameter is segment (an exposure attribute).";
    const FIELD: &'static str = "segment";
}

/// The model outputs: the overlaid histogram and each arm's shape and shifts.
fn model_outputs(found: &Distributions) -> Markup {
    let Some(chart) = rctgate_report::chart::distributions(found) else {
        return html! {};
    };
    let shift = |s: &Shift| format!("KS {:.3} · PSI {:.3}", s.ks, s.psi);
    html! {
        section aria-label="model outputs" {
            h2 { "Model outputs" }
            (PreEscaped(chart))
            div.scroll { table {
                thead { tr { th { "variant" } th { "outputs" } th { "shape" } th { "vs control" } th { "vs reference" } } }
                tbody { @for arm in &found.arms {
                    tr {
                        td { (arm.variant) }
                        td { (format::count(arm.counts.iter().sum())) }
                        td { @match &arm.shape {
                            Some(Shape::Bimodal { threshold }) => { "bimodal (threshold " (format!("{threshold:.3}")) ")" },
                            Some(shape) => { (serde_json::to_value(shape).ok().and_then(|v| v["shape"].as_str().map(str::to_string)).unwrap_or_default().replace('_', " ")) },
                            None => { "—" },
                        } }
                        td { (arm.against_control.as_ref().map_or_else(|| "—".to_string(), shift)) }
                        td { (arm.against_reference.as_ref().map_or_else(|| "—".to_string(), |r| format!("{} ({})", shift(&r.shift), r.model_version))) }
                    }
                } }
            } }
            p.meta { "Label-free: the outputs' shape shows a broken model before labels arrive. Spikes, central modes, noise and shifts against the version's reference distribution are also diagnostics above." }
        }
    }
}

fn data_quality(summary: &EventsSummary) -> Markup {
    html! {
        section aria-label="data quality" {
            h2 { "Data quality" }
            ul {
                li { "Exposed units: "
                    @for (i, (variant, n)) in summary.exposures.iter().enumerate() {
                        @if i > 0 { ", " } (variant) " " (format::count(*n))
                    }
                }
                li { "Exposure events: " (format::count(summary.exposure_events)) }
                li { "Metric events of exposed units: "
                    @if summary.metric_events.is_empty() { "none" }
                    @for (i, (event, n)) in summary.metric_events.iter().enumerate() {
                        @if i > 0 { ", " } (event) " " (format::count(*n))
                    }
                }
                li { "Last event: " (summary.last_event_ts.map(format_ts).unwrap_or_else(|| "none".to_string())) }
            }
        }
    }
}

async fn experiment(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    QueryParams(params): QueryParams<ExperimentParams>,
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
    let summary = state
        .blocking(move |store| store.events_summary(&summary_key))
        .await
        .ok();
    let outputs_key = key.clone();
    let outputs = state
        .blocking(move |store| store.distributions(&outputs_key))
        .await
        .ok();
    let definition = state.blocking(move |store| store.get_experiment(&key)).await.ok();
    let model = definition.as_ref().and_then(|e| e.model.clone());
    let body = html! {
        @if let Some(definition) = definition.as_ref().filter(|_| viewer.runs_trials()) {
            (lifecycle_controls(definition, &viewer.csrf))
        }
        @if let Some(layer) = definition.as_ref().and_then(|e| e.holds_out_layer.as_deref()) {
            p.meta {
                "Global holdout of layer " strong { (layer) } ": the units of its first arm are kept out of \
                 every experiment of the layer, so its effect is the cumulative impact of the layer's launches."
            }
        }
        (experiment_sections(&card))
        @if let Some(outputs) = &outputs { (model_outputs(outputs)) }
        @if let Some(model) = &model { p { "Model: " a href={ "/models/" (model) } { (model) } } }
        @if let Some(summary) = &summary { (data_quality(summary)) }
    };
    shell(&format!("rctgate: {}", card.experiment), body).into_response()
}

/// The start button of a draft, or the stop button of a running trial (to its confirmation).
fn lifecycle_controls(experiment: &Experiment, csrf: &str) -> Markup {
    let key = &experiment.key;
    html! {
        @match experiment.status {
            Status::Draft => form.controls method="post" action={ "/experiments/" (key) "/start" } {
                input type="hidden" name="csrf" value=(csrf);
                button.primary type="submit" { "Start trial" }
            },
            Status::Running => form.controls method="get" action={ "/experiments/" (key) "/stop" } {
                button type="submit" { "Stop trial…" }
            },
            Status::Stopped => "",
        }
    }
}

#[derive(Deserialize)]
struct LifecycleForm {
    #[serde(default)]
    csrf: String,
}

/// A change made from a page: back to the experiment, or the error as a page.
fn after_change(result: Result<Experiment, ApiError>) -> Response {
    match result {
        Ok(experiment) => Redirect::to(&format!("/experiments/{}", experiment.key)).into_response(),
        Err(err) => error_page(err.status, &err.message),
    }
}

async fn start(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(form): Form<LifecycleForm>,
) -> Response {
    if let Some(refused) = viewer.refuse_form(&form.csrf) {
        return refused;
    }
    let key_id = viewer.identity.key_id.clone();
    after_change(crate::routes::start_as(&state, key, key_id).await)
}

/// The confirmation step before stopping: stopping freezes the verdict for good.
async fn confirm_stop(State(state): State<AppState>, viewer: Viewer, Path(key): Path<String>) -> Response {
    if let Some(refused) = viewer.refuse_unless_runs_trials() {
        return refused;
    }
    let experiment = match state.blocking(move |store| store.get_experiment(&key)).await {
        Ok(experiment) => experiment,
        Err(err) => return error_page(err.status, &err.message),
    };
    let key = &experiment.key;
    let body = html! {
        h1 { "Stop " (key) "?" }
        p { "Stopping ends the trial: assignment stops, and the scorecard and verdict are frozen as they are now. \
             A frozen verdict is what the promotion gate reads, and it cannot be changed afterwards." }
        form.controls method="post" action={ "/experiments/" (key) "/stop" } {
            input type="hidden" name="csrf" value=(viewer.csrf);
            button.danger type="submit" { "Stop and freeze the verdict" }
            " "
            a href={ "/experiments/" (key) } { "Cancel" }
        }
    };
    shell(&format!("rctgate: stop {key}"), body).into_response()
}

async fn stop(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(form): Form<LifecycleForm>,
) -> Response {
    if let Some(refused) = viewer.refuse_form(&form.csrf) {
        return refused;
    }
    let key_id = viewer.identity.key_id.clone();
    after_change(crate::routes::stop_as(&state, key, key_id).await)
}

fn evidence(promotion: &Promotion) -> Markup {
    let evidence = &promotion.evidence;
    let basis = evidence["basis"].as_str().unwrap_or_default();
    if basis == "override" {
        let approved_by: Vec<&str> = evidence["approved_by"]
            .as_array()
            .map(|ids| ids.iter().filter_map(|id| id.as_str()).collect())
            .unwrap_or_default();
        return html! {
            span.flag { (promotion.flag.as_deref().unwrap_or_default()) } ": " (evidence["reason"].as_str().unwrap_or_default())
            @if let Some(requested_by) = evidence["requested_by"].as_str() {
                " (requested by key " (requested_by) ", approved by key " (approved_by.join(", key ")) ")"
            }
        };
    }
    let experiment = evidence["experiment"].as_str().unwrap_or_default();
    let primary = &evidence["primary"];
    let lift = primary["effect"].as_f64().map(|e| {
        format::effect_with_interval(
            e,
            primary["ci_low"].as_f64(),
            primary["ci_high"].as_f64(),
            Difference::Relative,
        )
    });
    html! {
        (basis) ": " a href={ "/experiments/" (experiment) } { (experiment) }
        " (" (evidence["verdict"].as_str().unwrap_or_default())
        @if let Some(lift) = lift { ", " (primary["metric"].as_str().unwrap_or_default()) " " (lift) }
        ")"
    }
}

async fn model(State(state): State<AppState>, _viewer: Viewer, Path(name): Path<String>) -> Response {
    let asked = name.clone();
    let view: ModelView = match state.blocking(move |store| store.get_model(&asked)).await {
        Ok(view) => view,
        Err(err) => return error_page(err.status, &err.message),
    };
    // Viewing the page watches the launch, as the API and the timer do.
    let watched = crate::monitor::watch(&state, name, DEFAULT_SATURATION_TRIALS).await;
    let production = view.production.as_deref();
    let body = html! {
        h1 { "Model " (view.name) }
        @if let Some(description) = &view.description { p { (description) } }
        p { "Production: " strong { (production.unwrap_or("none")) }
            @if let Some(flag) = &view.production_flag { " " span.flag { (flag) } }
        }
        @match &watched {
            Ok(watched) => (after_the_ship(watched)),
            Err(err) => p.error-box { "The launch could not be watched: " (err.message) }
        }
        h2 { "Versions" }
        div.scroll { table {
            thead { tr { @for h in ["version", "artifact", "offline metrics", "registered"] { th scope="col" { (h) } } } }
            tbody { @for version in &view.versions {
                tr {
                    td { (version.version) @if production == Some(version.version.as_str()) { " " span.badge.ok { "production" } } }
                    td { (version.artifact_uri.as_deref().unwrap_or("-")) }
                    td { @for (i, (k, v)) in version.offline_metrics.iter().enumerate() {
                        @if i > 0 { ", " } (k) " " (format::significant(*v, 4))
                    } }
                    td { (version.created_at.map(format_ts).unwrap_or_default()) }
                }
            } }
        } }
        @let pending: Vec<&OverrideRequest> = view.overrides.iter().filter(|o| o.status == OverrideStatus::Pending).collect();
        @if !pending.is_empty() {
            section.error-box aria-label="pending overrides" {
                h2 { "Overrides awaiting approval" }
                ul { @for o in &pending {
                    li {
                        "Override " (o.id) ": promote " strong { (o.version) } " without RCT evidence: " (o.reason)
                        " (requested by key " (o.requested_by) " at " (format_ts(o.requested_at))
                        "; " (o.missing()) " more admin approval" @if o.missing() != 1 { "s" } " needed). "
                        "The gate stays closed for " (o.version) " until then."
                    }
                } }
            }
        }
        h2 { "Promotion history" }
        div.scroll { table {
            thead { tr { @for h in ["when", "version", "from", "evidence"] { th scope="col" { (h) } } } }
            tbody { @for promotion in view.promotions.iter().rev() {
                tr {
                    td { (format_ts(promotion.at)) }
                    td { (promotion.version) }
                    td { (promotion.previous.as_deref().unwrap_or("none")) }
                    td { (evidence(promotion)) }
                }
            } }
        } }
    };
    shell(&format!("rctgate: {}", view.name), body).into_response()
}

/// The model page's alerts banner, holdout and value timeline (issue 23).
fn after_the_ship(watched: &Watched) -> Markup {
    let monitoring = &watched.monitoring;
    let active: Vec<&RaisedAlert> = watched
        .alerts
        .iter()
        .filter(|a| {
            monitoring.holdout.as_ref().is_some_and(|h| {
                h.alerts.iter().any(|now| {
                    now.kind == a.alert.kind
                        && now.metric == a.alert.metric
                        && now.experiment == a.alert.experiment
                        && now.active
                })
            })
        })
        .collect();
    let timeline = &monitoring.timeline;
    html! {
        @if !active.is_empty() {
            section.error-box role="alert" aria-label="alerts" {
                h2 { "Alerts" }
                ul { @for a in &active {
                    li { span.badge.bad { (a.alert.kind.as_str()) } " " (a.alert.message) " (first seen " (a.alert.date) ")" }
                } }
            }
        }
        @if let Some(watch) = &monitoring.holdout {
            section aria-label="holdout" {
                h2 { "Holdout" }
                p { a href={ "/experiments/" (watch.experiment) } { (watch.experiment) } ": "
                    (format!("{}%", watch.holdout.share * 100.0)) " of units stay on " (watch.holdout.previous)
                    ", against the trial " a href={ "/experiments/" (watch.holdout.trial) } { (watch.holdout.trial) }
                    @if let Some(t) = watch.trial_interval { " (" (format::effect_with_interval(t.effect, Some(t.ci_low), Some(t.ci_high), watch.difference)) ")" }
                    "." }
                (PreEscaped(chart::holdout(watch)))
                div.scroll { table {
                    thead { tr { @for h in ["metric", "role", "latest look", "lift [always-valid CI]"] { th scope="col" { (h) } } } }
                    tbody { @for m in &watch.metrics {
                        tr {
                            td { (m.name) } td { (m.role) }
                            @if let Some(p) = m.series.last() {
                                td { (p.date) } td { (format::effect_with_interval(p.effect, p.ci_low, p.ci_high, watch.difference)) }
                            } @else { td { "-" } td { "no data yet" } }
                        }
                    } }
                } }
            }
        }
        @if !watched.alerts.is_empty() && active.len() < watched.alerts.len() {
            p.meta { "Earlier alerts: " @for (i, a) in watched.alerts.iter().filter(|a| !active.iter().any(|x| std::ptr::eq(*x, *a))).enumerate() {
                @if i > 0 { "; " } (a.alert.kind.as_str()) " on " (a.alert.metric) " (" (a.alert.date) ")"
            } }
        }
        section aria-label="value timeline" {
            h2 { "Value over versions" }
            @for d in &timeline.diagnostics { p.error-box { span.badge.bad { (d.kind) } " " (d.message) } }
            @if let Some(svg) = chart::value_timeline(timeline) { (PreEscaped(svg)) }
            @if !timeline.trials.is_empty() {
                div.scroll { table {
                    thead { tr { @for h in ["concluded", "trial", "version", "offline gain", "trial lift [CI]", "long-term lift [CI]", "verdict"] { th scope="col" { (h) } } } }
                    tbody { @for t in &timeline.trials {
                        tr {
                            td { (t.concluded_at.get(..10).unwrap_or_default()) }
                            td { a href={ "/experiments/" (t.experiment) } { (t.experiment) } }
                            td { (t.version) }
                            td { @for (i, (k, v)) in t.offline_gain.iter().enumerate() { @if i > 0 { ", " } (k) " " (format!("{:+.1}%", v * 100.0)) } }
                            td { @if let Some(l) = t.lift { (format::effect_with_interval(l, t.ci_low, t.ci_high, Difference::Relative)) } @else { "-" } }
                            td { @if let Some(l) = &t.long_term { (format::effect_with_interval(l.effect, l.ci_low, l.ci_high, Difference::Relative)) } @else { "-" } }
                            td { span class={ "badge " (t.verdict) } { (t.verdict) } }
                        }
                    } }
                } }
            }
            @if let Some(lift) = timeline.cumulative_lift {
                p { "Production's compounded lift over the model's first version: " strong { (format!("{:+.1}%", lift * 100.0)) } }
            }
        }
    }
}

fn describe(c: &Correlation) -> String {
    match c.r {
        Some(r) => {
            let interval = match (c.ci_low, c.ci_high) {
                (Some(lo), Some(hi)) => format!(" [{lo:+.2}, {hi:+.2}]"),
                _ => String::new(),
            };
            format!("{r:+.2}{interval} over {} trials", c.n)
        }
        None => c.reason.clone().unwrap_or_default(),
    }
}

async fn portfolio(State(state): State<AppState>, _viewer: Viewer) -> Response {
    let ledger: Ledger = match state.blocking(|store| store.ledger()).await {
        Ok(ledger) => ledger,
        Err(err) => return error_page(err.status, &err.message),
    };
    let relative = |v: f64| format::effect(v, Difference::Relative);
    let body = html! {
        h1 { "Portfolio: offline gain against business lift" }
        @for correlation in &ledger.correlations {
            @let points: Vec<PortfolioPoint> = ledger.entries.iter().filter_map(|e| Some(PortfolioPoint {
                label: e.experiment.clone(),
                offline_gain: *e.offline_gain.get(&correlation.offline_metric)?,
                lift: e.lift?,
                shipped: e.verdict == "ship",
            })).collect();
            section aria-label={ "portfolio " (correlation.offline_metric) } {
                h2 { "Offline " (correlation.offline_metric) }
                p {
                    "Pearson r: " strong { (describe(&correlation.pearson)) }
                    " · Spearman rho: " strong { (describe(&correlation.spearman)) }
                    ". Booking.com measured about -0.1 over 23 comparisons: offline gains did not predict business gains."
                }
                (PreEscaped(chart::portfolio(&points, &correlation.offline_metric)))
            }
        }
        @if !ledger.latency_cost.points.is_empty() {
            section aria-label="latency cost across trials" {
                h2 { "What added latency cost" }
                p {
                    "Arms that added latency on purpose (payload " code { "added_latency_ms" } "). Booking.com found about +30% latency cost more than 0.5% conversion."
                }
                ul { @for fit in &ledger.latency_cost.fits {
                    li {
                        (fit.primary_metric) ": "
                        @match fit.cost_per_10_percent_latency {
                            Some(cost) => { strong { (relative(cost)) } " per +10% latency" }
                            None => { "no fit (no latency change to fit on)" }
                        }
                        " over " (fit.arms) " arms of " (fit.trials) " trials."
                    }
                } }
                @if let Some(svg) = chart::latency_cost(&ledger.latency_cost) { (PreEscaped(svg)) }
            }
        }
        h2 { "Trials" }
        div.scroll { table {
            thead { tr { @for h in ["trial", "model", "versions", "offline gain", "business lift [CI]", "verdict"] { th scope="col" { (h) } } } }
            tbody { @for entry in &ledger.entries {
                tr {
                    td { a href={ "/experiments/" (entry.experiment) } { (entry.experiment) } }
                    td { a href={ "/models/" (entry.model) } { (entry.model) } }
                    td { (entry.control_version.as_deref().unwrap_or("none")) " → " (entry.treatment_version) }
                    td {
                        @if entry.offline_gain.is_empty() { "-" }
                        @for (i, (k, v)) in entry.offline_gain.iter().enumerate() { @if i > 0 { ", " } (k) " " (relative(*v)) }
                    }
                    td { (entry.lift.map(|l| format::effect_with_interval(l, entry.ci_low, entry.ci_high, Difference::Relative)).unwrap_or_else(|| "-".to_string())) }
                    td { span class={ "badge " (entry.verdict) } { (entry.verdict.replace('_', " ")) } }
                }
            } }
        } }
    };
    shell("rctgate: portfolio", body).into_response()
}
