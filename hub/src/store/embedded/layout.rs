//! The files of one embedded server: its configuration (`config.xml`, `users.xml`,
//! `config.d/sme-clusters.xml`), written at every start, and its logs, quoted in errors.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::accounts::sha256_hex;
use super::{ClusterSpec, EmbeddedOptions, ServerBinary};
use crate::store::{Account, Accounts, StoreError};

/// Lines of the error log quoted in errors.
const TAIL_LINES: usize = 15;

/// The `config.d` file with `remote_servers`, or `None` for no clusters.
fn clusters_xml(clusters: &[ClusterSpec]) -> Option<String> {
    if clusters.is_empty() {
        return None;
    }
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!-- Written by sme-hub; edits are overwritten. -->\n<yandex>\n    <remote_servers>\n",
    );
    for c in clusters {
        let _ = writeln!(xml, "        <{}>", xml_escape(&c.name));
        for shard in &c.shards {
            xml.push_str("            <shard>\n");
            for (host, port) in shard {
                let _ = writeln!(
                    xml,
                    "                <replica><host>{}</host><port>{port}</port>\
                     <user>{}</user><password>{}</password></replica>",
                    xml_escape(host),
                    xml_escape(c.account.user_name()),
                    xml_escape(&c.account.password)
                );
            }
            xml.push_str("            </shard>\n");
        }
        let _ = writeln!(xml, "        </{}>", xml_escape(&c.name));
    }
    xml.push_str("    </remote_servers>\n</yandex>\n");
    Some(xml)
}

/// `users.xml`: the three accounts, each with its profile, from loopback only, and no `default`
/// user (ClickHouse 18.16 has no SQL users; see docs/decisions.md "ClickHouse accounts" for what
/// each profile forbids there).
fn users_xml(accounts: &Accounts, memory: u64, log_queries: bool) -> String {
    let mut common = format!(
        "<max_memory_usage>{memory}</max_memory_usage>\n            \
         <use_uncompressed_cache>0</use_uncompressed_cache>"
    );
    if log_queries {
        common.push_str("\n            <log_queries>1</log_queries>");
    }
    let user = |account: &Account, profile: &str| {
        format!(
            r#"        <{user}>
            <password_sha256_hex>{hash}</password_sha256_hex>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>{profile}</profile>
            <quota>default</quota>
        </{user}>
"#,
            user = xml_escape(account.user_name()),
            hash = sha256_hex(&account.password),
        )
    };
    format!(
        r#"<?xml version="1.0"?>
<!-- Written by sme-hub at every start of its embedded ClickHouse; edits are overwritten. -->
<yandex>
    <profiles>
        <!-- The server's own default profile; no user has it. -->
        <default>
            {common}
        </default>
        <sme_owner>
            {common}
        </sme_owner>
        <!-- INSERT and SELECT; no CREATE, ALTER (so no mutations), DROP, TRUNCATE, OPTIMIZE. -->
        <sme_ingest>
            {common}
            <allow_ddl>0</allow_ddl>
        </sme_ingest>
        <!-- SELECT only; settings may change, except readonly itself. -->
        <sme_analytics>
            {common}
            <readonly>2</readonly>
            <allow_ddl>0</allow_ddl>
        </sme_analytics>
    </profiles>
    <users>
{owner}{ingest}{analytics}    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"#,
        owner = user(&accounts.owner, "sme_owner"),
        ingest = user(&accounts.ingest, "sme_ingest"),
        analytics = user(&accounts.analytics, "sme_analytics"),
    )
}

// === Layout: files and ports of one server ===

#[derive(Debug)]
pub(super) struct Layout {
    pub(super) binary: ServerBinary,
    pub(super) data_dir: PathBuf,
    pub(super) http_port: u16,
    pub(super) tcp_port: u16,
    pub(super) options: EmbeddedOptions,
    pub(super) accounts: Accounts,
}

impl Layout {
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.data_dir.join(name)
    }

    pub(super) fn error_log(&self) -> PathBuf {
        self.path("log/clickhouse-server.err.log")
    }

    pub(super) fn stderr_log(&self) -> PathBuf {
        self.path("log/stderr.log")
    }

    pub(super) fn write_config(&self) -> Result<(), StoreError> {
        let dir = |name: &str| xml_escape(&format!("{}/", self.path(name).display()));
        let config = format!(
            r#"<?xml version="1.0"?>
<!-- Written by sme-hub at every start of its embedded ClickHouse; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>{log}</log>
        <errorlog>{errlog}</errorlog>
        <size>10M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <path>{path}</path>
    <tmp_path>{tmp}</tmp_path>
    <user_files_path>{user_files}</user_files_path>
    <format_schema_path>{format_schemas}</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>{cache}</mark_cache_size>
    <uncompressed_cache_size>{cache}</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>3</keep_alive_timeout>
    <mlock_executable>false</mlock_executable>
    <!-- Filled only with EmbeddedOptions::log_queries (tests that check who ran what). -->
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>1000</flush_interval_milliseconds>
    </query_log>
</yandex>
"#,
            log = xml_escape(&self.path("log/clickhouse-server.log").display().to_string()),
            errlog = xml_escape(&self.error_log().display().to_string()),
            http_port = self.http_port,
            tcp_port = self.tcp_port,
            path = xml_escape(&format!("{}/", self.data_dir.display())),
            tmp = dir("tmp"),
            user_files = dir("user_files"),
            format_schemas = dir("format_schemas"),
            users = xml_escape(&self.path("users.xml").display().to_string()),
            cache = self.options.cache_bytes,
        );
        let users = users_xml(
            &self.accounts,
            self.options.max_query_memory_bytes,
            self.options.log_queries,
        );
        write_atomically(&self.path("users.xml"), &users)?;
        self.write_clusters(&self.options.clusters)?;
        write_atomically(&self.path("config.xml"), &config)
    }

    /// Writes (or, for none, removes) `config.d/sme-clusters.xml`.
    pub(super) fn write_clusters(&self, clusters: &[ClusterSpec]) -> Result<(), StoreError> {
        let dir = self.path("config.d");
        let path = dir.join("sme-clusters.xml");
        match clusters_xml(clusters) {
            Some(xml) => {
                fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
                write_atomically(&path, &xml)
            }
            None => match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io("remove", &path, e)),
            },
        }
    }

    /// The last lines the server wrote to its error log and stderr since `marks`.
    pub(super) fn log_tail(&self, marks: &LogMarks) -> String {
        let mut out = String::new();
        for (path, from) in [
            (self.error_log(), marks.error_log),
            (self.stderr_log(), marks.stderr),
        ] {
            let tail = tail_lines(&path, from, TAIL_LINES);
            if !tail.is_empty() {
                let _ = write!(out, "last lines of {}:\n{tail}\n", path.display());
            }
        }
        if out.is_empty() {
            out = format!("nothing in {}", self.error_log().display());
        }
        out
    }
}

