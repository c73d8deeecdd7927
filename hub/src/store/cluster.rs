//! Cluster mode: the same migrations, sharded over a ClickHouse cluster.
//!
//! Every migration statement is written for one server. In cluster mode [`plan`] rewrites it:
//!
//! | statement | becomes |
//! |---|---|
//! | `CREATE TABLE … {db}.t (…) ENGINE = XMergeTree…` | `{db}.t_local` with that engine (`ReplicatedXMergeTree('/clickhouse/tables/{shard}/<db>/t_local', '{replica}', …)` when `replicated`) on every node, and `{db}.t` = `Distributed(cluster, db, t_local, cityHash64(platform_id))` (`credit_code` in registry tables, `rand()` for tables with neither) on every node, its `MATERIALIZED` columns declared `ALIAS` (18.16 refuses inserts through a Distributed table with materialized columns; the shards compute them) |
//! | `CREATE VIEW {db}.v` over sharded tables, not grouped or grouped by `platform_id` first | `{db}.v_local` over the local tables on every node, and `{db}.v` = `Distributed` over them (so `IN (SELECT … FROM v)` becomes a `GLOBAL IN`) |
//! | `CREATE TABLE` with another engine, other `CREATE VIEW`s | unchanged, on every node (views read the Distributed tables; such a view inside an `IN` subquery of a distributed query would run on each shard: use `GLOBAL IN` there) |
//! | `ALTER TABLE {db}.t …` of a sharded `t` | on `t_local`, and column changes also on `t` |
//! | `DROP TABLE {db}.t` of a sharded `t` | both tables |
//! | `INSERT INTO {db}.t …` (seed data) | once, through the Distributed table |
//! | anything else (`CREATE MATERIALIZED VIEW`, `RENAME` …) | refused: write cluster support for it first |
//!
//! Queries keep their table names and read the Distributed tables. Sharding by platform keeps
//! every row of a platform on one shard, so a report written twice collapses in that shard's
//! `ReplacingMergeTree` like on one server, and per-platform queries touch one shard's data.
//!
//! **Where the DDL runs.** `ON CLUSTER` needs ZooKeeper or ClickHouse Keeper (the distributed
//! DDL queue). With `distributed_ddl` the hub sends each statement `ON CLUSTER` to its one URL.
//! Without it (ClickHouse 18.16 as Debian ships it, no ZooKeeper) the hub connects to every URL
//! in `cluster_nodes` and applies each pending migration there itself; each node records its own
//! `schema_migrations`, so a node added later or a run interrupted half-way catches up at the
//! next start. The hub checks first that the listed nodes cover every shard and replica of the
//! cluster in `system.clusters`.
//!
//! The store's client sets `insert_distributed_sync = 1` (an insert returns only when every
//! shard has its rows, so a receipt still means stored) and `distributed_product_mode = global`
//! (an `IN (SELECT … FROM distributed)` inside a distributed query is computed once on the
//! initiator, so the single-server SQL gives the same answers).

use std::collections::{BTreeSet, HashSet};

use clickhouse::{Client, Row};
use serde::Deserialize;

use super::ddl;
use super::migrations::{Migration, MIGRATIONS};
use super::StoreError;

/// How the store spreads its tables over a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Cluster name in the servers' `remote_servers`.
    pub name: String,
    /// HTTP URL of every node (needed without `distributed_ddl`).
    pub nodes: Vec<String>,
    /// Run DDL `ON CLUSTER` (needs ZooKeeper or Keeper).
    pub distributed_ddl: bool,
    /// `Replicated*MergeTree` local tables (needs ZooKeeper or Keeper).
    pub replicated: bool,
}

/// One statement of a cluster plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ddl {
    pub sql: String,
    pub scope: Scope,
}

/// Where a planned statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// On every node (or once `ON CLUSTER`).
    EachNode,
    /// Once, through the store's URL.
    Once,
}

/// Suffix of the local tables behind the Distributed ones.
pub const LOCAL_SUFFIX: &str = "_local";

/// The tables the migrations create with a `MergeTree`-family engine (sharded in cluster mode).
pub(crate) fn sharded_tables(migrations: &[Migration]) -> HashSet<String> {
    migrations
        .iter()
        .flat_map(|m| m.statements.iter())
        .filter_map(|s| parse_create_table(s))
        .filter(|t| t.engine_name.ends_with("MergeTree"))
        .map(|t| t.name.to_owned())
        .collect()
}

