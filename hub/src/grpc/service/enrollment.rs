//! `EnrollmentService`: a platform's first certificate (with a token) and its renewal.
//!
//! Enrolment: the platform id and the CSR are checked, then the token (without using it up),
//! then the certificate is signed and recorded in the ledger, and only then is the token
//! consumed — by an atomic rename, so of two concurrent enrolments with one token exactly one
//! gets its certificate; the other's certificate is discarded (removed from the ledger) before
//! anyone saw it. A failure before the consumption leaves the token usable.
//!
//! Renewal: authenticated by the current certificate; the new one is recorded in the ledger as
//! its successor, and the old one is revoked once the new one has been used
//! (`pki/revocations.rs`). A certificate revoked while its renewal was being signed does not
//! get a successor.
//!
//! Every call, issued or refused, goes into `certificate_events` (`pki/events.rs`) before the
//! answer.

use sme_proto::v1::{self, enrollment_service_server::EnrollmentService};
use tonic::{Code, Request, Response, Status};

use super::{violation, Hub};
use crate::pki::events::CertificateEvent;
use crate::pki::{CertificateAuthority, IssuedBy, IssuedCertificate};
use sme_proto::period::to_timestamp as timestamp;

/// Why the blocking part of a call failed.
fn join_error(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("certificate signing did not finish: {e}"))
}

// === impl Hub (enrolment) ===

impl Hub {
    /// Stores the audit event of a call and passes its outcome on.
    async fn audited<T>(
        &self,
        event: CertificateEvent,
        result: Result<(T, IssuedCertificate), Status>,
    ) -> Result<T, Status> {
        let event = match &result {
            Ok((_, issued)) => event.issued(&issued.serial_hex, issued.not_after),
            Err(status) => event.refused(status),
        };
        self.inner.ca.events(&self.inner.store).record(event).await;
        result.map(|(answer, _)| answer)
    }

    async fn enroll_platform(
        &self,
        req: v1::EnrollRequest,
    ) -> Result<(v1::EnrollResponse, IssuedCertificate), Status> {
        sme_proto::credit_code::validate(&req.platform_id).map_err(|e| {
            sme_proto::status::rejection(
                Code::InvalidArgument,
                &[violation(
                    "platform_id",
                    "E001",
                    &format!(
                        "平台代码 {} 不是有效的统一社会信用代码: {}",
                        req.platform_id,
                        e.message_zh()
                    ),
                    &format!(
                        "platform id {:?} is not a valid unified social credit code: {e}",
                        req.platform_id
                    ),
                )],
            )
        })?;
        // A malformed CSR must not spend the token: the operator would have to issue another.
        CertificateAuthority::check_csr(&req.csr_pem)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let platform_id = req.platform_id.clone();
        let hub = self.clone();
        let issued = tokio::task::spawn_blocking(move || {
            let ca = &hub.inner.ca;
            let tokens = ca.tokens();
            tokens
                .check(&req.token, &req.platform_id)
                .map_err(|e| Status::permission_denied(e.to_string()))?;
            let issued = ca
                .issue_client(
                    &req.csr_pem,
                    &req.platform_id,
                    hub.inner.settings.client_cert_validity,
                    IssuedBy::Enrolment,
                    None,
                    &hub.inner.settings.instance,
                )
                .map_err(|e| {
                    Status::internal(format!(
                        "the hub could not issue the certificate ({e}); the token was not used, try again later"
                    ))
                })?;
            if let Err(e) = tokens.consume(&req.token, &req.platform_id) {
                // Never handed out: it must not stay in the ledger as if it had been.
                if let Err(forget) = ca.ledger().forget(&issued.serial_hex) {
                    tracing::warn!(serial = %issued.serial_hex, error = %forget,
                        "cannot remove a discarded certificate from the ledger; revoking it");
                    let _ = ca
                        .revocations()
                        .revoke(&issued.serial_hex, "discarded: its enrolment token was used meanwhile");
                }
                return Err(Status::permission_denied(e.to_string()));
            }
            Ok::<_, Status>(issued)
        })
        .await
        .map_err(join_error)??;
        tracing::info!(platform = %platform_id, serial = %issued.serial_hex, "platform enrolled");
        let ca = &self.inner.ca;
        let response = v1::EnrollResponse {
            certificate_pem: issued.certificate_pem.clone(),
            ca_chain_pem: ca.cert_pem().to_owned(),
            pseudonym_key: ca.pseudonym_key().to_vec(),
            pseudonym_key_id: ca.pseudonym_key_id(),
            not_before: Some(timestamp(issued.not_before)),
            not_after: Some(timestamp(issued.not_after)),
        };
        Ok((response, issued))
    }

    async fn renew_certificate(
        &self,
        request: Request<v1::RenewRequest>,
        event: &mut CertificateEvent,
    ) -> Result<(v1::RenewResponse, IssuedCertificate), Status> {
        let identity = self
            .identify(&request)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        event.platform_id = identity.platform_id.clone();
        event.previous_serial = identity.serial_hex.clone();
        let req = request.into_inner();
        let hub = self.clone();
        let issued = tokio::task::spawn_blocking(move || {
            let ca = &hub.inner.ca;
            let issued = ca
                .issue_client(
                    &req.csr_pem,
                    &identity.platform_id,
                    hub.inner.settings.client_cert_validity,
                    IssuedBy::Renewal,
                    Some(&identity.serial_hex),
                    &hub.inner.settings.instance,
                )
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            // Revoked by another process since this one last refreshed its list: the
            // successor goes with it.
            let revocations = ca.revocations();
            if let Ok(Some(reason)) = revocations.on_disk(&identity.serial_hex) {
                let _ = revocations.revoke(
                    &issued.serial_hex,
                    &format!(
                        "renewed from the revoked certificate {}",
                        identity.serial_hex
                    ),
                );
                return Err(Status::unauthenticated(
                    crate::pki::tls::AuthError::Revoked {
                        serial: identity.serial_hex.clone(),
                        platform_id: identity.platform_id.clone(),
                        reason,
                    }
                    .to_string(),
                ));
            }
            Ok::<_, Status>(issued)
        })
        .await
        .map_err(join_error)??;
        tracing::info!(platform = %event.platform_id, serial = %issued.serial_hex,
            predecessor = %event.previous_serial, "certificate renewed");
        let response = v1::RenewResponse {
            certificate_pem: issued.certificate_pem.clone(),
            ca_chain_pem: self.inner.ca.cert_pem().to_owned(),
            not_before: Some(timestamp(issued.not_before)),
            not_after: Some(timestamp(issued.not_after)),
        };
        Ok((response, issued))
    }
}

// === impl EnrollmentService ===

#[tonic::async_trait]
impl EnrollmentService for Hub {
    async fn enroll(
        &self,
        request: Request<v1::EnrollRequest>,
    ) -> Result<Response<v1::EnrollResponse>, Status> {
        let peer = peer(&request);
        let req = request.into_inner();
        let event = CertificateEvent::new(
            "enrolment",
            &req.platform_id,
            &peer,
            &self.inner.settings.instance,
        );
        let result = self.enroll_platform(req).await;
        self.audited(event, result).await.map(Response::new)
    }

    async fn renew(
        &self,
        request: Request<v1::RenewRequest>,
    ) -> Result<Response<v1::RenewResponse>, Status> {
        let mut event = CertificateEvent::new(
            "renewal",
            "",
            &peer(&request),
            &self.inner.settings.instance,
        );
        let result = self.renew_certificate(request, &mut event).await;
        self.audited(event, result).await.map(Response::new)
    }
}

fn peer<T>(request: &Request<T>) -> String {
    request
        .remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
}
