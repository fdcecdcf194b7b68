//! The use-cases a trial goes through, in one place for the server and the CLI's `--db` path:
//! analysing it (`analyze`, and its model outputs: `distributions`), stopping it and freezing its verdict (`freeze`), the gate and
//! promotions through it (`promotion`), and the ledger of offline against online results
//! (`ledger`), over the stopped trials of each model (`history`).

pub(crate) mod analyze;
pub(crate) mod distributions;
pub(crate) mod duckdb_engine;
pub(crate) mod freeze;
pub(crate) mod history;
pub(crate) mod holdout;
pub(crate) mod ledger;
pub(crate) mod monitoring;
pub(crate) mod promotion;
pub(crate) mod timing;
pub(crate) mod unit_state;
