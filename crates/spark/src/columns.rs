//! The SPEC §6 columns the plan reads from each event relation, and the view's select list
//! over what a user's relation has: required columns must be there with a type that means
//! the same, optional ones read as NULL when absent.

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any text (numbers are cast to text: a unit id may be stored as an integer).
    Text,
    /// A point in time: `timestamp` (read in UTC) or `timestamp_ntz` (taken as UTC).
    Time,
    /// Any number.
    Number,
    Boolean,
    /// JSON text of the flat attribute object, keys sorted (as rctgate writes it).
    Json,
}

impl Kind {
    /// Whether a Spark type (as `DESCRIBE` spells it) holds this kind.
    fn accepts(self, spark_type: &str) -> bool {
        let numeric = |t: &str| {
            [
                "tinyint", "smallint", "int", "bigint", "float", "double", "byte", "short", "long",
            ]
            .contains(&t)
                || t.starts_with("decimal")
        };
        match self {
            Kind::Text => spark_type == "string" || spark_type.starts_with("varchar") || numeric(spark_type),
            Kind::Json => spark_type == "string" || spark_type.starts_with("varchar"),
            Kind::Time => spark_type == "timestamp" || spark_type == "timestamp_ntz",
            Kind::Number => numeric(spark_type),
            Kind::Boolean => spark_type == "boolean",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Time => "a timestamp",
            Kind::Number => "a number",
            Kind::Boolean => "a boolean",
            Kind::Json => "JSON text (a string)",
        }
    }

    /// The type the view casts to.
    fn cast(self) -> &'static str {
        match self {
            Kind::Text | Kind::Json => "STRING",
            Kind::Time => "TIMESTAMP",
            Kind::Number => "DOUBLE",
            Kind::Boolean => "BOOLEAN",
        }
    }
}

/// One column of an event view.
struct Column {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn required(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        required: false,
    }
}

/// An event view and its columns.
pub struct Relation {
    /// The view's name, as the plan's SQL reads it.
    pub name: &'static str,
    columns: &'static [Column],
}

/// Exposures (SPEC §6).
pub const EXPOSURES: Relation = Relation {
    name: "exposures",
    columns: &[
        required("experiment", Kind::Text),
        required("variant", Kind::Text),
        required("unit", Kind::Text),
        required("ts", Kind::Time),
        optional("triggered", Kind::Boolean),
        optional("model_output", Kind::Number),
        optional("latency_ms", Kind::Number),
        optional("attributes", Kind::Json),
        optional("shadow_output", Kind::Number),
    ],
};

/// Metric events (SPEC §6).
pub const METRIC_EVENTS: Relation = Relation {
    name: "metric_events",
    columns: &[
        required("event", Kind::Text),
        required("unit", Kind::Text),
        required("ts", Kind::Time),
        required("value", Kind::Number),
        optional("attributes", Kind::Json),
    ],
};

impl Relation {
    /// The view's select list over `source`, whose columns are `present` (name, Spark type);
    /// a sentence naming the column when one is missing or of the wrong type.
    pub fn select_list(&self, source: &str, present: &[(String, String)]) -> Result<String, String> {
        let mut list = Vec::with_capacity(self.columns.len());
        for column in self.columns {
            let found = present
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(column.name));
            let expression = match found {
                Some((name, spark_type)) => {
                    let spark_type = spark_type.to_ascii_lowercase();
                    if !column.kind.accepts(&spark_type) {
                        return Err(format!(
                            "column {} of the {} relation {source} is {spark_type}; it must be {} (SPEC §6).",
                            column.name,
                            self.name,
                            column.kind.sentence()
                        ));
                    }
                    format!("CAST(`{name}` AS {})", column.kind.cast())
                }
                None if column.required => {
                    return Err(format!(
                        "the {} relation {source} has no column {} (it needs {}: SPEC §6).",
                        self.name,
                        column.name,
                        self.columns
                            .iter()
                            .filter(|c| c.required)
                            .map(|c| c.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                None => format!("CAST(NULL AS {})", column.kind.cast()),
            };
            list.push(format!("{expression} AS {}", column.name));
        }
        Ok(list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn columns_are_cast_and_optional_ones_filled_with_null() {
        let present = columns(&[
            ("event", "string"),
            ("UNIT", "bigint"),
            ("ts", "timestamp_ntz"),
            ("value", "decimal(10,2)"),
        ]);
        let list = METRIC_EVENTS.select_list("lake.events", &present);
        assert_eq!(
            list.as_deref(),
            Ok(
                "CAST(`event` AS STRING) AS event, CAST(`UNIT` AS STRING) AS unit, \
                CAST(`ts` AS TIMESTAMP) AS ts, CAST(`value` AS DOUBLE) AS value, \
                CAST(NULL AS STRING) AS attributes"
            )
        );
    }

    #[test]
    fn a_missing_or_mistyped_column_is_named() {
        let missing = EXPOSURES.select_list("lake.exp", &columns(&[("experiment", "string")]));
        assert!(missing.is_err_and(|e| e.contains("has no column variant") && e.contains("lake.exp")));
        let mistyped = METRIC_EVENTS.select_list(
            "lake.events",
            &columns(&[
                ("event", "string"),
                ("unit", "string"),
                ("ts", "string"),
                ("value", "double"),
            ]),
        );
        assert!(mistyped
            .is_err_and(|e| e.starts_with("column ts of the metric_events relation lake.events is string")));
    }
}
