//! `sme-hub cert …`: the certificate ledger, revocations and the hub's server certificate.
//! No ClickHouse needed: all of it lives in the CA directory (`crate::pki`).

use anyhow::Context;

use super::args::CertCommand;
use crate::config::HubConfig;
use crate::pki::CertificateAuthority;

pub(crate) fn cert_command(cfg: &HubConfig, command: CertCommand) -> anyhow::Result<()> {
    let ca = CertificateAuthority::load(&cfg.ca_dir())?;
    match command {
        CertCommand::List { platform } => {
            let mut list = ca
                .ledger()
                .list()
                .context("reading the certificate ledger")?;
            if let Some(p) = &platform {
                list.retain(|e| &e.platform_id == p);
            }
            let revocations = ca.revocations();
            revocations
                .refresh()
                .context("reading the revocation list")?;
            print!(
                "{}",
                super::tables::certificates(
                    &list,
                    &|serial| revocations.reason(serial),
                    time::OffsetDateTime::now_utc()
                )
            );
            Ok(())
        }
        CertCommand::Revoke {
            serial,
            platform,
            reason,
        } => {
            let revocations = ca.revocations();
            if let Some(serial) = serial {
                revocations.revoke(&serial, &reason)?;
                println!("certificate {serial} revoked: {reason}");
            }
            if let Some(platform) = platform {
                let revoked = revocations.revoke_platform(&platform, &reason)?;
                for serial in &revoked {
                    println!("certificate {serial} revoked: {reason}");
                }
                println!(
                    "{} certificates of platform {platform} revoked now (the others were already); its agent must enrol again with a new token",
                    revoked.len()
                );
            }
            println!(
                "every hub refuses them within [pki] refresh_ms ({} ms)",
                cfg.pki.refresh_ms
            );
            Ok(())
        }
        CertCommand::ServerRenew { names } => {
            let (names, not_after) = ca.renew_server_certificate(&names)?;
            println!(
                "server certificate renewed for {}, valid until {}",
                names.join(", "),
                crate::reporting::periods::format_cst(not_after)
            );
            println!(
                "running hubs serve it to new connections within [pki] refresh_ms ({} ms); no restart needed",
                cfg.pki.refresh_ms
            );
            Ok(())
        }
    }
}
