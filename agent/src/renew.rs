//! Certificate renewal (证书续期).
//!
//! * **When.** At a point between 70 % and 90 % of the certificate's lifetime, the same for one
//!   certificate every time it is asked (a hash of the certificate picks the fraction), so a
//!   fleet enrolled on one day spreads its renewals over weeks; or right away when the hub's
//!   heartbeat sends a `RENEW_CERTIFICATE` directive. The clock is injectable ([`Clock`]).
//! * **How.** A new key is generated here and only a CSR goes to `Renew`, authenticated by the
//!   current certificate. The new pair is written to `identity/pending/`, tried with a
//!   `Heartbeat` over mutual TLS, and only then swapped in (crash-safe; see
//!   `identity::commit_pending`). Until then the old certificate stays in use.
//! * **Failure.** Any failure (hub unreachable, refused, or the new pair not working) discards
//!   the pending pair and keeps the old one; the next run tries again.
//! * **Too late.** An expired certificate cannot renew itself (the hub authenticates `Renew`
//!   with it), and a revoked one is refused with UNAUTHENTICATED: both say to enrol again.

use sha2::{Digest, Sha256};
use sme_proto::period::{from_timestamp, to_timestamp};
use sme_proto::v1::reporting_service_client::ReportingServiceClient;
use sme_proto::v1::{self, enrollment_service_client::EnrollmentServiceClient};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::connect::{self, ConnectError, HubAddress};
use crate::identity::{self, Identity, IdentityError, IdentityInfo};

/// The renewal window as fractions of the certificate lifetime.
pub const WINDOW: (f64, f64) = (0.70, 0.90);

/// Errors of a renewal attempt. The current certificate is kept in every case.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// Too late to renew.
    #[error(
        "the certificate of platform {platform_id} expired on {expired} (UTC); it cannot renew \
         itself. Ask the hub operator for a new enrolment token and run `sme-agent enroll \
         --force --hub URL --platform {platform_id} --token TOKEN` / 证书已过期，请申请新的注册令牌后重新注册"
    )]
    Expired {
        /// The platform.
        platform_id: String,
        /// When it expired.
        expired: String,
    },
    /// The hub refused the renewal.
    #[error("the hub refused to renew the certificate ({code:?}: {message}){advice}")]
    Refused {
        /// gRPC code.
        code: tonic::Code,
        /// The hub's message.
        message: String,
        /// What to do, for a revoked certificate.
        advice: String,
    },
    /// The hub could not be reached; try again later.
    #[error("renewal: cannot reach the hub: {0}")]
    Unreachable(String),
    /// The hub's new certificate did not work; it was discarded.
    #[error("the renewed certificate did not work ({0}); the current one is kept")]
    Trial(String),
    /// The address or TLS setup is unusable.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Writing or reading identity files failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not yet in its renewal window; renewal from `renew_at`.
    Fresh {
        /// Planned renewal time.
        renew_at: OffsetDateTime,
    },
    /// Past its planned renewal time.
    Due {
        /// Planned renewal time.
        renew_at: OffsetDateTime,
    },
    /// Expired.
    Expired {
        /// When.
        at: OffsetDateTime,
    },
}

/// The fraction of the lifetime at which `cert_der` is renewed, in [`WINDOW`].
pub fn renewal_fraction(cert_der: &[u8]) -> f64 {
    let digest = Sha256::digest(cert_der);
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    WINDOW.0 + (WINDOW.1 - WINDOW.0) * (n as f64 / u64::MAX as f64)
}

/// When `identity`'s certificate is renewed.
pub fn renewal_time(identity: &Identity) -> OffsetDateTime {
    let info = &identity.info;
    let lifetime = (info.not_after - info.not_before).max(0) as f64;
    let cert = identity.chain.first().map(|c| c.as_ref()).unwrap_or(&[]);
    let offset = (lifetime * renewal_fraction(cert)).round() as i64;
    OffsetDateTime::from_unix_timestamp(info.not_before + offset)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Where `identity`'s certificate stands at `now`.
pub fn standing(identity: &Identity, now: OffsetDateTime) -> Standing {
    let expires = OffsetDateTime::from_unix_timestamp(identity.info.not_after)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let renew_at = renewal_time(identity);
    if now >= expires {
        Standing::Expired { at: expires }
    } else if now >= renew_at {
        Standing::Due { renew_at }
    } else {
        Standing::Fresh { renew_at }
    }
}

/// Renews when due (or `forced` by the hub): returns the new identity, or `None` when not due.
pub async fn renew_if_due(
    data_dir: &std::path::Path,
    identity: &Identity,
    hub_url: &str,
    clock: &dyn Clock,
    forced: bool,
) -> Result<Option<Identity>, RenewError> {
    match standing(identity, clock.now()) {
        Standing::Fresh { .. } if !forced => Ok(None),
        Standing::Expired { at } => Err(RenewError::Expired {
            platform_id: identity.info.platform_id.clone(),
            expired: at.date().to_string(),
        }),
        Standing::Fresh { .. } | Standing::Due { .. } => {
            renew(data_dir, identity, hub_url).await.map(Some)
        }
    }
}

/// Renews now: CSR → `Renew` → pending files → trial call → swap.
pub async fn renew(
    data_dir: &std::path::Path,
    identity: &Identity,
    hub_url: &str,
) -> Result<Identity, RenewError> {
    let address = HubAddress::parse(hub_url)?;
    let platform_id = &identity.info.platform_id;
    let (key, csr_pem) = identity::new_key_and_csr(platform_id)?;
    let channel = connect::channel(&address, &identity.trust())?;
    let answer = EnrollmentServiceClient::new(channel)
        .renew(v1::RenewRequest { csr_pem })
        .await
        .map_err(refused)?
        .into_inner();
    let seconds = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(from_timestamp)
            .map(|t| t.unix_timestamp())
            .ok_or_else(|| RenewError::Trial("the hub's answer has no validity period".into()))
    };
    let info = IdentityInfo {
        not_before: seconds(&answer.not_before)?,
        not_after: seconds(&answer.not_after)?,
        ..identity.info.clone()
    };
    let ca_pem = if answer.ca_chain_pem.is_empty() {
        std::fs::read_to_string(Identity::dir(data_dir).join("ca.pem"))
            .map_err(|e| RenewError::Trial(format!("current CA file: {e}")))?
    } else {
        answer.ca_chain_pem.clone()
    };
    let trial = identity::write_pending(
        data_dir,
        &key.serialize_pem(),
        &answer.certificate_pem,
        &ca_pem,
        &info,
    )?;
    match try_identity(&trial, &address).await {
        Ok(()) => {
            identity::commit_pending(data_dir)?;
            let renewed = Identity::load(data_dir)?;
            tracing::info!(platform = %platform_id,
                not_after = %OffsetDateTime::from_unix_timestamp(renewed.info.not_after)
                    .map(|t| t.to_string()).unwrap_or_default(),
                "certificate renewed");
            Ok(renewed)
        }
        Err(e) => {
            identity::discard_pending(data_dir)?;
            Err(e)
        }
    }
}

