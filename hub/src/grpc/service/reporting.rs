//! `ReportingService`: the RPCs of agents that report (submit, sync, heartbeat).

use futures::StreamExt;
use sme_proto::v1::{self, reporting_service_server::ReportingService};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{peer, unavailable, Hub};
use sme_proto::period::to_timestamp as timestamp;

// === impl ReportingService ===

#[tonic::async_trait]
impl ReportingService for Hub {
    async fn submit_report(
        &self,
        request: Request<v1::SubmitReportRequest>,
    ) -> Result<Response<v1::SubmitReportResponse>, Status> {
        let started = std::time::Instant::now();
        let identity = self.identify(&request);
        let peer = peer(&request);
        let report = request.into_inner().report;
        let result = match self.submit(identity, peer, report).await {
            Ok(receipt) => Ok(Response::new(v1::SubmitReportResponse {
                receipt: Some(receipt),
            })),
            Err(refusal) => Err(refusal.status()),
        };
        self.inner
            .ingest
            .metrics
            .submit_seconds
            .observe_duration(started.elapsed());
        result
    }

    type SyncReportsStream = ReceiverStream<Result<v1::SyncReportsResponse, Status>>;

    async fn sync_reports(
        &self,
        request: Request<Streaming<v1::SyncReportsRequest>>,
    ) -> Result<Response<Self::SyncReportsStream>, Status> {
        let identity = self.identify(&request);
        if let Err(e) = &identity {
            // Refuse the whole stream early; the per-report audit still happens in `submit`
            // for streams that do authenticate.
            return Err(Status::unauthenticated(e.to_string()));
        }
        let peer = peer(&request);
        let inbound = request.into_inner();
        let concurrency = self.inner.settings.stream_concurrency.max(1);
        let (tx, rx) = tokio::sync::mpsc::channel(concurrency * 2);
        let hub = self.clone();
        tokio::spawn(async move {
            let mut answers = inbound
                .map(|item| {
                    let hub = hub.clone();
                    let identity = identity.clone();
                    let peer = peer.clone();
                    async move {
                        match item {
                            Ok(req) => {
                                let started = std::time::Instant::now();
                                let report = req.report;
                                let receipt = match hub.submit(identity, peer, report.clone()).await
                                {
                                    Ok(r) => r,
                                    Err(refusal) => refusal.receipt(report.as_ref()),
                                };
                                hub.inner
                                    .ingest
                                    .metrics
                                    .sync_seconds
                                    .observe_duration(started.elapsed());
                                Ok(v1::SyncReportsResponse {
                                    receipt: Some(receipt),
                                })
                            }
                            Err(status) => Err(status),
                        }
                    }
                })
                .buffer_unordered(concurrency);
            while let Some(answer) = answers.next().await {
                let stop = answer.is_err();
                if tx.send(answer).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        let identity = self
            .identify(&request)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let now = self.inner.settings.clock.now();
        let delivered = request.into_inner().delivered;
        let calendar = crate::reporting::calendar::platform_calendar(
            &self.inner.settings.calendar,
            &self.inner.store,
            &identity.platform_id,
            now,
        )
        .await
        .map_err(|e| unavailable(e).status())?;
        let mut directives = Vec::new();
        let lifetime_left = identity.not_after - now.unix_timestamp();
        if lifetime_left < 14 * 86_400 {
            directives.push(v1::Directive {
                kind: v1::DirectiveKind::RenewCertificate as i32,
                period: String::new(),
                reason: format!(
                    "client certificate expires in {} days",
                    lifetime_left.max(0) / 86_400
                ),
            });
        }
        directives.extend(self.reconcile(&identity.platform_id, &delivered).await?);
        Ok(Response::new(v1::HeartbeatResponse {
            server_time: Some(timestamp(now)),
            calendar,
            directives,
        }))
    }
}
