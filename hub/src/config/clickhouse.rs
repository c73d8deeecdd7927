//! `[clickhouse]`: where reports are stored, who logs in for which job, and cluster mode.
//!
//! The embedded server (`url` empty) makes its own three accounts. An external server is
//! given them as `[clickhouse.owner]`, `[clickhouse.ingest]` and `[clickhouse.analytics]`
//! (`user`, then `password` or `password_file`); a job without its section logs in with the
//! top-level `user` and `password`, and the hub warns that it runs with more rights than it
//! needs. See `store::accounts` and docs/decisions.md, "ClickHouse accounts".

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::store::{Account, Accounts};

/// `[clickhouse]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    /// HTTP URL of an existing ClickHouse server. Empty: the hub starts and supervises its own
    /// `clickhouse-server` with data under `<data_dir>/clickhouse`.
    pub url: String,
    /// Database name.
    pub database: String,
    /// User of every job that has no section of its own (external server only).
    pub user: String,
    /// Its password (prefer `password_file` or the `SME_HUB_CLICKHOUSE_PASSWORD` environment
    /// variable).
    pub password: String,
    /// A file holding that password (one line).
    pub password_file: Option<PathBuf>,
    /// The account of the migrations (DDL). External server only.
    pub owner: Option<AccountSection>,
    /// The account of everything the hub writes: `INSERT` and `SELECT`, no DDL.
    pub ingest: Option<AccountSection>,
    /// The read-only account of the analytics (web API, dashboards, exports).
    pub analytics: Option<AccountSection>,
    /// Cluster (from the servers' `remote_servers`) to shard the tables over; empty: one
    /// server. See `store::migrations` and docs/decisions.md "Cluster mode".
    pub cluster: String,
    /// HTTP URLs of every node of `cluster`. Without `distributed_ddl` the hub applies each
    /// migration on each of them.
    pub cluster_nodes: Vec<String>,
    /// Run migrations `ON CLUSTER` through `url` (needs ZooKeeper or ClickHouse Keeper).
    pub distributed_ddl: bool,
    /// `Replicated*MergeTree` local tables (needs ZooKeeper or Keeper and the `{shard}` and
    /// `{replica}` macros on every node).
    pub replicated: bool,
}

/// `[clickhouse.owner]`, `[clickhouse.ingest]`, `[clickhouse.analytics]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSection {
    /// User name.
    pub user: String,
    /// Password (prefer `password_file` or `SME_HUB_CLICKHOUSE_<JOB>_PASSWORD`).
    pub password: String,
    /// A file holding the password (one line).
    pub password_file: Option<PathBuf>,
}

impl Default for ClickHouseSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            database: "sme".into(),
            user: String::new(),
            password: String::new(),
            password_file: None,
            owner: None,
            ingest: None,
            analytics: None,
            cluster: String::new(),
            cluster_nodes: Vec::new(),
            distributed_ddl: false,
            replicated: false,
        }
    }
}

/// The per-job password variables, by job.
const JOB_PASSWORD_VARS: [(&str, &str); 3] = [
    ("owner", "SME_HUB_CLICKHOUSE_OWNER_PASSWORD"),
    ("ingest", "SME_HUB_CLICKHOUSE_INGEST_PASSWORD"),
    ("analytics", "SME_HUB_CLICKHOUSE_ANALYTICS_PASSWORD"),
];

// === impl ClickHouseSection ===

