//! Runs an export: names, then each statistic's rows through the format's writer into the
//! output, the cover, the audit row, and only then the file's final name (or the body's end).

use time::OffsetDateTime;

use super::audit::{self, ExportAuditRow};
use super::format::{self, Cover, TableWriter};
use super::names::Names;
use super::output::{Output, Target, Written};
use super::statistics::{self, Context, RowSink};
use super::table::{Row, Schema};
use super::{ExportError, ExportRequest, Level, Statistic};
use crate::analytics::scope::Scope;
use crate::config::DemoConfig;
use crate::store::Store;

/// Bytes buffered by a writer before they go to the output.
const CHUNK: usize = 256 * 1024;

/// Who asks, for the audit and the cover.
#[derive(Debug, Clone)]
pub struct Requester {
    /// User name.
    pub user: String,
    /// Role.
    pub role: String,
    /// `cli` or `web`.
    pub channel: &'static str,
    /// Client address or host user.
    pub address: String,
    /// Hub process.
    pub instance: String,
}

/// Progress of a long export (the CLI's bar).
pub trait Progress: Send + Sync {
    /// The units (periods × statistics) to do.
    fn start(&self, _units: u64) {}
    /// Rows written.
    fn rows(&self, _rows: u64) {}
    /// One unit done.
    fn step(&self) {}
}

/// No progress shown.
pub struct Silent;
impl Progress for Silent {}

/// A finished export.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Data rows written, per statistic.
    pub rows: Vec<(Statistic, u64)>,
    /// Bytes and SHA-256.
    pub written: Written,
}

impl Finished {
    /// All rows.
    pub fn total_rows(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }
}

/// What the hub exports with.
pub struct Engine<'a> {
    /// ClickHouse.
    pub store: &'a Store,
    /// The reporting calendar.
    pub calendar: &'a sme_proto::period::Calendar,
    /// Demo gates and weights.
    pub demo: &'a DemoConfig,
}

struct Pipeline<'a> {
    writer: &'a mut dyn TableWriter,
    output: &'a mut Output,
    schema: &'a Schema,
    rows: u64,
    progress: &'a dyn Progress,
}

impl RowSink for Pipeline<'_> {
    async fn rows(&mut self, rows: &mut Vec<Row>) -> Result<(), ExportError> {
        let mut n = 0;
        for row in rows.drain(..) {
            n += u64::from(self.writer.row(self.schema, &row)?);
        }
        self.rows += n;
        self.progress.rows(n);
        if self.writer.pending() >= CHUNK {
            let bytes = self.writer.take();
            self.output.write(bytes).await?;
        }
        Ok(())
    }

    fn step(&mut self) {
        self.progress.step();
    }
}

