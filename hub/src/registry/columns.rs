//! Columns of the registry files and the checks of each row and value (see [`super::import`]
//! for the file formats).

use std::collections::HashMap;

use sme_proto::credit_code;
use time::{Date, Month};

use super::import::{Kind, Rows, Warned};
use super::region;
use super::table::{fold, Cell, Location, Problem};
use super::{DemoLevel, Division, Platform, PlatformType, RowWarning, SmeCount};

// === columns ===

/// A column: its key, the folded header names that mean it, whether it is required.
pub(super) struct Column {
    pub(super) key: &'static str,
    pub(super) aliases: &'static [&'static str],
    pub(super) required: bool,
}

const fn col(key: &'static str, aliases: &'static [&'static str], required: bool) -> Column {
    Column {
        key,
        aliases,
        required,
    }
}

pub(super) const PLATFORM_COLUMNS: &[Column] = &[
    col(
        "credit_code",
        &[
            "统一社会信用代码",
            "信用代码",
            "平台代码",
            "creditcode",
            "platformid",
            "uscc",
        ],
        true,
    ),
    col("name", &["平台名称", "名称", "name", "platformname"], true),
    col(
        "region_code",
        &[
            "所在地区",
            "所在地区代码",
            "地区代码",
            "regioncode",
            "region",
        ],
        true,
    ),
    col("industry", &["行业门类", "行业", "industry"], false),
    col("type", &["平台类型", "类型", "type", "platformtype"], false),
    col(
        "level",
        &["示范级别", "示范平台级别", "级别", "level", "demolevel"],
        false,
    ),
    col(
        "independent_legal_person",
        &[
            "独立法人",
            "是否独立法人",
            "独立法人资格",
            "independentlegalperson",
            "legalperson",
        ],
        true,
    ),
    col(
        "registered_date",
        &[
            "登记日期",
            "成立日期",
            "注册日期",
            "registereddate",
            "registered",
        ],
        true,
    ),
    col(
        "closed_date",
        &["注销日期", "关闭日期", "closeddate", "closed"],
        false,
    ),
];

pub(super) const DIVISION_COLUMNS: &[Column] = &[
    col("revision", &["版本", "修订版本", "revision"], false),
    col(
        "code",
        &["行政区划代码", "区划代码", "代码", "code", "divisioncode"],
        true,
    ),
    col("name", &["名称", "区划名称", "name"], true),
    col("name_en", &["英文名称", "nameen", "englishname"], false),
];

pub(super) const SME_COLUMNS: &[Column] = &[
    col(
        "region_code",
        &[
            "地区代码",
            "行政区划代码",
            "区划代码",
            "regioncode",
            "region",
        ],
        true,
    ),
    col("year", &["年份", "年度", "year"], true),
    col(
        "sme_count",
        &[
            "中小企业数",
            "中小企业数量",
            "企业数",
            "smecount",
            "count",
            "smes",
        ],
        true,
    ),
];

/// Which column of `columns` a header cell names, if any.
pub(super) fn column_of(columns: &'static [Column], header: &str) -> Option<&'static Column> {
    let folded = fold(header);
    if folded.is_empty() {
        return None;
    }
    columns.iter().find(|c| {
        folded
            .split('/')
            .any(|part| c.aliases.contains(&part) || part == c.key.replace('_', ""))
    })
}

pub(super) fn matched(kind: Kind, header: &[String]) -> usize {
    header
        .iter()
        .filter(|h| column_of(kind.columns(), h).is_some())
        .count()
}

pub(super) fn complete(kind: Kind, header: &[String]) -> bool {
    kind.columns().iter().filter(|c| c.required).all(|c| {
        header
            .iter()
            .any(|h| column_of(kind.columns(), h).is_some_and(|m| m.key == c.key))
    })
}

/// A data row with its cells by column key.
pub(super) struct Row<'a> {
    pub(super) location: &'a Location,
    pub(super) cells: HashMap<&'static str, (&'a str, &'a Cell)>,
}

impl Row<'_> {
    fn cell(&self, key: &str) -> Option<(&str, &Cell)> {
        self.cells
            .get(key)
            .map(|(h, c)| (*h, *c))
            .filter(|(_, c)| !c.is_blank())
    }
}

