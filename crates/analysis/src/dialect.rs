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

    /// A DOUBLE literal holding `value` exactly (a value read back from the engine, written
    /// into a later query).
    fn double_literal(&self, value: f64) -> String;

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

    /// The [`Dialect::discrete_quantiles`] as one aggregate whose value is a list (read with
    /// [`Dialect::list_element`]). Discrete, so each is one of the values, exactly: an edge
    /// interpolated between two equal values is that value on Spark but may be one ulp below it
    /// on DuckDB, which moved the units at the edge to another bucket.
    fn discrete_quantile_list(&self, column: &str, fractions: &[f64]) -> String;

    /// Element `index` (1-based) of the list `list`.
    fn list_element(&self, list: &str, index: usize) -> String;

    /// The name of the text type in casts.
    fn text_type(&self) -> &'static str;

    /// A number (or key) for each unit of a relation with one row per unit, for the later
    /// `GROUP BY`s and joins to group on: an integer groups faster than the text. DuckDB
    /// numbers the rows. A distributed engine would have to move every row to one place to
    /// number them in order; it can give each row an id from where the row sits instead, but
    /// that id holds only if the relation is computed once: `kept` says it is
    /// ([`crate::Engine::keep`]), and otherwise the engine groups on `unit` itself.
    fn unit_number(&self, unit: &str, kept: bool) -> String;

    /// The hint, placed after `SELECT`, that has the engine send the relation `alias` of a
    /// join to every worker instead of moving both sides by key; `None` where joins are not
    /// distributed (DuckDB).
    fn broadcast_hint(&self, alias: &str) -> Option<String>;

    /// How the events a query reads are filtered by name and given their codes.
    fn event_coding(&self) -> EventCoding;
}

/// How the plan filters the metric events by name and gives each its name's code, once, at
/// the scan (measured on each engine, BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCoding {
    /// A join with the few (name, code) pairs: DuckDB filters and codes in one hash probe,
    /// cheaper than an `IN` list and a `CASE` over every row.
    Join,
    /// An `IN` list and a `CASE`: Spark plans the pairs' join as one more broadcast join,
    /// whose probe costs more than the `CASE` (about 0.5 s of a 2.5 s scan of 19M events).
    Case,
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

    fn double_literal(&self, value: f64) -> String {
        double_literal(value)
    }

    fn day_number(&self, micros: &str) -> String {
        format!("({micros} // 86400000000)")
    }

    fn epoch_micros(&self, expr: &str) -> String {
        format!("epoch_us({expr})")
    }

    fn attribute_token(&self, column: &str, name: &str) -> String {
        format!(
            "regexp_extract({column}, {}, 1)",
            self.string_literal(&attribute_pattern(name))
        )
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

    fn discrete_quantile_list(&self, column: &str, fractions: &[f64]) -> String {
        let list: Vec<String> = fractions.iter().map(|f| format!("{f:?}")).collect();
        format!("quantile_disc({column}, [{}])", list.join(", "))
    }

    fn list_element(&self, list: &str, index: usize) -> String {
        format!("{list}[{index}]")
    }

    fn text_type(&self) -> &'static str {
        "VARCHAR"
    }

    fn unit_number(&self, _unit: &str, _kept: bool) -> String {
        "row_number() OVER ()".to_string()
    }

    fn broadcast_hint(&self, _alias: &str) -> Option<String> {
        None
    }

    fn event_coding(&self) -> EventCoding {
        EventCoding::Join
    }
}

/// Spark SQL (4.x), through Spark Connect. Its string literals process backslash escapes, its
/// `arg_min` is `min_by`, its epoch functions are `unix_micros`/`timestamp_micros`, its
/// quantiles are `percentile_disc` and `percentile` over a list (the same definitions as
/// DuckDB's `quantile_disc`/`quantile_cont`), and a row number without an order is not to be had
/// cheaply (see [`Dialect::unit_number`]). The plan reads `exposures.ts` and
/// `metric_events.ts` as `TIMESTAMP` in a session whose time zone is UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SparkSql;

