//! `rctgate keys create | list | revoke`: API keys, on a database file (`--db`) or through a
//! running server (`--server`, an admin key in `RCTGATE_API_KEY`).
//!
//! `create` prints the new key once, as the last line of stdout (scripts take `| tail -1`).
//! `list` shows every key without its secret; `revoke` makes a key's next request a 401.

use clap::Subcommand;
use rctgate_domain::{parse_lifetime, KeySpec, Scopes};
use serde_json::Value;

use crate::commands::{print_json, Format};
use crate::failure::Failure;

#[derive(Subcommand)]
pub enum Command {
    /// Creates a key with one or more scopes (assign, ingest, read, experiment, admin).
    Create {
        /// The scopes, comma-separated: --scope assign,ingest.
        #[arg(long, value_name = "SCOPE[,SCOPE]")]
        scope: String,
        /// A label for listings ("checkout model service").
        #[arg(long)]
        name: Option<String>,
        /// Lifetime: a whole number and s, m, h, d or w (90d); without it, until revoked.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
    /// Every key: id, name, scopes, status, created, expires, last used (never the secret).
    List {
        /// table (default) or json.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
    /// Revokes a key by its id: its next request gets 401.
    Revoke {
        /// The key id (the part after `rctg_`, as `keys list` shows it).
        id: String,
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
}

pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Create {
            scope,
            name,
            expires_in,
            target,
        } => {
            let spec = KeySpec {
                scopes: Scopes::parse_list("--scope", &scope).map_err(|e| Failure::input(e.to_string()))?,
                name,
                lifetime: expires_in
                    .as_deref()
                    .map(|text| parse_lifetime("--expires-in", text))
                    .transpose()
                    .map_err(|e| Failure::input(e.to_string()))?,
            };
            if let Some(name) = &spec.name {
                rctgate_domain::names::check_text(
                    "--name",
                    name,
                    rctgate_domain::api_key::MAX_KEY_NAME_CHARS,
                )
                .map_err(|e| Failure::input(e.to_string()))?;
            }
            let key = target.open()?.create_key(&spec)?;
            let expires = key["expires_at"]
                .as_str()
                .map(|at| format!(", expires {at}"))
                .unwrap_or_default();
            println!(
                "Created {} key {}{expires} (shown once):",
                scope_list(&key["scopes"]),
                text(&key["key_id"])
            );
            println!("{}", text(&key["key"]));
            Ok(())
        }
        Command::List { format, target } => {
            let keys = target.open()?.list_keys()?;
            match format {
                Format::Json => print_json(&keys),
                Format::Table => {
                    print!(
                        "{}",
                        key_table(keys.as_array().map(Vec::as_slice).unwrap_or_default())
                    );
                    Ok(())
                }
            }
        }
        Command::Revoke { id, target } => {
            let key = target.open()?.revoke_key(&id)?;
            println!(
                "revoked key {} ({})",
                text(&key["key_id"]),
                scope_list(&key["scopes"])
            );
            Ok(())
        }
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn scope_list(scopes: &Value) -> String {
    scopes
        .as_array()
        .map(|list| list.iter().map(text).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// The listing as aligned columns; times to the minute.
fn key_table(keys: &[Value]) -> String {
    let minute = |value: &Value| {
        value
            .as_str()
            .map(|at| at.get(..16).unwrap_or(at).replace('T', " "))
            .unwrap_or_else(|| "-".to_string())
    };
    let header = [
        "id",
        "name",
        "scopes",
        "status",
        "created",
        "expires",
        "last used",
    ]
    .map(str::to_string);
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|key| {
            [
                text(&key["key_id"]).to_string(),
                key["name"].as_str().unwrap_or("-").to_string(),
                scope_list(&key["scopes"]),
                text(&key["status"]).to_string(),
                minute(&key["created_at"]),
                minute(&key["expires_at"]),
                minute(&key["last_used_at"]),
            ]
        })
        .collect();
    crate::commands::columns(std::iter::once(header).chain(rows))
}
