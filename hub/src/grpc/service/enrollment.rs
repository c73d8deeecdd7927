//! `EnrollmentService`: a platform's first certificate (with a token) and its renewal.

use sme_proto::v1::{self, enrollment_service_server::EnrollmentService};
use tonic::{Code, Request, Response, Status};

use super::{violation, Hub};
use crate::pki::CertificateAuthority;
use sme_proto::period::to_timestamp as timestamp;

// === impl EnrollmentService ===

#[tonic::async_trait]
impl EnrollmentService for Hub {
    async fn enroll(
        &self,
        request: Request<v1::EnrollRequest>,
    ) -> Result<Response<v1::EnrollResponse>, Status> {
        let req = request.into_inner();
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
        let ca = &self.inner.ca;
        ca.tokens()
            .consume(&req.token, &req.platform_id)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        let issued = ca
            .sign_client(
                &req.csr_pem,
                &req.platform_id,
                self.inner.settings.client_cert_validity,
            )
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        tracing::info!(platform = %req.platform_id, serial = %issued.serial_hex, "platform enrolled");
        Ok(Response::new(v1::EnrollResponse {
            certificate_pem: issued.certificate_pem,
            ca_chain_pem: ca.cert_pem().to_owned(),
            pseudonym_key: ca.pseudonym_key().to_vec(),
            pseudonym_key_id: ca.pseudonym_key_id(),
            not_before: Some(timestamp(issued.not_before)),
            not_after: Some(timestamp(issued.not_after)),
        }))
    }

    async fn renew(
        &self,
        request: Request<v1::RenewRequest>,
    ) -> Result<Response<v1::RenewResponse>, Status> {
        let identity = self
            .identify(&request)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let req = request.into_inner();
        let ca = &self.inner.ca;
        let issued = ca
            .sign_client(
                &req.csr_pem,
                &identity.platform_id,
                self.inner.settings.client_cert_validity,
            )
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        tracing::info!(platform = %identity.platform_id, serial = %issued.serial_hex, "certificate renewed");
        Ok(Response::new(v1::RenewResponse {
            certificate_pem: issued.certificate_pem,
            ca_chain_pem: ca.cert_pem().to_owned(),
            not_before: Some(timestamp(issued.not_before)),
            not_after: Some(timestamp(issued.not_after)),
        }))
    }
}
