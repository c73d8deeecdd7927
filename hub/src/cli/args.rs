//! The command line of `sme-hub` (clap derive: the doc comments are `--help`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sme_proto::period::PeriodKind;

use crate::registry;

/// SME Platform Reporting hub (中小企业公共服务平台数据直报 汇聚中心).
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, defaults and SME_HUB_* environment variables apply.
    #[arg(long, short, global = true, env = "SME_HUB_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the hub: gRPC for agents, ClickHouse (embedded unless [clickhouse] url is set).
    Serve,
    /// Manage the certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Manage platform certificates.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Manage enrolment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The platform registry and reference data (平台名录): import files, list them.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Reporting periods: calendar, locks and reopenings (报告期、锁定与解锁).
    Period {
        #[command(subcommand)]
        command: PeriodCommand,
    },
    /// Web users: planners, coordinators and admins (用户).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Export regional statistics (导出): CSV (UTF-8 with BOM), XLSX, SDMX-CSV 2.0 or NDJSON,
    /// the same figures as the dashboards and the API, audited.
    Export(Box<ExportArgs>),
    /// Reporting completeness and timeliness of a period by region, with the missing platforms.
    Completeness {
        /// Period: 2026-M05 (month), 2026-Q2 (quarter) or 2026-A (year).
        #[arg(long)]
        period: String,
        /// Region code (province PP0000, prefecture PPCC00); default the whole country.
        #[arg(long)]
        region: Option<String>,
    },
}

/// `sme-hub export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// coverage, volume, staff, satisfaction, completeness, missing, demo (comma-separated;
    /// several only for xlsx). Or `sdmx-structure` to write the SDMX-ML 3.0 structure file.
    #[arg(long)]
    pub statistics: String,
    /// csv, xlsx, sdmx-csv or ndjson.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// First period, e.g. 2026-M01, 2026-Q1, 2026-A.
    #[arg(long)]
    pub from: Option<String>,
    /// Last period (same kind); default `--from`.
    #[arg(long)]
    pub to: Option<String>,
    /// Region code; default the user's region (or the whole country).
    #[arg(long)]
    pub region: Option<String>,
    /// Rows per province, prefecture, county or platform (default: one level below the region).
    #[arg(long)]
    pub level: Option<String>,
    /// Volume only: also by function, industry or enterprise_size.
    #[arg(long)]
    pub breakdown: Option<String>,
    /// Service function 1-7.
    #[arg(long)]
    pub function: Option<String>,
    /// Industry section A-T of the served enterprise.
    #[arg(long)]
    pub industry: Option<String>,
    /// micro, small or medium (served enterprise).
    #[arg(long)]
    pub enterprise_size: Option<String>,
    /// Registry demonstration level: none, provincial_demo, national_demo.
    #[arg(long)]
    pub demo_level: Option<String>,
    /// Header language: zh or en.
    #[arg(long, default_value = "zh")]
    pub lang: String,
    /// Export as this web user (their role and region bound the export); default the hub's
    /// operators (national).
    #[arg(long = "as-user")]
    pub as_user: Option<String>,
    /// The file to write (default: a name from the request, in the current directory).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Import a registry file (CSV or XLSX): platforms, divisions or sme-counts, told by its
    /// headers. Every row is checked; a file with any problem imports nothing.
    Import {
        /// The file (.csv in UTF-8 or GBK, or .xlsx).
        file: PathBuf,
        /// platforms, divisions or sme-counts (default: by the headers).
        #[arg(long)]
        kind: Option<registry::Kind>,
        /// Revision (year of the code list) for a divisions file without a revision column.
        #[arg(long)]
        revision: Option<u32>,
        /// Who imports (stored with the rows).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
        /// Check the file and show what would change, without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the platforms (current versions), optionally of one region.
    List {
        /// Region code (440000, 440300 …) or digit prefix (44, 4403).
        #[arg(long)]
        region: Option<String>,
        /// Show every stored version of this platform instead (its registry history).
        #[arg(long)]
        history: Option<String>,
    },
    /// List the division codes (newest name of every code, or one revision).
    Divisions {
        /// Only this revision.
        #[arg(long)]
        revision: Option<u32>,
        /// Only this province (code or two-digit prefix).
        #[arg(long)]
        province: Option<String>,
    },
    /// List SME counts per region and year.
    SmeCounts {
        /// Region code or digit prefix.
        #[arg(long)]
        region: Option<String>,
        /// Only this year.
        #[arg(long)]
        year: Option<u16>,
    },
}