/// Rewrites one migration statement (with its `{db}` placeholder) for the cluster.
pub(crate) fn plan(
    statement: &str,
    database: &str,
    sharded: &HashSet<String>,
    c: &ClusterOptions,
) -> Result<Vec<Ddl>, StoreError> {
    let db = ddl::quote_database(database)?;
    let on = if c.distributed_ddl {
        format!(" ON CLUSTER `{}`", c.name)
    } else {
        String::new()
    };
    let each = |sql: String| Ddl {
        sql: sql.replace("{db}", &db),
        scope: Scope::EachNode,
    };
    let s = statement.trim();
    let unsupported = || {
        StoreError::Unsupported(format!(
            "cluster mode cannot place this migration statement yet: {:?}; extend \
             store/cluster.rs::plan before releasing it",
            s.lines().next().unwrap_or_default()
        ))
    };

    if let Some(t) = parse_create_table(s) {
        if !t.engine_name.ends_with("MergeTree") {
            return Ok(vec![each(insert_after(s, t.name_end, &on))]);
        }
        let local = format!("{}{LOCAL_SUFFIX}", t.name);
        let engine = if c.replicated && !t.engine_name.starts_with("Replicated") {
            let path = format!("'/clickhouse/tables/{{shard}}/{database}/{local}', '{{replica}}'");
            let args = t.engine_args.map(str::trim).unwrap_or("");
            if args.is_empty() {
                format!("Replicated{}({path})", t.engine_name)
            } else {
                format!("Replicated{}({path}, {args})", t.engine_name)
            }
        } else {
            s[t.engine_start..t.engine_end].to_owned()
        };
        let local_sql = format!(
            "CREATE TABLE IF NOT EXISTS {{db}}.{local}{on} {columns} ENGINE = {engine}{rest}",
            columns = t.columns,
            rest = &s[t.engine_end..],
        );
        // Every row of a platform on one shard (its credit code in registry tables).
        let key = ["platform_id", "credit_code"]
            .iter()
            .find(|c| has_column(t.columns, c))
            .map_or("rand()".to_owned(), |c| format!("cityHash64({c})"));
        let distributed_sql = format!(
            "CREATE TABLE IF NOT EXISTS {{db}}.{name}{on} {columns} ENGINE = Distributed('{cluster}', '{database}', '{local}', {key})",
            name = t.name,
            columns = materialized_as_alias(t.columns),
            cluster = c.name,
        );
        return Ok(vec![each(local_sql), each(distributed_sql)]);
    }
    if s.starts_with("CREATE MATERIALIZED VIEW") {
        return Err(unsupported());
    }
    if let Some(name_end) = qualified_name_end(s, "CREATE VIEW IF NOT EXISTS ") {
        let name = &s["CREATE VIEW IF NOT EXISTS {db}.".len()..name_end];
        let body = &s[name_end..];
        let reads_sharded = sharded.iter().any(|t| !find_table(body, t).is_empty());
        // Grouped by platform first (or not grouped): every group lives on one shard, so the
        // view computed per shard and unioned is the view of the whole.
        let per_platform = !body.contains("GROUP BY") || body.contains("GROUP BY platform_id");
        if reads_sharded && per_platform {
            let local = format!("{name}{LOCAL_SUFFIX}");
            return Ok(vec![
                each(format!(
                    "CREATE VIEW IF NOT EXISTS {{db}}.{local}{on}{}",
                    localize(body, sharded)
                )),
                each(format!(
                    "CREATE TABLE IF NOT EXISTS {{db}}.{name}{on} AS {{db}}.{local} ENGINE = Distributed('{cluster}', '{database}', '{local}', rand())",
                    cluster = c.name,
                )),
            ]);
        }
        return Ok(vec![each(insert_after(s, name_end, &on))]);
    }
    if let Some(name_end) = qualified_name_end(s, "ALTER TABLE ") {
        let name = &s["ALTER TABLE {db}.".len()..name_end];
        if !sharded.contains(name) {
            return Ok(vec![each(insert_after(s, name_end, &on))]);
        }
        let rest = &s[name_end..];
        let mut out = vec![each(format!(
            "ALTER TABLE {{db}}.{name}{LOCAL_SUFFIX}{on}{rest}"
        ))];
        let upper = rest.to_ascii_uppercase();
        let column_change = [
            "ADD COLUMN",
            "DROP COLUMN",
            "MODIFY COLUMN",
            "RENAME COLUMN",
        ]
        .iter()
        .any(|k| upper.contains(k));
        if column_change {
            out.push(each(format!(
                "ALTER TABLE {{db}}.{name}{on}{}",
                materialized_as_alias(rest)
            )));
        }
        return Ok(out);
    }
    if let Some(name_end) = qualified_name_end(s, "DROP TABLE IF EXISTS ") {
        let name = &s["DROP TABLE IF EXISTS {db}.".len()..name_end];
        let mut out = vec![each(insert_after(s, name_end, &on))];
        if sharded.contains(name) {
            out.push(each(format!(
                "DROP TABLE IF EXISTS {{db}}.{name}{LOCAL_SUFFIX}{on}"
            )));
        }
        return Ok(out);
    }
    if s.starts_with("INSERT INTO {db}.") {
        return Ok(vec![Ddl {
            sql: s.replace("{db}", &db),
            scope: Scope::Once,
        }]);
    }
    Err(unsupported())
}

