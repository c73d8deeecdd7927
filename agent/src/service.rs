//! The background service (`sme-agent run`): one task that sleeps until the next thing to do.
//!
//! | wakes for | does |
//! |---|---|
//! | start: the inbox first, then a run (`schedule.run_at_start`) | as below |
//! | every scheduled run | heartbeat (status out; calendar and directives in), renewal when due, build, deliver |
//! | the inbox poll (`inbox.poll_secs`) | imports settled files; after an import, build and deliver (`schedule.send_after_import`) |
//! | the earliest pending report's retry time | deliver |
//!
//! Nothing else wakes it: no busy loops, no ticker. A sleep lasts at most [`MAX_SLEEP`] so a
//! jump of the wall clock (suspend, NTP step) delays a run by an hour at most.
//!
//! **Shutdown.** SIGTERM or SIGINT ([`Shutdown`]) stops the loop; work in progress stops at its
//! next safe point (between pages of a drain) or after [`SHUTDOWN_GRACE`]. Store writes run to
//! their commit on the blocking pool whatever happens to the task that asked for them, so a stop
//! never leaves half a write; a report sent but not yet recorded as delivered is sent again and
//! the hub answers with its original receipt.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sme_proto::period::to_timestamp;
use sme_proto::v1::{self, reporting_service_client::ReportingServiceClient};
use time::OffsetDateTime;

use crate::builder::{self, BuildContext, BuildSummary};
use crate::calendar::HubCalendar;
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::connect::{self, HubAddress};
use crate::delivery::{self, DeliverySettings, DrainReport};
use crate::identity::{Identity, IdentityError};
use crate::intake::{self, InboxSummary};
use crate::renew;
use crate::schedule::{self, Schedule};
use crate::shutdown::Shutdown;
use crate::store::{SharedStore, Store, StoreError};

/// Longest single sleep.
pub const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// How long work in progress may take to wind down after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// Delivered periods listed in a heartbeat for reconciliation (about 16 years of months,
/// quarters and years).
const MAX_DELIVERED_IN_HEARTBEAT: usize = 200;

/// `meta` keys the service maintains (read by `sme-agent status`).
pub mod meta {
    /// Last error: JSON [`super::LastError`].
    pub const LAST_ERROR: &str = "last_error";
    /// Last completed run: JSON [`super::LastRun`].
    pub const LAST_RUN: &str = "last_run";
    /// Last successful heartbeat, Unix seconds.
    pub const LAST_HEARTBEAT: &str = "last_heartbeat";
}

/// Errors that stop the service (everything else is logged, recorded and retried).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Not enrolled, or identity files unreadable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A folder the agent needs cannot be created.
    #[error("cannot create {path}: {source}; check `data_dir` and the [inbox] folders")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The schedule settings are unusable.
    #[error("config key {key}: {0}", key = .0.key())]
    Schedule(#[from] schedule::ScheduleError),
}

/// The last error the service met, for `status` and the heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// When (Unix seconds).
    pub at: i64,
    /// What, and what to do.
    pub message: String,
}

/// What the last run did, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ended (Unix seconds).
    pub at: i64,
    /// Reports built and queued.
    pub built: usize,
    /// Periods held back by the local check.
    pub blocked: usize,
    /// Reports delivered.
    pub delivered: usize,
    /// Reports the hub rejected.
    pub rejected: usize,
    /// Reports left for a retry.
    pub retried: usize,
}

/// What one run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// The heartbeat's outcome, when one was sent.
    pub heartbeat: Option<Result<(), String>>,
    /// The certificate was renewed.
    pub renewed: bool,
    /// The builder's pass.
    pub built: BuildSummary,
    /// The delivery.
    pub drained: DrainReport,
}

// === impl Agent ===

/// The agent: configuration, store, identity and clock.
pub struct Agent {
    cfg: AgentConfig,
    store: SharedStore,
    identity: Identity,
    clock: Arc<dyn Clock>,
    schedule: Schedule,
    delivery: DeliverySettings,
    /// Reports wait for this before the next attempt after the hub failed (all of them: the
    /// hub is the problem, not one report).
    hub_retry_at: Option<OffsetDateTime>,
}