fn now_text(t: OffsetDateTime) -> String {
    t.to_offset(time::macros::offset!(+8))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Engine<'_> {
    /// Exports `request` for `scope` into `target`, audited as `who`.
    pub async fn run(
        &self,
        scope: &Scope,
        request: &ExportRequest,
        target: Target,
        who: &Requester,
        progress: &dyn Progress,
    ) -> Result<Finished, ExportError> {
        let started = OffsetDateTime::now_utc();
        let work_parent = match &target {
            Target::File(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.to_path_buf())
                .unwrap_or_else(|| std::path::PathBuf::from(".")),
            Target::Body(_) => std::env::temp_dir(),
        };
        let mut output = Output::open(target).await?;
        let result = self
            .write_all(
                scope,
                request,
                &mut output,
                who,
                started,
                &work_parent,
                progress,
            )
            .await;
        let mut row = audit_row(scope, request, who, started);
        match result {
            Ok(rows) => {
                let written = output.digest();
                row.outcome = "done".into();
                row.rows = rows.iter().map(|(_, n)| n).sum();
                row.bytes = written.bytes;
                row.sha256 = written.sha256.clone();
                if let Err(e) = audit::record(self.store, &row).await {
                    output.abort("the export could not be audited").await;
                    return Err(e.into());
                }
                output.commit().await?;
                Ok(Finished { rows, written })
            }
            Err(e) => {
                output.abort(&e.to_string()).await;
                row.outcome = "failed".into();
                row.detail = e.to_string();
                if let Err(a) = audit::record(self.store, &row).await {
                    tracing::error!(error = %a, "export failure not audited");
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_all(
        &self,
        scope: &Scope,
        request: &ExportRequest,
        output: &mut Output,
        who: &Requester,
        started: OffsetDateTime,
        work_parent: &std::path::Path,
        progress: &dyn Progress,
    ) -> Result<Vec<(Statistic, u64)>, ExportError> {
        let names = Names::load(
            self.store,
            scope,
            request.filter.region(),
            request.level == Level::Platform,
        )
        .await?;
        let work = tempfile::Builder::new()
            .prefix(".sme-export-")
            .tempdir_in(work_parent)?;
        let mut writer = format::writer(request, names.region_codes(), work.path())?;
        let ctx = Context {
            store: self.store,
            scope,
            calendar: self.calendar,
            demo: self.demo,
            names: &names,
            request,
        };
        progress.start(
            request
                .statistics
                .iter()
                .map(|s| statistics::units(request, *s))
                .sum(),
        );
        let mut rows = Vec::new();
        for stat in &request.statistics {
            let schema = statistics::schema(request, *stat);
            writer.begin(&schema)?;
            let mut sink = Pipeline {
                writer: writer.as_mut(),
                output,
                schema: &schema,
                rows: 0,
                progress,
            };
            statistics::produce(&ctx, *stat, &mut sink).await?;
            rows.push((*stat, sink.rows));
        }
        let cover = cover(request, &names, who, started, &rows);
        let rest = writer.take();
        output.write(rest).await?;
        if let Some(file) = writer.finish(&cover, work.path())? {
            output.copy_file(&file).await?;
        }
        Ok(rows)
    }
}

fn audit_row(
    scope: &Scope,
    request: &ExportRequest,
    who: &Requester,
    at: OffsetDateTime,
) -> ExportAuditRow {
    let statistics: Vec<&str> = request.statistics.iter().map(|s| s.id()).collect();
    base_row(
        scope,
        &request.params,
        who,
        at,
        statistics.join(","),
        request.format.id().to_owned(),
    )
}

/// The audit row of a request refused before it ran (outside the scope, bad parameters).
pub fn refused_row(
    scope: &Scope,
    params: &super::ExportParams,
    who: &Requester,
    why: &str,
) -> ExportAuditRow {
    let mut row = base_row(
        scope,
        params,
        who,
        OffsetDateTime::now_utc(),
        params.statistics.clone().unwrap_or_default(),
        params.format.clone().unwrap_or_default(),
    );
    row.outcome = "refused".into();
    row.detail = why.to_owned();
    row
}

fn base_row(
    scope: &Scope,
    params: &super::ExportParams,
    who: &Requester,
    at: OffsetDateTime,
    statistics: String,
    format: String,
) -> ExportAuditRow {
    ExportAuditRow {
        at,
        at_nanos: at.nanosecond(),
        user_name: who.user.clone(),
        role: who.role.clone(),
        scope: scope.region().to_owned(),
        channel: who.channel.to_owned(),
        address: who.address.clone(),
        statistics,
        format,
        request: serde_json::to_string(params).unwrap_or_default(),
        outcome: String::new(),
        rows: 0,
        bytes: 0,
        sha256: String::new(),
        detail: String::new(),
        hub_instance: who.instance.clone(),
    }
}

fn cover(
    request: &ExportRequest,
    names: &Names,
    who: &Requester,
    started: OffsetDateTime,
    rows: &[(Statistic, u64)],
) -> Cover {
    let f = &request.filter;
    let mut filters = Vec::new();
    if let Some(x) = f.function() {
        filters.push(format!("function={x}"));
    }
    if let Some(x) = f.industry() {
        filters.push(format!("industry={x}"));
    }
    if let Some(x) = f.enterprise_size() {
        filters.push(format!("enterprise_size={}", x.as_str()));
    }
    if let Some(x) = f.level() {
        filters.push(format!("demo_level={}", x.as_str()));
    }
    Cover {
        what: request
            .statistics
            .iter()
            .map(|s| format!("{} / {}", s.zh(), s.en()))
            .collect::<Vec<_>>()
            .join("; "),
        region: format!("{} {}", f.region(), names.region(f.region())),
        periods: format!("{} – {} ({})", f.from(), f.to(), f.kind().as_str()),
        breakdown: format!(
            "{}{}",
            request.level.id(),
            request
                .breakdown
                .map(|b| format!(" × {b:?}").to_lowercase())
                .unwrap_or_default()
        ),
        filters: if filters.is_empty() {
            "—".into()
        } else {
            filters.join(", ")
        },
        data_as_of: now_text(started),
        generated_at: now_text(OffsetDateTime::now_utc()),
        generated_by: format!("{} ({}, {})", who.user, who.role, who.channel),
        rows: rows.iter().map(|(s, n)| (s.id().to_owned(), *n)).collect(),
    }
}
