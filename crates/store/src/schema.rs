//! Schema migrations, versioned in code.
//!
//! `schema_version` records every migration applied to a file. Opening a file applies, in
//! order and each in its own transaction, the migrations it lacks, so a newer binary opens an
//! older file; a file newer than the binary is refused rather than misread. Migrations are
//! append-only: a released migration is never edited, a change is a new migration.
//!
//! # Table layout
//!
//! Metadata tables keep each object as its JSON document (`definition`) plus the few columns
//! that SQL filters on, so adding an optional field to a type needs no migration.
//!
//! Events are split by type, because the analysis reads them differently:
//! - `exposures` (experiment, variant, unit, ts, ...): the analysis groups by experiment and
//!   unit to find each unit's variant and first exposure t0, i.e. its window;
//! - `metric_events` (event, unit, ts, value): the analysis filters by event name and joins on
//!   unit, keeping events inside `[t0, t0 + window)`.
//!
//! `api_keys.scope` holds the key's scopes as a comma list (`assign,ingest`); files written
//! when a key held one scope read the same. `api_key_state` and `overrides` (v4) have no
//! constraints, so rows are updated in place without DuckDB's index restrictions.
//!
//! Neither events table has a primary key or index on `id`: an ART index made ingestion 4-5x slower and
//! the file 4x larger. Idempotency is enforced in memory instead (see `ids`). Times are
//! `TIMESTAMP` holding UTC (microseconds); `attributes` is the canonical JSON text of the flat
//! attribute object (keys sorted, no whitespace) or NULL when there are none, since this
//! DuckDB build has no JSON extension and typed MAP columns are slow to append.

use crate::error::{StoreError, StoreResult};
use crate::time::Micros;
use duckdb::Connection;

/// One step of the schema.
pub(crate) struct Migration {
    /// Version this migration brings the file to.
    pub version: u32,
    /// What it does, recorded in `schema_version`.
    pub description: &'static str,
    /// The DDL.
    pub sql: &'static str,
}

