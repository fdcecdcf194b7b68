//! A small blocking client of MLflow's model-registry REST API (`/api/2.0/mlflow/...`): what
//! rctgate needs to follow the gate with an alias (`serve --mlflow-uri`) and to import a
//! registered model's versions (`rctgate model import-mlflow`), and nothing else.
//!
//! Blocking on purpose: calls are rare (one per promotion, one import), the server makes
//! them on a blocking thread, and ureq is already the workspace's HTTP client. Plain
//! `http://` only: the build carries no TLS stack (put an HTTPS relay in front of a remote
//! MLflow, as for the webhook).
//!
//! Errors say whether trying again can help ([`MlflowError::transient`]): the server
//! unreachable, a 5xx or a 429 may pass; any other 4xx (no such model or version, a bad
//! alias, refused credentials) will not until someone changes something.

mod target;

pub use target::{registry_target, RegistryTarget};

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

/// How to authenticate, as MLflow's own clients read it from the environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    #[default]
    None,
    /// `MLFLOW_TRACKING_TOKEN`: `Authorization: Bearer TOKEN`.
    Token(String),
    /// `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`: HTTP basic.
    Basic { username: String, password: String },
}

impl Credentials {
    /// The credentials MLflow's clients would use: a token, else a user name and password.
    pub fn from_env() -> Credentials {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
            return Credentials::Token(token);
        }
        match (var("MLFLOW_TRACKING_USERNAME"), var("MLFLOW_TRACKING_PASSWORD")) {
            (Some(username), Some(password)) => Credentials::Basic { username, password },
            _ => Credentials::None,
        }
    }

    fn header(&self) -> Option<String> {
        match self {
            Credentials::None => None,
            Credentials::Token(token) => Some(format!("Bearer {token}")),
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
        }
    }
}

/// Why a call failed, and whether trying again later can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowError {
    /// A sentence naming what failed, with MLflow's own message when it sent one.
    pub message: String,
    /// Unreachable, 5xx or 429: worth retrying. Other answers will not change by themselves.
    pub transient: bool,
}

impl std::fmt::Display for MlflowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MlflowError {}

/// One version of a registered model, as MLflow lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MlflowVersion {
    /// MLflow's version number, as text (`"3"`).
    pub version: String,
    /// Where the artifact came from (`runs:/RUN/model`, `s3://...`).
    #[serde(default)]
    pub source: Option<String>,
    /// The run that logged it, if any.
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Milliseconds since 1970.
    #[serde(default)]
    pub creation_timestamp: Option<i64>,
}

/// A run's metrics: the latest finite value of each, and the names of those whose latest
/// value is not a finite number (MLflow stores NaN and infinities; rctgate's offline
/// metrics are finite numbers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunMetrics {
    pub metrics: BTreeMap<String, f64>,
    pub not_finite: Vec<String>,
}

