//! Column headers and profile items: the one list that intake matches against and the templates
//! are written from.

use super::values::fold;
use super::Cell;

/// A service-record column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// 记录编号.
    RecordId,
    /// 服务日期.
    Date,
    /// 服务功能.
    Function,
    /// 企业信用代码.
    CreditCode,
    /// 企业规模.
    EnterpriseSize,
    /// 行业门类.
    Industry,
    /// 企业所在地区.
    Region,
    /// 收费金额（元）.
    FeeYuan,
    /// 收费金额（分）.
    FeeFen,
    /// 是否免费.
    Free,
    /// 满意度.
    Satisfaction,
    /// 服务人次.
    PersonTimes,
}

/// How a column is described, matched and templated.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// The column.
    pub field: Field,
    /// Chinese header (the templates use it).
    pub zh: &'static str,
    /// English header.
    pub en: &'static str,
    /// Other accepted headers.
    pub aliases: &'static [&'static str],
    /// The column must be present (for the fee: one of the two fee columns).
    pub required: bool,
    /// Expected values, in Chinese.
    pub help_zh: &'static str,
    /// Expected values, in English.
    pub help_en: &'static str,
    /// An example value.
    pub example: &'static str,
}

/// The service-record columns, in template order.
pub const RECORD_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec {
        field: Field::RecordId,
        zh: "记录编号",
        en: "record_id",
        aliases: &["服务记录编号", "记录号", "record_no", "record"],
        required: true,
        help_zh: "本平台的记录编号，不得重复，最多64个字符",
        help_en: "the platform's own record id, unique, at most 64 characters",
        example: "FW2026050001",
    },
    ColumnSpec {
        field: Field::Date,
        zh: "服务日期",
        en: "date",
        aliases: &["日期", "service_date"],
        required: true,
        help_zh: "YYYY-MM-DD 或 YYYY/M/D，不晚于今天",
        help_en: "YYYY-MM-DD or YYYY/M/D, not after today",
        example: "2026-05-03",
    },
    ColumnSpec {
        field: Field::Function,
        zh: "服务功能",
        en: "function",
        aliases: &["服务类别", "服务类型", "service_function"],
        required: true,
        help_zh: "1-7 或 信息查询、技术创新、质量管理、管理咨询、创业辅导、市场开拓、人员培训",
        help_en: "1-7 or information, technology innovation, quality, management consulting, \
                  entrepreneurship, market expansion, training",
        example: "质量管理",
    },
    ColumnSpec {
        field: Field::CreditCode,
        zh: "企业信用代码",
        en: "enterprise_credit_code",
        aliases: &[
            "统一社会信用代码",
            "企业统一社会信用代码",
            "信用代码",
            "credit_code",
        ],
        required: true,
        help_zh: "服务企业的18位统一社会信用代码（仅在本机做不可逆化名处理，不会上报原文）",
        help_en: "18-character unified social credit code of the served firm (pseudonymised here; \
                  never sent in clear)",
        example: "91350100M000100Y43",
    },
    ColumnSpec {
        field: Field::EnterpriseSize,
        zh: "企业规模",
        en: "enterprise_size",
        aliases: &["规模", "size"],
        required: true,
        help_zh: "微型、小型 或 中型；不清楚可留空",
        help_en: "micro, small or medium; blank if unknown",
        example: "小型",
    },
    ColumnSpec {
        field: Field::Industry,
        zh: "行业门类",
        en: "industry",
        aliases: &["所属行业", "行业", "industry_section"],
        required: true,
        help_zh: "国民经济行业分类（GB/T 4754-2017）门类字母A-T",
        help_en: "GB/T 4754-2017 section letter A-T",
        example: "C",
    },
    ColumnSpec {
        field: Field::Region,
        zh: "企业所在地区",
        en: "enterprise_region",
        aliases: &[
            "企业所在地区代码",
            "所在地区",
            "地区代码",
            "行政区划代码",
            "region",
            "region_code",
        ],
        required: true,
        help_zh: "企业所在地6位行政区划代码",
        help_en: "6-digit administrative division code where the firm is",
        example: "350102",
    },
    ColumnSpec {
        field: Field::FeeYuan,
        zh: "收费金额（元）",
        en: "fee_yuan",
        aliases: &["收费金额", "收费（元）", "金额（元）"],
        required: true,
        help_zh: "收费金额，单位元，最多两位小数；免费填0",
        help_en: "fee in yuan, at most 2 decimals; 0 when free",
        example: "1200.50",
    },
    ColumnSpec {
        field: Field::FeeFen,
        zh: "收费金额（分）",
        en: "fee_fen",
        aliases: &[],
        required: false,
        help_zh: "收费金额，单位分（整数）；可代替“收费金额（元）”",
        help_en: "fee in fen (integer); instead of fee_yuan",
        example: "120050",
    },
    ColumnSpec {
        field: Field::Free,
        zh: "是否免费",
        en: "free",
        aliases: &["免费", "是否公益", "is_free"],
        required: false,
        help_zh: "是 或 否；留空时按收费金额是否为0判断",
        help_en: "yes or no; blank = free when the fee is 0",
        example: "否",
    },
    ColumnSpec {
        field: Field::Satisfaction,
        zh: "满意度",
        en: "satisfaction",
        aliases: &["企业满意度"],
        required: false,
        help_zh: "1-5（5为非常满意）或 非常满意、满意、一般、不满意、非常不满意；未调查留空",
        help_en: "1-5 (5 = very satisfied) or very satisfied … very dissatisfied; blank if not \
                  surveyed",
        example: "非常满意",
    },
    ColumnSpec {
        field: Field::PersonTimes,
        zh: "服务人次",
        en: "person_times",
        aliases: &["人次", "培训人次"],
        required: false,
        help_zh: "培训、活动的服务人次（整数）；其他服务可留空",
        help_en: "person-times for training and events (whole number); blank otherwise",
        example: "0",
    },
];

