//! Why a report was not stored.

use std::time::Duration;

/// Why a report was not stored. Every case but `Invalid` is worth retrying unchanged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The intake is full.
    #[error(
        "the hub is busy: {queued} reports are waiting to be stored; your report was not \
         stored, retry in {} s",
        retry_after.as_secs()
    )]
    Busy {
        queued: usize,
        retry_after: Duration,
    },
    /// The platform holds its whole share of the intake.
    #[error(
        "the hub is busy with {held} reports of your platform, its share of the intake; your \
         report was not stored, retry in {} s",
        retry_after.as_secs()
    )]
    PlatformBusy { held: usize, retry_after: Duration },
    /// ClickHouse did not take the batch.
    #[error(
        "the hub cannot store reports right now ({reason}); your report was not stored, retry \
         later"
    )]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
    /// The hub is stopping.
    #[error("the hub is shutting down; your report was not stored, retry later")]
    ShuttingDown { retry_after: Duration },
    /// The report cannot be turned into rows (a bug: the rules should have rejected it).
    #[error("the hub could not store this report: {0}")]
    Invalid(String),
}

impl WriteError {
    /// The retry hint, if retrying is right.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. }
            | Self::PlatformBusy { retry_after, .. }
            | Self::Unavailable { retry_after, .. }
            | Self::ShuttingDown { retry_after } => Some(*retry_after),
            Self::Invalid(_) => None,
        }
    }

    /// The `reason` label of `sme_hub_reports_deferred_total`.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Self::Busy { .. } => "queue_full",
            Self::PlatformBusy { .. } => "platform_share",
            Self::Unavailable { .. } => "store_unavailable",
            Self::ShuttingDown { .. } => "shutting_down",
            Self::Invalid(_) => "invalid",
        }
    }
}
