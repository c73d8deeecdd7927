//! `sme-hub registry …`: import registry files and list what the registry holds.

use crate::cli::args::RegistryCommand;
use crate::cli::region_prefix;
use crate::config::HubConfig;
use crate::registry;
use crate::store::Store;

pub(crate) async fn registry_command(
    cfg: &HubConfig,
    store: &Store,
    command: RegistryCommand,
) -> anyhow::Result<()> {
    let now = cfg.clock.now();
    match command {
        RegistryCommand::Import {
            file,
            kind,
            revision,
            by,
            dry_run,
        } => {
            let options = registry::ImportOptions {
                kind,
                revision,
                by,
                dry_run,
            };
            let report = registry::import_file(store, &file, &options, now).await?;
            print!("{}", crate::cli::tables::import_report(&report));
        }
        RegistryCommand::List { region, history } => {
            let names = registry::division_names(store).await?;
            let list = match history {
                Some(id) => registry::platform_history(store, &id).await?,
                None => {
                    let prefix = region_prefix(region.as_deref())?;
                    registry::platforms(store, prefix.as_deref()).await?
                }
            };
            print!("{}", crate::cli::tables::platforms(&list, &names));
        }
        RegistryCommand::Divisions { revision, province } => {
            let prefix = region_prefix(province.as_deref())?.unwrap_or_default();
            let list: Vec<_> = registry::divisions(store, revision)
                .await?
                .into_iter()
                .filter(|d| d.code.starts_with(&prefix))
                .collect();
            print!("{}", crate::cli::tables::divisions(&list));
        }
        RegistryCommand::SmeCounts { region, year } => {
            let prefix = region_prefix(region.as_deref())?.unwrap_or_default();
            let names = registry::division_names(store).await?;
            let list = registry::sme_counts(store, &prefix, year).await?;
            print!("{}", crate::cli::tables::sme_counts(&list, &names));
        }
    }
    Ok(())
}
