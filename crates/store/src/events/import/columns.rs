//! Tabular rows (CSV, Parquet) read by column name (SPEC §6 schema): as [`EventFields`]
//! borrowed from the reader's buffers (the import's fast path), or as owned [`EventRecord`]s.
//!
//! Known columns: `type, id, unit, experiment, variant, ts, triggered, event, value,
//! model_output, shadow_output, latency_ms`, and `attributes` holding a JSON object as text. Every other
//! column becomes an attribute of that name; empty (CSV) and null (Parquet) cells are absent
//! fields. CSV cells are text, so CSV attributes are strings; typed Parquet columns keep
//! their numbers and booleans.

use rctgate_domain::{
    AttributeValue, Attributes, EventFields, EventRecord, EventType, TimeField, ValidationError,
};
use serde_json::Value;

/// One cell, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Empty or null.
    Null,
    /// Text, to be parsed as the column requires.
    Text(&'a str),
    /// A floating-point number.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, microseconds since the epoch (UTC).
    Micros(i64),
}

/// What a column means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Type,
    Id,
    Unit,
    Experiment,
    Variant,
    Ts,
    Triggered,
    Event,
    Value,
    ModelOutput,
    ShadowOutput,
    LatencyMs,
    AttributesJson,
    Attribute,
}

impl Role {
    fn of(name: &str) -> Role {
        match name {
            "type" => Role::Type,
            "id" => Role::Id,
            "unit" => Role::Unit,
            "experiment" => Role::Experiment,
            "variant" => Role::Variant,
            "ts" => Role::Ts,
            "triggered" => Role::Triggered,
            "event" => Role::Event,
            "value" => Role::Value,
            "model_output" => Role::ModelOutput,
            "shadow_output" => Role::ShadowOutput,
            "latency_ms" => Role::LatencyMs,
            "attributes" => Role::AttributesJson,
            _ => Role::Attribute,
        }
    }
}

/// Columns every file must have.
const REQUIRED: [&str; 4] = ["type", "id", "unit", "ts"];

/// The header of a file: each column's name and role.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    names: Vec<String>,
    roles: Vec<Role>,
    /// The columns of event fields (all but attributes), read for every row.
    field_columns: Vec<(usize, Role)>,
    /// Attribute columns, sorted by name, so attributes serialize in canonical order.
    attribute_columns: Vec<usize>,
    /// The `attributes` column, if any.
    json_column: Option<usize>,
}

