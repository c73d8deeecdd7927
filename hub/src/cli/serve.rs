//! `sme-hub serve`: the hub until SIGTERM or Ctrl-C.

use anyhow::Context;

use crate::config::HubConfig;

pub(crate) fn serve(cfg: HubConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let hub = crate::server::start(&cfg).await?;
        println!("sme-hub serving gRPC on {}", hub.grpc_addr);
        println!(
            "metrics and health (HTTP): http://{}/metrics",
            hub.http_addr
        );
        println!("ClickHouse (HTTP): {}", hub.clickhouse_url);
        if cfg.clickhouse.url.is_empty() {
            // The embedded server lets in only its own accounts; their passwords are here.
            println!(
                "ClickHouse accounts: {}",
                cfg.data_dir
                    .join("clickhouse")
                    .join(crate::store::embedded::accounts::ACCOUNTS_FILE)
                    .display()
            );
        }
        println!("Web: {}", hub.web_url);
        hub.run_until(shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
