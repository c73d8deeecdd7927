//! Valid sample reports for tests of every crate.
//!
//! [`sample_report`] builds a report that passes every hard rule and raises no flag for its
//! period kind (given a `now` after the period starts): service records for all seven functions
//! dated inside the period, volumes equal to the records' totals, 50 satisfaction responses,
//! and the quarterly and annual sections with numbers that meet every basic condition.
//! Change a field to provoke exactly the rule you want to test; after editing service records
//! call [`recompute_volumes`].

use time::{Duration, OffsetDateTime};

use crate::{
    credit_code,
    period::{to_timestamp, Period, PeriodKind},
    pseudonym, rules, v1,
};

/// Key the sample pseudonyms are made with.
pub const SAMPLE_KEY: &[u8] = b"sme-fixture-pseudonym-key";

/// A valid platform id registered in Beijing Haidian (region 110108).
pub fn sample_platform_id() -> String {
    credit_code::make_valid("91110108MA01C0DE8")
}

/// Another valid platform id, registered in Shenzhen (region 440300).
pub fn other_platform_id() -> String {
    credit_code::make_valid("91440300MA5F00T1X")
}

/// A pseudonym for the `n`-th sample enterprise.
pub fn sample_enterprise(n: u32) -> String {
    let code = credit_code::make_valid(&format!("9132050{:010}", n));
    pseudonym::pseudonymise(SAMPLE_KEY, &code)
}

/// Service records for all seven functions, dated inside `period`.
pub fn sample_records(period: &Period) -> Vec<v1::ServiceRecord> {
    let first = period.first_day();
    let regions = ["110108", "310115", "440300", "510107"];
    let industries = ["C", "I", "M", "F", ""];
    let mut records = Vec::new();
    for function in 1..=7i32 {
        for j in 0..(function as u32 + 2) {
            let free = j % 3 == 0;
            let offset = (function as i64 * 3 + j as i64 * 2) % 28;
            records.push(v1::ServiceRecord {
                record_id: format!("{period}-{function}-{j}"),
                date: (first + Duration::days(offset)).to_string(),
                function,
                // Firms recur across functions, as they do.
                enterprise: sample_enterprise(j % 4),
                enterprise_size: (j % 3 + 1) as i32,
                industry: industries[(j % 5) as usize].to_owned(),
                enterprise_region: regions[(j % 4) as usize].to_owned(),
                fee_fen: if free {
                    0
                } else {
                    20_000 * i64::from(function)
                },
                free,
                satisfaction: if j % 2 == 0 { 5 - j % 3 } else { 0 },
                person_times: if function == 7 { 10 + u64::from(j) } else { 0 },
            });
        }
    }
    records
}

/// Replaces `volumes` with the totals of `service_records`, keeping the E011 rule satisfied.
pub fn recompute_volumes(report: &mut v1::Report) {
    report.volumes = rules::volumes_from_records(&report.service_records);
}

/// A valid report of `platform_id` for `period` (e.g. `"2026-M05"`), with a fresh report id.
///
/// # Panics
///
/// When `period` is not a valid period code.
pub fn sample_report(platform_id: &str, period: &str) -> v1::Report {
    let p: Period = period
        .parse()
        .unwrap_or_else(|e| panic!("sample_report: {e}"));
    let quarter_or_year = p.kind() != PeriodKind::Month;
    let mut report = v1::Report {
        report_id: uuid::Uuid::new_v4().to_string(),
        platform_id: platform_id.to_owned(),
        period: period.to_owned(),
        revision: 0,
        form_version: rules::FORM_VERSIONS[0].to_owned(),
        generated_at: Some(to_timestamp(OffsetDateTime::now_utc())),
        agent_version: concat!("sme-proto-fixture/", env!("CARGO_PKG_VERSION")).to_owned(),
        volumes: Vec::new(),
        satisfaction: Some(v1::Satisfaction {
            very_satisfied: 30,
            satisfied: 12,
            neutral: 5,
            dissatisfied: 2,
            very_dissatisfied: 1,
            responses: 50,
        }),
        staff: quarter_or_year.then_some(v1::StaffComposition {
            total_staff: 30,
            professional_staff: 20,
            professional_with_college_degree: 16,
            professional_with_degree_or_mid_title: 18,
            senior_title_staff: 5,
            staff_trained: 12,
        }),
        finance: quarter_or_year.then_some(v1::Finance {
            total_revenue_fen: 500_000_000,
            service_revenue_fen: 400_000_000,
            public_funding_fen: 50_000_000,
            total_assets_fen: 800_000_000,
        }),
        disclosures: quarter_or_year.then_some(v1::Disclosures {
            content: true,
            process: true,
            standards: true,
            fees: true,
            time: true,
        }),
        capacity: (p.kind() == PeriodKind::Year).then(|| v1::Capacity {
            floor_area_m2: 1200.0,
            equipment_count: 35,
            equipment_value_fen: 250_000_000,
            shared_equipment_hours: 1800,
            certifications: vec!["CMA".into(), "CNAS".into(), "ISO 9001".into()],
            partner_universities: 3,
            partner_research_institutes: 2,
            partner_associations: 4,
            partner_service_agencies: 5,
        }),
        startups: Some(v1::Startups {
            startups_counselled: 6,
            registrations_assisted: 2,
        }),
        service_records: sample_records(&p),
        explanations: Vec::new(),
        service_records_omitted: false,
    };
    recompute_volumes(&mut report);
    report
}