/// A client of one MLflow tracking server.
pub struct MlflowClient {
    base: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

/// Versions asked for per page of `model-versions/search` (MLflow's largest page).
const PAGE: &str = "1000";

impl MlflowClient {
    /// A client of the server at `uri` (`http://host:5000`, a path prefix allowed); one
    /// sentence naming `field` when the URI cannot be used.
    pub fn new(uri: &str, credentials: &Credentials, field: &str) -> Result<MlflowClient, String> {
        let base = uri.trim().trim_end_matches('/');
        let Some(host) = base.strip_prefix("http://") else {
            return Err(format!(
                "{field} {uri:?} must start with http:// (this build has no TLS; use a relay for https)."
            ));
        };
        if host.is_empty() {
            return Err(format!("{field} {uri:?} names no host."));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build();
        Ok(MlflowClient {
            base: base.to_string(),
            authorization: credentials.header(),
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// The server's base URI, as given.
    pub fn uri(&self) -> &str {
        &self.base
    }

    /// Points `alias` of registered model `name` at `version` (MLflow moves it if it
    /// pointed elsewhere).
    pub fn set_alias(&self, name: &str, alias: &str, version: &str) -> Result<(), MlflowError> {
        let body = json!({"name": name, "alias": alias, "version": version});
        self.call("POST", "registered-models/alias", &[], Some(&body))
            .map(drop)
    }

    /// The version `alias` of `name` points at; `None` when the alias is not set.
    pub fn alias(&self, name: &str, alias: &str) -> Result<Option<String>, MlflowError> {
        match self.call(
            "GET",
            "registered-models/alias",
            &[("name", name), ("alias", alias)],
            None,
        ) {
            Ok(answer) => Ok(answer["model_version"]["version"].as_str().map(str::to_string)),
            // MLflow answers an unset alias with INVALID_PARAMETER_VALUE "... not found".
            Err(err) if !err.transient && err.message.contains("not found") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The registered model's description; an error naming the model when MLflow has none
    /// by that name.
    pub fn model_description(&self, name: &str) -> Result<Option<String>, MlflowError> {
        let answer = self.call("GET", "registered-models/get", &[("name", name)], None)?;
        Ok(answer["registered_model"]["description"]
            .as_str()
            .filter(|text| !text.is_empty())
            .map(str::to_string))
    }

    /// Every version of registered model `name`, oldest first (by version number).
    pub fn versions(&self, name: &str) -> Result<Vec<MlflowVersion>, MlflowError> {
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let mut versions = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("filter", filter.as_str()), ("max_results", PAGE)];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let mut answer = self.call("GET", "model-versions/search", &query, None)?;
            let page: Vec<MlflowVersion> =
                serde_json::from_value(answer["model_versions"].take()).unwrap_or_default();
            versions.extend(page);
            match answer["next_page_token"].as_str() {
                Some(next) if !next.is_empty() && next != token => token = next.to_string(),
                _ => break,
            }
        }
        versions.sort_by_key(|v| (v.version.parse::<u64>().unwrap_or(u64::MAX), v.version.clone()));
        Ok(versions)
    }

    /// The latest value of each metric the run logged.
    pub fn run_metrics(&self, run_id: &str) -> Result<RunMetrics, MlflowError> {
        let answer = self.call("GET", "runs/get", &[("run_id", run_id)], None)?;
        let mut metrics = RunMetrics::default();
        for metric in answer["run"]["data"]["metrics"].as_array().into_iter().flatten() {
            let Some(key) = metric["key"].as_str() else {
                continue;
            };
            // MLflow writes NaN and infinities as strings ("NaN", "Infinity").
            match metric["value"].as_f64().filter(|value| value.is_finite()) {
                Some(value) => {
                    metrics.metrics.insert(key.to_string(), value);
                }
                None => metrics.not_finite.push(key.to_string()),
            }
        }
        Ok(metrics)
    }

    /// One REST call; the decoded answer of a 2xx, else an [`MlflowError`] with MLflow's
    /// `error_code` and `message`.
    fn call(
        &self,
        method: &str,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let sent = match body {
            None => {
                let mut request = self.agent.get(&url);
                for (key, value) in query {
                    request = request.query(*key, *value);
                }
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request.call()
            }
            Some(body) => {
                let mut request = match method {
                    "PATCH" => self.agent.patch(&url),
                    _ => self.agent.post(&url),
                };
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes())
            }
        };
        let response = sent.map_err(|err| MlflowError {
            message: format!("MLflow at {} is unreachable ({err}).", self.base),
            transient: true,
        })?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().map_err(|err| MlflowError {
            message: format!("MLflow's answer to {endpoint} could not be read ({err})."),
            transient: true,
        })?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let said = match (answer["error_code"].as_str(), answer["message"].as_str()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => {
                let raw = answer.as_str().map_or_else(|| answer.to_string(), str::to_string);
                raw.chars().take(300).collect()
            }
        };
        Err(MlflowError {
            message: format!("MLflow answered {status} to {endpoint} ({said})."),
            transient: status >= 500 || status == 429,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_uris_are_accepted_with_the_field_named() {
        let none = Credentials::None;
        let err = MlflowClient::new("https://mlflow.example", &none, "--mlflow-uri").err();
        assert!(err.is_some_and(|e| e.starts_with("--mlflow-uri") && e.contains("http://")));
        assert!(MlflowClient::new("http://", &none, "--mlflow-uri").is_err());
        let client = MlflowClient::new(" http://127.0.0.1:5000/prefix/ ", &none, "--mlflow-uri");
        assert_eq!(
            client.map(|c| c.uri().to_string()),
            Ok("http://127.0.0.1:5000/prefix".into())
        );
    }

    #[test]
    fn credentials_become_the_headers_mlflow_expects() {
        assert_eq!(Credentials::None.header(), None);
        assert_eq!(
            Credentials::Token("t0k".into()).header().as_deref(),
            Some("Bearer t0k")
        );
        let basic = Credentials::Basic {
            username: "ada".into(),
            password: "s3cret".into(),
        };
        // echo -n 'ada:s3cret' | base64
        assert_eq!(basic.header().as_deref(), Some("Basic YWRhOnMzY3JldA=="));
    }

    #[test]
    fn an_unreachable_server_is_a_transient_error_naming_it() {
        // Port 9 (discard) on loopback: nothing listens there in a test environment.
        let client = MlflowClient::new("http://127.0.0.1:9", &Credentials::None, "--mlflow-uri");
        let err = client.map(|c| c.set_alias("m", "champion", "1"));
        match err {
            Ok(Err(err)) => {
                assert!(err.transient, "{err}");
                assert!(err.message.contains("127.0.0.1:9"), "{err}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