/// Every migration, in order. Version N is `MIGRATIONS[N - 1]`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "metadata: api keys, metrics, experiments, audit log",
        sql: "
            CREATE TABLE api_keys (
                key_id     VARCHAR PRIMARY KEY,
                key_hash   VARCHAR NOT NULL UNIQUE,
                scope      VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                created_by VARCHAR NOT NULL
            );
            CREATE TABLE metrics (
                name       VARCHAR PRIMARY KEY,
                definition VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                updated_at TIMESTAMP NOT NULL
            );
            CREATE TABLE experiments (
                key            VARCHAR PRIMARY KEY,
                status         VARCHAR NOT NULL,
                definition     VARCHAR NOT NULL,
                frozen_results VARCHAR,
                created_at     TIMESTAMP NOT NULL,
                updated_at     TIMESTAMP NOT NULL
            );
            CREATE SEQUENCE audit_log_id START 1;
            CREATE TABLE audit_log (
                id      BIGINT NOT NULL DEFAULT nextval('audit_log_id'),
                ts      TIMESTAMP NOT NULL,
                key_id  VARCHAR NOT NULL,
                action  VARCHAR NOT NULL,
                target  VARCHAR NOT NULL,
                before  VARCHAR,
                after   VARCHAR
            );
        ",
    },
    Migration {
        version: 2,
        description: "events: exposures and metric events, without an index on id",
        sql: "
            CREATE TABLE exposures (
                id           VARCHAR NOT NULL,
                experiment   VARCHAR NOT NULL,
                variant      VARCHAR NOT NULL,
                unit         VARCHAR NOT NULL,
                ts           TIMESTAMP NOT NULL,
                triggered    BOOLEAN,
                model_output DOUBLE,
                latency_ms   DOUBLE,
                attributes   VARCHAR
            );
            CREATE TABLE metric_events (
                id         VARCHAR NOT NULL,
                event      VARCHAR NOT NULL,
                unit       VARCHAR NOT NULL,
                ts         TIMESTAMP NOT NULL,
                value      DOUBLE NOT NULL,
                attributes VARCHAR
            );
        ",
    },
    Migration {
        version: 3,
        description: "model registry: models, versions, promotions",
        sql: "
            CREATE TABLE models (
                name        VARCHAR PRIMARY KEY,
                description VARCHAR,
                created_at  TIMESTAMP NOT NULL
            );
            CREATE TABLE model_versions (
                model      VARCHAR NOT NULL,
                version    VARCHAR NOT NULL,
                definition VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                PRIMARY KEY (model, version)
            );
            CREATE SEQUENCE promotion_id START 1;
            CREATE TABLE promotions (
                id         BIGINT NOT NULL DEFAULT nextval('promotion_id'),
                model      VARCHAR NOT NULL,
                version    VARCHAR NOT NULL,
                previous   VARCHAR,
                evidence   VARCHAR NOT NULL,
                key_id     VARCHAR NOT NULL,
                ts         TIMESTAMP NOT NULL
            );
        ",
    },
    Migration {
        version: 4,
        description: "governance: key names, expiry, revocation and last use; overrides awaiting approval",
        sql: "
            CREATE TABLE api_key_state (
                key_id       VARCHAR NOT NULL,
                name         VARCHAR,
                expires_at   TIMESTAMP,
                revoked_at   TIMESTAMP,
                revoked_by   VARCHAR,
                last_used_at TIMESTAMP
            );
            INSERT INTO api_key_state (key_id) SELECT key_id FROM api_keys;
            CREATE SEQUENCE override_id START 1;
            CREATE TABLE overrides (
                id         BIGINT NOT NULL,
                model      VARCHAR NOT NULL,
                status     VARCHAR NOT NULL,
                definition VARCHAR NOT NULL
            );
        ",
    },
    Migration {
        version: 5,
        description: "exposures: shadow_output (the model-disagreement design)",
        sql: "ALTER TABLE exposures ADD COLUMN shadow_output DOUBLE;",
    },
    Migration {
        version: 6,
        description: "alerts raised by watching launches through their holdouts",
        sql: "
            CREATE TABLE alerts (
                experiment VARCHAR NOT NULL,
                model      VARCHAR NOT NULL,
                kind       VARCHAR NOT NULL,
                metric     VARCHAR NOT NULL,
                raised_at  TIMESTAMP NOT NULL,
                definition VARCHAR NOT NULL
            );
        ",
    },
    Migration {
        version: 7,
        description: "unit rows kept for running trials (see trials::unit_state)",
        sql: "
            CREATE TABLE unit_states (
                experiment      VARCHAR NOT NULL,
                plan            VARCHAR NOT NULL,
                table_name      VARCHAR NOT NULL,
                series_table    VARCHAR,
                exposures_rowid BIGINT NOT NULL,
                events_rowid    BIGINT NOT NULL,
                window_end_us   BIGINT NOT NULL,
                refreshed_at    TIMESTAMP NOT NULL
            );
        ",
    },
    Migration {
        version: 8,
        description:
            "registry aliases that followed promotions (serve --mlflow-uri; see catalog::alias_syncs)",
        sql: "
            CREATE TABLE alias_syncs (
                model        VARCHAR NOT NULL,
                promotion_id BIGINT NOT NULL,
                alias        VARCHAR NOT NULL,
                outcome      VARCHAR NOT NULL,
                detail       VARCHAR NOT NULL,
                ts           TIMESTAMP NOT NULL
            );
        ",
    },
];

/// The newest schema version this binary knows.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// The version recorded in the file; 0 for a new file.
pub(crate) fn current_version(conn: &Connection) -> StoreResult<u32> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version     INTEGER NOT NULL,
             description VARCHAR NOT NULL,
             applied_at  TIMESTAMP NOT NULL
         );",
    )?;
    let version: Option<i64> =
        conn.query_row("SELECT max(version) FROM schema_version", [], |row| row.get(0))?;
    Ok(version.map_or(0, |version| version as u32))
}

/// Applies the missing migrations up to `target`, each atomically with its version record.
/// Returns the version the file is at afterwards.
pub(crate) fn migrate(conn: &mut Connection, target: u32) -> StoreResult<u32> {
    let current = current_version(conn)?;
    let known = latest_version();
    if current > known {
        return Err(StoreError::NewerSchema {
            found: current,
            known,
        });
    }
    for migration in MIGRATIONS
        .iter()
        .filter(|migration| migration.version > current && migration.version <= target)
    {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)?;
        tx.execute(
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            duckdb::params![migration.version, migration.description, Micros::now()],
        )?;
        tx.commit()?;
    }
    current_version(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
        }
    }

    #[test]
    fn new_database_reaches_the_latest_version() -> StoreResult<()> {
        let mut conn = Connection::open_in_memory()?;
        assert_eq!(migrate(&mut conn, latest_version())?, latest_version());
        // Applying again is a no-op.
        assert_eq!(migrate(&mut conn, latest_version())?, latest_version());
        Ok(())
    }

    #[test]
    fn newer_files_are_refused() -> StoreResult<()> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn, latest_version())?;
        conn.execute(
            "INSERT INTO schema_version VALUES (?, 'from the future', ?)",
            duckdb::params![latest_version() + 1, Micros::now()],
        )?;
        assert!(matches!(
            migrate(&mut conn, latest_version()),
            Err(StoreError::NewerSchema { .. })
        ));
        Ok(())
    }
}
