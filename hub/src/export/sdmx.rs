//! The SDMX side of the exports: the data structure definitions (one per periodic statistic,
//! sharing the dimensions and code lists) as an SDMX-ML 3.0 structure message, and the codes
//! every SDMX-CSV observation uses. `docs/sdmx.md` documents them.
//!
//! Dimensions, in order: `FREQ` (A, Q, M), `REF_AREA` (6-digit division code: `000000` and the
//! hub's division table), `PLATFORM` (credit code, `_Z` for aggregates), `SERVICE_FUNCTION`
//! (1–7, `_T` all), `INDUSTRY` (A–T, `_N` not given, `_T` all), `ENTERPRISE_SIZE` (MICRO,
//! SMALL, MEDIUM, `_N`, `_T`), `TIME_PERIOD` (`2026-M05`, `2026-Q2`, `2026`). Attribute
//! `OBS_STATUS`: `A` normal, `M` missing (nothing reported).

use sme_proto::period::{Period, PeriodKind};

use super::Statistic;

/// The agency of the structures.
pub const AGENCY: &str = "CN_SME";
/// Their version.
pub const VERSION: &str = "1.0";

/// The dimensions, in the order of the DSDs and of the SDMX-CSV columns.
pub const DIMENSIONS: [&str; 7] = [
    "FREQ",
    "REF_AREA",
    "PLATFORM",
    "SERVICE_FUNCTION",
    "INDUSTRY",
    "ENTERPRISE_SIZE",
    "TIME_PERIOD",
];

/// `(code, en, zh)` of the fixed code lists.
pub const CL_FREQ: &[(&str, &str, &str)] = &[
    ("A", "Annual", "年"),
    ("Q", "Quarterly", "季"),
    ("M", "Monthly", "月"),
];
/// Service functions.
pub const CL_SERVICE_FUNCTION: &[(&str, &str, &str)] = &[
    ("1", "Information", "信息查询"),
    ("2", "Technology innovation", "技术创新"),
    ("3", "Quality", "质量管理"),
    ("4", "Management consulting", "管理咨询"),
    ("5", "Entrepreneurship", "创业辅导"),
    ("6", "Market expansion", "市场开拓"),
    ("7", "Training", "人员培训"),
    ("_T", "All functions", "全部功能"),
];
/// Enterprise sizes.
pub const CL_ENTERPRISE_SIZE: &[(&str, &str, &str)] = &[
    ("MICRO", "Micro", "微型"),
    ("SMALL", "Small", "小型"),
    ("MEDIUM", "Medium", "中型"),
    ("_N", "Not given", "未填"),
    ("_T", "All sizes", "全部规模"),
];
/// Observation status.
pub const CL_OBS_STATUS: &[(&str, &str, &str)] = &[
    ("A", "Normal value", "正常值"),
    ("M", "Missing value: not reported", "缺失：未报送"),
];

/// GB/T 4754-2017 sections A–T, `_N`, `_T`.
pub fn cl_industry() -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = ('A'..='T')
        .map(|c| {
            (
                c.to_string(),
                format!("GB/T 4754-2017 section {c}"),
                format!("门类 {c}"),
            )
        })
        .collect();
    v.push(("_N".into(), "Not given".into(), "未填".into()));
    v.push(("_T".into(), "All industries".into(), "全部行业".into()));
    v
}

/// `FREQ` of a period.
pub fn freq(p: &Period) -> &'static str {
    match p.kind() {
        PeriodKind::Month => "M",
        PeriodKind::Quarter => "Q",
        PeriodKind::Year => "A",
    }
}

/// `TIME_PERIOD` of a period: `2026-M05`, `2026-Q2`, `2026` (SDMX writes a year plainly).
pub fn time_period(p: &Period) -> String {
    let s = p.to_string();
    match p.kind() {
        PeriodKind::Year => s.trim_end_matches("-A").to_owned(),
        _ => s,
    }
}

