//! Cluster mode: two real ClickHouse servers as the two shards of one cluster (no ZooKeeper;
//! the hub creates the local and Distributed tables on each node), against a single server
//! holding the same data. The analytics answers must be equal.

use std::collections::BTreeSet;

use sme_hub::store::{
    Accounts, ClickHouseConfig, ClusterOptions, ClusterSpec, EmbeddedClickHouse, EmbeddedOptions,
    Store, StoreOptions,
};
use sme_tests::load::{self, LoadConfig};

const CLUSTER: &str = "sme_test";

/// Per-region and per-function sums of the current revision of every (platform, period), and
/// distinct enterprises reached per enterprise region — the kind of query the dashboards run.
const REGION_SUMS: &str = "
SELECT province_code, function, sum(services), sum(enterprises_served), sum(revenue_fen)
FROM service_volume
WHERE report_id IN (SELECT report_id FROM current_reports)
GROUP BY province_code, function
ORDER BY province_code, function";

const REACH: &str = "
SELECT enterprise_province_code, uniqExact(enterprise), count()
FROM (SELECT DISTINCT report_id, record_index, enterprise_province_code, enterprise
      FROM service_records WHERE report_id IN (SELECT report_id FROM current_reports))
GROUP BY enterprise_province_code
ORDER BY enterprise_province_code";

const CURRENT: &str = "
SELECT platform_id, period, toString(report_id), revision FROM current_reports
ORDER BY platform_id, period";

