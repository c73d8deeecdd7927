//! Checking a profile file (机构概况): item → value entries for one period.

use std::collections::{BTreeMap, BTreeSet};

use sme_proto::period::Period;

use super::columns::{self, ItemKind, ProfileItem, Section, Unit};
use super::values::{self, Msg};
use super::{Cell, Entries, Location, Problem, ProfileFile};
use crate::store::{
    Capacity, Disclosures, Explanation, Finance, Profile, SatisfactionCounts, Staff, Startups,
};

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Period(Period),
    Int(u64),
    Fen(i64),
    Bool(bool),
    Area(f64),
    List(Vec<String>),
}

/// Checks every entry; returns the profile or every problem found.
pub(crate) fn check(entries: &Entries) -> Result<ProfileFile, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut values: BTreeMap<&'static str, (Location, String, Value)> = BTreeMap::new();
    let mut explanations: BTreeMap<String, (Location, String)> = BTreeMap::new();
    let problem = |loc: &Location, key: &str, cell: &Cell, m: Msg| Problem {
        location: loc.clone(),
        column: Some(key.to_owned()),
        value: values::text(cell),
        en: m.en,
        zh: m.zh,
    };
    for (loc, key, cell) in entries {
        // A blank value carries nothing, whatever its item (blank template rows, spare lines).
        if values::is_blank(cell) {
            continue;
        }
        if let Some(rule) = columns::match_explanation(key) {
            let text = values::text(cell).unwrap_or_default();
            if let Some((first, _)) = explanations.get(&rule) {
                problems.push(problem(loc, key, cell, repeated(first)));
            } else {
                explanations.insert(rule, (loc.clone(), text));
            }
            continue;
        }
        let Some((item, unit)) = columns::match_item(key) else {
            problems.push(problem(
                loc,
                key,
                cell,
                values::msg(
                    "unknown item; use the item names of the profile template \
                     (Chinese label or English key)",
                    "无法识别的项目，请使用机构概况模板中的项目名称（中文或英文）",
                ),
            ));
            continue;
        };
        if let Some((first, ..)) = values.get(item.key) {
            problems.push(problem(loc, key, cell, repeated(first)));
            continue;
        }
        match parse(item, unit, cell) {
            Ok(v) => {
                values.insert(item.key, (loc.clone(), key.clone(), v));
            }
            Err(m) => problems.push(problem(loc, key, cell, m)),
        }
    }
    let period = match values.get("period") {
        Some((_, _, Value::Period(p))) => Some(*p),
        _ => None,
    };
    let anything = values.len() + explanations.len() > usize::from(period.is_some());
    if period.is_none() && anything && !problems.iter().any(is_period_problem) {
        problems.push(Problem::file(
            "the period (报告期 / period, e.g. 2026-Q2) is missing",
            "缺少报告期（如 2026-Q2）",
        ));
    }
    // A section is given when any of its items is; then all its required items must be.
    let given: BTreeSet<Section> = columns::PROFILE_ITEMS
        .iter()
        .filter(|it| values.contains_key(it.key) && it.section != Section::Period)
        .map(|it| it.section)
        .collect();
    for it in columns::PROFILE_ITEMS {
        if given.contains(&it.section) && !it.optional && !values.contains_key(it.key) {
            problems.push(Problem {
                location: Location::File,
                column: Some(it.zh.to_owned()),
                value: None,
                en: format!(
                    "item \"{}\" ({}) is missing: once any item of a section is filled in, \
                     all of that section's items are required",
                    it.key, it.zh
                ),
                zh: format!(
                    "缺少“{}”（{}）：同一部分填写了任一项，其余各项均须填写",
                    it.zh, it.key
                ),
            });
        }
    }
    let int = |k: &str| match values.get(k) {
        Some((_, _, Value::Int(n))) => *n,
        _ => 0,
    };
    let int32 = |k: &str| u32::try_from(int(k)).unwrap_or(u32::MAX);
    let fen = |k: &str| match values.get(k) {
        Some((_, _, Value::Fen(n))) => *n,
        _ => 0,
    };
    let yes = |k: &str| matches!(values.get(k), Some((_, _, Value::Bool(true))));
    let mut profile = Profile::default();
    if given.contains(&Section::Staff) {
        profile.staff = Some(Staff {
            total_staff: int32("total_staff"),
            professional_staff: int32("professional_staff"),
            professional_with_college_degree: int32("professional_with_college_degree"),
            professional_with_degree_or_mid_title: int32("professional_with_degree_or_mid_title"),
            senior_title_staff: int32("senior_title_staff"),
            staff_trained: int32("staff_trained"),
        });
    }
    if given.contains(&Section::Finance) {
        profile.finance = Some(Finance {
            total_revenue_fen: fen("total_revenue"),
            service_revenue_fen: fen("service_revenue"),
            public_funding_fen: fen("public_funding"),
            total_assets_fen: fen("total_assets"),
        });
    }
    if given.contains(&Section::Disclosures) {
        profile.disclosures = Some(Disclosures {
            content: yes("disclose_content"),
            process: yes("disclose_process"),
            standards: yes("disclose_standards"),
            fees: yes("disclose_fees"),
            time: yes("disclose_time"),
        });
    }
    if given.contains(&Section::Capacity) {
        profile.capacity = Some(Capacity {
            floor_area_m2: match values.get("floor_area_m2") {
                Some((_, _, Value::Area(a))) => *a,
                _ => 0.0,
            },
            equipment_count: int32("equipment_count"),
            equipment_value_fen: fen("equipment_value"),
            shared_equipment_hours: int("shared_equipment_hours"),
            certifications: match values.get("certifications") {
                Some((_, _, Value::List(l))) => l.clone(),
                _ => Vec::new(),
            },
            partner_universities: int32("partner_universities"),
            partner_research_institutes: int32("partner_research_institutes"),
            partner_associations: int32("partner_associations"),
            partner_service_agencies: int32("partner_service_agencies"),
        });
    }
    if given.contains(&Section::Startups) {
        profile.startups = Some(Startups {
            startups_counselled: int("startups_counselled"),
            registrations_assisted: int("registrations_assisted"),
        });
    }
    if given.contains(&Section::Satisfaction) {
        let s = SatisfactionCounts {
            very_satisfied: int("very_satisfied"),
            satisfied: int("satisfied"),
            neutral: int("neutral"),
            dissatisfied: int("dissatisfied"),
            very_dissatisfied: int("very_dissatisfied"),
            responses: 0,
        };
        let sum = s.very_satisfied + s.satisfied + s.neutral + s.dissatisfied + s.very_dissatisfied;
        if let Some((loc, key, Value::Int(given))) = values.get("responses") {
            if *given != sum {
                problems.push(Problem {
                    location: loc.clone(),
                    column: Some(key.clone()),
                    value: Some(given.to_string()),
                    en: format!(
                        "responses ({given}) differ from the sum of the five counts ({sum})"
                    ),
                    zh: format!("有效问卷数（{given}）与五级满意度份数之和（{sum}）不一致"),
                });
            }
        }
        profile.satisfaction = Some(SatisfactionCounts {
            responses: sum,
            ..s
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ProfileFile {
        period,
        profile,
        explanations: explanations
            .into_iter()
            .map(|(rule_id, (_, text))| Explanation { rule_id, text })
            .collect(),
    })
}

fn repeated(first: &Location) -> Msg {
    values::msg(
        format!("item given twice; first at {first}"),
        format!("项目重复，已在{}填写", first.zh()),
    )
}

fn is_period_problem(p: &Problem) -> bool {
    p.column
        .as_deref()
        .and_then(columns::match_item)
        .is_some_and(|(it, _)| it.kind == ItemKind::Period)
}

fn parse(item: &ProfileItem, unit: Unit, cell: &Cell) -> Result<Value, Msg> {
    match item.kind {
        ItemKind::Period => {
            let s = values::text(cell).unwrap_or_default();
            s.parse::<Period>().map(Value::Period).map_err(|e| {
                values::msg(
                    format!("{e}; expected e.g. 2026-M05, 2026-Q2 or 2026-A"),
                    format!("{}；应为如 2026-M05、2026-Q2 或 2026-A", e.message_zh()),
                )
            })
        }
        ItemKind::Count => values::count(cell, "a count", "数量").map(Value::Int),
        ItemKind::Money => match unit {
            Unit::Yuan => values::yuan_to_fen(cell).map(Value::Fen),
            Unit::Fen => values::fen(cell).map(Value::Fen),
        },
        ItemKind::YesNo => values::yes_no(cell).map(Value::Bool),
        ItemKind::Area => {
            let s = values::text(cell).unwrap_or_default();
            s.parse::<f64>()
                .ok()
                .filter(|a| a.is_finite() && *a >= 0.0 && !s.contains(['e', 'E', 'i', 'n', 'N']))
                .map(Value::Area)
                .ok_or_else(|| {
                    values::msg(
                        "not an area; expected square metres ≥ 0 (e.g. 1200.5)",
                        "不是有效的面积，应为不小于0的平方米数（如1200.5）",
                    )
                })
        }
        ItemKind::List => {
            let s = values::text(cell).unwrap_or_default();
            Ok(Value::List(
                s.split([';', '；', '、', ',', '，'])
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(kv: &[(&str, &str)]) -> Entries {
        kv.iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    Location::Line(i as u64 + 2),
                    k.to_string(),
                    Cell::Text(v.to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn full_sections_and_explanations() {
        let e = entries(&[
            ("报告期", "2026-Q2"),
            ("从业人员总数", "30"),
            ("专业服务人员数", "20"),
            ("大专及以上学历专业服务人员数", "15"),
            ("大专及以上学历或中级及以上职称专业服务人员数", "18"),
            ("高级职称人员数", "3"),
            ("参加培训人数", "12"),
            ("营业额（元）", "1,000,000.00"),
            ("service_revenue_fen", "60000000"),
            ("财政补助", "0"),
            ("资产总额（元）", "3000000"),
            ("非常满意", "10"),
            ("满意", "20"),
            ("一般", "3"),
            ("不满意", "1"),
            ("非常不满意", "0"),
            ("有效问卷数", "34"),
            ("上报说明:W201", "新增两个服务网点"),
            ("说明", ""),
        ]);
        let p = check(&e).unwrap_or_else(|p| panic!("{p:#?}"));
        assert_eq!(p.period.unwrap().to_string(), "2026-Q2");
        let f = p.profile.finance.unwrap();
        assert_eq!(f.total_revenue_fen, 100_000_000);
        assert_eq!(f.service_revenue_fen, 60_000_000);
        assert_eq!(p.profile.staff.unwrap().senior_title_staff, 3);
        assert_eq!(p.profile.satisfaction.unwrap().responses, 34);
        assert!(p.profile.capacity.is_none());
        assert_eq!(p.explanations[0].rule_id, "W201");
    }

    #[test]
    fn partial_section_unknown_item_bad_period() {
        let e = entries(&[
            ("报告期", "2026-q2"),
            ("从业人员总数", "30"),
            ("employees", "3"),
            ("非常满意", "1"),
            ("满意", "1"),
            ("一般", "1"),
            ("不满意", "1"),
            ("非常不满意", "1"),
            ("responses", "4"),
        ]);
        let problems = check(&e).unwrap_err();
        let cols: Vec<_> = problems.iter().map(|p| p.column.clone().unwrap()).collect();
        assert!(cols.contains(&"报告期".to_string()), "{cols:?}");
        assert!(cols.contains(&"employees".to_string()));
        assert!(
            cols.contains(&"专业服务人员数".to_string()),
            "staff section incomplete"
        );
        assert!(cols.contains(&"responses".to_string()), "sum mismatch");
        assert!(
            !problems.iter().any(|p| p.en.contains("period (报告期")),
            "no second period problem"
        );
    }

    #[test]
    fn empty_template_is_nothing() {
        let e = entries(&[("报告期", ""), ("从业人员总数", "")]);
        assert_eq!(check(&e).unwrap(), ProfileFile::default());
        let e = entries(&[("从业人员总数", "3")]);
        assert!(check(&e)
            .unwrap_err()
            .iter()
            .any(|p| p.en.contains("period")));
    }
}