#[derive(Subcommand)]
pub enum PeriodCommand {
    /// Recent periods with start, end, due and lock times (UTC+8) and their state.
    List {
        /// month, quarter or year.
        #[arg(long, default_value = "month", value_parser = parse_kind)]
        kind: PeriodKind,
        /// How many periods, the current one included.
        #[arg(long, default_value_t = 12)]
        count: usize,
    },
    /// Reopenings (who, when, why, until) and, for a platform and period, the lock in force.
    Locks {
        /// Only this period.
        #[arg(long)]
        period: Option<String>,
        /// Only reopenings covering this platform.
        #[arg(long)]
        platform: Option<String>,
        /// Only reopenings within this region.
        #[arg(long)]
        region: Option<String>,
    },
    /// Reopen a locked period for one platform or a whole region (a coordinator of that region).
    Reopen {
        /// The platform (unified social credit code).
        #[arg(long, required_unless_present = "region", conflicts_with = "region")]
        platform: Option<String>,
        /// Every platform registered in this region (6-digit code).
        #[arg(long)]
        region: Option<String>,
        /// The period, e.g. 2026-M05.
        #[arg(long)]
        period: String,
        /// The coordinator's name (recorded).
        #[arg(long)]
        by: String,
        /// The region the coordinator acts for (000000: national). Default: --region.
        #[arg(long)]
        scope: Option<String>,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
        /// Last day reports are accepted, YYYY-MM-DD (UTC+8). Default: [periods] reopen_days.
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is asked for (twice, without echo) or read from stdin.
    Add {
        /// Login name (letters, digits, . _ - @).
        name: String,
        /// planner (national, read-only, SME counts), coordinator (one region) or admin.
        #[arg(long)]
        role: crate::analytics::Role,
        /// A coordinator's region code (province PP0000, prefecture PPCC00, county PPCCDD).
        #[arg(long)]
        region: Option<String>,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Who adds (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
    /// List the users with role, region and state.
    List,
    /// Disable a user: no login, and their open sessions stop working at once.
    Disable {
        /// Login name.
        name: String,
        /// Who disables (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// Login name.
        name: String,
        /// Who enables (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
    /// Set a new password (asked for, or read from stdin); ends the user's open sessions.
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Who changes it (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
}

#[derive(Subcommand)]
pub enum CaCommand {
    /// Create the ministry CA, the hub's server certificate and the pseudonymisation key.
    Init {
        /// Replace an existing CA (every platform must enrol again).
        #[arg(long)]
        force: bool,
    },
    /// Show the CA's location and fingerprint.
    Show,
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// List the platform certificates issued (the ledger): serial, platform, validity, how it
    /// was issued (enrolment or renewal) and whether it is revoked or expired.
    List {
        /// Only this platform's certificates (unified social credit code).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Revoke a platform's client certificate (--serial), or every certificate of a platform
    /// (--platform): its agent is refused (UNAUTHENTICATED, with the reason) by every hub
    /// within [pki] refresh_ms, until it enrols again with a new token.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["serial", "platform"])))]
    Revoke {
        /// Serial number, hex (as `cert list` prints it; logged at enrolment and renewal).
        #[arg(long)]
        serial: Option<String>,
        /// Every certificate of this platform in the ledger.
        #[arg(long)]
        platform: Option<String>,
        /// Why, shown to the agent and kept with the revocation.
        #[arg(long)]
        reason: String,
    },
    /// Re-issue the hub's TLS server certificate (825 days), for the names of the current one
    /// unless --name is given; running hubs switch to it within [pki] refresh_ms, no restart.
    ServerRenew {
        /// A DNS name or IP address agents use to reach the hub (repeat for several); replaces
        /// the current certificate's names.
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a single-use enrolment token for one platform.
    Issue {
        /// The platform's unified social credit code (18 characters).
        #[arg(long)]
        platform: String,
        /// Validity in hours (default: [pki] token_ttl_hours).
        #[arg(long)]
        ttl_hours: Option<u32>,
    },
}

impl Cli {
    /// Operators' table commands print tables; their logs only when something is wrong.
    pub fn is_quiet(&self) -> bool {
        matches!(
            self.command,
            Command::Registry { .. }
                | Command::Period { .. }
                | Command::Completeness { .. }
                | Command::User { .. }
        )
    }
}

pub(crate) fn parse_kind(s: &str) -> Result<PeriodKind, String> {
    match s {
        "month" | "M" => Ok(PeriodKind::Month),
        "quarter" | "Q" => Ok(PeriodKind::Quarter),
        "year" | "A" => Ok(PeriodKind::Year),
        _ => Err(format!("{s:?} is not month, quarter or year")),
    }
}