/// A `Heartbeat` with `trial`'s key and certificate: does the hub accept them?
async fn try_identity(trial: &Identity, address: &HubAddress) -> Result<(), RenewError> {
    let channel =
        connect::channel(address, &trial.trust()).map_err(|e| RenewError::Trial(e.to_string()))?;
    let not_after = OffsetDateTime::from_unix_timestamp(trial.info.not_after)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    ReportingServiceClient::new(channel)
        .heartbeat(v1::HeartbeatRequest {
            agent_version: crate::builder::AGENT_VERSION.into(),
            certificate_not_after: Some(to_timestamp(not_after)),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|s| RenewError::Trial(format!("{:?}: {}", s.code(), s.message())))
}

fn refused(status: tonic::Status) -> RenewError {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
            RenewError::Unreachable(status.message().to_owned())
        }
        code => RenewError::Refused {
            code,
            message: status.message().to_owned(),
            advice: if code == tonic::Code::Unauthenticated {
                "; the certificate is no longer accepted (revoked?): ask the hub operator for a \
                 new enrolment token and run `sme-agent enroll --force …` / 证书已失效，请重新注册"
                    .into()
            } else {
                String::new()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn identity(not_before: i64, not_after: i64, cert: &[u8]) -> Identity {
        Identity {
            info: IdentityInfo {
                platform_id: "91110108MA01C0DE8X".into(),
                hub_url: "https://127.0.0.1:7443".into(),
                pseudonym_key_id: "k".into(),
                not_before,
                not_after,
            },
            ca: rustls_pki_types::CertificateDer::from(vec![1u8]),
            chain: vec![rustls_pki_types::CertificateDer::from(cert.to_vec())],
            key: Arc::new(rustls_pki_types::PrivateKeyDer::Pkcs8(
                rustls_pki_types::PrivatePkcs8KeyDer::from(vec![0u8]),
            )),
            pseudonym_key: vec![],
        }
    }

    #[test]
    fn the_renewal_point_is_inside_the_window_and_spread() {
        let mut lowest = 1.0f64;
        let mut highest = 0.0f64;
        for n in 0u32..2000 {
            let f = renewal_fraction(&n.to_be_bytes());
            assert!((WINDOW.0..=WINDOW.1).contains(&f), "{f}");
            lowest = lowest.min(f);
            highest = highest.max(f);
        }
        assert!(lowest < 0.71 && highest > 0.89, "{lowest} {highest}");
    }

    #[test]
    fn standing_moves_from_fresh_to_due_to_expired() {
        let day = 86_400;
        let id = identity(0, 100 * day, b"cert");
        let renew_at = renewal_time(&id);
        let secs = renew_at.unix_timestamp();
        assert!((70 * day..=90 * day).contains(&secs), "{secs}");
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        assert!(matches!(
            standing(&id, at(69 * day)),
            Standing::Fresh { .. }
        ));
        assert!(matches!(
            standing(&id, at(secs - 1)),
            Standing::Fresh { .. }
        ));
        assert!(matches!(standing(&id, at(secs)), Standing::Due { .. }));
        assert!(matches!(
            standing(&id, at(100 * day)),
            Standing::Expired { .. }
        ));
    }

    #[tokio::test]
    async fn an_expired_certificate_says_to_enrol_again() {
        let id = identity(0, 86_400, b"cert");
        let clock =
            crate::clock::ManualClock::new(OffsetDateTime::from_unix_timestamp(200_000).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let err = match renew_if_due(dir.path(), &id, "https://127.0.0.1:1", &clock, false).await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("an expired certificate cannot renew"),
        };
        assert!(err.contains("expired on 1970-01-02"), "{err}");
        assert!(err.contains("sme-agent enroll --force"), "{err}");
    }

    #[tokio::test]
    async fn not_due_means_no_call() {
        let id = identity(0, i64::from(i32::MAX), b"cert");
        let clock =
            crate::clock::ManualClock::new(OffsetDateTime::from_unix_timestamp(10).unwrap());
        let dir = tempfile::tempdir().unwrap();
        // The hub address is unreachable: no call is made when not due.
        let got = renew_if_due(dir.path(), &id, "https://127.0.0.1:1", &clock, false)
            .await
            .unwrap();
        assert!(got.is_none());
    }
}