/// The spec of a field.
pub fn spec(field: Field) -> &'static ColumnSpec {
    RECORD_COLUMNS
        .iter()
        .find(|s| s.field == field)
        .expect("every field has a spec")
}

/// The column a header cell names, if any.
pub fn match_header(header: &str) -> Option<Field> {
    candidates(header).into_iter().find_map(|c| {
        RECORD_COLUMNS
            .iter()
            .find(|s| fold(s.zh) == c || fold(s.en) == c || s.aliases.iter().any(|a| fold(a) == c))
            .map(|s| s.field)
    })
}

/// The folded forms a header may be read as: whole, each part of `中文/english`, and the parts
/// around brackets of `中文(english)`.
fn candidates(header: &str) -> Vec<String> {
    let mut out = vec![fold(header)];
    for part in header.split(['/', '|', '\n']) {
        out.push(fold(part));
        let folded = fold(part);
        if let Some((before, after)) = folded.split_once('(') {
            out.push(before.to_owned());
            out.push(after.trim_end_matches(')').to_owned());
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

pub(crate) fn known_record_columns(cells: &[Cell]) -> usize {
    let mut fields: Vec<Field> = cells
        .iter()
        .filter_map(|c| super::values::text(c).and_then(|t| match_header(&t)))
        .collect();
    fields.sort();
    fields.dedup();
    fields.len()
}

// --- profile --------------------------------------------------------------------------------

/// Headers of the item column of a profile file.
pub const PROFILE_KEY_HEADERS: &[&str] = &["项目", "指标", "指标名称", "项目名称", "key", "item"];
/// Headers of the value column of a profile file.
pub const PROFILE_VALUE_HEADERS: &[&str] = &["值", "数值", "填报值", "填报数", "value"];

pub(crate) fn is_profile_header(cells: &[Cell]) -> bool {
    let texts: Vec<String> = cells.iter().filter_map(super::values::text).collect();
    let is = |i: usize, list: &[&str]| {
        texts.get(i).is_some_and(|t| {
            candidates(t)
                .iter()
                .any(|c| list.iter().any(|h| fold(h) == *c))
        })
    };
    is(0, PROFILE_KEY_HEADERS) && is(1, PROFILE_VALUE_HEADERS)
}

/// The section of the report a profile item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// 报告期.
    Period,
    /// 人员构成.
    Staff,
    /// 财务状况.
    Finance,
    /// 五公开.
    Disclosures,
    /// 服务能力.
    Capacity,
    /// 创业辅导.
    Startups,
    /// 企业满意度.
    Satisfaction,
}

/// What an item's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A period code such as `2026-Q2`.
    Period,
    /// A whole number ≥ 0.
    Count,
    /// Money: yuan (`（元）`, `_yuan`) or fen (`（分）`, `_fen`).
    Money,
    /// 是/否.
    YesNo,
    /// Square metres, decimals allowed.
    Area,
    /// A list separated by `;`, `、`, `，` or `,`.
    List,
}

/// One profile item.
#[derive(Debug, Clone, Copy)]
pub struct ProfileItem {
    /// Section.
    pub section: Section,
    /// English key (money items: without the `_yuan`/`_fen` suffix).
    pub key: &'static str,
    /// Chinese label as in the template (money items: with `（元）`).
    pub zh: &'static str,
    /// Value kind.
    pub kind: ItemKind,
    /// May stay blank when the rest of its section is given.
    pub optional: bool,
}

const fn item(
    section: Section,
    key: &'static str,
    zh: &'static str,
    kind: ItemKind,
) -> ProfileItem {
    ProfileItem {
        section,
        key,
        zh,
        kind,
        optional: false,
    }
}

const fn optional(mut it: ProfileItem) -> ProfileItem {
    it.optional = true;
    it
}

/// The profile items, in template order.
pub const PROFILE_ITEMS: &[ProfileItem] = {
    use ItemKind::*;
    use Section as S;
    &[
        item(S::Period, "period", "报告期", Period),
        item(S::Staff, "total_staff", "从业人员总数", Count),
        item(S::Staff, "professional_staff", "专业服务人员数", Count),
        item(
            S::Staff,
            "professional_with_college_degree",
            "大专及以上学历专业服务人员数",
            Count,
        ),
        item(
            S::Staff,
            "professional_with_degree_or_mid_title",
            "大专及以上学历或中级及以上职称专业服务人员数",
            Count,
        ),
        item(S::Staff, "senior_title_staff", "高级职称人员数", Count),
        item(S::Staff, "staff_trained", "参加培训人数", Count),
        item(S::Finance, "total_revenue", "营业额（元）", Money),
        item(S::Finance, "service_revenue", "服务收入（元）", Money),
        item(S::Finance, "public_funding", "财政补助（元）", Money),
        item(S::Finance, "total_assets", "资产总额（元）", Money),
        item(S::Disclosures, "disclose_content", "服务内容公开", YesNo),
        item(S::Disclosures, "disclose_process", "服务流程公开", YesNo),
        item(S::Disclosures, "disclose_standards", "服务标准公开", YesNo),
        item(S::Disclosures, "disclose_fees", "收费公开", YesNo),
        item(S::Disclosures, "disclose_time", "服务时间公开", YesNo),
        item(S::Capacity, "floor_area_m2", "服务场地面积（平方米）", Area),
        item(S::Capacity, "equipment_count", "仪器设备台套数", Count),
        item(S::Capacity, "equipment_value", "设备原值（元）", Money),
        item(S::Capacity, "shared_equipment_hours", "设备共享机时", Count),
        optional(item(S::Capacity, "certifications", "资质", List)),
        item(S::Capacity, "partner_universities", "合作高校数", Count),
        item(
            S::Capacity,
            "partner_research_institutes",
            "合作科研院所数",
            Count,
        ),
        item(S::Capacity, "partner_associations", "合作行业协会数", Count),
        item(
            S::Capacity,
            "partner_service_agencies",
            "合作服务机构数",
            Count,
        ),
        item(S::Startups, "startups_counselled", "辅导创业企业数", Count),
        item(
            S::Startups,
            "registrations_assisted",
            "代办注册登记数",
            Count,
        ),
        item(S::Satisfaction, "very_satisfied", "非常满意（份）", Count),
        item(S::Satisfaction, "satisfied", "满意（份）", Count),
        item(S::Satisfaction, "neutral", "一般（份）", Count),
        item(S::Satisfaction, "dissatisfied", "不满意（份）", Count),
        item(
            S::Satisfaction,
            "very_dissatisfied",
            "非常不满意（份）",
            Count,
        ),
        optional(item(S::Satisfaction, "responses", "有效问卷数", Count)),
    ]
};

/// Unit of a money item as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 元.
    Yuan,
    /// 分.
    Fen,
}

