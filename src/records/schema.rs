//! `netchaos schema`: the JSON Schema (draft 2020-12) of both record kinds.
//!
//! Generated from the Rust types, so it cannot drift from what the generator writes; one fix-up
//! follows: every property is required (records always carry every key, `null` where a field does
//! not apply), which serde's `Option` handling would otherwise leave optional.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::Record;

/// The schema of [`Record`] as a JSON value.
pub fn json_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Record<'static>>();
    let mut value = schema.to_value();
    require_every_property(&mut value);
    if let Value::Object(root) = &mut value {
        root.insert("title".into(), Value::String("netchaos record".into()));
        root.insert(
            "description".into(),
            Value::String("One netchaos telemetry record: an AWS VPC flow log (v5 fields) or a firewall session log, with event_id and ground-truth label.".into()),
        );
    }
    value
}

fn require_every_property(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                let names: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
                map.insert("required".into(), Value::Array(names));
            }
            for child in map.values_mut() {
                require_every_property(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(require_every_property),
        _ => {}
    }
}