/// A parsed `CREATE TABLE IF NOT EXISTS {db}.name (columns) ENGINE = Engine(args) rest`.
struct CreateTable<'a> {
    name: &'a str,
    name_end: usize,
    /// `(…)` including the parentheses.
    columns: &'a str,
    engine_name: &'a str,
    engine_args: Option<&'a str>,
    /// Byte range of `Engine(args)` in the statement.
    engine_start: usize,
    engine_end: usize,
}

fn parse_create_table(s: &str) -> Option<CreateTable<'_>> {
    let s_trim = s.trim();
    let offset = s.len() - s.trim_start().len();
    let name_end = qualified_name_end(s_trim, "CREATE TABLE IF NOT EXISTS ")? + offset;
    let name = &s["CREATE TABLE IF NOT EXISTS {db}.".len() + offset..name_end];
    let open = name_end + s[name_end..].find('(')?;
    let close = matching_paren(s, open)?;
    let columns = &s[open..=close];
    let after = &s[close + 1..];
    let engine_kw = after.find("ENGINE")?;
    let mut engine_start = close + 1 + engine_kw + "ENGINE".len();
    engine_start += s[engine_start..].len() - s[engine_start..].trim_start().len();
    engine_start += s[engine_start..].strip_prefix('=').map_or(0, |_| 1);
    engine_start += s[engine_start..].len() - s[engine_start..].trim_start().len();
    let ident_len = s[engine_start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len() - engine_start);
    let engine_name = &s[engine_start..engine_start + ident_len];
    let mut engine_end = engine_start + ident_len;
    let mut engine_args = None;
    if s[engine_end..].starts_with('(') {
        let close = matching_paren(s, engine_end)?;
        engine_args = Some(&s[engine_end + 1..close]);
        engine_end = close + 1;
    }
    Some(CreateTable {
        name,
        name_end,
        columns,
        engine_name,
        engine_args,
        engine_start,
        engine_end,
    })
}

/// The end of `{db}.name` right after `prefix`, if `s` starts with `prefix{db}.`.
fn qualified_name_end(s: &str, prefix: &str) -> Option<usize> {
    let rest = s.strip_prefix(prefix)?.strip_prefix("{db}.")?;
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (len > 0).then_some(prefix.len() + "{db}.".len() + len)
}