async fn store(
    url: &str,
    accounts: &Accounts,
    database: &str,
    cluster: Option<ClusterOptions>,
) -> Store {
    Store::connect_with(
        &ClickHouseConfig {
            url: url.to_owned(),
            database: database.to_owned(),
            accounts: accounts.clone(),
        },
        &StoreOptions {
            cluster,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("store on {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_answer_like_one_server() {
    sme_tests::init_tracing();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // One password file for both servers: one set of accounts logs in on every node.
    let shared = EmbeddedOptions {
        accounts_file: Some(dir_a.path().join("sme-accounts.toml")),
        ..EmbeddedOptions::default()
    };
    let a = EmbeddedClickHouse::start_with(dir_a.path(), shared.clone())
        .await
        .unwrap();
    let b = EmbeddedClickHouse::start_with(dir_b.path(), shared)
        .await
        .unwrap();
    let accounts = a.accounts().clone();
    let spec = ClusterSpec::one_replica_per_shard(CLUSTER, &[&a, &b]);
    a.set_clusters(std::slice::from_ref(&spec)).await.unwrap();
    b.set_clusters(std::slice::from_ref(&spec)).await.unwrap();

    let options = ClusterOptions {
        name: CLUSTER.into(),
        nodes: vec![a.http_url(), b.http_url()],
        distributed_ddl: false,
        replicated: false,
    };
    let cluster = store(&a.http_url(), &accounts, "sme", Some(options.clone())).await;
    // A second hub connecting to the other node finds the schema in place.
    let cluster_via_b = store(&b.http_url(), &accounts, "sme", Some(options)).await;
    let single = store(&a.http_url(), &accounts, "single", None).await;

    // 600 platforms in 30 regions, months and quarters; then corrections (revision 1) for a
    // fifth of them, and one batch written twice (a retried insert).
    let cfg = LoadConfig {
        agents: 600,
        invalid_rate: 0.0,
        ..LoadConfig::default()
    };
    let (month, quarter) = load::recent_periods();
    let mut batch = Vec::new();
    for n in 1..=cfg.agents as u32 {
        for planned in load::plan_reports(n, &cfg, &month, &quarter) {
            let platform_id = load::sim_platform(n);
            batch.push(sme_hub::store::AcceptedReport {
                region_code: sme_proto::credit_code::region_code(&platform_id).to_owned(),
                platform_id,
                due_at: sme_proto::period::Calendar::default().due_at(
                    &planned
                        .report
                        .period
                        .parse()
                        .expect("planned periods are valid"),
                ),
                report: planned.report,
                received_at: time::OffsetDateTime::now_utc(),
                flags: Vec::new(),
            });
        }
    }
    let mut corrections: Vec<_> = batch
        .iter()
        .step_by(5)
        .map(|r| {
            let mut c = r.clone();
            c.report.report_id = uuid::Uuid::new_v4().to_string();
            c.report.revision = 1;
            for v in &mut c.report.volumes {
                v.services += 7;
            }
            c.report.service_records.clear();
            c.received_at += time::Duration::seconds(1);
            c
        })
        .collect();
    let retried = corrections.split_off(corrections.len() / 2);
    for s in [&cluster, &single] {
        s.insert_reports(&batch).await.unwrap();
        s.insert_reports(&corrections).await.unwrap();
        s.insert_reports(&retried).await.unwrap();
        s.insert_reports(&retried).await.unwrap();
    }

    // The rows really are spread over both shards, by platform.
    for node in [&a, &b] {
        let local = store(&node.http_url(), &accounts, "sme", None).await;
        let (rows, platforms): (u64, u64) = local
            .client()
            .query("SELECT count(), uniqExact(platform_id) FROM reports_local")
            .fetch_one()
            .await
            .unwrap();
        assert!(
            rows > 100 && platforms > 100,
            "{rows} rows, {platforms} platforms"
        );
    }
    let overlap: u64 = cluster
        .client()
        .query("SELECT count() FROM (SELECT platform_id FROM reports GROUP BY platform_id HAVING uniqExact(_shard_num) > 1)")
        .fetch_one()
        .await
        .unwrap_or(0);
    assert_eq!(overlap, 0, "a platform's rows span shards");

    // Same answers.
    type Sums = Vec<(String, u8, u64, u64, i64)>;
    type Reach = Vec<(String, u64, u64)>;
    type Current = Vec<(String, String, String, u32)>;
    for s in [&cluster, &cluster_via_b] {
        let got: Sums = s.client().query(REGION_SUMS).fetch_all().await.unwrap();
        let want: Sums = single
            .client()
            .query(REGION_SUMS)
            .fetch_all()
            .await
            .unwrap();
        assert!(!want.is_empty());
        assert_eq!(got, want);
        let got: Reach = s.client().query(REACH).fetch_all().await.unwrap();
        let want: Reach = single.client().query(REACH).fetch_all().await.unwrap();
        assert_eq!(got, want);
        let got: Current = s.client().query(CURRENT).fetch_all().await.unwrap();
        let want: Current = single.client().query(CURRENT).fetch_all().await.unwrap();
        assert_eq!(got.len(), batch.len());
        assert_eq!(got, want);
    }
    let mut pairs = BTreeSet::new();
    for r in &batch {
        pairs.insert((r.platform_id.clone(), r.report.period.clone()));
    }
    for (platform_id, period) in pairs.iter().step_by(7) {
        assert_eq!(
            cluster.volume_totals(platform_id, period).await.unwrap(),
            single.volume_totals(platform_id, period).await.unwrap(),
            "{platform_id} {period}"
        );
    }
    // The batched lookups find the same stored reports.
    let keys: Vec<_> = corrections
        .iter()
        .chain(&retried)
        .take(500)
        .map(|r| sme_hub::store::LookupKey {
            report_id: r.report.report_id.parse().unwrap(),
            platform_id: r.platform_id.clone(),
            period: r.report.period.clone(),
            revision: 1,
        })
        .collect();
    let (got, want) = (
        cluster.find_batch(&keys).await.unwrap(),
        single.find_batch(&keys).await.unwrap(),
    );
    assert_eq!(got.receipts.len(), keys.len());
    assert_eq!(got.receipts, want.receipts);
    assert_eq!(got.revisions, want.revisions);
    a.stop().await;
    b.stop().await;
}