/// Collects problems of one file.
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    fn at(&mut self, row: &Row<'_>, key: &str, en: String, zh: String) {
        let (column, value) = match row.cells.get(key) {
            Some((h, c)) => (Some((*h).to_owned()), c.text()),
            None => (None, None),
        };
        self.0.push(Problem {
            location: row.location.clone(),
            column,
            value,
            en,
            zh,
        });
    }

    fn missing(&mut self, row: &Row<'_>, key: &str, en_name: &str, zh_name: &str) {
        self.at(
            row,
            key,
            format!("{en_name} is required; fill it in"),
            format!("{zh_name}为必填项，请填写"),
        );
    }
}

// === rows ===

pub(super) fn platform_row(
    row: &Row<'_>,
    problems: &mut Problems,
    warnings: &mut Vec<Warned>,
) -> Option<Platform> {
    let before = problems.0.len();
    let code = match row.cell("credit_code") {
        None => {
            problems.missing(
                row,
                "credit_code",
                "the unified social credit code",
                "统一社会信用代码",
            );
            None
        }
        Some((_, Cell::Int(_) | Cell::Float(_))) => {
            problems.at(
                row,
                "credit_code",
                "the credit code is stored as a number, which loses digits; format the column as \
                 text and type the code again"
                    .into(),
                "统一社会信用代码被存为数字，会丢失位数；请将该列设为文本格式后重新填写".into(),
            );
            None
        }
        Some((_, cell)) => {
            let code = cell.text().unwrap_or_default();
            match credit_code::validate(&code) {
                Ok(()) => Some(code),
                Err(e) => {
                    problems.at(
                        row,
                        "credit_code",
                        format!("{e}; copy the code again from the business licence"),
                        format!("{}请对照营业执照重新填写。", e.message_zh()),
                    );
                    None
                }
            }
        }
    };
    let name = required_text(row, "name", "the platform name", "平台名称", problems);
    let region_code = row_region(row, "region_code", false, problems);
    let industry = match row.cell("industry") {
        None => String::new(),
        Some((_, c)) => {
            let s = c.text().unwrap_or_default();
            if s.len() == 1 && matches!(s.as_bytes()[0], b'A'..=b'T') {
                s
            } else {
                problems.at(
                    row,
                    "industry",
                    "industry must be a GB/T 4754-2017 section letter A-T in upper case, or blank"
                        .into(),
                    "行业门类应为国民经济行业分类（GB/T 4754-2017）门类大写字母A-T，或留空".into(),
                );
                String::new()
            }
        }
    };
    let platform_type = match row.cell("type").and_then(|(_, c)| c.text()) {
        None => PlatformType::Unspecified,
        Some(s) => match fold(&s).as_str() {
            "综合" | "综合类" | "综合服务平台" | "综合性" | "comprehensive" => {
                PlatformType::Comprehensive
            }
            "专业" | "专业类" | "专业服务平台" | "专业性" | "specialized" | "specialised" => {
                PlatformType::Specialized
            }
            _ => {
                problems.at(
                    row,
                    "type",
                    "type must be 综合/comprehensive or 专业/specialized, or blank".into(),
                    "平台类型应为“综合”或“专业”，或留空".into(),
                );
                PlatformType::Unspecified
            }
        },
    };
    let level = match row.cell("level").and_then(|(_, c)| c.text()) {
        None => DemoLevel::None,
        Some(s) => match fold(&s).as_str() {
            "无" | "否" | "非示范" | "none" | "no" => DemoLevel::None,
            "国家级" | "国家级示范" | "国家级示范平台" | "national" | "nationaldemo" => {
                DemoLevel::National
            }
            "省级" | "省级示范" | "省级示范平台" | "provincial" | "provincialdemo" => {
                DemoLevel::Provincial
            }
            _ => {
                problems.at(
                    row,
                    "level",
                    "level must be 国家级示范/national_demo, 省级示范/provincial_demo or \
                     无/none (blank = none)"
                        .into(),
                    "示范级别应为“国家级示范”“省级示范”或“无”（留空视为无）".into(),
                );
                DemoLevel::None
            }
        },
    };
    let legal_person = match row.cell("independent_legal_person") {
        None => {
            problems.missing(
                row,
                "independent_legal_person",
                "independent legal person (yes/no)",
                "是否独立法人（是/否）",
            );
            None
        }
        Some((_, c)) => yes_no(c).or_else(|| {
            problems.at(
                row,
                "independent_legal_person",
                "write 是/否, yes/no, true/false or 1/0".into(),
                "请填写“是”或“否”（也可写yes/no、1/0）".into(),
            );
            None
        }),
    };
    let registered = match row.cell("registered_date") {
        None => {
            problems.missing(row, "registered_date", "the registered date", "登记日期");
            None
        }
        Some((_, c)) => row_date(row, "registered_date", c, problems),
    };
    let closed = row
        .cell("closed_date")
        .and_then(|(_, c)| row_date(row, "closed_date", c, problems));
    if let (Some(r), Some(c)) = (registered, closed) {
        if c <= r {
            problems.at(
                row,
                "closed_date",
                format!(
                    "the closed date {c} is not after the registered date {r}; the closed date \
                     is the first day the platform no longer operates"
                ),
                format!("注销日期{c}不晚于登记日期{r}；注销日期是平台停止运营的第一天，请核对"),
            );
        }
    }
    if problems.0.len() > before {
        return None;
    }
    let (code, name, region_code, legal_person, registered) =
        (code?, name?, region_code?, legal_person?, registered?);
    let mut platform = Platform {
        region_code,
        industry,
        platform_type,
        level,
        independent_legal_person: legal_person,
        closed,
        source: format!("{}", row.location),
        ..Platform::new(&code, &name, registered)
    };
    if let Some(w) = region_warning(&code, &platform.region_code) {
        warnings.push(Warned {
            location: row.location.clone(),
            key: code.clone(),
            warning: w.clone(),
        });
        platform.warnings.push(w);
    }
    Some(platform)
}