/// Byte offsets just past each `{db}.table` (as a whole name) in `sql`.
fn find_table(sql: &str, table: &str) -> Vec<usize> {
    let needle = format!("{{db}}.{table}");
    sql.match_indices(&needle)
        .map(|(i, _)| i + needle.len())
        .filter(|&end| {
            !sql[end..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect()
}

/// `sql` reading the local tables instead of the Distributed ones.
fn localize(sql: &str, sharded: &HashSet<String>) -> String {
    let mut ends: Vec<usize> = sharded.iter().flat_map(|t| find_table(sql, t)).collect();
    ends.sort_unstable();
    let mut out = String::with_capacity(sql.len() + ends.len() * LOCAL_SUFFIX.len());
    let mut last = 0;
    for end in ends {
        out.push_str(&sql[last..end]);
        out.push_str(LOCAL_SUFFIX);
        last = end;
    }
    out.push_str(&sql[last..]);
    out
}

fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in s[open..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn insert_after(s: &str, at: usize, what: &str) -> String {
    format!("{}{what}{}", &s[..at], &s[at..])
}

fn has_column(columns: &str, name: &str) -> bool {
    columns
        .trim_start_matches('(')
        .split(['\n', ','])
        .any(|line| line.split_whitespace().next() == Some(name))
}

fn materialized_as_alias(columns: &str) -> String {
    columns.replace(" MATERIALIZED ", " ALIAS ")
}

// === applying a plan ===

#[derive(Debug, Row, Deserialize)]
struct ClusterMember {
    shard_num: u32,
    replica_num: u32,
    host_name: String,
    port: u16,
}

/// Applies every pending migration to the cluster; returns the versions applied anywhere.
pub(crate) async fn migrate(
    client: &Client,
    database: &str,
    c: &ClusterOptions,
) -> Result<Vec<u32>, StoreError> {
    let sharded = sharded_tables(MIGRATIONS);
    // Plan everything first, so a statement cluster mode cannot place fails before any change.
    for m in MIGRATIONS {
        for s in m.statements {
            plan(s, database, &sharded, c)?;
        }
    }
    let db = ddl::quote_database(database)?;
    let setup = |source| StoreError::Migration {
        version: 0,
        name: "database and schema_migrations",
        source: Box::new(source),
    };
    let on = if c.distributed_ddl {
        format!(" ON CLUSTER `{}`", c.name)
    } else {
        String::new()
    };
    let nodes: Vec<Client> = if c.distributed_ddl {
        vec![client.clone()]
    } else {
        c.nodes.iter().map(|u| client.clone().with_url(u)).collect()
    };
    if !c.distributed_ddl {
        check_membership(client, c).await.map_err(setup)?;
    }
    for node in &nodes {
        ddl::execute_ddl(
            &node.clone().with_database("system"),
            &format!("CREATE DATABASE IF NOT EXISTS {db}{on}"),
        )
        .await
        .map_err(setup)?;
        let node = node.clone().with_database(database);
        let ddl = ddl::schema_migrations_ddl(&db).replacen(
            "schema_migrations (",
            &format!("schema_migrations{on} ("),
            1,
        );
        ddl::execute_ddl(&node, &ddl).await.map_err(setup)?;
    }
    let nodes: Vec<Client> = nodes
        .into_iter()
        .map(|n| n.with_database(database))
        .collect();
    let main = client.clone().with_database(database);
    let mut applied = Vec::with_capacity(nodes.len());
    for node in &nodes {
        applied.push(ddl::applied_versions(node).await.map_err(setup)?);
    }
    let mut newly = BTreeSet::new();
    for m in MIGRATIONS {
        let lacking: Vec<usize> = (0..nodes.len())
            .filter(|&i| !applied[i].contains(&m.version))
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let failed = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source: Box::new(source),
        };
        for s in m.statements {
            for ddl in plan(s, database, &sharded, c)? {
                match ddl.scope {
                    Scope::EachNode => {
                        for &i in &lacking {
                            ddl::execute_ddl(&nodes[i], &ddl.sql)
                                .await
                                .map_err(failed)?;
                        }
                    }
                    // Seed data goes in once: only when the first node had not applied it.
                    Scope::Once if lacking.first() == Some(&0) => {
                        ddl::execute_ddl(&main, &ddl.sql).await.map_err(failed)?;
                    }
                    Scope::Once => {}
                }
            }
        }
        for &i in &lacking {
            ddl::record_version(&nodes[i], m).await.map_err(failed)?;
        }
        tracing::info!(
            database,
            cluster = %c.name,
            version = m.version,
            name = m.name,
            nodes = lacking.len(),
            "applied ClickHouse migration on the cluster"
        );
        newly.insert(m.version);
    }
    Ok(newly.into_iter().collect())
}

/// Every shard and replica of the cluster must be one of the listed nodes, or its local tables
/// would be missing.
async fn check_membership(client: &Client, c: &ClusterOptions) -> Result<(), StoreError> {
    let members: Vec<ClusterMember> = client
        .query(
            "SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = ?",
        )
        .bind(&c.name)
        .fetch_all()
        .await
        .map_err(|e| StoreError::from_client("read system.clusters", e))?;
    if members.is_empty() {
        return Err(StoreError::Config {
            setting: "clickhouse.cluster",
            reason: format!(
                "the server at [clickhouse] url has no cluster {:?} in its remote_servers",
                c.name
            ),
        });
    }
    let mut covered = HashSet::new();
    for url in &c.nodes {
        let local: Vec<(u32, u32)> = client
            .clone()
            .with_url(url)
            .query(
                "SELECT shard_num, replica_num FROM system.clusters WHERE cluster = ? AND is_local",
            )
            .bind(&c.name)
            .fetch_all()
            .await
            .map_err(|e| StoreError::from_client(format!("read system.clusters at {url}"), e))?;
        if local.is_empty() {
            tracing::warn!(node = %url, cluster = %c.name, "listed node does not see itself in the cluster");
        }
        covered.extend(local);
    }
    let missing: Vec<String> = members
        .iter()
        .filter(|m| !covered.contains(&(m.shard_num, m.replica_num)))
        .map(|m| {
            format!(
                "shard {} replica {} ({}:{})",
                m.shard_num, m.replica_num, m.host_name, m.port
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Config {
            setting: "clickhouse.cluster_nodes",
            reason: format!(
                "no listed node is {}; add the HTTP URL of each so the hub can create its tables",
                missing.join(", ")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(distributed_ddl: bool, replicated: bool) -> ClusterOptions {
        ClusterOptions {
            name: "national".into(),
            nodes: vec!["http://a:8123".into(), "http://b:8123".into()],
            distributed_ddl,
            replicated,
        }
    }

    #[test]
    fn every_migration_has_a_cluster_plan() {
        let sharded = sharded_tables(MIGRATIONS);
        for c in [
            opts(false, false),
            opts(true, false),
            opts(true, true),
            opts(false, true),
        ] {
            for m in MIGRATIONS {
                for s in m.statements {
                    let plan = plan(s, "sme", &sharded, &c)
                        .unwrap_or_else(|e| panic!("migration {}: {e}", m.version));
                    for ddl in plan {
                        assert!(!ddl.sql.contains("{db}"), "{}", ddl.sql);
                        assert_eq!(
                            ddl.sql.contains("ON CLUSTER"),
                            c.distributed_ddl && ddl.scope == Scope::EachNode,
                            "{}",
                            ddl.sql
                        );
                    }
                }
            }
        }
        for t in ["reports", "service_volume", "service_records", "audit"] {
            assert!(sharded.contains(t), "{t}");
        }
    }

    #[test]
    fn a_merge_tree_becomes_local_plus_distributed_by_platform() {
        let sharded = sharded_tables(MIGRATIONS);
        let reports = MIGRATIONS[0].statements[0];
        let plan = plan(reports, "sme", &sharded, &opts(false, false)).unwrap();
        assert_eq!(plan.len(), 2);
        let (local, dist) = (&plan[0].sql, &plan[1].sql);
        assert!(
            local.starts_with("CREATE TABLE IF NOT EXISTS `sme`.reports_local ("),
            "{local}"
        );
        assert!(
            local.contains(") ENGINE = ReplacingMergeTree(receipt_rank)\nPARTITION BY"),
            "{local}"
        );
        assert!(
            local.contains("receipt_rank UInt32 MATERIALIZED"),
            "{local}"
        );
        assert!(
            dist.starts_with("CREATE TABLE IF NOT EXISTS `sme`.reports ("),
            "{dist}"
        );
        assert!(
            dist.ends_with(
                "ENGINE = Distributed('national', 'sme', 'reports_local', cityHash64(platform_id))"
            ),
            "{dist}"
        );
        assert!(dist.contains("receipt_rank UInt32 ALIAS"), "{dist}");
        assert!(!dist.contains("MATERIALIZED"), "{dist}");
    }

    #[test]
    fn replicated_engines_and_on_cluster() {
        let sharded = sharded_tables(MIGRATIONS);
        let reports = MIGRATIONS[0].statements[0];
        let plan = plan(reports, "sme", &sharded, &opts(true, true)).unwrap();
        assert!(
            plan[0]
                .sql
                .contains("`sme`.reports_local ON CLUSTER `national` (\n    report_id UUID"),
            "{}",
            plan[0].sql
        );
        assert!(
            plan[0].sql.contains(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/sme/reports_local', '{replica}', receipt_rank)"
            ),
            "{}",
            plan[0].sql
        );
        assert!(plan[1]
            .sql
            .contains("`sme`.reports ON CLUSTER `national` ("));
        let audit = MIGRATIONS[1].statements[0];
        let plan = super::plan(audit, "sme", &sharded, &opts(false, true)).unwrap();
        assert!(
            plan[0]
                .sql
                .contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/sme/audit_local', '{replica}')\nPARTITION"),
            "{}",
            plan[0].sql
        );
    }

    #[test]
    fn views_alters_drops_and_seed_inserts() {
        let sharded = sharded_tables(MIGRATIONS);
        let c = opts(true, false);
        // A view grouped by platform: per-shard view plus a Distributed table over them.
        let view = MIGRATIONS[2].statements[0];
        let p = plan(view, "sme", &sharded, &c).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].sql.starts_with(
            "CREATE VIEW IF NOT EXISTS `sme`.current_reports_local ON CLUSTER `national` AS"
        ));
        assert!(
            p[0].sql.contains("FROM `sme`.reports_local\n"),
            "{}",
            p[0].sql
        );
        assert_eq!(
            p[1].sql,
            "CREATE TABLE IF NOT EXISTS `sme`.current_reports ON CLUSTER `national` AS `sme`.current_reports_local ENGINE = Distributed('national', 'sme', 'current_reports_local', rand())"
        );
        // Grouped otherwise: stays a view over the Distributed tables.
        let regional = "CREATE VIEW IF NOT EXISTS {db}.by_region AS SELECT region_code, count() FROM {db}.reports GROUP BY region_code";
        let p = plan(regional, "sme", &sharded, &c).unwrap();
        assert_eq!(p.len(), 1);
        assert!(
            p[0].sql.contains("FROM `sme`.reports GROUP BY"),
            "{}",
            p[0].sql
        );
        assert_eq!(
            localize("a {db}.reports b {db}.reports_x {db}.audit", &sharded),
            "a {db}.reports_local b {db}.reports_x {db}.audit_local"
        );

        let alter = "ALTER TABLE {db}.reports ADD COLUMN x String MATERIALIZED lower(platform_id)";
        let p = plan(alter, "sme", &sharded, &c).unwrap();
        assert_eq!(
            p.iter().map(|d| d.sql.as_str()).collect::<Vec<_>>(),
            [
                "ALTER TABLE `sme`.reports_local ON CLUSTER `national` ADD COLUMN x String MATERIALIZED lower(platform_id)",
                "ALTER TABLE `sme`.reports ON CLUSTER `national` ADD COLUMN x String ALIAS lower(platform_id)",
            ]
        );
        let mutation = "ALTER TABLE {db}.audit DELETE WHERE 1";
        assert_eq!(plan(mutation, "sme", &sharded, &c).unwrap().len(), 1);

        let drop = "DROP TABLE IF EXISTS {db}.audit";
        assert_eq!(
            plan(drop, "sme", &sharded, &opts(false, false))
                .unwrap()
                .len(),
            2
        );

        let seed = "INSERT INTO {db}.regions VALUES ('110000', 'Beijing')";
        let p = plan(seed, "sme", &sharded, &c).unwrap();
        assert_eq!(p[0].scope, Scope::Once);
        assert!(!p[0].sql.contains("ON CLUSTER"));

        let mv = "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.m AS SELECT 1";
        let err = plan(mv, "sme", &sharded, &c).unwrap_err().to_string();
        assert!(err.contains("cluster.rs"), "{err}");
    }

    #[test]
    fn tables_without_platform_shard_randomly_and_other_engines_stay() {
        let sharded = HashSet::new();
        let c = opts(false, false);
        let t = "CREATE TABLE IF NOT EXISTS {db}.regions (\n    code String,\n    name String\n) ENGINE = ReplacingMergeTree ORDER BY code";
        let p = plan(t, "sme", &sharded, &c).unwrap();
        assert!(
            p[1].sql.ends_with("'regions_local', rand())"),
            "{}",
            p[1].sql
        );
        assert!(
            p[0].sql
                .ends_with("ENGINE = ReplacingMergeTree ORDER BY code"),
            "{}",
            p[0].sql
        );
        let m = "CREATE TABLE IF NOT EXISTS {db}.scratch (x UInt8) ENGINE = Memory";
        assert_eq!(plan(m, "sme", &sharded, &c).unwrap().len(), 1);
    }
}
