//! Spark as the engine of an analysis, through Spark Connect: where the events already live
//! (a lake or a warehouse), rctgate sends the plan's SQL and brings back sums.
//!
//! [`SparkEngine::connect`] opens a session on the server (`sc://host:15002`, with the
//! `;token=...;use_ssl=true` parameters the client understands), sets its time zone to UTC,
//! and defines two temporary views, `exposures` and `metric_events`, over the relations the
//! user names (a table, or a path such as ``parquet.`/lake/exposures` ``), with the SPEC §6
//! columns cast to the types the plan reads. Columns are checked first, so a missing or
//! mistyped one is one sentence naming it, not a failure deep inside a query. Optional
//! columns a relation lacks (`triggered`, `model_output`, `latency_ms`, `attributes`,
//! `shadow_output`) read as NULL, as events without them do.
//!
//! Then it is an [`Engine`]: the plan's queries in Spark SQL ([`SparkSql`]), the few result
//! rows as cells, and intermediate results kept as cached temporary views. Spark's own error
//! message is always passed on.

mod columns;

use rctgate_analysis::{Cell, Dialect, Engine, EngineError, Rows, SparkSql};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use spark_connect::row::Value;
use spark_connect::SparkSession;

pub use columns::{Relation, EXPOSURES, METRIC_EVENTS};

/// Where the events are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The Spark Connect URL: `sc://host:port` with optional `/;token=...;use_ssl=true`.
    pub url: String,
    /// The relation holding exposures: a table name or a path relation.
    pub exposures: String,
    /// The relation holding metric events.
    pub metric_events: String,
    /// The most counted units a join sends to every executor (a broadcast) rather than
    /// moving the events by unit; 0 never ([`DEFAULT_BROADCAST_UNITS`] unless configured).
    pub broadcast_units: u64,
}

/// The default of [`Sources::broadcast_units`]: about 60 bytes per unit on each executor (its
/// text, its t0 and its arm), so 120 MB at most. Past it, the events move by unit.
pub const DEFAULT_BROADCAST_UNITS: u64 = 2_000_000;

/// A Spark Connect session with the event views defined.
pub struct SparkEngine {
    session: SparkSession,
    broadcast_units: u64,
}

impl SparkEngine {
    /// Connects and defines the `exposures` and `metric_events` views over `sources`; one
    /// sentence naming what failed (the server unreachable, a relation missing, a column
    /// absent or of the wrong type), with Spark's message where Spark refused.
    pub fn connect(sources: &Sources) -> Result<SparkEngine, String> {
        if !sources.url.starts_with("sc://") {
            return Err(format!(
                "the Spark Connect URL {:?} must start with sc:// (sc://host:15002).",
                sources.url
            ));
        }
        reachable(&sources.url)?;
        let session = SparkSession::builder()
            .remote(&sources.url)
            .get_or_create()
            .map_err(|err| format!("cannot reach Spark Connect at {}: {err}", sources.url))?;
        let engine = SparkEngine {
            session,
            broadcast_units: sources.broadcast_units,
        };
        engine
            .run("SET TIME ZONE 'UTC'")
            .map_err(|err| format!("cannot reach Spark Connect at {}: {err}", sources.url))?;
        for (relation, source) in [
            (&EXPOSURES, &sources.exposures),
            (&METRIC_EVENTS, &sources.metric_events),
        ] {
            let described = engine
                .rows(&format!("DESCRIBE QUERY SELECT * FROM {source}"))
                .map_err(|err| format!("Spark cannot read the {} relation {source}: {err}", relation.name))?;
            let present: Vec<(String, String)> = described
                .iter()
                .filter_map(|row| match (row.first(), row.get(1)) {
                    (Some(Cell::Text(name)), Some(Cell::Text(kind))) => Some((name.clone(), kind.clone())),
                    _ => None,
                })
                .collect();
            let select = relation.select_list(source, &present)?;
            engine
                .run(&format!(
                    "CREATE OR REPLACE TEMP VIEW {} AS SELECT {select} FROM {source}",
                    relation.name
                ))
                .map_err(|err| {
                    format!(
                        "Spark cannot define the {} view over {source}: {err}",
                        relation.name
                    )
                })?;
        }
        Ok(engine)
    }

    /// Runs a statement for its effect.
    fn run(&self, sql: &str) -> Result<(), EngineError> {
        self.rows(sql).map(drop)
    }
}

impl Engine for SparkEngine {
    fn dialect(&self) -> &dyn Dialect {
        &SparkSql
    }