/// The size code of a breakdown value (`micro` → `MICRO`, empty → `_N`).
pub fn size_code(s: &str) -> String {
    if s.is_empty() {
        "_N".into()
    } else {
        s.to_ascii_uppercase()
    }
}

/// The DSD id of a statistic (`None`: not a time series).
pub fn dsd_id(stat: Statistic) -> Option<&'static str> {
    match stat {
        Statistic::Volume => Some("DSD_SME_VOLUME"),
        Statistic::Satisfaction => Some("DSD_SME_SATISFACTION"),
        Statistic::Staff => Some("DSD_SME_STAFF"),
        Statistic::Completeness => Some("DSD_SME_COMPLETENESS"),
        _ => None,
    }
}

/// `AGENCY:ID(VERSION)`, the SDMX-CSV `STRUCTURE_ID`.
pub fn structure_ref(dsd: &str) -> String {
    format!("{AGENCY}:{dsd}({VERSION})")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn names(out: &mut String, en: &str, zh: &str) {
    out.push_str(&format!(
        "<com:Name xml:lang=\"en\">{}</com:Name><com:Name xml:lang=\"zh\">{}</com:Name>",
        esc(en),
        esc(zh)
    ));
}

fn codelist(out: &mut String, id: &str, en: &str, zh: &str, codes: &[(String, String, String)]) {
    out.push_str(&format!(
        "<str:Codelist id=\"{id}\" agencyID=\"{AGENCY}\" version=\"{VERSION}\">"
    ));
    names(out, en, zh);
    for (code, cen, czh) in codes {
        out.push_str(&format!("<str:Code id=\"{}\">", esc(code)));
        names(out, cen, czh);
        out.push_str("</str:Code>");
    }
    out.push_str("</str:Codelist>\n");
}

fn owned(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn concept_urn(id: &str) -> String {
    format!("urn:sdmx:org.sdmx.infomodel.conceptscheme.Concept={AGENCY}:CS_SME({VERSION}).{id}")
}

fn codelist_urn(id: &str) -> String {
    format!("urn:sdmx:org.sdmx.infomodel.codelist.Codelist={AGENCY}:{id}({VERSION})")
}

/// The measures of a statistic's DSD: the upper-cased column ids with their SDMX text type.
pub fn measures(stat: Statistic) -> Vec<(String, &'static str)> {
    use super::table::Kind;
    let schema_columns = match stat {
        Statistic::Volume => super::statistics::volume_columns(),
        Statistic::Satisfaction => super::statistics::satisfaction_columns(),
        Statistic::Staff => super::statistics::staff_columns(),
        _ => super::statistics::completeness_columns(),
    };
    schema_columns
        .iter()
        .map(|c| {
            let t = match c.kind {
                Kind::Count => "Integer",
                Kind::Yuan | Kind::Ratio | Kind::Decimal => "Decimal",
                Kind::Text => "String",
            };
            (c.id.to_ascii_uppercase(), t)
        })
        .collect()
}

/// The SDMX-ML 3.0 structure message: code lists (with `areas`, `(code, en, zh)` of the
/// division table), the concept scheme and one DSD per periodic statistic.
pub fn structure_xml(areas: &[(String, String, String)], prepared: &str) -> String {
    let mut o = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <mes:Structure xmlns:mes=\"http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message\" \
         xmlns:str=\"http://www.sdmx.org/resources/sdmxml/schemas/v3_0/structure\" \
         xmlns:com=\"http://www.sdmx.org/resources/sdmxml/schemas/v3_0/common\">\n",
    );
    o.push_str(&format!(
        "<mes:Header><mes:ID>SME_STRUCTURE</mes:ID><mes:Test>false</mes:Test>\
         <mes:Prepared>{}</mes:Prepared><mes:Sender id=\"{AGENCY}\"/></mes:Header>\n<mes:Structures>\n<str:Codelists>\n",
        esc(prepared)
    ));
    let mut area_codes = vec![(
        super::super::registry::region::NATIONAL.to_owned(),
        "China".to_owned(),
        "全国".to_owned(),
    )];
    area_codes.extend(areas.iter().cloned());
    codelist(&mut o, "CL_FREQ", "Frequency", "频率", &owned(CL_FREQ));
    codelist(
        &mut o,
        "CL_AREA",
        "Administrative divisions (GB/T 2260)",
        "行政区划",
        &area_codes,
    );
    codelist(
        &mut o,
        "CL_SERVICE_FUNCTION",
        "Service functions",
        "服务功能",
        &owned(CL_SERVICE_FUNCTION),
    );
    codelist(
        &mut o,
        "CL_INDUSTRY",
        "Industry sections (GB/T 4754-2017)",
        "行业门类",
        &cl_industry(),
    );
    codelist(
        &mut o,
        "CL_ENTERPRISE_SIZE",
        "Enterprise size",
        "企业规模",
        &owned(CL_ENTERPRISE_SIZE),
    );
    codelist(
        &mut o,
        "CL_OBS_STATUS",
        "Observation status",
        "观测值状态",
        &owned(CL_OBS_STATUS),
    );
    o.push_str("</str:Codelists>\n<str:Concepts>\n");
    o.push_str(&format!(
        "<str:ConceptScheme id=\"CS_SME\" agencyID=\"{AGENCY}\" version=\"{VERSION}\">"
    ));
    names(
        &mut o,
        "SME platform reporting concepts",
        "中小企业服务平台数据直报概念",
    );
    let mut concepts: Vec<String> = DIMENSIONS.iter().map(|d| d.to_string()).collect();
    concepts.push("OBS_STATUS".into());
    for stat in [
        Statistic::Volume,
        Statistic::Satisfaction,
        Statistic::Staff,
        Statistic::Completeness,
    ] {
        for (m, _) in measures(stat) {
            if !concepts.contains(&m) {
                concepts.push(m);
            }
        }
    }
    for c in &concepts {
        o.push_str(&format!("<str:Concept id=\"{c}\">"));
        names(&mut o, c, c);
        o.push_str("</str:Concept>");
    }
    o.push_str("</str:ConceptScheme>\n</str:Concepts>\n<str:DataStructures>\n");
    let dimension_list = |o: &mut String| {
        o.push_str("<str:DimensionList id=\"DimensionDescriptor\">");
        let coded = [
            ("FREQ", Some("CL_FREQ")),
            ("REF_AREA", Some("CL_AREA")),
            ("PLATFORM", None),
            ("SERVICE_FUNCTION", Some("CL_SERVICE_FUNCTION")),
            ("INDUSTRY", Some("CL_INDUSTRY")),
            ("ENTERPRISE_SIZE", Some("CL_ENTERPRISE_SIZE")),
        ];
        for (i, (d, cl)) in coded.iter().enumerate() {
            o.push_str(&format!(
                "<str:Dimension id=\"{d}\" position=\"{}\"><str:ConceptIdentity>{}</str:ConceptIdentity><str:LocalRepresentation>",
                i + 1,
                concept_urn(d)
            ));
            match cl {
                Some(cl) => o.push_str(&format!(
                    "<str:Enumeration>{}</str:Enumeration>",
                    codelist_urn(cl)
                )),
                None => o.push_str(
                    "<str:TextFormat textType=\"String\" pattern=\"[0-9A-HJ-NPQRTUWXY]{18}|_Z\"/>",
                ),
            }
            o.push_str("</str:LocalRepresentation></str:Dimension>");
        }
        o.push_str(&format!(
            "<str:TimeDimension id=\"TIME_PERIOD\" position=\"7\"><str:ConceptIdentity>{}</str:ConceptIdentity>\
             <str:LocalRepresentation><str:TextFormat textType=\"ObservationalTimePeriod\"/></str:LocalRepresentation></str:TimeDimension>",
            concept_urn("TIME_PERIOD")
        ));
        o.push_str("</str:DimensionList>");
    };
    for stat in [
        Statistic::Volume,
        Statistic::Satisfaction,
        Statistic::Staff,
        Statistic::Completeness,
    ] {
        let id = dsd_id(stat).expect("periodic");
        o.push_str(&format!(
            "<str:DataStructure id=\"{id}\" agencyID=\"{AGENCY}\" version=\"{VERSION}\">"
        ));
        names(&mut o, stat.en(), stat.zh());
        o.push_str("<str:DataStructureComponents>");
        dimension_list(&mut o);
        o.push_str(&format!(
            "<str:AttributeList id=\"AttributeDescriptor\"><str:Attribute id=\"OBS_STATUS\" usage=\"mandatory\">\
             <str:ConceptIdentity>{}</str:ConceptIdentity><str:LocalRepresentation><str:Enumeration>{}</str:Enumeration>\
             </str:LocalRepresentation><str:AttributeRelationship><str:Observation/></str:AttributeRelationship></str:Attribute></str:AttributeList>",
            concept_urn("OBS_STATUS"),
            codelist_urn("CL_OBS_STATUS")
        ));
        o.push_str("<str:MeasureList id=\"MeasureDescriptor\">");
        for (m, t) in measures(stat) {
            o.push_str(&format!(
                "<str:Measure id=\"{m}\" usage=\"optional\"><str:ConceptIdentity>{}</str:ConceptIdentity>\
                 <str:LocalRepresentation><str:TextFormat textType=\"{t}\"/></str:LocalRepresentation></str:Measure>",
                concept_urn(&m)
            ));
        }
        o.push_str("</str:MeasureList></str:DataStructureComponents></str:DataStructure>\n");
    }
    o.push_str("</str:DataStructures>\n</mes:Structures>\n</mes:Structure>\n");
    o
}

/// The structure of the hub's shipped division table (the 34 provincial-level divisions), as
/// shipped in `docs/sdmx/sme-structure-1.0.xml`; a hub with imported prefectures writes its
/// own with `sme-hub export --statistics sdmx-structure`.
pub fn shipped_structure_xml() -> String {
    let areas: Vec<(String, String, String)> = crate::registry::region::provinces()
        .iter()
        .map(|p| (p.code.clone(), p.name_en.clone(), p.name.clone()))
        .collect();
    structure_xml(&areas, "2026-12-02T00:00:00Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped structure file is the one the code writes (`SME_WRITE_SDMX=1 cargo test -p
    /// sme-hub shipped_structure` rewrites it after a change).
    #[test]
    fn the_shipped_structure_file_is_what_the_code_writes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/sdmx/sme-structure-1.0.xml"
        );
        let xml = shipped_structure_xml();
        if std::env::var_os("SME_WRITE_SDMX").is_some() {
            std::fs::write(path, &xml).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            shipped == xml,
            "docs/sdmx/sme-structure-1.0.xml differs from the code's structure: rerun with \
             SME_WRITE_SDMX=1 cargo test -p sme-hub shipped_structure"
        );
        for needle in [
            r#"<str:Codelist id="CL_AREA""#,
            r#"<str:Code id="440000">"#,
            r#"<str:DataStructure id="DSD_SME_VOLUME""#,
            r#"<str:TimeDimension id="TIME_PERIOD""#,
        ] {
            assert!(xml.contains(needle), "{needle}");
        }
    }

    #[test]
    fn time_periods_follow_sdmx_for_each_frequency() {
        for (p, f, t) in [
            ("2026-M05", "M", "2026-M05"),
            ("2026-Q2", "Q", "2026-Q2"),
            ("2026-A", "A", "2026"),
        ] {
            let p: Period = p.parse().unwrap();
            assert_eq!((freq(&p), time_period(&p).as_str()), (f, t));
        }
    }
}
