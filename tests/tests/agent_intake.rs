//! Intake through the running agent to the hub: a GBK-encoded CSV with Chinese headers (as
//! Excel on Chinese Windows saves it) and an Excel workbook arrive in ClickHouse with fees in
//! fen and pseudonymised enterprises; a malformed CSV and a malformed workbook dropped beside
//! them are quarantined with line-level reasons and hold nothing back.

use std::collections::BTreeSet;
use std::time::Duration;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use sme_proto::period::Period;
use sme_proto::pseudonym::pseudonymise;
use sme_tests::agent::{enterprise_code, profile_json, recent_months, wait_until, TestAgent};
use sme_tests::{platform, TestHub};
use time::Date;

/// A GBK CSV with Chinese headers, `YYYY/M/D` dates, Chinese function names and yuan fees.
fn gbk_csv(days: &[Date]) -> Vec<u8> {
    let mut text = String::from(
        "记录编号,服务日期,服务功能,企业信用代码,企业名称,企业规模,行业门类,企业所在地区,收费金额（元）,是否免费,满意度,服务人次\r\n",
    );
    let rows = [
        (
            "质量管理",
            0,
            "福州测试有限公司",
            "\"1,200.50\"",
            "否",
            "非常满意",
            "",
        ),
        ("人员培训", 1, "北京测试有限公司", "0", "是", "满意", "35"),
        ("技术创新", 2, "深圳测试有限公司", "88.8", "否", "", ""),
    ];
    for (i, (function, firm, name, fee, free, satisfaction, persons)) in rows.iter().enumerate() {
        let d = days[i % days.len()];
        text.push_str(&format!(
            "GBK-{i},{}/{}/{},{function},{},{name},小型,C,350102,{fee},{free},{satisfaction},{persons}\r\n",
            d.year(),
            u8::from(d.month()),
            d.day(),
            enterprise_code(*firm),
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// A records workbook (sheet 服务记录) with real date cells; `bad_function` on its second row.
fn workbook(prefix: &str, day: Date, bad_function: bool) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("服务记录").unwrap();
    let header = [
        "记录编号",
        "服务日期",
        "服务功能",
        "企业信用代码",
        "企业规模",
        "行业门类",
        "企业所在地区",
        "收费金额（元）",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write(0, c as u16, *h).unwrap();
    }
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    for i in 0..2u32 {
        let r = i + 1;
        ws.write(r, 0, format!("{prefix}-{i}")).unwrap();
        let d =
            ExcelDateTime::from_ymd(day.year() as u16, u8::from(day.month()), day.day()).unwrap();
        ws.write_datetime_with_format(r, 1, d, &date_fmt).unwrap();
        if bad_function && i == 1 {
            ws.write(r, 2, "咨询").unwrap();
        } else {
            ws.write(r, 2, 6).unwrap();
        }
        ws.write(r, 3, enterprise_code(10 + i)).unwrap();
        ws.write(r, 4, "中型").unwrap();
        ws.write(r, 5, "I").unwrap();
        ws.write(r, 6, 440305).unwrap();
        ws.write(r, 7, 19.99).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// A UTF-8 CSV with a bad date on line 3 and a mistyped credit code on line 4.
fn bad_csv(day: Date) -> Vec<u8> {
    let good = enterprise_code(1);
    let mut typo = good.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    format!(
        "\u{feff}记录编号,服务日期,服务功能,企业信用代码,企业规模,行业门类,企业所在地区,收费金额（元）\n\
         BAD-1,{day},3,{good},小型,C,350102,10\n\
         BAD-2,{}-02-30,3,{good},小型,C,350102,10\n\
         BAD-3,{day},3,{typo},小型,C,350102,10\n",
        day.year()
    )
    .into_bytes()
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct StoredRecord {
    record_id: String,
    enterprise: String,
    fee_fen: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_and_excel_files_reach_the_hub_and_bad_files_are_quarantined_with_reasons() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(307), "").await;
    let (_, m1) = recent_months();
    let days = [m1.first_day(), m1.first_day().next_day().unwrap()];

    agent.drop_file("a_records_gbk.csv", &gbk_csv(&days));
    agent.drop_file("b_bad.csv", &bad_csv(days[0]));
    agent.drop_file("c_records.xlsx", &workbook("XL", days[1], false));
    agent.drop_file("d_bad.xlsx", &workbook("XB", days[1], true));
    let periods: BTreeSet<Period> = sme_tests::agent::sendable_periods(
        &days
            .iter()
            .map(|d| sme_tests::agent::TestRecord {
                id: String::new(),
                date: *d,
                function: 1,
                enterprise: 0,
                fee_fen: 0,
            })
            .collect::<Vec<_>>(),
    );
    for p in &periods {
        agent.drop_file(&format!("e_profile-{p}.json"), &profile_json(p));
    }
    let process = agent.spawn();
    wait_until(
        Duration::from_secs(60),
        "the inbox processed and sent",
        || agent.is_settled(),
    )
    .await;
    println!("agent log:\n{}", process.log_text());
    assert!(process.terminate().success());

    // Quarantine: each bad file beside its reasons, naming line / row and column.
    let quarantine = agent.data_dir().join("quarantine");
    let csv_errors = std::fs::read_to_string(quarantine.join("b_bad.csv.errors.txt")).unwrap();
    assert!(quarantine.join("b_bad.csv").exists());
    for needle in [
        "line 3",
        "第3行",
        "服务日期",
        "line 4",
        "第4行",
        "企业信用代码",
    ] {
        assert!(csv_errors.contains(needle), "{needle:?} in:\n{csv_errors}");
    }
    let xlsx_errors = std::fs::read_to_string(quarantine.join("d_bad.xlsx.errors.txt")).unwrap();
    assert!(quarantine.join("d_bad.xlsx").exists());
    for needle in ["row 3", "服务功能", "咨询"] {
        assert!(
            xlsx_errors.contains(needle),
            "{needle:?} in:\n{xlsx_errors}"
        );
    }
    let done = agent.data_dir().join("done");
    assert!(done.join("a_records_gbk.csv").exists() && done.join("c_records.xlsx").exists());

    // The hub holds the good records only: fees in fen, enterprises pseudonymised.
    let code = m1.to_string();
    let stored: Vec<StoredRecord> = hub
        .store()
        .client()
        .query(
            "SELECT record_id, enterprise, fee_fen FROM service_records
             WHERE platform_id = ? AND period = ? AND report_id IN (
                 SELECT report_id FROM current_reports WHERE platform_id = ? AND period = ?)
             ORDER BY record_id",
        )
        .bind(&agent.platform_id)
        .bind(&code)
        .bind(&agent.platform_id)
        .bind(&code)
        .fetch_all()
        .await
        .unwrap();
    let ids: Vec<&str> = stored.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(ids, ["GBK-0", "GBK-1", "GBK-2", "XL-0", "XL-1"]);
    let fees: Vec<i64> = stored.iter().map(|r| r.fee_fen).collect();
    assert_eq!(fees, [120_050, 0, 8_880, 1_999, 1_999]);
    let key = &agent.identity.pseudonym_key;
    assert_eq!(stored[0].enterprise, pseudonymise(key, &enterprise_code(0)));
    assert_eq!(
        stored[3].enterprise,
        pseudonymise(key, &enterprise_code(10))
    );
    for r in &stored {
        assert!(
            !r.enterprise.contains("91350100"),
            "clear code at the hub: {r:?}"
        );
    }
    hub.stop().await;
}