/// Writes through a private (0600) temporary file: the cluster file holds a password.
fn write_atomically(path: &Path, contents: &str) -> Result<(), StoreError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("xml.tmp");
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(|e| StoreError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io("write", path, e))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sizes of the logs before a start, so errors quote only what that start wrote.
#[derive(Debug, Default)]
pub(super) struct LogMarks {
    error_log: u64,
    stderr: u64,
}

impl LogMarks {
    pub(super) fn take(layout: &Layout) -> Self {
        let len = |p: PathBuf| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Self {
            error_log: len(layout.error_log()),
            stderr: len(layout.stderr_log()),
        }
    }
}

/// The last `n` lines of `path` after byte `from` (from the start if the file was rotated).
fn tail_lines(path: &Path, from: u64, n: usize) -> String {
    const WINDOW: u64 = 16 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = if from > len { 0 } else { from };
    let start = from.max(len.saturating_sub(WINDOW));
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_config_lists_shards_and_replicas() {
        assert_eq!(clusters_xml(&[]), None);
        let xml = clusters_xml(&[ClusterSpec {
            name: "two".into(),
            shards: vec![
                vec![("127.0.0.1".into(), 9001)],
                vec![("127.0.0.1".into(), 9002), ("h<2>".into(), 9003)],
            ],
            account: Account::new("sme_ingest", "pw"),
        }])
        .unwrap();
        assert!(xml.contains("<two>\n            <shard>\n                <replica><host>127.0.0.1</host><port>9001</port><user>sme_ingest</user><password>pw</password></replica>\n            </shard>"), "{xml}");
        assert!(
            xml.contains("<host>h&lt;2&gt;</host><port>9003</port>"),
            "{xml}"
        );
        assert!(xml.ends_with("</remote_servers>\n</yandex>\n"));
    }

    #[test]
    fn users_are_the_three_accounts_by_hash_and_no_default() {
        let accounts = Accounts {
            owner: Account::new("sme_owner", "o-pass"),
            ingest: Account::new("sme_ingest", "i-pass"),
            analytics: Account::new("sme_analytics", "a-pass"),
        };
        assert!(users_xml(&accounts, 1, true).contains("<log_queries>1</log_queries>"));
        let xml = users_xml(&accounts, 1 << 30, false);
        assert!(!xml.contains("log_queries"), "{xml}");
        for (name, password) in [
            ("sme_owner", "o-pass"),
            ("sme_ingest", "i-pass"),
            ("sme_analytics", "a-pass"),
        ] {
            assert!(!xml.contains(password), "{xml}");
            let user = &xml[xml
                .find(&format!("        <{name}>\n            <password"))
                .unwrap()..];
            assert!(user.contains(&sha256_hex(password)), "{xml}");
            assert!(
                user.contains(&format!("<profile>{name}</profile>")),
                "{xml}"
            );
        }
        let users = &xml[xml.find("<users>").unwrap()..xml.find("</users>").unwrap()];
        assert!(!users.contains("<default>"), "{xml}");
        let analytics = &xml[xml.find("<sme_analytics>").unwrap()..];
        assert!(analytics.starts_with("<sme_analytics>\n            <max_memory_usage>1073741824</max_memory_usage>\n            <use_uncompressed_cache>0</use_uncompressed_cache>\n            <readonly>2</readonly>"), "{xml}");
    }

    #[test]
    fn escapes_paths_for_xml() {
        assert_eq!(xml_escape("/a&b/<c>"), "/a&amp;b/&lt;c&gt;");
    }

    #[test]
    fn tails_only_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("err.log");
        fs::write(&log, "old 1\nold 2\n").unwrap();
        let mark = fs::metadata(&log).unwrap().len();
        fs::write(&log, "old 1\nold 2\nnew 1\n\nnew 2").unwrap();
        assert_eq!(tail_lines(&log, mark, 10), "new 1\nnew 2");
        assert_eq!(tail_lines(&log, 0, 1), "new 2");
        // Rotated (shorter than the mark): read from the start.
        fs::write(&log, "fresh\n").unwrap();
        assert_eq!(tail_lines(&log, mark, 10), "fresh");
    }
}