impl ClickHouseSection {
    /// Applies `SME_HUB_CLICKHOUSE_URL`, `SME_HUB_CLICKHOUSE_PASSWORD` and
    /// `SME_HUB_CLICKHOUSE_{OWNER,INGEST,ANALYTICS}_PASSWORD` (a job's variable needs its
    /// section, with its user, in the file). A password from the environment replaces the
    /// file's `password_file`.
    pub(super) fn apply_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = env("SME_HUB_CLICKHOUSE_URL") {
            self.url = v;
        }
        if let Some(v) = env("SME_HUB_CLICKHOUSE_PASSWORD") {
            self.password = v;
            self.password_file = None;
        }
        for (job, var) in JOB_PASSWORD_VARS {
            let Some(v) = env(var) else { continue };
            let section = match job {
                "owner" => &mut self.owner,
                "ingest" => &mut self.ingest,
                _ => &mut self.analytics,
            };
            let Some(section) = section else {
                return Err(ConfigError::Env {
                    var,
                    message: format!(
                        "there is no [clickhouse.{job}] in the config file: add it with the \
                         account's user"
                    ),
                });
            };
            section.password = v;
            section.password_file = None;
        }
        Ok(())
    }

    /// Checks the accounts and the cluster settings.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        let sections = [
            ("clickhouse.owner", &self.owner),
            ("clickhouse.ingest", &self.ingest),
            ("clickhouse.analytics", &self.analytics),
        ];
        if self.url.is_empty() {
            // `user = "default"` with no password was the old default: it still parses.
            let custom = !(self.user.is_empty() || self.user == "default")
                || !self.password.is_empty()
                || self.password_file.is_some();
            if custom {
                return invalid(
                    "clickhouse.user",
                    "user, password and password_file are for an external server (clickhouse.url): \
                     the embedded server makes its own accounts, with passwords in \
                     <data_dir>/clickhouse/sme-accounts.toml",
                );
            }
            if let Some((key, _)) = sections.iter().find(|(_, s)| s.is_some()) {
                return invalid(
                    key,
                    "is for an external server (clickhouse.url): the embedded server makes its \
                     own accounts",
                );
            }
        }
        if !self.password.is_empty() && self.password_file.is_some() {
            return invalid(
                "clickhouse.password_file",
                "give password or password_file, not both",
            );
        }
        for (key, section) in sections {
            let Some(s) = section else { continue };
            if s.user.is_empty() {
                return Err(ConfigError::Invalid {
                    key,
                    message: "needs user = \"...\" (the ClickHouse user of this job)".into(),
                });
            }
            if !s.password.is_empty() && s.password_file.is_some() {
                return Err(ConfigError::Invalid {
                    key,
                    message: "give password or password_file, not both".into(),
                });
            }
        }
        self.validate_cluster()
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.cluster.is_empty() {
            if self.replicated || self.distributed_ddl || !self.cluster_nodes.is_empty() {
                return invalid(
                    "clickhouse.cluster",
                    "cluster_nodes, distributed_ddl and replicated need a cluster name",
                );
            }
            return Ok(());
        }
        if !self
            .cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return invalid(
                "clickhouse.cluster",
                "must be a cluster name of letters, digits and _ as in the servers' remote_servers",
            );
        }
        if self.url.is_empty() {
            return invalid(
                "clickhouse.url",
                "cluster mode needs the URL of a cluster node (or of a load balancer in front of them)",
            );
        }
        if !self.distributed_ddl && self.cluster_nodes.is_empty() {
            return invalid(
                "clickhouse.cluster_nodes",
                "list the HTTP URL of every node of the cluster (the hub creates the tables on \
                 each), or set distributed_ddl = true when ZooKeeper or Keeper runs",
            );
        }
        if self
            .cluster_nodes
            .iter()
            .any(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return invalid(
                "clickhouse.cluster_nodes",
                "every entry must be an HTTP URL like http://10.0.0.2:8123",
            );
        }
        Ok(())
    }

    /// The accounts of the external server, password files read. A job without its section
    /// uses the top-level account; when jobs share an account a warning says so, once per
    /// call (the hub calls this once at start, an admin command once).
    pub fn accounts(&self) -> Result<Accounts, ConfigError> {
        let shared = Account::new(
            self.user.clone(),
            password(&self.password, self.password_file.as_deref())?,
        );
        let job = |section: &Option<AccountSection>| -> Result<Account, ConfigError> {
            match section {
                Some(s) => Ok(Account::new(
                    s.user.clone(),
                    password(&s.password, s.password_file.as_deref())?,
                )),
                None => Ok(shared.clone()),
            }
        };
        let accounts = Accounts {
            owner: job(&self.owner)?,
            ingest: job(&self.ingest)?,
            analytics: job(&self.analytics)?,
        };
        let shared_jobs = accounts.shared();
        if !shared_jobs.is_empty() {
            tracing::warn!(
                jobs = ?shared_jobs,
                owner = accounts.owner.user_name(),
                "ClickHouse: these jobs log in with the same account as another (the analytics \
                 could write, the writer could change the schema); give each its own account \
                 in [clickhouse.owner], [clickhouse.ingest] and [clickhouse.analytics] \
                 (docs/decisions.md, \"ClickHouse accounts\")"
            );
        }
        Ok(accounts)
    }

    /// The store's options: the cluster settings and timeouts.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            cluster: (!self.cluster.is_empty()).then(|| crate::store::ClusterOptions {
                name: self.cluster.clone(),
                nodes: self.cluster_nodes.clone(),
                distributed_ddl: self.distributed_ddl,
                replicated: self.replicated,
            }),
            ..crate::store::StoreOptions::default()
        }
    }
}