impl Dialect for SparkSql {
    fn string_literal(&self, text: &str) -> String {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    fn timestamp_literal(&self, micros: i64) -> String {
        format!("timestamp_micros({micros})")
    }

    fn double_literal(&self, value: f64) -> String {
        double_literal(value)
    }

    fn day_number(&self, micros: &str) -> String {
        format!("({micros} div 86400000000)")
    }

    fn epoch_micros(&self, expr: &str) -> String {
        format!("unix_micros({expr})")
    }

    fn attribute_token(&self, column: &str, name: &str) -> String {
        // DuckDB's pattern: Java's regular expressions read it alike.
        format!(
            "regexp_extract({column}, {}, 1)",
            self.string_literal(&attribute_pattern(name))
        )
    }

    fn arg_min(&self, value: &str, order: &str, filter: Option<&str>) -> String {
        with_filter(format!("min_by({value}, {order})"), filter)
    }

    fn aggregate_where(&self, function: &str, argument: &str, filter: Option<&str>) -> String {
        with_filter(format!("{function}({argument})"), filter)
    }

    // Each quantile list is one aggregate whose elements are read, as DuckDB's: each
    // `percentile_cont` or `percentile_disc` is an aggregate of its own holding every value
    // (the latency summary 1.2-1.6 s against 2.4-2.6 s over 2M exposures, the same numbers).

    fn discrete_quantiles(&self, column: &str, fractions: &[f64]) -> String {
        self.elements(&self.discrete_quantile_list(column, fractions), fractions.len())
    }

    fn continuous_quantiles(&self, column: &str, fractions: &[f64]) -> String {
        let list: Vec<String> = fractions.iter().map(|f| format!("{f:?}D")).collect();
        let aggregate = format!("percentile({column}, array({}))", list.join(", "));
        self.elements(&aggregate, fractions.len())
    }

    fn discrete_quantile_list(&self, column: &str, fractions: &[f64]) -> String {
        let list: Vec<String> = fractions.iter().map(|f| format!("{f:?}D")).collect();
        format!(
            "percentile_disc(array({})) WITHIN GROUP (ORDER BY {column})",
            list.join(", ")
        )
    }

    fn list_element(&self, list: &str, index: usize) -> String {
        format!("element_at({list}, {index})")
    }

    fn text_type(&self) -> &'static str {
        "STRING"
    }

    fn unit_number(&self, unit: &str, kept: bool) -> String {
        // Unique and increasing within each partition, no shuffle: stable once checkpointed.
        if kept {
            "monotonically_increasing_id()".to_string()
        } else {
            unit.to_string()
        }
    }

    fn broadcast_hint(&self, alias: &str) -> Option<String> {
        Some(format!("/*+ BROADCAST({alias}) */ "))
    }

    fn event_coding(&self) -> EventCoding {
        EventCoding::Case
    }
}