impl Columns {
    /// Reads a header; the error sentence names the missing or repeated column.
    pub(crate) fn from_names(names: Vec<String>) -> Result<Columns, String> {
        for required in REQUIRED {
            if !names.iter().any(|name| name == required) {
                return Err(format!(
                    "The header has no {required:?} column; the columns are type, id, unit, ts, \
                     experiment, variant, triggered, event, value and attributes."
                ));
            }
        }
        for (index, name) in names.iter().enumerate() {
            if names[..index].contains(name) {
                return Err(format!("The header has the column {name:?} twice."));
            }
        }
        let roles: Vec<Role> = names.iter().map(|name| Role::of(name)).collect();
        let mut attribute_columns: Vec<usize> = (0..names.len())
            .filter(|index| roles[*index] == Role::Attribute)
            .collect();
        attribute_columns.sort_by(|a, b| names[*a].cmp(&names[*b]));
        let json_column = roles.iter().position(|role| *role == Role::AttributesJson);
        let field_columns = roles
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, role)| !matches!(role, Role::Attribute | Role::AttributesJson))
            .collect();
        Ok(Columns {
            names,
            roles,
            field_columns,
            attribute_columns,
            json_column,
        })
    }

    /// Column roles, in file order.
    pub(crate) fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Whether attributes also come from an `attributes` JSON column, which needs the owned
    /// [`Columns::record`] path.
    pub(crate) fn has_json_attributes(&self) -> bool {
        self.json_column.is_some()
    }

    /// The event fields of one row, borrowed from its cells; `cell(i)` is the row's cell in
    /// column `i`.
    pub(crate) fn fields<'a>(
        &self,
        cell: &dyn Fn(usize) -> Cell<'a>,
    ) -> Result<EventFields<'a>, ValidationError> {
        let mut event_type = None;
        let mut id = None;
        let mut unit = None;
        let mut ts = None;
        let mut fields = EventFields {
            event_type: EventType::Metric,
            id: "",
            unit: "",
            ts: TimeField::Text(""),
            experiment: None,
            variant: None,
            triggered: None,
            model_output: None,
            shadow_output: None,
            latency_ms: None,
            event: None,
            value: None,
        };
        for &(index, role) in &self.field_columns {
            let value = cell(index);
            if value == Cell::Null {
                continue;
            }
            let name = self.names[index].as_str();
            match role {
                Role::Type => event_type = Some(parse_type(value)?),
                Role::Id => id = Some(text(name, value)?),
                Role::Unit => unit = Some(text(name, value)?),
                Role::Experiment => fields.experiment = Some(text(name, value)?),
                Role::Variant => fields.variant = Some(text(name, value)?),
                Role::Event => fields.event = Some(text(name, value)?),
                Role::Ts => ts = Some(parse_ts(value)?),
                Role::Triggered => fields.triggered = Some(parse_bool(name, value)?),
                Role::Value => fields.value = Some(parse_number(name, value)?),
                Role::ModelOutput => fields.model_output = Some(parse_number(name, value)?),
                Role::ShadowOutput => fields.shadow_output = Some(parse_number(name, value)?),
                Role::LatencyMs => fields.latency_ms = Some(parse_number(name, value)?),
                Role::AttributesJson | Role::Attribute => {}
            }
        }
        fields.event_type = event_type.ok_or_else(|| required("type"))?;
        fields.id = id.ok_or_else(|| required("id"))?;
        fields.unit = unit.ok_or_else(|| required("unit"))?;
        fields.ts = ts.ok_or_else(|| required("ts"))?;
        Ok(fields)
    }

    /// The row's attributes from attribute columns (not the `attributes` JSON column), sorted
    /// by name; empty cells are absent.
    pub(crate) fn attributes<'s, 'a: 's>(
        &'s self,
        cell: &'s dyn Fn(usize) -> Cell<'a>,
    ) -> impl Iterator<Item = (&'s str, AttributeValue<'a>)> + 's {
        self.attribute_columns.iter().filter_map(move |index| {
            let value = match cell(*index) {
                Cell::Null => return None,
                Cell::Text(text) => AttributeValue::Text(text),
                Cell::Float(number) => AttributeValue::Number(number),
                Cell::Int(number) | Cell::Micros(number) => AttributeValue::Integer(number),
                Cell::Bool(flag) => AttributeValue::Bool(flag),
            };
            Some((self.names[*index].as_str(), value))
        })
    }

    /// Builds the owned record of one row (for the `attributes` JSON column, and for reading
    /// a file without storing it).
    pub(crate) fn record<'a>(
        &self,
        cell: &dyn Fn(usize) -> Cell<'a>,
    ) -> Result<EventRecord, ValidationError> {
        let fields = self.fields(cell)?;
        let mut attributes = Attributes::new();
        if let Some(index) = self.json_column {
            let column = &self.names[index];
            attributes.extend(parse_attributes_json(column, cell(index))?);
        }
        for (name, value) in self.attributes(cell) {
            attributes.insert(name.to_string(), attribute_json(name, value)?);
        }
        Ok(EventRecord::from_fields(
            &fields,
            (!attributes.is_empty()).then_some(attributes),
        ))
    }
}

fn required(field: &str) -> ValidationError {
    ValidationError::new(field, "Is empty; every event needs one.")
}