/// `password`, or the first line of `file`.
fn password(password: &str, file: Option<&Path>) -> Result<String, ConfigError> {
    match file {
        None => Ok(password.to_owned()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            Ok(text.lines().next().unwrap_or("").to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::HubConfig;
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<HubConfig, String> {
        HubConfig::from_sources(Some(text), None, env).map_err(|e| e.to_string())
    }

    #[test]
    fn three_accounts_with_files_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("owner.pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let text = format!(
            "[clickhouse]\nurl = \"http://ch:8123\"\n\
             [clickhouse.owner]\nuser = \"sme_owner\"\npassword_file = {file:?}\n\
             [clickhouse.ingest]\nuser = \"sme_ingest\"\npassword = \"in-file\"\n\
             [clickhouse.analytics]\nuser = \"sme_analytics\"\n"
        );
        let env =
            |k: &str| (k == "SME_HUB_CLICKHOUSE_ANALYTICS_PASSWORD").then(|| "from-env".to_owned());
        let accounts = parse(&text, &env).unwrap().clickhouse.accounts().unwrap();
        assert_eq!(accounts.owner, Account::new("sme_owner", "from-file"));
        assert_eq!(accounts.ingest, Account::new("sme_ingest", "in-file"));
        assert_eq!(
            accounts.analytics,
            Account::new("sme_analytics", "from-env")
        );
        assert!(accounts.shared().is_empty());
    }

    #[test]
    fn one_account_serves_every_job() {
        let text = "[clickhouse]\nurl = \"http://ch:8123\"\nuser = \"hub\"\n";
        let env = |k: &str| (k == "SME_HUB_CLICKHOUSE_PASSWORD").then(|| "pw".to_owned());
        let accounts = parse(text, &env).unwrap().clickhouse.accounts().unwrap();
        assert_eq!(accounts, Accounts::single(Account::new("hub", "pw")));
        // No user at all: ClickHouse's `default`, as before.
        let cfg = parse("[clickhouse]\nurl = \"http://ch:8123\"\n", &no_env).unwrap();
        assert_eq!(
            cfg.clickhouse.accounts().unwrap(),
            Accounts::single(Account::default())
        );
    }

    #[test]
    fn account_mistakes_name_their_key() {
        for (text, key) in [
            ("[clickhouse]\npassword = \"x\"\n", "clickhouse.user"),
            (
                "[clickhouse]\n[clickhouse.ingest]\nuser = \"i\"\n",
                "clickhouse.ingest",
            ),
            (
                "[clickhouse]\nurl = \"http://ch:8123\"\n[clickhouse.owner]\npassword = \"x\"\n",
                "clickhouse.owner",
            ),
            (
                "[clickhouse]\nurl = \"http://ch:8123\"\npassword = \"x\"\npassword_file = \"/p\"\n",
                "clickhouse.password_file",
            ),
            (
                "[clickhouse]\nurl = \"http://ch:8123\"\n[clickhouse.analytics]\nuser = \"a\"\nsecret = 1\n",
                "secret",
            ),
        ] {
            let err = parse(text, &no_env).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
        let env = |k: &str| (k == "SME_HUB_CLICKHOUSE_INGEST_PASSWORD").then(|| "x".to_owned());
        let err = parse("[clickhouse]\nurl = \"http://ch:8123\"\n", &env).unwrap_err();
        assert!(err.contains("SME_HUB_CLICKHOUSE_INGEST_PASSWORD"), "{err}");
        // The old default of the embedded mode still parses.
        parse(
            "[clickhouse]\nuser = \"default\"\npassword = \"\"\n",
            &no_env,
        )
        .unwrap();
        // A missing password file is named.
        let cfg = parse(
            "[clickhouse]\nurl = \"http://ch:8123\"\npassword_file = \"/nonexistent/pw\"\n",
            &no_env,
        )
        .unwrap();
        let err = cfg.clickhouse.accounts().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/pw"), "{err}");
    }
}
