//! Where a data command acts: a database file (`--db`) or a running server
//! (`--server URL` or `RCTGATE_SERVER`, with the key in `RCTGATE_API_KEY`).
//!
//! DuckDB lets one process write a file at a time, so while `rctgate serve`
//! runs, commands must go through `--server`; the error says so.

use std::path::PathBuf;

use rctgate_domain::{Experiment, Metric, ModelVersion, NewModel, PromotionRequest};
use rctgate_store::{Store, LOCAL_ACTOR};
use serde_json::Value;

use crate::failure::Failure;

/// `--db PATH | --server URL`. Without either, `RCTGATE_SERVER` names the server if it is set,
/// else the file is `rctgate.duckdb`. `--db` wins over `RCTGATE_SERVER`, so a shell that
/// exports the server can still act on a file.
#[derive(clap::Args, Clone)]
pub struct TargetArgs {
    /// The database file to act on directly.
    #[arg(long, conflicts_with = "server")]
    db: Option<PathBuf>,
    /// A running rctgate server, e.g. http://127.0.0.1:8080 (or RCTGATE_SERVER; key in
    /// RCTGATE_API_KEY).
    #[arg(long)]
    server: Option<String>,
}

/// What a remote call to promote led to.
pub enum PromoteAnswer {
    /// The promotion made.
    Promoted(Value),
    /// An override waiting for more admins.
    Pending(Value),
    /// The gate's reasons.
    Blocked(Vec<String>),
}

pub enum Target {
    Local(Box<Store>),
    Remote(Client),
}

impl TargetArgs {
    pub fn open(&self) -> Result<Target, Failure> {
        let from_env = || {
            std::env::var("RCTGATE_SERVER")
                .ok()
                .filter(|url| !url.trim().is_empty())
        };
        let server = match (&self.db, &self.server) {
            (Some(_), _) => None,
            (None, Some(url)) => Some(url.clone()),
            (None, None) => from_env(),
        };
        match server {
            Some(url) => Ok(Target::Remote(Client::from_env(&url)?)),
            None => {
                let db = self.db.clone().unwrap_or_else(|| PathBuf::from("rctgate.duckdb"));
                Ok(Target::Local(Box::new(crate::commands::open_store(&db)?)))
            }
        }
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure::input(format!("could not encode the result: {e}")))
}

pub fn store_failure(e: rctgate_store::StoreError) -> Failure {
    Failure::input(e.to_string())
}

