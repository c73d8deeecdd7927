//! `sme-agent status`: what the agent knows about itself, for people (`render`) and tools
//! (`--json`, the serialised [`Status`]). Read-only; works whether or not the service runs.

use std::fmt::Write as _;

use prost::Message;
use serde::Serialize;
use sme_proto::period::CST;
use sme_proto::v1;
use time::OffsetDateTime;

use crate::calendar::{self, HubCalendar, Openness};
use crate::config::AgentConfig;
use crate::delivery::Rejection;
use crate::identity::Identity;
use crate::renew::{self, Standing};
use crate::service::{meta, LastError, LastRun};
use crate::store::{OutboxState, Store, StoreError};

/// At most this many rejected reports are listed.
const MAX_REJECTED: usize = 50;

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Platform id, when enrolled.
    pub platform_id: Option<String>,
    /// Hub address in use.
    pub hub_url: Option<String>,
    /// Why the identity could not be loaded (not enrolled …).
    pub identity_error: Option<String>,
    /// The client certificate.
    pub certificate: Option<CertificateStatus>,
    /// The outbox.
    pub queue: QueueStatus,
    /// Last report the hub accepted (UTC+8).
    pub last_success: Option<String>,
    /// Last successful heartbeat (UTC+8).
    pub last_heartbeat: Option<String>,
    /// What the last run did.
    pub last_run: Option<LastRunStatus>,
    /// Last error met, with what to do.
    pub last_error: Option<ErrorStatus>,
    /// Reports the hub refused, newest first; never resent unchanged.
    pub rejected: Vec<RejectedReport>,
    /// Periods held back by the local check; nothing is sent until fixed.
    pub blocked: Vec<BlockedPeriod>,
    /// Periods with data that have not ended yet.
    pub collecting: Vec<String>,
    /// Periods with changes that cannot be sent (locked, or not open).
    pub closed: Vec<String>,
    /// Periods the hub expects and has not received, with nothing queued here.
    pub missing: Vec<MissingPeriod>,
}

/// The client certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateStatus {
    /// Valid from (UTC+8).
    pub not_before: String,
    /// Valid until (UTC+8).
    pub not_after: String,
    /// Whole days left (negative when expired).
    pub days_left: i64,
    /// Planned automatic renewal (UTC+8).
    pub renewal_from: String,
    /// `valid`, `renewal_due` or `expired`.
    pub state: &'static str,
    /// What to do, when something must be done.
    pub advice: Option<String>,
}

/// The outbox.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueStatus {
    /// Reports waiting for delivery (the queue depth).
    pub pending: u64,
    /// Next delivery attempt (UTC+8).
    pub next_attempt: Option<String>,
    /// Reports the hub accepted.
    pub delivered: u64,
    /// Reports the hub refused and no newer revision replaced.
    pub rejected: u64,
    /// Reports replaced by a newer revision before delivery.
    pub superseded: u64,
}

/// What the last run did.
#[derive(Debug, Clone, Serialize)]
pub struct LastRunStatus {
    /// When it ended (UTC+8).
    pub at: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: LastRun,
}

/// The last error.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorStatus {
    /// When (UTC+8).
    pub at: String,
    /// What happened and what to do.
    pub message: String,
}

/// A report the hub refused.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedReport {
    /// Period code.
    pub period: String,
    /// Revision.
    pub revision: u32,
    /// Report id.
    pub report_id: String,
    /// When it was refused (UTC+8).
    pub rejected_at: String,
    /// gRPC code, e.g. `InvalidArgument`.
    pub code: String,
    /// The hub's message.
    pub message: String,
    /// The hub's reasons.
    pub violations: Vec<Reason>,
    /// What to do.
    pub advice: String,
}

/// A period held back by the local check.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedPeriod {
    /// Period code.
    pub period: String,
    /// The revision it would get.
    pub revision: u32,
    /// When it was checked (UTC+8).
    pub checked_at: String,
    /// What is wrong.
    pub violations: Vec<Reason>,
}

/// One broken rule, with a hint.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// Rule id.
    pub rule_id: String,
    /// Field path.
    pub field: String,
    /// Chinese message.
    pub message_zh: String,
    /// English message.
    pub message_en: String,
    /// What to do.
    pub hint: String,
}

