//! The other statistics read back from CSV equal their views: staff and basic conditions,
//! completeness and the missing platforms, layout and coverage, demo candidates.

use std::collections::HashMap;

use sme_hub::analytics::completeness;
use sme_hub::analytics::demo::{self, TierFilter};
use sme_hub::analytics::layout;
use sme_hub::analytics::staff;
use sme_hub::analytics::{Filter, Scope};
use sme_hub::config::DemoConfig;
use sme_proto::period::Calendar;

use crate::data::{data_set, params, period, platforms, run};
use crate::formats::read_csv;

/// Exports `stat` as English CSV at `level` over `from..=to`: headers and rows.
async fn export_csv(
    store: &sme_hub::store::Store,
    stat: &str,
    level: &str,
    from: &str,
    to: &str,
) -> (Vec<String>, Vec<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    let mut p = params(stat, "csv");
    p.breakdown = None;
    p.area_level = Some(level.into());
    p.from = Some(from.into());
    p.to = Some(to.into());
    run(store, &Scope::operator(), &p, &path).await;
    read_csv(&path)
}

fn cell<'a>(h: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = h
        .iter()
        .position(|x| x == name)
        .unwrap_or_else(|| panic!("{name} in {h:?}"));
    &row[i]
}

fn num(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().unwrap())
}

#[tokio::test]
async fn staff_and_completeness_rows_equal_their_views() {
    let store = data_set("staff").await;
    let scope = Scope::operator();
    let cal = Calendar::default();

    // Staff, quarterly, by province: the view's rows one level below the country.
    let (h, rows) = export_csv(&store, "staff", "province", "2026-Q1", "2026-Q1").await;
    let filter = Filter::new(&scope, period("2026-Q1"), period("2026-Q1"))
        .unwrap()
        .with_calendar(&cal);
    let view = staff::staff(&store, &scope, &filter).await.unwrap();
    let by_key: HashMap<&str, &staff::StaffRow> =
        view.rows.iter().map(|r| (r.key.as_str(), r)).collect();
    assert_eq!(rows.len(), view.rows.len() + 1);
    for r in &rows {
        let v = if cell(&h, r, "row type") == "total" {
            &view.total
        } else {
            by_key[cell(&h, r, "region code")]
        };
        assert_eq!(
            num(cell(&h, r, "reports")),
            Some(v.coverage.reported as f64)
        );
        assert_eq!(
            num(cell(&h, r, "expected reports")),
            Some(v.coverage.expected as f64)
        );
        assert_eq!(
            num(cell(&h, r, "professional staff")),
            Some(v.professional_staff as f64)
        );
        assert_eq!(num(cell(&h, r, "degree share")), v.degree_share);
        assert_eq!(num(cell(&h, r, "W101 share")), v.w101_degree_share.share);
        assert_eq!(
            num(cell(&h, r, "W103 meeting")),
            Some(v.w103_disclosures.meeting as f64)
        );
        assert_eq!(
            num(cell(&h, r, "service revenue share")),
            v.service_revenue_share
        );
    }

    // Completeness per month by province, and its missing platforms.
    let (h, rows) = export_csv(&store, "completeness", "province", "2026-M01", "2026-M03").await;
    for month in ["2026-M01", "2026-M02", "2026-M03"] {
        let c = completeness::completeness(&store, &cal, &scope, &period(month), None)
            .await
            .unwrap();
        let of_month: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| cell(&h, r, "period") == month)
            .collect();
        assert_eq!(of_month.len(), c.regions.len() + 1, "{month}");
        for r in of_month {
            let v = if cell(&h, r, "row type") == "total" {
                &c.total
            } else {
                c.regions
                    .iter()
                    .find(|x| x.region_code == cell(&h, r, "region code"))
                    .unwrap()
            };
            assert_eq!(num(cell(&h, r, "expected")), Some(v.expected as f64));
            assert_eq!(num(cell(&h, r, "received")), Some(v.received as f64));
            assert_eq!(num(cell(&h, r, "on time")), Some(v.on_time as f64));
            assert_eq!(num(cell(&h, r, "reporting rate")), Some(v.rate()));
        }
    }
    let grand = rows
        .iter()
        .find(|r| cell(&h, r, "row type") == "grand total (all periods)")
        .unwrap();
    assert_eq!(
        num(cell(&h, grand, "expected")),
        Some(21.0),
        "7 platforms × 3 months"
    );
    assert_eq!(
        num(cell(&h, grand, "received")),
        Some(20.0),
        "platform 4 missed M02"
    );

    let (h, rows) = export_csv(&store, "missing", "platform", "2026-M01", "2026-M03").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(cell(&h, &rows[0], "platform credit code"), platforms()[4].0);
    assert_eq!(cell(&h, &rows[0], "period"), "2026-M02");
    assert!(cell(&h, &rows[0], "due (UTC+8)").starts_with("2026-03-10T23:59:59"));
}

#[tokio::test]
async fn coverage_and_demo_rows_equal_their_views() {
    let store = data_set("coverage").await;
    let scope = Scope::operator();
    let cal = Calendar::default();
    let filter = Filter::new(&scope, period("2026-M03"), period("2026-M03"))
        .unwrap()
        .with_calendar(&cal);

    let (h, rows) = export_csv(&store, "coverage", "province", "2026-M03", "2026-M03").await;
    let view = layout::layout(&store, &scope, &filter).await.unwrap();
    assert_eq!(rows.len(), view.rows.len() + 1);
    for (r, v) in rows.iter().zip(view.rows.iter().chain([&view.total])) {
        assert_eq!(cell(&h, r, "region code"), v.region_code);
        assert_eq!(
            num(cell(&h, r, "active platforms")),
            Some(v.active_platforms as f64)
        );
        assert_eq!(
            num(cell(&h, r, "firms reached (distinct)")),
            Some(v.enterprises_reached as f64)
        );
        assert_eq!(
            num(cell(&h, r, "reports (platform × month)")),
            Some(v.coverage.reported as f64)
        );
    }
    // By prefecture: each province's prefectures, then the province's own row.
    let (h, rows) = export_csv(&store, "coverage", "prefecture", "2026-M03", "2026-M03").await;
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (cell(&h, r, "row type"), cell(&h, r, "region code")))
        .collect();
    assert_eq!(
        kinds,
        [
            ("prefecture", "110100"),
            ("province_subtotal", "110000"),
            ("prefecture", "440300"),
            ("prefecture", "440400"),
            ("province_subtotal", "440000"),
            ("total", "000000"),
        ]
    );

    let (h, rows) = export_csv(&store, "demo", "platform", "2026-M03", "2026-M03").await;
    let view = demo::candidates(
        &store,
        &cal,
        &DemoConfig::default(),
        &scope,
        &filter,
        TierFilter::All,
        usize::MAX,
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), view.candidates.len());
    for (r, c) in rows.iter().zip(&view.candidates) {
        assert_eq!(cell(&h, r, "platform credit code"), c.credit_code);
        assert_eq!(cell(&h, r, "tier"), c.tier);
        assert_eq!(num(cell(&h, r, "score (0-100)")), Some(c.score));
    }
}
