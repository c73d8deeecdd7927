//! The ClickHouse accounts the hub uses, one per job, each with the least it needs:
//!
//! | account | used by | may |
//! |---|---|---|
//! | `owner` | the migrations, when the store connects (the hub at start, every admin command) | everything: `CREATE`, `ALTER`, `DROP` |
//! | `ingest` | the writer, the lookups, the audit trail, the registry, users and sessions, period reopenings | `INSERT` and `SELECT`; no DDL, no mutations (`allow_ddl = 0`) |
//! | `analytics` | every query built by `analytics::` (web API, dashboards, exports, `completeness`) | `SELECT` only (`readonly = 2`) |
//!
//! The embedded server creates the three with random passwords (see `embedded`); with an
//! external server they come from `[clickhouse]` (docs/decisions.md, "ClickHouse accounts").
//! One account for all three still works, for servers that have only one.

use clickhouse::Client;

/// One ClickHouse user and its password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// User name; empty means ClickHouse's `default`.
    pub user: String,
    /// Password; may be empty.
    pub password: String,
}

/// The three accounts of the table above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Runs the migrations (DDL).
    pub owner: Account,
    /// Writes reports, the audit trail and the hub's own tables; reads what the writes need.
    pub ingest: Account,
    /// Reads, for the analytics.
    pub analytics: Account,
}

// === impl Account ===

impl Account {
    /// `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The user name ClickHouse sees (`default` for an empty one).
    pub fn user_name(&self) -> &str {
        if self.user.is_empty() {
            "default"
        } else {
            &self.user
        }
    }

    /// `client` logging in as this account.
    pub fn apply(&self, mut client: Client) -> Client {
        if !self.user.is_empty() {
            client = client.with_user(&self.user);
        }
        if !self.password.is_empty() {
            client = client.with_password(&self.password);
        }
        client
    }
}

/// Never prints the password.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user_name())
            .field(
                "password",
                &if self.password.is_empty() {
                    "<none>"
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

// === impl Accounts ===

impl Accounts {
    /// One account for all three jobs (a server with a single user).
    pub fn single(account: Account) -> Self {
        Self {
            owner: account.clone(),
            ingest: account.clone(),
            analytics: account,
        }
    }

    /// Jobs that share an account with another, e.g. `["ingest", "analytics"]` when both log
    /// in as the owner; empty when all three are distinct.
    pub fn shared(&self) -> Vec<&'static str> {
        let mut shared = Vec::new();
        if self.ingest.user_name() == self.owner.user_name() {
            shared.push("ingest");
        }
        if self.analytics.user_name() == self.owner.user_name()
            || self.analytics.user_name() == self.ingest.user_name()
        {
            shared.push("analytics");
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        let a = Account::new("sme_ingest", "hunter2");
        let shown = format!("{:?}", Accounts::single(a));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("sme_ingest") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert_eq!(Account::default().user_name(), "default");
    }

    #[test]
    fn tells_which_jobs_share_an_account() {
        assert_eq!(
            Accounts::single(Account::default()).shared(),
            ["ingest", "analytics"]
        );
        let distinct = Accounts {
            owner: Account::new("o", ""),
            ingest: Account::new("i", ""),
            analytics: Account::new("a", ""),
        };
        assert!(distinct.shared().is_empty());
        let two = Accounts {
            analytics: Account::new("i", ""),
            ..distinct
        };
        assert_eq!(two.shared(), ["analytics"]);
    }
}