impl Target {
    pub fn list_experiments(&self) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.list_experiments().map_err(store_failure)?),
            Target::Remote(client) => client.call("GET", "/v1/experiments", None),
        }
    }

    pub fn show_experiment(&self, key: &str) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.get_experiment(key).map_err(store_failure)?),
            Target::Remote(client) => client.call("GET", &format!("/v1/experiments/{}", encode(key)), None),
        }
    }

    pub fn start_experiment(&self, key: &str) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => {
                to_value(store.start_experiment(key, LOCAL_ACTOR).map_err(store_failure)?)
            }
            Target::Remote(client) => {
                client.call("POST", &format!("/v1/experiments/{}/start", encode(key)), None)
            }
        }
    }

    pub fn stop_experiment(&self, key: &str) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.stop_experiment(key, LOCAL_ACTOR).map_err(store_failure)?),
            Target::Remote(client) => {
                client.call("POST", &format!("/v1/experiments/{}/stop", encode(key)), None)
            }
        }
    }

    /// The scorecard (frozen for a stopped experiment), optionally split by a segment.
    /// The database file, when acting on one directly.
    pub fn store(&self) -> Option<&Store> {
        match self {
            Target::Local(store) => Some(store),
            Target::Remote(_) => None,
        }
    }

    pub fn results(&self, key: &str, options: &rctgate_store::AnalyzeOptions<'_>) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => store.results(key, options).map_err(store_failure),
            Target::Remote(client) => {
                let mut path = format!(
                    "/v1/experiments/{}/results?series={}",
                    encode(key),
                    options.series
                );
                if let Some(segment) = options.segment {
                    path.push_str(&format!("&segment={}", encode(segment)));
                }
                client.call("GET", &path, None)
            }
        }
    }

    /// The model outputs per arm and per day.
    pub fn distributions(&self, key: &str) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.distributions(key).map_err(store_failure)?),
            Target::Remote(client) => client.call(
                "GET",
                &format!("/v1/experiments/{}/distributions", encode(key)),
                None,
            ),
        }
    }

    /// Registers `version` of model `name`, registering the model first if it is new.
    pub fn register_model(
        &self,
        name: &str,
        description: Option<String>,
        version: ModelVersion,
    ) -> Result<Value, Failure> {
        let model = NewModel {
            name: name.to_string(),
            description,
        };
        match self {
            Target::Local(store) => {
                if let Err(err) = store.get_model(name) {
                    if err.kind() != rctgate_store::ErrorKind::NotFound {
                        return Err(store_failure(err));
                    }
                    store.create_model(model, LOCAL_ACTOR).map_err(store_failure)?;
                }
                to_value(
                    store
                        .add_model_version(name, version, LOCAL_ACTOR)
                        .map_err(store_failure)?,
                )
            }
            Target::Remote(client) => {
                let path = format!("/v1/models/{}", encode(name));
                if client.call_status("GET", &path, None)?.0 == 404 {
                    client.call("POST", "/v1/models", Some(&to_value(&model)?))?;
                }
                client.call("POST", &format!("{path}/versions"), Some(&to_value(&version)?))
            }
        }
    }

    pub fn list_models(&self) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.list_models().map_err(store_failure)?),
            Target::Remote(client) => client.call("GET", "/v1/models", None),
        }
    }

    pub fn show_model(&self, name: &str) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.get_model(name).map_err(store_failure)?),
            Target::Remote(client) => client.call("GET", &format!("/v1/models/{}", encode(name)), None),
        }
    }

    /// Promotes through the gate. On a file, an override applies at once (file access is
    /// the operator's; `serve --override-approvals` governs keys).
    pub fn promote(&self, name: &str, request: &PromotionRequest) -> Result<PromoteAnswer, Failure> {
        match self {
            Target::Local(store) => match store.promote(name, request, LOCAL_ACTOR, 1) {
                Ok(rctgate_store::PromotionOutcome::Promoted(promotion)) => {
                    Ok(PromoteAnswer::Promoted(to_value(promotion)?))
                }
                Ok(rctgate_store::PromotionOutcome::Pending(pending)) => {
                    Ok(PromoteAnswer::Pending(to_value(pending)?))
                }
                Err(rctgate_store::StoreError::Blocked(reasons)) => Ok(PromoteAnswer::Blocked(reasons)),
                Err(err) => Err(store_failure(err)),
            },
            Target::Remote(client) => {
                let path = format!("/v1/models/{}/promote", encode(name));
                let (status, body) = client.call_status("POST", &path, Some(&to_value(request)?))?;
                match status {
                    202 => Ok(PromoteAnswer::Pending(body["override"].clone())),
                    200..=299 => Ok(PromoteAnswer::Promoted(body)),
                    409 if body["reasons"].is_array() => Ok(PromoteAnswer::Blocked(
                        body["reasons"]
                            .as_array()
                            .map(|reasons| {
                                reasons
                                    .iter()
                                    .filter_map(|r| r.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )),
                    _ => Err(Failure::input(format!(
                        "the server answered {status}: {}",
                        body["error"].as_str().unwrap_or_default()
                    ))),
                }
            }
        }
    }

    /// Approves a pending override: `{"override": {...}, "promotion": {...} | null}`.
    pub fn approve_override(&self, name: &str, id: i64) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => {
                let (request, promotion) = store
                    .approve_override(name, id, LOCAL_ACTOR)
                    .map_err(store_failure)?;
                Ok(serde_json::json!({"override": to_value(request)?, "promotion": to_value(promotion)?}))
            }
            Target::Remote(client) => client.call(
                "POST",
                &format!("/v1/models/{}/overrides/{id}/approve", encode(name)),
                None,
            ),
        }
    }

    /// What the gate says about promoting `version` now, without an override.
    pub fn gate(&self, name: &str, version: &str, experiment: Option<&str>) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => {
                let request = PromotionRequest {
                    version: version.to_string(),
                    experiment: experiment.map(str::to_string),
                    override_reason: None,
                    holdout: None,
                };
                to_value(store.check_gate(name, &request).map_err(store_failure)?)
            }
            Target::Remote(client) => {
                let mut path = format!("/v1/models/{}/gate?version={}", encode(name), encode(version));
                if let Some(experiment) = experiment {
                    path.push_str(&format!("&experiment={}", encode(experiment)));
                }
                client.call("GET", &path, None)
            }
        }
    }

    /// A consistent copy of the database in `dir`: `{"file", "bytes", "events"}`.
    pub fn backup(&self, dir: &std::path::Path) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.backup(dir).map_err(store_failure)?),
            Target::Remote(client) => {
                client.call("POST", "/v1/backup", Some(&serde_json::json!({ "to": dir })))
            }
        }
    }

    pub fn ledger(&self) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.ledger().map_err(store_failure)?),
            Target::Remote(client) => client.call("GET", "/v1/ledger", None),
        }
    }

    /// A new API key: `{"key_id", "key", "scopes", "name", "expires_at"}`.
    pub fn create_key(&self, spec: &rctgate_domain::KeySpec) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.create_key(spec, LOCAL_ACTOR).map_err(store_failure)?),
            Target::Remote(client) => {
                let mut body = serde_json::json!({"scopes": spec.scopes, "name": spec.name});
                if let Some(lifetime) = spec.lifetime {
                    body["expires_in"] = Value::from(format!("{}s", lifetime.num_seconds()));
                }
                client.call("POST", "/v1/keys", Some(&body))
            }
        }
    }

    /// Every key without its secret.
    pub fn list_keys(&self) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.list_keys().map_err(store_failure)?),
            Target::Remote(client) => client.call("GET", "/v1/keys", None),
        }
    }

    /// Revokes key `id`; the key as listed after.
    pub fn revoke_key(&self, id: &str) -> Result<Value, Failure> {
        match self {
            Target::Local(store) => to_value(store.revoke_key(id, LOCAL_ACTOR).map_err(store_failure)?),
            Target::Remote(client) => client.call("DELETE", &format!("/v1/keys/{}", encode(id)), None),
        }
    }

    /// Creates or replaces a metric; returns what happened.
    pub fn upsert_metric(&self, metric: &Metric) -> Result<String, Failure> {
        match self {
            Target::Local(store) => {
                let outcome = store.upsert_metric(metric, LOCAL_ACTOR).map_err(store_failure)?;
                Ok(to_value(outcome)?.as_str().unwrap_or_default().to_string())
            }
            Target::Remote(client) => {
                let answer = client.call("POST", "/v1/metrics", Some(&to_value(metric)?))?;
                Ok(answer["outcome"].as_str().unwrap_or_default().to_string())
            }
        }
    }

    /// Creates an experiment, or replaces it when it exists.
    pub fn apply_experiment(&self, experiment: Experiment) -> Result<String, Failure> {
        match self {
            Target::Local(store) => {
                let (_, outcome) = store
                    .apply_experiment(experiment, LOCAL_ACTOR)
                    .map_err(store_failure)?;
                Ok(to_value(outcome)?.as_str().unwrap_or_default().to_string())
            }
            Target::Remote(client) => {
                let path = format!("/v1/experiments/{}", encode(&experiment.key));
                let body = to_value(&experiment)?;
                match client.call_status("GET", &path, None)? {
                    (404, _) => {
                        client.call("POST", "/v1/experiments", Some(&body))?;
                        Ok("created".into())
                    }
                    _ => {
                        client.call("PUT", &path, Some(&body))?;
                        Ok("updated".into())
                    }
                }
            }
        }
    }
}