/// A text field's value. Readers select text columns as text, so another cell type is a
/// reader bug reported as a bad cell rather than a panic.
fn text<'a>(name: &str, cell: Cell<'a>) -> Result<&'a str, ValidationError> {
    match cell {
        Cell::Text(text) => Ok(text),
        other => Err(not_a(name, "text", other)),
    }
}

fn parse_type(cell: Cell<'_>) -> Result<EventType, ValidationError> {
    match cell {
        Cell::Text("exposure") => Ok(EventType::Exposure),
        Cell::Text("metric") => Ok(EventType::Metric),
        other => Err(ValidationError::new(
            "type",
            format!("Must be exposure or metric, not {}.", describe(other)),
        )),
    }
}

fn parse_ts(cell: Cell<'_>) -> Result<TimeField<'_>, ValidationError> {
    match cell {
        Cell::Text(text) => Ok(TimeField::Text(text)),
        Cell::Micros(micros) => chrono::DateTime::from_timestamp_micros(micros)
            .map(TimeField::At)
            .ok_or_else(|| ValidationError::new("ts", "The timestamp is out of range.")),
        other => Err(ValidationError::new(
            "ts",
            format!(
                "Must be an RFC 3339 time or a timestamp, not {}.",
                describe(other)
            ),
        )),
    }
}

fn parse_bool(name: &str, cell: Cell<'_>) -> Result<bool, ValidationError> {
    match cell {
        Cell::Bool(flag) => Ok(flag),
        Cell::Int(0) => Ok(false),
        Cell::Int(1) => Ok(true),
        Cell::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(not_a(name, "boolean (true or false)", cell)),
        },
        other => Err(not_a(name, "boolean (true or false)", other)),
    }
}

fn parse_number(name: &str, cell: Cell<'_>) -> Result<f64, ValidationError> {
    match cell {
        Cell::Float(number) => Ok(number),
        Cell::Int(number) => Ok(number as f64),
        Cell::Text(text) => text
            .trim()
            .parse::<f64>()
            .map_err(|_| not_a(name, "number", cell)),
        other => Err(not_a(name, "number", other)),
    }
}

fn parse_attributes_json(name: &str, cell: Cell<'_>) -> Result<Attributes, ValidationError> {
    match cell {
        Cell::Null => Ok(Attributes::new()),
        Cell::Text(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(not_a(name, "JSON object", cell)),
        },
        other => Err(not_a(name, "JSON object", other)),
    }
}

fn attribute_json(name: &str, value: AttributeValue<'_>) -> Result<Value, ValidationError> {
    value
        .to_json()
        .ok_or_else(|| ValidationError::new(format!("attributes.{name}"), "Must be a finite number."))
}

fn not_a(name: &str, what: &str, cell: Cell<'_>) -> ValidationError {
    ValidationError::new(name, format!("Must be a {what}, not {}.", describe(cell)))
}

