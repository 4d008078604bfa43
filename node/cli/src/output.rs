//! Machine-readable output: exactly one JSON object on one line, last on stdout.

use serde::Serialize;

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// A report: one JSON line with `--json`, pretty JSON for a person otherwise.
pub fn print_report<T: Serialize>(value: &T, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// `value` as one JSON line with `--json`, else the human sentence `text`.
pub fn print_json_or<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        println!("{}", text());
        Ok(())
    }
}
