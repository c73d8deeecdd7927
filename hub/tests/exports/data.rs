//! The data set of the export tests and how they run an export.
//!
//! 7 platforms in 2 provinces: one in each of the counties 110101, 110102, 110105, 440305,
//! 440306, 440403 and a second in 440305; months 2026-M01..M03 and the quarter 2026-Q1; every
//! platform reports every period but platform 4 misses 2026-M02; platform 0 sends two revisions
//! of 2026-M01 (the later counts). Prefectures 110100, 440300, 440400 are in the division
//! table, so SDMX can code them.

use sme_hub::analytics::Scope;
use sme_hub::config::DemoConfig;
use sme_hub::export::output::Target;
use sme_hub::export::{self, Engine, ExportParams, ExportRequest, Requester, Silent};
use sme_hub::registry::{self, Division, Platform};
use sme_hub::store::{AcceptedReport, Store};
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Calendar, Period};
use sme_proto::v1;
use time::macros::{date, datetime};

use crate::support;

pub const SERVER: &str = "hub-exports-tests";
const COUNTIES: [&str; 6] = ["110101", "110102", "110105", "440305", "440306", "440403"];

pub fn period(s: &str) -> Period {
    s.parse().unwrap()
}

pub fn platforms() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = COUNTIES
        .iter()
        .enumerate()
        .map(|(i, c)| (make_valid(&format!("91{c}MA{i:07}")), *c))
        .collect();
    v.push((make_valid("91440305MA0000099"), "440305"));
    v
}

fn report(pid: &str, per: &str, i: usize, revision: u32) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, per);
    r.revision = revision;
    // Volumes without records (records would have to equal them): functions 1 and 3 or 6.
    r.service_records.clear();
    let n = (i as u64 + 1) * 10 + u64::from(revision) * 5;
    r.volumes = vec![
        v1::FunctionVolume {
            function: 1,
            services: n,
            enterprises_served: 1,
            free_services: n / 2,
            revenue_fen: (n as i64) * 1234 + 7,
            person_times: n * 2,
        },
        v1::FunctionVolume {
            function: if i.is_multiple_of(2) { 3 } else { 6 },
            services: 3 + i as u64,
            enterprises_served: 1,
            free_services: 1,
            revenue_fen: 99,
            person_times: 3,
        },
    ];
    if let Some(s) = r.satisfaction.as_mut() {
        s.very_satisfied = i as u64;
        s.satisfied = 2;
        s.neutral = 1;
        s.dissatisfied = 0;
        s.very_dissatisfied = 0;
        s.responses = i as u64 + 3;
    }
    r
}

/// Platform `i`'s report of `per` (revision `rev`) as stored at acceptance.
pub fn accepted(pid: &str, region: &str, per: &str, i: usize, rev: u32) -> AcceptedReport {
    AcceptedReport {
        platform_id: pid.to_owned(),
        region_code: region.to_owned(),
        received_at: datetime!(2026-04-01 10:00 +8) + time::Duration::minutes(rev.into()),
        due_at: Calendar::default().due_at(&period(per)),
        flags: Vec::new(),
        report: report(pid, per, i, rev),
    }
}

pub async fn data_set(test: &str) -> Store {
    let store = support::fresh_store(SERVER, test).await;
    registry::seed_divisions(&store).await.unwrap();
    let prefectures = [
        ("110100", "北京市市辖区"),
        ("440300", "深圳市"),
        ("440400", "珠海市"),
    ];
    let divisions: Vec<Division> = prefectures
        .iter()
        .map(|(c, n)| Division {
            revision: 2023,
            code: (*c).into(),
            name: (*n).into(),
            name_en: String::new(),
        })
        .collect();
    registry::upsert_divisions(&store, &divisions, "test", datetime!(2025-12-01 0:00 UTC))
        .await
        .unwrap();
    let list: Vec<Platform> = platforms()
        .iter()
        .enumerate()
        .map(|(i, (p, _))| Platform::new(p, &format!("测试平台{i}号"), date!(2020 - 01 - 01)))
        .collect();
    registry::upsert_platforms(&store, &list, "test", datetime!(2025-12-01 0:00 UTC))
        .await
        .unwrap();
    let mut batch = Vec::new();
    for (i, (pid, region)) in platforms().iter().enumerate() {
        for (m, per) in ["2026-M01", "2026-M02", "2026-M03", "2026-Q1"]
            .iter()
            .enumerate()
        {
            if i == 4 && *per == "2026-M02" {
                continue;
            }
            let revisions = if i == 0 && m == 0 { 2 } else { 1 };
            for rev in 0..revisions {
                batch.push(accepted(pid, region, per, i, rev));
            }
        }
    }
    store.insert_reports(&batch).await.unwrap();
    store
}

pub fn who() -> Requester {
    Requester {
        user: "tester".into(),
        role: "planner".into(),
        channel: "cli",
        address: "test".into(),
        instance: "test".into(),
    }
}

pub async fn run(
    store: &Store,
    scope: &Scope,
    params: &ExportParams,
    path: &std::path::Path,
) -> export::Finished {
    let cal = Calendar::default();
    let request = ExportRequest::parse(params, scope, &cal).unwrap();
    let demo = DemoConfig::default();
    let engine = Engine {
        store,
        calendar: &cal,
        demo: &demo,
    };
    engine
        .run(
            scope,
            &request,
            Target::File(path.to_owned()),
            &who(),
            &Silent,
        )
        .await
        .unwrap()
}

pub fn params(stat: &str, format: &str) -> ExportParams {
    ExportParams {
        statistics: Some(stat.into()),
        format: Some(format.into()),
        from: Some("2026-M01".into()),
        to: Some("2026-M03".into()),
        area_level: Some("platform".into()),
        breakdown: Some("function".into()),
        lang: Some("en".into()),
        ..Default::default()
    }
}
