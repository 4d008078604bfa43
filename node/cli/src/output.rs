//! Machine-readable output: exactly one JSON object on one line, last on stdout.
//! Owns the `--json` flag every reporting command shares and the printers it
//! selects; never decides what a report contains.

use clap::Args;
use serde::Serialize;

/// `--json`, the same flag with the same meaning on every command that reports.
#[derive(Args, Debug, Clone, Copy, Default)]
#[command(next_help_heading = "Output")]
pub struct JsonArgs {
    /// Print one JSON object on one line, last on stdout, instead of text (logs stay on stderr).
    #[arg(long)]
    pub json: bool,
}

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