/// Percent-encodes a path segment (keys are identifiers, but be safe).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A small blocking HTTP client for the rctgate API.
pub struct Client {
    base: String,
    key: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn from_env(url: &str) -> Result<Self, Failure> {
        let key = std::env::var("RCTGATE_API_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                Failure::input("RCTGATE_API_KEY is not set: export the API key to use --server.")
            })?;
        let config = ureq::Agent::config_builder().http_status_as_error(false).build();
        Ok(Self {
            base: url.trim_end_matches('/').to_string(),
            key,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// Calls the API; a non-2xx answer becomes a failure with the server's sentence.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let (status, value) = self.call_status(method, path, body)?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let message = value["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            Err(Failure::input(format!("the server answered {status}: {message}")))
        }
    }

    /// Calls the API and returns the status with the decoded body.
    pub fn call_status(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        self.send_raw(
            method,
            path,
            body.map(|b| ("application/json", b.to_string().into_bytes())),
        )
    }

    /// Sends raw bytes with a content type.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.key);
        let unreachable = |e: ureq::Error| Failure::input(format!("cannot reach {}: {e}", self.base));
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &auth).call(),
            (_, Some((content_type, bytes))) => {
                let request = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                request
                    .header("Authorization", &auth)
                    .header("Content-Type", content_type)
                    .send(&bytes[..])
            }
            (_, None) => {
                let request = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                request.header("Authorization", &auth).send_empty()
            }
        }
        .map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .read_to_string()
            .map_err(|e| Failure::input(format!("could not read the server's answer: {e}")))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }
}
