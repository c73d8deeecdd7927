//! The agent's command line (`sme-agent --help`), kept in the library so the man pages
//! (`agent/packaging/man/`, checked by `tests/packaging.rs`) are generated from the same
//! definition as the binary's parser.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// SME Platform Reporting agent (中小企业公共服务平台数据直报 采集代理).
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, defaults and SME_AGENT_* environment variables apply.
    #[arg(long, short, global = true, env = "SME_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Enrol this platform with the hub: generates a key here, sends a CSR with a single-use token.
    Enroll {
        /// Hub address, e.g. https://hub.example.cn:7443.
        #[arg(long)]
        hub: String,
        /// This platform's unified social credit code.
        #[arg(long)]
        platform: String,
        /// The single-use token from `sme-hub token issue`.
        #[arg(long, env = "SME_AGENT_TOKEN")]
        token: String,
        /// Replace an existing identity.
        #[arg(long)]
        force: bool,
    },
    /// Run as a background service in the foreground (for systemd): watch the inbox, build and
    /// send reports on schedule, renew the certificate. Stops cleanly on SIGTERM or SIGINT.
    Run,
    /// Import files of service records or a profile (CSV, XLSX, JSON) into the local store.
    /// A file with any problem imports nothing; the problems are listed with line and column.
    Import {
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Import even if the file undoes corrections: brings back voided records or earlier
        /// contents of records a later file corrected (refused by default, with the list).
        #[arg(long)]
        allow_revert: bool,
    },
    /// Remove service records imported by mistake (作废). Their periods are sent again as a
    /// new revision without them at the next run; importing them again later is refused unless
    /// `import --allow-revert`.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["record", "file"])))]
    Void {
        /// The record id (记录编号) to void.
        #[arg(long)]
        record: Option<String>,
        /// Void every record last imported from this file (its name, as `status` and the
        /// done/ folder show it).
        #[arg(long)]
        file: Option<String>,
    },
    /// Write blank import templates (CSV and Excel for service records, CSV for a profile).
    Template {
        /// Folder to write them into.
        dir: PathBuf,
    },
    /// Show identity, certificate, queue, last success and error, rejected and blocked reports.
    Status {
        /// Machine-readable JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Attach an explanation (上报说明) to a period, answering a rule such as W201; the period
    /// is rebuilt and sent as a new revision at the next run.
    Explain {
        /// Period code, e.g. 2026-M05.
        #[arg(long)]
        period: String,
        /// Rule id, e.g. W201.
        #[arg(long)]
        rule: String,
        /// The explanation.
        #[arg(long)]
        text: String,
    },
    /// Build a period again as a new revision at the next run, even if nothing changed (e.g.
    /// after the hub answered ALREADY_EXISTS).
    Rebuild {
        /// Period code, e.g. 2026-M05.
        #[arg(long)]
        period: String,
    },
    /// Do one run now (heartbeat, renewal if due, build, send) and print what happened.
    Sync,
    /// Send one report from a JSON file and print the receipt or the hub's reasons.
    Send {
        /// Report file (JSON, field names as in sme.report.v1.Report).
        file: PathBuf,
        /// Send even if the local check finds errors (the hub will judge).
        #[arg(long)]
        skip_check: bool,
    },
    /// Print a complete, valid example report (JSON) for a period, to learn the format from.
    ExampleReport {
        /// Period code, e.g. 2026-M05, 2026-Q2 or 2026-A.
        #[arg(long)]
        period: String,
        /// Platform id to put in the report (default: this agent's, once enrolled).
        #[arg(long)]
        platform: Option<String>,
    },
}
