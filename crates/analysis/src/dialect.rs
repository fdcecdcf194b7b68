//! The few SQL spellings that differ between engines.
//!
//! The plan (`plan.rs`) writes standard SQL (CTEs, `GROUP BY`, `CASE`, window functions) and
//! asks a [`Dialect`] for everything else: literals, epoch microseconds, day numbers,
//! reading one attribute out of the stored attribute text, and filtered aggregates. A
//! warehouse or Spark dialect implements this trait; the plan and the statistics stay as
//! they are.

/// How one engine spells the non-portable pieces of the analysis SQL.
pub trait Dialect {
    /// A string literal holding `text` exactly.
    fn string_literal(&self, text: &str) -> String;

    /// A timestamp literal for `micros` microseconds since the Unix epoch, UTC.
    fn timestamp_literal(&self, micros: i64) -> String;

    /// The UTC day number (days since the Unix epoch) of `micros`, an expression in epoch
    /// microseconds at or after the epoch.
    fn day_number(&self, micros: &str) -> String;

    /// `expr` (a timestamp) as microseconds since the Unix epoch (a 64-bit integer).
    fn epoch_micros(&self, expr: &str) -> String;

    /// The raw JSON token of attribute `name` in `column`, which holds canonical JSON text (a
    /// flat object, keys sorted, no whitespace); NULL or an empty string when absent. `name`
    /// is an identifier (letters, digits, `_`, `-`, `.`), so it needs no escaping.
    fn attribute_token(&self, column: &str, name: &str) -> String;

    /// The value of `value` on the row where `order` is smallest, among rows where `filter`
    /// holds (all rows when `None`).
    fn arg_min(&self, value: &str, order: &str, filter: Option<&str>) -> String;

    /// Aggregate `function` (`min`, `sum`, `count`) of `argument` over the rows where `filter`
    /// holds (all rows when `None`).
    fn aggregate_where(&self, function: &str, argument: &str, filter: Option<&str>) -> String;

    /// The values of `column` at each of `fractions` of its sorted values, as a select list:
    /// for fraction f of n values, the value of 1-based rank ceil(n·f) (at least 1), the
    /// inverted empirical distribution function.
    fn discrete_quantiles(&self, column: &str, fractions: &[f64]) -> String;

    /// The linearly interpolated quantiles of `column` at `fractions`, as a select list (the
    /// p50/p95/p99 people read on a latency dashboard).
    fn continuous_quantiles(&self, column: &str, fractions: &[f64]) -> String;

    /// The same quantiles as one aggregate whose value is a list (read with [`Dialect::list_element`]).
    fn continuous_quantile_list(&self, column: &str, fractions: &[f64]) -> String;

    /// Element `index` (1-based) of the list `list`.
    fn list_element(&self, list: &str, index: usize) -> String;
}

/// DuckDB, the embedded default.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDb;

impl Dialect for DuckDb {
    fn string_literal(&self, text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }

    fn timestamp_literal(&self, micros: i64) -> String {
        format!("make_timestamp({micros}::BIGINT)")
    }

    fn day_number(&self, micros: &str) -> String {
        format!("({micros} // 86400000000)")
    }

    fn epoch_micros(&self, expr: &str) -> String {
        format!("epoch_us({expr})")
    }

    fn attribute_token(&self, column: &str, name: &str) -> String {
        // A string value is a JSON string with escapes; anything else runs to the next
        // comma or brace (attributes are flat: numbers, booleans).
        let name = name.replace('.', r"\.");
        let pattern = format!(r#""{name}":("(?:[^"\\]|\\.)*"|[^,}}]*)"#);
        format!("regexp_extract({column}, {}, 1)", self.string_literal(&pattern))
    }

    fn arg_min(&self, value: &str, order: &str, filter: Option<&str>) -> String {
        match filter {
            Some(filter) => format!("arg_min({value}, {order}) FILTER (WHERE {filter})"),
            None => format!("arg_min({value}, {order})"),
        }
    }

    fn aggregate_where(&self, function: &str, argument: &str, filter: Option<&str>) -> String {
        match filter {
            Some(filter) => format!("{function}({argument}) FILTER (WHERE {filter})"),
            None => format!("{function}({argument})"),
        }
    }

    fn discrete_quantiles(&self, column: &str, fractions: &[f64]) -> String {
        quantile_list("quantile_disc", column, fractions)
    }

    fn continuous_quantiles(&self, column: &str, fractions: &[f64]) -> String {
        quantile_list("quantile_cont", column, fractions)
    }

    fn continuous_quantile_list(&self, column: &str, fractions: &[f64]) -> String {
        let list: Vec<String> = fractions.iter().map(|f| format!("{f:?}")).collect();
        format!("quantile_cont({column}, [{}])", list.join(", "))
    }

    fn list_element(&self, list: &str, index: usize) -> String {
        format!("{list}[{index}]")
    }
}

/// `function(column, [fractions])[1], ...[2], ...`: one aggregate over the list of fractions
/// (DuckDB selects them in one pass, and computes the identical aggregates once).
fn quantile_list(function: &str, column: &str, fractions: &[f64]) -> String {
    let list: Vec<String> = fractions.iter().map(|f| format!("{f:?}")).collect();
    let aggregate = format!("{function}({column}, [{}])", list.join(", "));
    (1..=fractions.len())
        .map(|i| format!("{aggregate}[{i}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_in_string_literals() {
        assert_eq!(DuckDb.string_literal("it's"), "'it''s'");
    }
}
