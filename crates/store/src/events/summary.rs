//! Stored event counts for one experiment (`GET /v1/events/summary`), a data-quality view:
//! are exposures arriving for every variant, and are outcome events arriving for the exposed
//! units?

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::from_micros;
use chrono::{DateTime, Utc};
use rctgate_domain::event::format_ts;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// SPEC §4's summary shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventsSummary {
    /// Distinct exposed units per variant; every variant of the experiment is listed, with 0
    /// when it has none yet.
    pub exposures: BTreeMap<String, u64>,
    /// Exposure events of the experiment (a unit may have many).
    pub exposure_events: u64,
    /// Metric events per event name, counting events of units exposed to this experiment
    /// (at any time: windows are the analysis's business).
    pub metric_events: BTreeMap<String, u64>,
    /// Latest `ts` among the events counted above; `null` when there are none.
    #[serde(serialize_with = "serialize_optional_ts")]
    pub last_event_ts: Option<DateTime<Utc>>,
}

fn serialize_optional_ts<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&format_ts(*at)),
        None => serializer.serialize_none(),
    }
}

impl Store {
    /// Stored counts for experiment `key`.
    pub fn events_summary(&self, key: &str) -> StoreResult<EventsSummary> {
        let experiment = self.get_experiment(key)?;
        let conn = self.read_connection()?;
        let mut exposures: BTreeMap<String, u64> = experiment
            .variants
            .iter()
            .map(|variant| (variant.name.clone(), 0))
            .collect();
        let mut statement = conn.prepare(
            "SELECT variant, count(DISTINCT unit) FROM exposures WHERE experiment = ? GROUP BY variant",
        )?;
        let rows = statement.query_map([key], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
        for row in rows {
            let (variant, units) = row?;
            exposures.insert(variant, count(units)?);
        }
        let (exposure_events, last_exposure): (i64, Option<i64>) = conn.query_row(
            "SELECT count(*), epoch_us(max(ts)) FROM exposures WHERE experiment = ?",
            [key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let mut metric_events = BTreeMap::new();
        let mut last_metric: Option<i64> = None;
        let mut statement = conn.prepare(
            "SELECT event, count(*), epoch_us(max(ts)) FROM metric_events
             WHERE unit IN (SELECT DISTINCT unit FROM exposures WHERE experiment = ?)
             GROUP BY event ORDER BY event",
        )?;
        let rows = statement.query_map([key], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<i64>>(2)?,
            ))
        })?;
        for row in rows {
            let (event, events, last) = row?;
            metric_events.insert(event, count(events)?);
            last_metric = last_metric.max(last);
        }
        let last_event_ts = last_exposure.max(last_metric).map(from_micros).transpose()?;
        Ok(EventsSummary {
            exposures,
            exposure_events: count(exposure_events)?,
            metric_events,
            last_event_ts,
        })
    }
}

fn count(value: i64) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative count {value}")))
}
