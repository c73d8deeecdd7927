//! `sme-hub`: the ministry's aggregation hub. Parses the command line, loads the configuration,
//! sets up logging and runs the command (`sme_hub::cli`).

use clap::Parser;
use sme_hub::cli::Cli;
use sme_hub::config::HubConfig;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = HubConfig::load(cli.config.as_deref())?;
    let default_filter = if cli.is_quiet() { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    // SME_HUB_LOG_FORMAT=json: one JSON object per event (fields, span, level) for a log
    // collector; otherwise readable lines.
    if std::env::var("SME_HUB_LOG_FORMAT").as_deref() == Ok("json") {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    sme_hub::cli::run(cli, cfg)
}
