//! `sme-hub user add|list|disable|enable|passwd`.

use std::io::BufRead;

use anyhow::Context;

use super::args::UserCommand;
use crate::config::HubConfig;
use crate::store::Store;
use crate::users;

/// The password a command needs, asked for without echo (twice) or read from stdin.
pub(crate) fn password_for(command: &UserCommand) -> anyhow::Result<Option<String>> {
    let (name, from_stdin) = match command {
        UserCommand::Add {
            name,
            password_stdin,
            ..
        }
        | UserCommand::Passwd {
            name,
            password_stdin,
            ..
        } => (name, *password_stdin),
        _ => return Ok(None),
    };
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("password for {name}: "))
            .context("reading the password (no terminal? use --password-stdin)")?;
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ; nothing was changed"
        );
        first
    };
    anyhow::ensure!(
        password.chars().count() >= users::password::MIN_LENGTH,
        "the password must have at least {} characters; nothing was changed",
        users::password::MIN_LENGTH
    );
    Ok(Some(password))
}

pub(crate) async fn user_command(
    cfg: &HubConfig,
    store: &Store,
    command: UserCommand,
    password: Option<String>,
) -> anyhow::Result<()> {
    let now = cfg.clock.now();
    let password = password.unwrap_or_default();
    match command {
        UserCommand::Add {
            name,
            role,
            region,
            by,
            ..
        } => {
            let user =
                users::add(store, &name, role, region.as_deref(), &password, &by, now).await?;
            let scope = user.scope()?;
            println!("user {} added: {} of {scope}", user.name, user.role);
        }
        UserCommand::List => {
            print!("{}", super::tables::users(&users::list(store).await?));
        }
        UserCommand::Disable { name, by } => {
            users::set_disabled(store, &name, true, &by, now).await?;
            println!("user {name} disabled; their sessions no longer work");
        }
        UserCommand::Enable { name, by } => {
            users::set_disabled(store, &name, false, &by, now).await?;
            println!("user {name} enabled");
        }
        UserCommand::Passwd { name, by, .. } => {
            users::set_password(store, &name, &password, &by, now).await?;
            println!("password of {name} changed; their open sessions were ended");
        }
    }
    Ok(())
}