/// A warning when the registry region lies in another province than the credit code says.
pub fn region_warning(code: &str, region_code: &str) -> Option<RowWarning> {
    let from_code = credit_code::region_code(code);
    if from_code.get(..2) == region_code.get(..2) {
        return None;
    }
    let describe = |c: &str| match region::province(c) {
        Some(p) => format!("{c} ({} {})", p.name, p.name_en),
        None => format!("{c} (no province)"),
    };
    let describe_zh = |c: &str| match region::province(c) {
        Some(p) => format!("{c}（{}）", p.name),
        None => format!("{c}（非省级区划）"),
    };
    Some(RowWarning {
        en: format!(
            "region {} is in another province than the credit code's registering authority {}; \
             the platform is counted under {region_code} — check the region if that is wrong",
            describe(region_code),
            describe(from_code)
        ),
        zh: format!(
            "所在地区{}与信用代码中的登记机关地区{}不在同一省份；该平台将统计在{region_code}下，如有误请核对所在地区",
            describe_zh(region_code),
            describe_zh(from_code)
        ),
    })
}

pub(super) fn division_row(
    row: &Row<'_>,
    revision: Option<u32>,
    problems: &mut Problems,
) -> Option<Division> {
    let before = problems.0.len();
    let revision = match row.cell("revision") {
        Some((_, c)) => match whole(c).filter(|y| (1949..=9999).contains(y)) {
            Some(y) => Some(y as u32),
            None => {
                problems.at(
                    row,
                    "revision",
                    "revision must be the year of the code list, e.g. 2023".into(),
                    "版本应为区划代码的年份，例如2023".into(),
                );
                None
            }
        },
        None => revision.or_else(|| {
            problems.missing(
                row,
                "revision",
                "the revision (or --revision)",
                "版本（或使用 --revision）",
            );
            None
        }),
    };
    let code = row_region(row, "code", false, problems);
    if let Some(code) = &code {
        if region::level(code) == region::RegionLevel::County {
            problems.at(
                row,
                "code",
                "only provinces (PP0000) and prefectures (PPCC00) are kept; counties are shown by \
                 their code — leave county rows out"
                    .into(),
                "区划表只保存省级（PP0000）和地级（PPCC00）代码，县级请删除".into(),
            );
        }
    }
    let name = required_text(row, "name", "the division name", "区划名称", problems);
    let name_en = row
        .cell("name_en")
        .and_then(|(_, c)| c.text())
        .unwrap_or_default();
    if problems.0.len() > before {
        return None;
    }
    Some(Division {
        revision: revision?,
        code: code?,
        name: name?,
        name_en,
    })
}