/// The item a key names, with the money unit it implies.
pub fn match_item(key: &str) -> Option<(&'static ProfileItem, Unit)> {
    let k = fold(key);
    PROFILE_ITEMS.iter().find_map(|it| {
        let zh = fold(it.zh);
        // The label without its bracketed unit: "营业额", "非常满意".
        let base = zh.split('(').next().unwrap_or(&zh).to_owned();
        let en = fold(it.key);
        if it.kind == ItemKind::Money {
            if k == zh || k == base || k == format!("{en}yuan") {
                return Some((it, Unit::Yuan));
            }
            if k == format!("{base}(分)") || k == format!("{en}fen") {
                return Some((it, Unit::Fen));
            }
            return None;
        }
        (k == zh || k == base || k == en).then_some((it, Unit::Yuan))
    })
}

/// The rule id of an explanation key (`上报说明:W201`, `explanation:W201`, `说明（W201）`).
pub fn match_explanation(key: &str) -> Option<String> {
    let k = fold(key);
    let rest = ["上报说明", "说明", "explanation"]
        .iter()
        .find_map(|p| k.strip_prefix(&fold(p)))?;
    let rule = rest
        .trim_start_matches([':', '.', '('])
        .trim_end_matches(')')
        .to_ascii_uppercase();
    let mut chars = rule.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && rule.len() == 4
        && chars.all(|c| c.is_ascii_digit());
    ok.then_some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_either_language_and_bilingual() {
        assert_eq!(match_header("记录编号"), Some(Field::RecordId));
        assert_eq!(match_header(" Record ID "), Some(Field::RecordId));
        assert_eq!(match_header("\u{feff}记录编号"), Some(Field::RecordId));
        assert_eq!(match_header("记录编号/record_id"), Some(Field::RecordId));
        assert_eq!(match_header("服务日期（date）"), Some(Field::Date));
        assert_eq!(match_header("收费金额(元)"), Some(Field::FeeYuan));
        assert_eq!(
            match_header("收费金额（元）\nfee_yuan"),
            Some(Field::FeeYuan)
        );
        assert_eq!(match_header("fee-fen"), Some(Field::FeeFen));
        assert_eq!(match_header("企业名称"), None);
        // Every spec matches its own headers.
        for s in RECORD_COLUMNS {
            assert_eq!(match_header(s.zh), Some(s.field), "{}", s.zh);
            assert_eq!(match_header(s.en), Some(s.field), "{}", s.en);
        }
    }

    #[test]
    fn profile_items() {
        assert_eq!(match_item("营业额（元）").unwrap().0.key, "total_revenue");
        assert_eq!(match_item("营业额").unwrap().1, Unit::Yuan);
        assert_eq!(match_item("营业额（分）").unwrap().1, Unit::Fen);
        assert_eq!(match_item("total_revenue_fen").unwrap().1, Unit::Fen);
        assert_eq!(match_item("total_revenue_yuan").unwrap().1, Unit::Yuan);
        assert!(
            match_item("total_revenue").is_none(),
            "unit must be explicit in English"
        );
        assert_eq!(match_item("Total Staff").unwrap().0.key, "total_staff");
        assert_eq!(match_item("非常满意").unwrap().0.key, "very_satisfied");
        assert_eq!(match_item("报告期").unwrap().0.kind, ItemKind::Period);
        for it in PROFILE_ITEMS {
            assert!(match_item(it.zh).is_some(), "{}", it.zh);
        }
        assert_eq!(match_explanation("上报说明:W201").as_deref(), Some("W201"));
        assert_eq!(
            match_explanation("explanation.w201").as_deref(),
            Some("W201")
        );
        assert_eq!(match_explanation("说明（W201）").as_deref(), Some("W201"));
        assert_eq!(match_explanation("上报说明"), None);
    }
}