fn describe(cell: Cell<'_>) -> String {
    match cell {
        Cell::Null => "empty".to_string(),
        Cell::Text(text) => format!("{:?}", text.chars().take(64).collect::<String>()),
        Cell::Float(number) => number.to_string(),
        Cell::Int(number) => number.to_string(),
        Cell::Bool(flag) => flag.to_string(),
        Cell::Micros(_) => "a timestamp".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctgate_domain::EventTime;

    fn columns(names: &[&str]) -> Columns {
        Columns::from_names(names.iter().map(|name| name.to_string()).collect()).expect("valid header")
    }

    fn text_row<'a>(cells: &'a [&'a str]) -> impl Fn(usize) -> Cell<'a> + 'a {
        move |index| match cells[index] {
            "" => Cell::Null,
            text => Cell::Text(text),
        }
    }

    #[test]
    fn header_needs_the_required_columns_once() {
        assert!(Columns::from_names(vec!["type".into(), "id".into(), "unit".into()]).is_err());
        let twice = ["type", "id", "unit", "ts", "id"].map(String::from).to_vec();
        assert!(Columns::from_names(twice).is_err());
    }

    #[test]
    fn text_rows_become_records_with_string_attributes() {
        let header = columns(&[
            "type",
            "id",
            "unit",
            "experiment",
            "variant",
            "ts",
            "triggered",
            "event",
            "value",
            "device",
        ]);
        let cells = [
            "exposure",
            "e1",
            "u1",
            "k",
            "control",
            "2026-11-26T12:00:00Z",
            "TRUE",
            "",
            "",
            "mobile",
        ];
        let record = header.record(&text_row(&cells)).expect("valid row");
        assert_eq!(record.event_type, EventType::Exposure);
        assert_eq!(record.triggered, Some(true));
        assert_eq!(record.event, None);
        assert_eq!(
            record
                .attributes
                .and_then(|attributes| attributes.get("device").cloned()),
            Some(Value::String("mobile".into()))
        );
        let cells = [
            "metric",
            "e2",
            "u1",
            "",
            "",
            "2026-11-26T12:00:00Z",
            "",
            "booking",
            " 2.5",
            "",
        ];
        let record = header.record(&text_row(&cells)).expect("valid row");
        assert_eq!(record.value, Some(2.5));
        assert_eq!(record.attributes, None);
    }

    #[test]
    fn bad_cells_name_their_column() {
        let header = columns(&["type", "id", "unit", "ts", "value", "triggered"]);
        let err = header
            .record(&text_row(&[
                "metric",
                "e",
                "u",
                "2026-11-26T12:00:00Z",
                "lots",
                "",
            ]))
            .expect_err("bad value");
        assert_eq!(err.field.as_deref(), Some("value"));
        let err = header
            .record(&text_row(&[
                "metric",
                "e",
                "u",
                "2026-11-26T12:00:00Z",
                "",
                "maybe",
            ]))
            .expect_err("bad flag");
        assert_eq!(err.field.as_deref(), Some("triggered"));
        let err = header
            .record(&text_row(&["click", "e", "u", "2026-11-26T12:00:00Z", "", ""]))
            .expect_err("bad type");
        assert_eq!(err.field.as_deref(), Some("type"));
        let err = header
            .record(&text_row(&["metric", "e", "", "2026-11-26T12:00:00Z", "", ""]))
            .expect_err("no unit");
        assert_eq!(err.field.as_deref(), Some("unit"));
    }

    #[test]
    fn typed_cells_keep_their_types() {
        let header = columns(&["type", "id", "unit", "ts", "event", "value", "age", "premium"]);
        let cells = [
            Cell::Text("metric"),
            Cell::Text("e"),
            Cell::Text("u"),
            Cell::Micros(1_795_000_000_000_000),
            Cell::Text("booking"),
            Cell::Int(3),
            Cell::Int(31),
            Cell::Bool(false),
        ];
        let record = header.record(&|index| cells[index]).expect("valid row");
        assert!(matches!(record.ts, EventTime::At(_)));
        assert_eq!(record.value, Some(3.0));
        let attributes = record.attributes.expect("attributes");
        assert_eq!(attributes.get("age"), Some(&Value::from(31)));
        assert_eq!(attributes.get("premium"), Some(&Value::Bool(false)));
    }

    #[test]
    fn attributes_column_holds_json() {
        let header = columns(&["type", "id", "unit", "ts", "event", "attributes"]);
        let cells = [
            "metric",
            "e",
            "u",
            "2026-11-26T12:00:00Z",
            "booking",
            r#"{"device":"mobile"}"#,
        ];
        let record = header.record(&text_row(&cells)).expect("valid row");
        assert!(record.attributes.is_some());
        let cells = ["metric", "e", "u", "2026-11-26T12:00:00Z", "booking", "[1]"];
        let err = header.record(&text_row(&cells)).expect_err("not an object");
        assert_eq!(err.field.as_deref(), Some("attributes"));
    }
}