    fn rows(&self, sql: &str) -> Result<Rows, EngineError> {
        let started = std::time::Instant::now();
        let rows = self
            .session
            .sql(sql)
            .map_err(refused)?
            .collect()
            .map_err(refused)?;
        // What each query costs, for tuning the plan: Spark's cost is per query and stage.
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            rows = rows.len(),
            sql = sql.get(..sql.char_indices().nth(80).map_or(sql.len(), |(at, _)| at)),
            "spark query"
        );
        tracing::trace!(sql, "spark query text");
        rows.into_iter()
            .map(|row| row.into_values().into_iter().map(cell).collect())
            .collect()
    }

    /// A local checkpoint under a temporary view: the view's plan is the kept rows
    /// themselves, so every query that names it reads them. A cached view (`CACHE TABLE`)
    /// is found by matching plans, and Spark 4.3 does not match it inside a query with a
    /// `WITH` clause, which most of the plan's queries have: each of them grouped the
    /// exposures again (BENCHMARKS.md, "Analysis on Spark").
    fn keep(&self, name: &str, sql: &str) -> Result<(), EngineError> {
        let started = std::time::Instant::now();
        let kept = self
            .session
            .sql(sql)
            .map_err(refused)?
            .local_checkpoint()
            .map_err(refused)?;
        kept.create_or_replace_temp_view(name).map_err(refused)?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), name, "spark kept");
        tracing::trace!(sql, "spark kept text");
        Ok(())
    }

    /// A temporary view: its rows are computed on each read, from the kept rows it reads.
    fn derive(&self, name: &str, sql: &str) -> Result<(), EngineError> {
        self.run(&format!("CREATE OR REPLACE TEMP VIEW {name} AS {sql}"))
    }

    /// Drops the view; the checkpointed rows go when the session is released (on drop).
    fn forget(&self, name: &str) -> Result<(), EngineError> {
        self.run(&format!("DROP VIEW IF EXISTS {name}"))
    }

    fn broadcast_limit(&self) -> Option<u64> {
        Some(self.broadcast_units)
    }

    /// One session runs several queries at once (each its own gRPC call), and the server
    /// fills one query's idle task slots with another's (BENCHMARKS.md, "Analysis on Spark").
    fn concurrent(&self) -> Option<&(dyn Engine + Sync)> {
        Some(self)
    }
}

impl Drop for SparkEngine {
    /// Releases the session on the server, and with it what the analysis kept (its
    /// checkpoints live as long as the session); an analysis opens its own session.
    fn drop(&mut self) {
        if let Err(err) = self.session.stop() {
            tracing::debug!(%err, "releasing the Spark session failed; the server expires it");
        }
    }
}

/// Spark's refusal as the analysis' error, its own message kept.
fn refused(err: spark_connect::SparkError) -> EngineError {
    EngineError(format!("Spark: {err}"))
}

/// How long the server may take to accept a connection before it is reported unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the server at `url` accepts connections: the client retries an unreachable
/// server for minutes, so a wrong host or port is found out here first, in seconds.
fn reachable(url: &str) -> Result<(), String> {
    let authority = url
        .trim_start_matches("sc://")
        .split(['/', ';'])
        .next()
        .unwrap_or_default();
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        // Spark Connect's default port.
        format!("{authority}:15002")
    };
    let unreachable = |reason: String| format!("cannot reach Spark Connect at {url}: {reason}");
    let addresses = address
        .to_socket_addrs()
        .map_err(|err| unreachable(format!("{address} does not resolve ({err})")))?;
    let mut last = format!("{address} resolves to no address");
    for socket in addresses {
        match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(err) => last = err.to_string(),
        }
    }
    Err(unreachable(last))
}

/// A Spark value as a cell; what no analysis query returns (lists, maps, binaries) is an
/// error naming its type.
fn cell(value: Value) -> Result<Cell, EngineError> {
    Ok(match value {
        Value::Null => Cell::Null,
        Value::Bool(value) => Cell::Bool(value),
        Value::Byte(value) => Cell::Int(value.into()),
        Value::Short(value) => Cell::Int(value.into()),
        Value::Integer(value) => Cell::Int(value.into()),
        Value::Long(value) => Cell::Int(value),
        Value::Float(value) => Cell::Float(value.into()),
        Value::Double(value) => Cell::Float(value),
        Value::String(value) => Cell::Text(value),
        Value::Date(days) => Cell::Int(days.into()),
        Value::Timestamp(micros) => Cell::Int(micros),
        Value::Decimal { value, .. } => {
            let number: f64 = value.parse().map_err(|_| {
                EngineError(format!(
                    "Spark returned the decimal {value:?}, which is not a number"
                ))
            })?;
            // A whole decimal (a sum of integers) reads as an integer too.
            match number.fract() == 0.0 && !value.contains('.') {
                true => value.parse::<i64>().map_or(Cell::Float(number), Cell::Int),
                false => Cell::Float(number),
            }
        }
        other => {
            return Err(EngineError(format!(
                "Spark returned {other:?}, which no analysis query asks for"
            )))
        }
    })
}