impl SparkSql {
    /// Elements 1 to `count` of the list `aggregate`, as a select list.
    fn elements(&self, aggregate: &str, count: usize) -> String {
        (1..=count)
            .map(|i| self.list_element(aggregate, i))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `value` in scientific notation, which both engines read as a DOUBLE (a plain decimal is a
/// DECIMAL to DuckDB, whose conversion may round a long one differently); Rust prints the
/// shortest digits that read back as `value`. The non-finite ones, which Rust spells
/// otherwise, as the strings both engines cast.
fn double_literal(value: f64) -> String {
    if value.is_finite() {
        format!("{value:e}")
    } else if value.is_nan() {
        "CAST('NaN' AS DOUBLE)".to_string()
    } else if value > 0.0 {
        "CAST('Infinity' AS DOUBLE)".to_string()
    } else {
        "CAST('-Infinity' AS DOUBLE)".to_string()
    }
}

/// The regular expression whose first group is attribute `name`'s raw JSON token in canonical
/// attribute text: a string value is a JSON string with escapes; anything else runs to the
/// next comma or brace (attributes are flat: numbers, booleans).
fn attribute_pattern(name: &str) -> String {
    let name = name.replace('.', r"\.");
    format!(r#""{name}":("(?:[^"\\]|\\.)*"|[^,}}]*)"#)
}

/// `aggregate FILTER (WHERE filter)`, or the aggregate alone.
fn with_filter(aggregate: String, filter: Option<&str>) -> String {
    match filter {
        Some(filter) => format!("{aggregate} FILTER (WHERE {filter})"),
        None => aggregate,
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

    #[test]
    fn spark_escapes_backslashes_and_quotes() {
        assert_eq!(SparkSql.string_literal(r"it's a \d"), r"'it\'s a \\d'");
    }

    #[test]
    fn both_engines_read_attributes_with_the_same_pattern() {
        // The pattern, unescaped from each engine's literal, is the same text.
        let duck = DuckDb.attribute_token("attributes", "device.type");
        let spark = SparkSql.attribute_token("attributes", "device.type");
        let pattern = attribute_pattern("device.type");
        assert_eq!(duck, format!("regexp_extract(attributes, '{pattern}', 1)"));
        assert_eq!(
            spark,
            format!(
                "regexp_extract(attributes, '{}', 1)",
                pattern.replace('\\', "\\\\")
            )
        );
    }

    #[test]
    fn double_literals_read_back_exactly() {
        let sum = 0.1 + 0.2;
        assert_eq!(DuckDb.double_literal(sum), "3.0000000000000004e-1");
        assert_eq!("3.0000000000000004e-1".parse::<f64>(), Ok(sum));
        assert_eq!(SparkSql.double_literal(0.0831), "8.31e-2");
        assert_eq!(DuckDb.double_literal(f64::NAN), "CAST('NaN' AS DOUBLE)");
        assert_eq!(
            SparkSql.double_literal(f64::NEG_INFINITY),
            "CAST('-Infinity' AS DOUBLE)"
        );
    }

    #[test]
    fn spark_spells_what_duckdb_spells_differently() {
        assert_eq!(
            SparkSql.arg_min("v", "ts", Some("trig")),
            "min_by(v, ts) FILTER (WHERE trig)"
        );
        assert_eq!(SparkSql.epoch_micros("ts"), "unix_micros(ts)");
        assert_eq!(SparkSql.timestamp_literal(-5), "timestamp_micros(-5)");
        assert_eq!(
            SparkSql.continuous_quantiles("x", &[0.5, 0.95]),
            "element_at(percentile(x, array(0.5D, 0.95D)), 1), element_at(percentile(x, array(0.5D, 0.95D)), 2)"
        );
        assert_eq!(
            SparkSql.discrete_quantile_list("x", &[0.1]),
            "percentile_disc(array(0.1D)) WITHIN GROUP (ORDER BY x)"
        );
        assert_eq!(
            SparkSql.discrete_quantiles("x", &[0.1, 0.9]),
            "element_at(percentile_disc(array(0.1D, 0.9D)) WITHIN GROUP (ORDER BY x), 1), \
             element_at(percentile_disc(array(0.1D, 0.9D)) WITHIN GROUP (ORDER BY x), 2)"
        );
        assert_eq!(SparkSql.list_element("e", 2), "element_at(e, 2)");
        assert_eq!(SparkSql.unit_number("t.unit", false), "t.unit");
        assert_eq!(
            SparkSql.unit_number("t.unit", true),
            "monotonically_increasing_id()"
        );
        assert_eq!(DuckDb.unit_number("t.unit", false), "row_number() OVER ()");
        assert_eq!(DuckDb.unit_number("t.unit", true), "row_number() OVER ()");
    }
}