/// A period the hub is waiting for.
#[derive(Debug, Clone, Serialize)]
pub struct MissingPeriod {
    /// Period code.
    pub period: String,
    /// Due (UTC+8).
    pub due_at: String,
}

/// Errors collecting the status.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Collects the status at `now`.
pub fn collect(cfg: &AgentConfig, now: OffsetDateTime) -> Result<Status, StatusError> {
    let (identity, identity_error) = match Identity::load(&cfg.data_dir) {
        Ok(id) => (Some(id), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let store = Store::open(cfg.store_path())?;
    let counts = store.outbox_counts()?;
    let queue = QueueStatus {
        pending: counts.pending,
        next_attempt: store.next_due()?.map(cst),
        delivered: counts.delivered,
        rejected: counts.rejected,
        superseded: counts.superseded,
    };
    let last_error = store
        .meta_get(meta::LAST_ERROR)?
        .and_then(|j| serde_json::from_str::<LastError>(&j).ok())
        .map(|e| ErrorStatus {
            at: cst_secs(e.at),
            message: e.message,
        });
    let last_run = store
        .meta_get(meta::LAST_RUN)?
        .and_then(|j| serde_json::from_str::<LastRun>(&j).ok())
        .map(|counts| LastRunStatus {
            at: cst_secs(counts.at),
            counts,
        });
    let last_heartbeat = store
        .meta_get(meta::LAST_HEARTBEAT)?
        .and_then(|s| s.parse::<i64>().ok())
        .map(cst_secs);

    let rejected = store
        .outbox_by_state(OutboxState::Rejected, MAX_REJECTED)?
        .into_iter()
        .map(|item| {
            let r = Rejection::from_json(item.violations.as_deref().unwrap_or("[]"));
            let period = item.period.to_string();
            RejectedReport {
                advice: rejection_advice(&r, &period),
                violations: reasons(&r.violations, &period),
                period,
                revision: item.revision,
                report_id: item.report_id,
                rejected_at: cst(item.updated_at),
                code: r.code,
                message: r.message,
            }
        })
        .collect();
    let blocked = store
        .blocked()?
        .into_iter()
        .map(|b| {
            let violations: Vec<v1::FieldViolation> =
                serde_json::from_str(&b.violations_json).unwrap_or_default();
            let period = b.period.to_string();
            BlockedPeriod {
                violations: reasons(&violations, &period),
                period,
                revision: b.revision,
                checked_at: cst(b.checked_at),
            }
        })
        .collect();

    let hub_calendar = HubCalendar::load(&store)?;
    let mut collecting = Vec::new();
    let mut closed = Vec::new();
    for state in store.dirty_periods()? {
        match calendar::openness(hub_calendar.as_ref(), &state.period, now) {
            Openness::NotEnded => collecting.push(state.period.to_string()),
            Openness::Closed => closed.push(state.period.to_string()),
            Openness::Open { .. } => {}
        }
    }
    let mut missing = Vec::new();
    if let Some(cal) = &hub_calendar {
        for e in cal.entries.iter().filter(|e| !e.received && !e.locked) {
            let Ok(period) = e.period.parse() else {
                continue;
            };
            let has_local = store.latest_report(&period)?.is_some()
                || store.period_state(&period)?.last_revision.is_some()
                || store.period_state(&period)?.dirty;
            if !has_local {
                missing.push(MissingPeriod {
                    period: e.period.clone(),
                    due_at: cst_secs(e.due_at),
                });
            }
        }
    }

    let certificate = identity.as_ref().map(|id| certificate_status(id, now));
    let hub_url = identity.as_ref().map(|id| {
        if cfg.hub.url.is_empty() {
            id.info.hub_url.clone()
        } else {
            cfg.hub.url.clone()
        }
    });
    Ok(Status {
        platform_id: identity.as_ref().map(|id| id.info.platform_id.clone()),
        hub_url,
        identity_error,
        certificate,
        queue,
        last_success: store.last_success()?.map(cst),
        last_heartbeat,
        last_run,
        last_error,
        rejected,
        blocked,
        collecting,
        closed,
        missing,
    })
}

fn certificate_status(id: &Identity, now: OffsetDateTime) -> CertificateStatus {
    let not_after = id.info.not_after;
    let days_left = (not_after - now.unix_timestamp()).div_euclid(86_400);
    let (state, advice) = match renew::standing(id, now) {
        Standing::Fresh { .. } => ("valid", None),
        Standing::Due { .. } => (
            "renewal_due",
            Some(
                "the agent renews the certificate at its next run; if that keeps failing, see \
                 the last error"
                    .to_owned(),
            ),
        ),
        Standing::Expired { .. } => (
            "expired",
            Some(format!(
                "the certificate has expired: ask the hub operator for a new enrolment token and \
                 run `sme-agent enroll --force --hub URL --platform {} --token TOKEN` / \
                 证书已过期，请重新注册",
                id.info.platform_id
            )),
        ),
    };
    CertificateStatus {
        not_before: cst_secs(id.info.not_before),
        not_after: cst_secs(not_after),
        days_left,
        renewal_from: cst(renew::renewal_time(id)),
        state,
        advice,
    }
}

fn reasons(violations: &[v1::FieldViolation], period: &str) -> Vec<Reason> {
    violations
        .iter()
        .map(|v| Reason {
            hint: hint(&v.rule_id, period),
            rule_id: v.rule_id.clone(),
            field: v.field.clone(),
            message_zh: v.message_zh.clone(),
            message_en: v.message_en.clone(),
        })
        .collect()
}

/// What to do about a broken rule.
pub fn hint(rule_id: &str, period: &str) -> String {
    match rule_id {
        "E001" | "E002" => "the platform id does not match this agent's certificate: check the \
            enrolment (`sme-agent status`), re-enrol if the platform changed"
            .into(),
        "E003" => "the period has not ended yet, or the machine's clock is wrong".into(),
        "E004" => {
            "the platform is not active in the registry: ask your regional SME authority".into()
        }
        "E005" | "E006" => format!(
            "correct the staff / finance numbers in the profile for {period} and import it again \
             (`sme-agent template DIR` writes profile_template.csv)"
        ),
        "E007" | "E009" | "E011" => {
            "correct the service records of the period (the line is in the import file) and \
             import the file again"
                .into()
        }
        "E008" => format!("correct the satisfaction counts in the profile for {period}"),
        "E010" => format!(
            "a required section is missing: fill it in the profile for {period} and import it \
             (`sme-agent template DIR` writes profile_template.csv)"
        ),
        "E012" => "the period is locked: ask your regional SME authority to reopen it".into(),
        "E013" => "the report is too large or malformed: lower [delivery] max_report_bytes to \
            the hub's limit (records are then left out), or upgrade the agent"
            .into(),
        "W201" => format!(
            "explain the change: `sme-agent explain --period {period} --rule W201 --text \"…\"`"
        ),
        _ => String::new(),
    }
}

fn rejection_advice(r: &Rejection, period: &str) -> String {
    match r.code.as_str() {
        "AlreadyExists" | "FailedPrecondition" if r.current_revision.is_some() => format!(
            "the hub holds revision {} of {period} from another report (sent from another \
             machine, or this agent's store was restored): the agent sends its current data as \
             revision {} at the next run (now: `sme-agent sync`) / 汇聚中心已有更高修订号，下次运行时自动以更高修订号重发",
            r.current_revision.unwrap_or_default(),
            r.current_revision.unwrap_or_default() + 1
        ),
        "AlreadyExists" => format!(
            "the hub already holds this revision from another report (sent from another \
             machine, or this agent's store was restored): run `sme-agent rebuild --period \
             {period}` to send the current data as a new revision"
        ),
        "FailedPrecondition" => {
            "the period is locked: ask your regional SME authority to reopen it; the agent \
             resends when the hub asks"
                .into()
        }
        "PermissionDenied" => "the report names another platform: check the enrolment".into(),
        _ => "fix what the hub lists (import corrected files, or `sme-agent explain`); the agent \
              then builds and sends a new revision. It never resends this one unchanged"
            .into(),
    }
}

fn cst(t: OffsetDateTime) -> String {
    let t = t.to_offset(CST);
    format!(
        "{} {:02}:{:02}:{:02} (UTC+8)",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn cst_secs(s: i64) -> String {
    OffsetDateTime::from_unix_timestamp(s)
        .map(cst)
        .unwrap_or_else(|_| s.to_string())
}

/// The status for people.
pub fn render(s: &Status) -> String {
    let mut o = String::new();
    let none = "—";
    match (&s.platform_id, &s.identity_error) {
        (Some(p), _) => {
            let _ = writeln!(o, "platform (平台):      {p}");
            let _ = writeln!(
                o,
                "hub (汇聚中心):       {}",
                s.hub_url.as_deref().unwrap_or(none)
            );
        }
        (None, Some(e)) => {
            let _ = writeln!(o, "identity (身份):      {e}");
        }
        (None, None) => {}
    }
    if let Some(c) = &s.certificate {
        let _ = writeln!(
            o,
            "certificate (证书):   {} until {} ({} days left); automatic renewal from {}",
            c.state, c.not_after, c.days_left, c.renewal_from
        );
        if let Some(a) = &c.advice {
            let _ = writeln!(o, "                      → {a}");
        }
    }
    let q = &s.queue;
    let _ = writeln!(
        o,
        "queue (待发送):       {} pending{}; {} delivered, {} rejected, {} superseded",
        q.pending,
        q.next_attempt
            .as_ref()
            .map(|t| format!(", next attempt {t}"))
            .unwrap_or_default(),
        q.delivered,
        q.rejected,
        q.superseded
    );
    let _ = writeln!(
        o,
        "last success (最近成功): {}",
        s.last_success.as_deref().unwrap_or(none)
    );
    let _ = writeln!(
        o,
        "last heartbeat:       {}",
        s.last_heartbeat.as_deref().unwrap_or(none)
    );
    if let Some(r) = &s.last_run {
        let c = &r.counts;
        let _ = writeln!(
            o,
            "last run:             {}: built {}, blocked {}, delivered {}, rejected {}, retrying {}",
            r.at, c.built, c.blocked, c.delivered, c.rejected, c.retried
        );
    }
    match &s.last_error {
        Some(e) => {
            let _ = writeln!(o, "last error (最近错误): {}: {}", e.at, e.message);
        }
        None => {
            let _ = writeln!(o, "last error (最近错误): {none}");
        }
    }
    if !s.rejected.is_empty() {
        let _ = writeln!(
            o,
            "\nrejected by the hub (被汇聚中心拒绝) — never resent unchanged:"
        );
        for r in &s.rejected {
            let _ = writeln!(
                o,
                "  {} revision {} (report {}), {}: {}{}",
                r.period,
                r.revision,
                r.report_id,
                r.rejected_at,
                r.code,
                // The hub's message summarises its violations; show it only without them.
                if r.message.is_empty() || !r.violations.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", r.message)
                }
            );
            write_reasons(&mut o, &r.violations);
            let _ = writeln!(o, "    → {}", r.advice);
        }
    }
    if !s.blocked.is_empty() {
        let _ = writeln!(
            o,
            "\nheld back by the local check (本地校验未通过，未发送):"
        );
        for b in &s.blocked {
            let _ = writeln!(
                o,
                "  {} (would be revision {}), checked {}:",
                b.period, b.revision, b.checked_at
            );
            write_reasons(&mut o, &b.violations);
        }
    }
    if !s.missing.is_empty() {
        let _ = writeln!(
            o,
            "\nexpected by the hub, nothing to send yet (import records or a profile):"
        );
        for m in &s.missing {
            let _ = writeln!(o, "  {} due {}", m.period, m.due_at);
        }
    }
    if !s.collecting.is_empty() {
        let _ = writeln!(
            o,
            "\ncollecting (period not ended): {}",
            s.collecting.join(", ")
        );
    }
    if !s.closed.is_empty() {
        let _ = writeln!(
            o,
            "changes in locked periods (not sent; ask your regional SME authority to reopen): {}",
            s.closed.join(", ")
        );
    }
    o
}

fn write_reasons(o: &mut String, reasons: &[Reason]) {
    for v in reasons {
        let field = if v.field.is_empty() {
            String::new()
        } else {
            format!(" {}", v.field)
        };
        let _ = writeln!(
            o,
            "    {}{field}: {} / {}",
            v.rule_id, v.message_zh, v.message_en
        );
        if !v.hint.is_empty() {
            let _ = writeln!(o, "      → {}", v.hint);
        }
    }
}

/// Decodes the receipt stored with a delivered report.
pub fn receipt(bytes: &[u8]) -> Option<v1::Receipt> {
    v1::Receipt::decode(bytes).ok()
}
