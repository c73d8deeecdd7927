//! Every hard rule the hub checks without history (E001–E003, E005–E011, E013) is refused over
//! the real mTLS path with INVALID_ARGUMENT, the rule id and the field path, and stores nothing.

use sme_proto::period::{Period, PeriodKind};
use sme_proto::v1;
use sme_tests::{assert_violation, fixtures, platform, TestHub};
use tonic::Code;

fn last(kind: PeriodKind) -> Period {
    Period::containing(kind, time::OffsetDateTime::now_utc())
        .unwrap()
        .previous()
        .unwrap()
}

/// One case: a name, the report to send, the expected rule id and field path.
struct Case {
    name: &'static str,
    report: v1::Report,
    rule: &'static str,
    field: &'static str,
}

fn cases(id: &str) -> Vec<Case> {
    let month = last(PeriodKind::Month).to_string();
    let quarter = last(PeriodKind::Quarter).to_string();
    let base = || fixtures::sample_report(id, &month);
    let base_q = || fixtures::sample_report(id, &quarter);
    let mut out = Vec::new();
    let mut case = |name, rule, field, edit: &dyn Fn(&mut v1::Report), quarterly: bool| {
        let mut report = if quarterly { base_q() } else { base() };
        edit(&mut report);
        out.push(Case {
            name,
            report,
            rule,
            field,
        });
    };

    case(
        "E001 malformed platform id",
        "E001",
        "platform_id",
        &|r| {
            // Right shape, wrong check character.
            let mut chars: Vec<char> = r.platform_id.chars().collect();
            chars[17] = if chars[17] == '0' { '1' } else { '0' };
            r.platform_id = chars.into_iter().collect();
        },
        false,
    );
    case(
        "E003 malformed period",
        "E003",
        "period",
        &|r| r.period = "2026-M13".into(),
        false,
    );
    case(
        "E003 future period",
        "E003",
        "period",
        &|r| {
            let next_year = time::OffsetDateTime::now_utc().year() + 1;
            r.period = format!("{next_year}-A");
        },
        false,
    );
    case(
        "E005 professional > total staff",
        "E005",
        "staff.professional_staff",
        &|r| {
            let s = r.staff.as_mut().unwrap();
            s.professional_staff = s.total_staff + 1;
        },
        true,
    );
    case(
        "E006 service revenue > total revenue",
        "E006",
        "finance.service_revenue_fen",
        &|r| {
            let f = r.finance.as_mut().unwrap();
            f.service_revenue_fen = f.total_revenue_fen + 1;
        },
        true,
    );
    case(
        "E006 negative money",
        "E006",
        "finance.public_funding_fen",
        &|r| {
            r.finance.as_mut().unwrap().public_funding_fen = -1;
        },
        true,
    );
    case(
        "E007 free services > services",
        "E007",
        "volumes[0].free_services",
        &|r| {
            r.service_records.clear();
            let v = &mut r.volumes[0];
            v.free_services = v.services + 1;
        },
        false,
    );
    case(
        "E007 enterprises > services",
        "E007",
        "volumes[1].enterprises_served",
        &|r| {
            r.service_records.clear();
            let v = &mut r.volumes[1];
            v.enterprises_served = v.services + 1;
        },
        false,
    );
    case(
        "E008 satisfaction does not sum",
        "E008",
        "satisfaction.responses",
        &|r| {
            r.satisfaction.as_mut().unwrap().responses += 1;
        },
        false,
    );
    case(
        "E009 function listed twice",
        "E009",
        "volumes[7].function",
        &|r| {
            r.service_records.clear();
            let dup = r.volumes[0];
            r.volumes.push(dup);
        },
        false,
    );
    case(
        "E009 unknown function code",
        "E009",
        "volumes[0].function",
        &|r| {
            r.service_records.clear();
            r.volumes[0].function = 9;
        },
        false,
    );
    case(
        "E010 satisfaction missing",
        "E010",
        "satisfaction",
        &|r| r.satisfaction = None,
        false,
    );
    case(
        "E010 quarterly staff missing",
        "E010",
        "staff",
        &|r| r.staff = None,
        true,
    );
    case(
        "E011 records differ from volumes",
        "E011",
        "volumes[2].services",
        &|r| {
            r.volumes[2].services += 1;
        },
        false,
    );
    case(
        "E011 record outside the period",
        "E011",
        "service_records[0].date",
        &|r| {
            r.service_records[0].date = "2001-01-01".into();
        },
        false,
    );
    case(
        "E013 unknown form version",
        "E013",
        "form_version",
        &|r| r.form_version = "99".into(),
        false,
    );
    case(
        "E013 report larger than the limit",
        "E013",
        "",
        &|r| {
            r.explanations.push(v1::Explanation {
                rule_id: "W201".into(),
                text: "x".repeat(5 * 1024 * 1024),
            });
        },
        false,
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hard_rule_is_refused_with_its_rule_id_and_field() {
    let hub = TestHub::start().await;
    let id = platform(30);
    let (_agent_dir, identity) = hub.enroll(&id).await;
    let client = hub.client(&identity.trust());
    for case in cases(&id) {
        let mut c = client.clone().max_encoding_message_size(16 * 1024 * 1024);
        let period = case.report.period.clone();
        eprintln!("case: {}", case.name);
        let result = c
            .submit_report(v1::SubmitReportRequest {
                report: Some(case.report),
            })
            .await;
        assert_violation(result, Code::InvalidArgument, case.rule, case.field);
        if period.parse::<Period>().is_ok() {
            assert!(
                hub.store()
                    .volume_totals(&id, &period)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}: something was stored",
                case.name
            );
        }
    }
    hub.stop().await;
}