impl Agent {
    /// Loads the identity, opens the store and creates the inbox folders.
    pub fn open(cfg: AgentConfig, clock: Arc<dyn Clock>) -> Result<Agent, ServiceError> {
        let identity = Identity::load(&cfg.data_dir)?;
        let store = Store::open(cfg.store_path())?;
        if cfg.inbox_poll().is_some() {
            create_inbox(&cfg.inbox_dir())?;
            for dir in [cfg.quarantine_dir(), cfg.done_dir()] {
                std::fs::create_dir_all(&dir)
                    .map_err(|source| ServiceError::Folder { path: dir, source })?;
            }
        }
        let offset = schedule::start_offset_secs(
            &identity.info.platform_id,
            cfg.schedule.max_start_offset_secs,
        );
        let schedule = Schedule::new(&cfg.schedule.cron, &cfg.schedule.timezone, offset)?;
        let delivery = DeliverySettings::from_config(&cfg.delivery);
        Ok(Agent {
            cfg,
            store: SharedStore::new(store),
            identity,
            clock,
            schedule,
            delivery,
            hub_retry_at: None,
        })
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The identity in use.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The hub address: the configured one, else the one used at enrolment.
    pub fn hub_url(&self) -> String {
        if self.cfg.hub.url.is_empty() {
            self.identity.info.hub_url.clone()
        } else {
            self.cfg.hub.url.clone()
        }
    }

    /// Runs until `shutdown`; see the module docs.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), ServiceError> {
        tracing::info!(platform = %self.identity.info.platform_id, hub = %self.hub_url(),
            cron = %self.schedule.cron(), timezone = %self.cfg.schedule.timezone,
            start_offset_secs = self.schedule.offset().as_secs(), "agent running");
        let poll = self.cfg.inbox_poll();
        let now = self.clock.now();
        let mut next_run = self.schedule.next_after(now);
        let mut next_poll = poll.map(|p| now + p);
        // Files that arrived while the agent was stopped are taken in first.
        self.guarded(&mut shutdown, Work::Start).await;
        while !shutdown.is_requested() {
            let now = self.clock.now();
            let next_delivery = self.next_delivery().await;
            let wake = [next_run, next_poll, next_delivery]
                .into_iter()
                .flatten()
                .min()
                .map_or(MAX_SLEEP, |at| delivery::until(now, at).min(MAX_SLEEP));
            tracing::debug!(?wake, ?next_run, ?next_poll, ?next_delivery, "sleeping");
            tokio::select! {
                _ = shutdown.requested() => break,
                _ = tokio::time::sleep(wake) => {}
            }
            let now = self.clock.now();
            if next_run.is_some_and(|t| now >= t) {
                next_run = self.schedule.next_after(now);
                self.guarded(&mut shutdown, Work::Run).await;
            }
            if next_poll.is_some_and(|t| now >= t) {
                next_poll = poll.map(|p| now + p);
                self.guarded(&mut shutdown, Work::Inbox).await;
            }
            if next_delivery.is_some_and(|t| now >= t) {
                self.guarded(&mut shutdown, Work::Deliver).await;
            }
        }
        tracing::info!("agent stopped");
        Ok(())
    }