pub(super) fn sme_row(row: &Row<'_>, problems: &mut Problems) -> Option<SmeCount> {
    let before = problems.0.len();
    let region_code = row_region(row, "region_code", true, problems);
    let year = match row.cell("year") {
        None => {
            problems.missing(row, "year", "the year", "年份");
            None
        }
        Some((_, c)) => whole(c)
            .filter(|y| (1949..=2100).contains(y))
            .map(|y| y as u16)
            .or_else(|| {
                problems.at(
                    row,
                    "year",
                    "year must be a year between 1949 and 2100".into(),
                    "年份应为1949至2100之间的年份".into(),
                );
                None
            }),
    };
    let count = match row.cell("sme_count") {
        None => {
            problems.missing(row, "sme_count", "the SME count", "中小企业数");
            None
        }
        Some((_, c)) => whole(c).and_then(|n| u64::try_from(n).ok()).or_else(|| {
            problems.at(
                row,
                "sme_count",
                "the SME count must be a whole number of firms, 0 or more".into(),
                "中小企业数应为不小于0的整数".into(),
            );
            None
        }),
    };
    if problems.0.len() > before {
        return None;
    }
    Some(SmeCount {
        region_code: region_code?,
        year: year?,
        count: count?,
    })
}

pub(super) fn check_duplicates(rows: &Rows, data: &[Row<'_>], problems: &mut Problems) {
    if !problems.0.is_empty() {
        // Rows with problems were left out, so positions no longer line up; the duplicates
        // will show on the next attempt.
        return;
    }
    let keys: Vec<(String, &str)> = match rows {
        Rows::Platforms(p) => p
            .iter()
            .map(|p| (p.credit_code.clone(), "credit_code"))
            .collect(),
        Rows::Divisions(d) => d
            .iter()
            .map(|d| (format!("{} {}", d.revision, d.code), "code"))
            .collect(),
        Rows::SmeCounts(s) => s
            .iter()
            .map(|s| (format!("{} {}", s.region_code, s.year), "region_code"))
            .collect(),
    };
    let mut first: HashMap<&str, &Location> = HashMap::new();
    for ((key, column), row) in keys.iter().zip(data) {
        if let Some(loc) = first.insert(key, row.location) {
            problems.at(
                row,
                column,
                format!("{key} is already given at {loc}; keep one row per key"),
                format!("{key}已在{}出现，每个代码只能有一行", loc.zh()),
            );
            first.insert(key, loc);
        }
    }
}

// === values ===

pub(super) fn required_text(
    row: &Row<'_>,
    key: &str,
    en: &str,
    zh: &str,
    problems: &mut Problems,
) -> Option<String> {
    match row.cell(key).and_then(|(_, c)| c.text()) {
        Some(s) if s.chars().count() <= 200 => Some(s),
        Some(_) => {
            problems.at(
                row,
                key,
                format!("{en} is longer than 200 characters; shorten it"),
                format!("{zh}超过200个字符，请缩短"),
            );
            None
        }
        None => {
            problems.missing(row, key, en, zh);
            None
        }
    }
}

/// A 6-digit region code of a known province (or `000000` when `national_ok`).
pub(super) fn row_region(
    row: &Row<'_>,
    key: &str,
    national_ok: bool,
    problems: &mut Problems,
) -> Option<String> {
    let Some((_, cell)) = row.cell(key) else {
        problems.missing(row, key, "the 6-digit region code", "6位行政区划代码");
        return None;
    };
    let s = cell.text().unwrap_or_default();
    if !region::is_region_code(&s) {
        problems.at(
            row,
            key,
            "a region code has exactly 6 digits (GB/T 2260), e.g. 440300".into(),
            "行政区划代码应为6位数字（GB/T 2260），例如440300".into(),
        );
        return None;
    }
    if s == region::NATIONAL && national_ok {
        return Some(s);
    }
    if region::province(&s).is_none() {
        problems.at(
            row,
            key,
            format!(
                "the first two digits {} are not one of the 34 provincial-level divisions; check \
                 the code",
                &s[..2]
            ),
            format!("前两位{}不是34个省级行政区划之一，请核对代码", &s[..2]),
        );
        return None;
    }
    Some(s)
}

pub(super) fn row_date(
    row: &Row<'_>,
    key: &str,
    cell: &Cell,
    problems: &mut Problems,
) -> Option<Date> {
    let date = match cell {
        Cell::Date(d) => Some(*d),
        Cell::Text(s) => parse_date(s.trim()),
        Cell::Int(_) | Cell::Float(_) => None,
        _ => None,
    };
    if date.is_none() {
        problems.at(
            row,
            key,
            "not a date; write YYYY-MM-DD (e.g. 2020-02-29), YYYY/M/D, YYYY年M月D日 or YYYYMMDD, \
             or format the cell as a date"
                .into(),
            "不是有效日期；请写作YYYY-MM-DD（如2020-02-29）、YYYY/M/D、YYYY年M月D日或YYYYMMDD，或将单元格设为日期格式".into(),
        );
    }
    date
}

pub(super) fn parse_date(s: &str) -> Option<Date> {
    // A time after the date ("2026/5/3 0:00") is ignored: registry dates are UTC+8 days.
    let s = s.split_whitespace().next()?;
    let ymd = |y: i32, m: u32, d: u32| {
        Date::from_calendar_date(
            y,
            Month::try_from(u8::try_from(m).ok()?).ok()?,
            u8::try_from(d).ok()?,
        )
        .ok()
    };
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return ymd(
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..].parse().ok()?,
        );
    }
    let parts: Vec<&str> = s
        .trim_end_matches('日')
        .split(['-', '/', '.', '年', '月'])
        .collect();
    let [y, m, d] = parts[..] else { return None };
    let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
        (lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())?
    };
    ymd(
        digits(y, 4..=4)? as i32,
        digits(m, 1..=2)?,
        digits(d, 1..=2)?,
    )
}

pub(super) fn yes_no(c: &Cell) -> Option<bool> {
    match c {
        Cell::Bool(b) => Some(*b),
        Cell::Int(0) => Some(false),
        Cell::Int(1) => Some(true),
        _ => match fold(&c.text()?).as_str() {
            "是" | "有" | "yes" | "y" | "true" | "1" => Some(true),
            "否" | "无" | "no" | "n" | "false" | "0" => Some(false),
            _ => None,
        },
    }
}

/// A whole number: an integer cell, an integral float, or digits with optional thousands
/// separators.
pub(super) fn whole(c: &Cell) -> Option<i64> {
    match c {
        Cell::Int(i) => Some(*i),
        Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        Cell::Text(s) => {
            let s = s.trim();
            let digits: String = s.chars().filter(|c| *c != ',' && *c != '，').collect();
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().ok())?
        }
        _ => None,
    }
}
