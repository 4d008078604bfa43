//! Logging to stderr, text or JSON, filtered by `--log` or `RUST_LOG`; log
//! lines and a progress line (`slotproof_progress`) share stderr without mixing.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log filter, e.g. `info` or `slotproof::queue=debug`; `RUST_LOG` wins when set.
    #[arg(long = "log", global = true, default_value = "info", env = "SLOTPROOF_LOG")]
    pub filter: String,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Through the progress reporter's writer: a log line first erases a drawn progress line.
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(slotproof_progress::log_writer).with_ansi(ansi);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