    /// When the next delivery attempt is due, if anything is pending.
    async fn next_delivery(&self) -> Option<OffsetDateTime> {
        let due = match self.store.run(|s| s.next_due()).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                Some(self.clock.now() + Duration::from_secs(60))
            }
        };
        match (due, self.hub_retry_at) {
            (Some(d), Some(h)) => Some(d.max(h)),
            (due, _) => due,
        }
    }

    /// Does `work`, letting it wind down for [`SHUTDOWN_GRACE`] if a stop comes meanwhile.
    async fn guarded(&mut self, shutdown: &mut Shutdown, work: Work) {
        let signal = shutdown.clone();
        let mut stop = shutdown.clone();
        let task = self.work(work, signal);
        tokio::pin!(task);
        tokio::select! {
            () = &mut task => {}
            _ = stop.requested() => {
                if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
                    tracing::warn!("work in progress abandoned at shutdown; it is redone at the next start");
                }
            }
        }
    }

    async fn work(&mut self, work: Work, shutdown: Shutdown) {
        match work {
            Work::Run => {
                self.run_once(true, &shutdown).await;
            }
            Work::Start => {
                let imported = match self.cfg.inbox_poll() {
                    Some(_) => !self.process_inbox().await.imported.is_empty(),
                    None => false,
                };
                if self.cfg.schedule.run_at_start {
                    self.run_once(true, &shutdown).await;
                } else if imported && self.cfg.schedule.send_after_import {
                    self.run_once(false, &shutdown).await;
                }
            }
            Work::Inbox => {
                let summary = self.process_inbox().await;
                if !summary.imported.is_empty() && self.cfg.schedule.send_after_import {
                    self.run_once(false, &shutdown).await;
                }
            }
            Work::Deliver => {
                self.deliver(&shutdown).await;
            }
        }
    }

    /// One run: heartbeat (if asked) and renewal, then build and deliver. Failures are logged and
    /// recorded for `status`; nothing here stops the service.
    pub async fn run_once(&mut self, heartbeat: bool, shutdown: &Shutdown) -> RunReport {
        let mut report = RunReport::default();
        let mut renew_now = false;
        if heartbeat {
            match self.heartbeat().await {
                Ok(answer) => {
                    report.heartbeat = Some(Ok(()));
                    renew_now = self.follow_directives(&answer).await;
                }
                Err(e) => {
                    self.record_error(format!("heartbeat: {e}")).await;
                    report.heartbeat = Some(Err(e));
                }
            }
            report.renewed = self.renew(renew_now).await;
        }
        report.built = self.build().await;
        report.drained = self.deliver(shutdown).await;
        let last = LastRun {
            at: self.clock.now().unix_timestamp(),
            built: report.built.enqueued.len(),
            blocked: report.built.blocked.len(),
            delivered: report.drained.delivered,
            rejected: report.drained.rejected,
            retried: report.drained.retried,
        };
        let json = serde_json::to_string(&last).expect("serialises");
        self.meta_set(meta::LAST_RUN, json).await;
        report
    }

    /// Sends a heartbeat; caches the calendar it returns.
    pub async fn heartbeat(&mut self) -> Result<v1::HeartbeatResponse, String> {
        let (depth, rejected, last_success, last_error, delivered) = self
            .store
            .run(|s| -> Result<_, StoreError> {
                Ok((
                    s.queue_depth()?,
                    s.outbox_counts()?.rejected,
                    s.last_success()?,
                    s.meta_get(meta::LAST_ERROR)?,
                    s.delivered_periods(MAX_DELIVERED_IN_HEARTBEAT)?,
                ))
            })
            .await
            .map_err(|e| e.to_string())?;
        let last_error = last_error
            .and_then(|j| serde_json::from_str::<LastError>(&j).ok())
            .map(|e| e.message)
            .unwrap_or_default();
        let address = HubAddress::parse(&self.hub_url()).map_err(|e| e.to_string())?;
        let channel =
            connect::channel(&address, &self.identity.trust()).map_err(|e| e.to_string())?;
        let not_after = OffsetDateTime::from_unix_timestamp(self.identity.info.not_after)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let answer = ReportingServiceClient::new(channel)
            .heartbeat(v1::HeartbeatRequest {
                agent_version: builder::AGENT_VERSION.into(),
                queue_depth: depth,
                rejected_count: rejected,
                last_success_at: last_success.map(to_timestamp),
                last_error,
                certificate_not_after: Some(to_timestamp(not_after)),
                delivered: delivered
                    .into_iter()
                    .map(|(period, revision)| v1::DeliveredPeriod { period, revision })
                    .collect(),
            })
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unauthenticated => delivery::auth_advice(s.message()),
                code => format!("{code:?}: {}", s.message()),
            })?
            .into_inner();
        let now = self.clock.now();
        let calendar = HubCalendar::from_heartbeat(&answer, now);
        if calendar.skew_seconds().abs() > 300 {
            tracing::warn!(skew_seconds = calendar.skew_seconds(),
                "this machine's clock differs from the hub's by more than 5 minutes; fix the time (NTP)");
        }
        let saved = self
            .store
            .run(move |s| {
                calendar.save(s)?;
                s.meta_set(meta::LAST_HEARTBEAT, &now.unix_timestamp().to_string())
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not cache the hub's calendar");
        }
        Ok(answer)
    }

    /// Acts on the hub's directives; returns whether a renewal was asked for.
    async fn follow_directives(&mut self, answer: &v1::HeartbeatResponse) -> bool {
        let mut renew = false;
        for d in &answer.directives {
            match v1::DirectiveKind::try_from(d.kind) {
                Ok(v1::DirectiveKind::RenewCertificate) => {
                    tracing::info!(reason = %d.reason, "the hub asks to renew the certificate");
                    renew = true;
                }
                Ok(v1::DirectiveKind::ResendPeriod) => match d.period.parse() {
                    Ok(period) => {
                        tracing::info!(period = %d.period, reason = %d.reason, "the hub asks to resend a period");
                        if let Err(e) = self.store.run(move |s| s.force_rebuild(&period)).await {
                            tracing::warn!(error = %e, "could not mark the period for resending");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(period = %d.period, error = %e, "directive with a bad period")
                    }
                },
                _ => tracing::debug!(kind = d.kind, "unknown directive ignored"),
            }
        }
        renew
    }

    /// Renews the certificate when due (or `forced`); returns whether it was renewed.
    pub async fn renew(&mut self, forced: bool) -> bool {
        let url = self.hub_url();
        match renew::renew_if_due(
            &self.cfg.data_dir,
            &self.identity,
            &url,
            self.clock.as_ref(),
            forced,
        )
        .await
        {
            Ok(Some(renewed)) => {
                self.identity = renewed;
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.record_error(format!("certificate renewal: {e}")).await;
                false
            }
        }
    }

    /// Builds and queues every period that is due.
    pub async fn build(&mut self) -> BuildSummary {
        let platform = self.identity.info.platform_id.clone();
        let now = self.clock.now();
        let max = self.cfg.delivery.max_report_bytes;
        let result = self
            .store
            .run(move |s| -> Result<BuildSummary, builder::BuildError> {
                let calendar = HubCalendar::load(s).map_err(builder::BuildError::List)?;
                builder::build_due(
                    s,
                    &BuildContext {
                        platform_id: &platform,
                        now,
                        hub_calendar: calendar.as_ref(),
                        max_report_bytes: max,
                    },
                )
            })
            .await;
        match result {
            Ok(summary) => summary,
            Err(e) => {
                self.record_error(format!("building reports: {e}")).await;
                BuildSummary::default()
            }
        }
    }

    /// Sends what is due.
    pub async fn deliver(&mut self, shutdown: &Shutdown) -> DrainReport {
        let url = self.hub_url();
        let result = delivery::drain(
            &self.store,
            &self.identity,
            &url,
            &self.delivery,
            self.clock.as_ref(),
            shutdown,
        )
        .await;
        match result {
            Ok(report) => {
                self.hub_retry_at = report.stopped_early.then_some(report.retry_at).flatten();
                if report.delivered + report.rejected + report.retried > 0 {
                    tracing::info!(
                        delivered = report.delivered,
                        rejected = report.rejected,
                        retried = report.retried,
                        "delivery finished"
                    );
                }
                if let Some(msg) = report.auth_error.clone().or(report.last_failure.clone()) {
                    tracing::warn!(error = %msg, retry_at = ?self.hub_retry_at, "delivery incomplete; will retry");
                    self.record_error(format!("delivery: {msg}")).await;
                }
                report
            }
            Err(e) => {
                // Not the hub's fault, but wait a little rather than retry at once.
                self.hub_retry_at = Some(self.clock.now() + Duration::from_secs(60));
                self.record_error(format!("delivery: {e}")).await;
                DrainReport::default()
            }
        }
    }

    /// Imports the settled files of the inbox.
    pub async fn process_inbox(&mut self) -> InboxSummary {
        let (inbox, quarantine, done) = (
            self.cfg.inbox_dir(),
            self.cfg.quarantine_dir(),
            self.cfg.done_dir(),
        );
        let key = self.identity.pseudonym_key.clone();
        let limits = self.cfg.inbox.limits();
        let summary = self
            .store
            .run(move |s| intake::process_inbox_with(&inbox, &quarantine, &done, s, &key, limits))
            .await;
        for f in &summary.failed {
            self.record_error(format!("inbox: {}: {}", f.path.display(), f.error))
                .await;
        }
        summary
    }

    async fn record_error(&self, message: String) {
        tracing::warn!(error = %message);
        let entry = LastError {
            at: self.clock.now().unix_timestamp(),
            message,
        };
        let json = serde_json::to_string(&entry).expect("serialises");
        self.meta_set(meta::LAST_ERROR, json).await;
    }

    async fn meta_set(&self, key: &'static str, value: String) {
        if let Err(e) = self.store.run(move |s| s.meta_set(key, &value)).await {
            tracing::warn!(error = %e, key, "could not write agent status");
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Work {
    Start,
    Run,
    Inbox,
    Deliver,
}

/// Creates the inbox so that members of the agent's group can drop files into it (setgid, so
/// the files keep the group).
fn create_inbox(dir: &std::path::Path) -> Result<(), ServiceError> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    let err = |source| ServiceError::Folder {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2770)).map_err(err)
}
