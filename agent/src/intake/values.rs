//! Cell value parsers. Each returns the value or a bilingual message saying what was expected.

use calamine::{ExcelDateTime, ExcelDateTimeType};
use sme_proto::v1::{EnterpriseSize, ServiceFunction};
use time::{Date, Month};

use super::Cell;

/// What is wrong with a value, in English and Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Msg {
    pub en: String,
    pub zh: String,
}

pub(crate) fn msg(en: impl Into<String>, zh: impl Into<String>) -> Msg {
    Msg {
        en: en.into(),
        zh: zh.into(),
    }
}

/// True for an empty cell or whitespace-only text.
pub(crate) fn is_blank(c: &Cell) -> bool {
    match c {
        Cell::Empty => true,
        Cell::Text(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The cell as trimmed text; `None` when blank ([`Cell::text`]: numbers as typed, `110105`).
pub(crate) fn text(c: &Cell) -> Option<String> {
    c.text()
}

pub(crate) use sme_proto::tabular::fold;

// --- record fields -------------------------------------------------------------------------

pub(crate) fn record_id(c: &Cell) -> Result<String, Msg> {
    let s = text(c).unwrap_or_default();
    if s.chars().count() > 64 {
        return Err(msg(
            "record id longer than 64 characters",
            "记录编号超过64个字符",
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(msg(
            "record id contains control characters (line breaks or tabs)",
            "记录编号含有换行、制表符等控制字符",
        ));
    }
    Ok(s)
}

/// A service date: text forms, `YYYYMMDD`, or an Excel serial date; in [2000-01-01, today].
pub(crate) fn date(c: &Cell, today: Date) -> Result<Date, Msg> {
    let expected = || {
        msg(
            "not a valid date; expected YYYY-MM-DD (e.g. 2026-05-03), YYYY/M/D or an Excel date",
            "不是有效日期，应为 YYYY-MM-DD（如 2026-05-03）、YYYY/M/D 或 Excel 日期格式",
        )
    };
    let d = match c {
        Cell::Date(d) => *d,
        Cell::Int(_) | Cell::Float(_) => {
            let v = match c {
                Cell::Int(i) => *i as f64,
                Cell::Float(f) => *f,
                _ => unreachable!(),
            };
            if (19_000_101.0..=29_991_231.0).contains(&v) && v.fract() == 0.0 {
                ymd_digits(&format!("{v}")).ok_or_else(expected)?
            } else if (1.0..2_958_466.0).contains(&v) {
                let (y, m, d, ..) =
                    ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false).to_ymd_hms_milli();
                ymd(i32::from(y), u32::from(m), u32::from(d)).ok_or_else(expected)?
            } else {
                return Err(expected());
            }
        }
        _ => parse_date_text(&text(c).unwrap_or_default()).ok_or_else(expected)?,
    };
    let earliest = Date::from_calendar_date(2000, Month::January, 1).expect("valid");
    if d < earliest {
        return Err(msg(
            "date before 2000-01-01; check the year",
            "日期早于2000-01-01，请检查年份",
        ));
    }
    if d > today {
        return Err(msg(
            format!("date is in the future (today is {today} in UTC+8)"),
            format!("日期晚于今天（北京时间{today}）"),
        ));
    }
    Ok(d)
}

fn parse_date_text(s: &str) -> Option<Date> {
    // A time after the date (Excel's "2026/5/3 0:00") is ignored: dates are UTC+8 days.
    let s = s.split_whitespace().next()?;
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return ymd_digits(s);
    }
    let s = s.trim_end_matches('日');
    let parts: Vec<&str> = s.split(['-', '/', '.', '年', '月']).collect();
    let [y, m, d] = parts[..] else { return None };
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    let num = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    ymd(num(y)? as i32, num(m)?, num(d)?)
}

fn ymd_digits(s: &str) -> Option<Date> {
    ymd(
        s[..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..8].parse().ok()?,
    )
}

fn ymd(y: i32, m: u32, d: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()
}

/// The seven service functions: Chinese name and the folded English names accepted (besides
/// the numbers 1–7 and the proto names `SERVICE_FUNCTION_*`).
pub const FUNCTION_NAMES: &[(ServiceFunction, &str, &[&str])] = &[
    (
        ServiceFunction::Information,
        "信息查询",
        &["information", "info"],
    ),
    (
        ServiceFunction::TechnologyInnovation,
        "技术创新",
        &["technologyinnovation", "technology", "innovation"],
    ),
    (
        ServiceFunction::Quality,
        "质量管理",
        &["quality", "qualitymanagement"],
    ),
    (
        ServiceFunction::ManagementConsulting,
        "管理咨询",
        &["managementconsulting", "management", "consulting"],
    ),
    (
        ServiceFunction::Entrepreneurship,
        "创业辅导",
        &["entrepreneurship", "startup"],
    ),
    (
        ServiceFunction::MarketExpansion,
        "市场开拓",
        &["marketexpansion", "market"],
    ),
    (ServiceFunction::Training, "人员培训", &["training"]),
];

pub(crate) fn function(c: &Cell) -> Result<ServiceFunction, Msg> {
    let bad = || {
        msg(
            "unknown service function; expected 1-7 or one of information, technology innovation, \
             quality, management consulting, entrepreneurship, market expansion, training",
            "服务功能无法识别，应为1-7或 信息查询、技术创新、质量管理、管理咨询、创业辅导、市场开拓、人员培训 之一",
        )
    };
    let raw = text(c).unwrap_or_default();
    let f = fold(&raw);
    let f = f.strip_prefix("servicefunction").unwrap_or(&f);
    let by_name = |name: &str| {
        FUNCTION_NAMES
            .iter()
            .find(|(_, zh, en)| *zh == name || en.contains(&name))
            .map(|(sf, ..)| *sf)
    };
    let by_number = |d: char| {
        d.to_digit(10)
            .and_then(|n| ServiceFunction::try_from(n as i32).ok())
            .filter(|sf| *sf != ServiceFunction::Unspecified)
    };
    let mut chars = f.chars();
    match (chars.next(), chars.as_str()) {
        (Some(d), "") => by_number(d).ok_or_else(bad),
        // "3质量管理", "3.质量管理", "3、质量管理" from numbered drop-down lists.
        (Some(d), rest) if d.is_ascii_digit() => {
            let rest = rest.trim_start_matches(['.', '、', ')', ':']);
            match (by_number(d), by_name(rest)) {
                (Some(a), Some(b)) if a == b => Ok(a),
                _ => Err(bad()),
            }
        }
        _ => by_name(f).ok_or_else(bad),
    }
}

pub(crate) fn enterprise_size(c: &Cell) -> Result<EnterpriseSize, Msg> {
    let Some(raw) = text(c) else {
        return Ok(EnterpriseSize::Unspecified);
    };
    match fold(&raw).trim_end_matches("企业") {
        "微型" | "微" | "micro" | "1" => Ok(EnterpriseSize::Micro),
        "小型" | "小" | "small" | "2" => Ok(EnterpriseSize::Small),
        "中型" | "中" | "medium" | "3" => Ok(EnterpriseSize::Medium),
        _ => Err(msg(
            "unknown enterprise size; expected micro, small or medium (or blank if unknown)",
            "企业规模无法识别，应为 微型、小型 或 中型（不清楚可留空）",
        )),
    }
}

/// Industry section letter A–T, optionally followed by its name ("C 制造业").
pub(crate) fn industry(c: &Cell) -> Result<String, Msg> {
    let raw = text(c).unwrap_or_default();
    let mut chars = raw.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    let rest = chars.as_str();
    match first {
        Some(l @ 'A'..='T') if !rest.starts_with(|c: char| c.is_ascii_alphanumeric()) => {
            Ok(l.to_string())
        }
        _ => Err(msg(
            "unknown industry; expected a GB/T 4754-2017 section letter A-T (e.g. C for manufacturing)",
            "行业门类无法识别，应为国民经济行业分类（GB/T 4754-2017）门类字母A-T（如制造业为C）",
        )),
    }
}

/// Province-level prefixes of GB/T 2260 division codes.
const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

pub(crate) fn region(c: &Cell) -> Result<String, Msg> {
    let s = text(c).unwrap_or_default();
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(msg(
            "not a region code; expected the 6-digit administrative division code (e.g. 350102)",
            "不是地区代码，应为6位行政区划代码（如350102）",
        ));
    }
    if !PROVINCES.contains(&&s[..2]) {
        return Err(msg(
            format!("region code starts with {}, which is no province", &s[..2]),
            format!("地区代码前两位{}不是有效的省级代码", &s[..2]),
        ));
    }
    Ok(s)
}

/// Yuan with at most two decimals to integer fen, by decimal string arithmetic only.
pub(crate) fn yuan_to_fen(c: &Cell) -> Result<i64, Msg> {
    let bad = || {
        msg(
            "not an amount in yuan; expected a number ≥ 0 with at most 2 decimals (e.g. 1200.50)",
            "不是有效的金额（元），应为不小于0、最多两位小数的数字（如1200.50）",
        )
    };
    let raw = text(c).unwrap_or_default();
    let s = raw
        .trim_start_matches(['¥', '￥'])
        .trim_end_matches('元')
        .replace([',', '，'], "");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(msg(
            "more than 2 decimals; amounts are in yuan to the fen (分)",
            "小数超过两位；金额以元为单位，最多精确到分",
        ));
    }
    let mut cents = [b'0'; 2];
    for (i, b) in frac.bytes().take(2).enumerate() {
        cents[i] = b;
    }
    let cents = i64::from(cents[0] - b'0') * 10 + i64::from(cents[1] - b'0');
    int.parse::<i64>()
        .ok()
        .and_then(|y| y.checked_mul(100))
        .and_then(|f| f.checked_add(cents))
        .ok_or_else(|| msg("amount too large", "金额过大"))
}

/// A whole number ≥ 0 (`expected` names it in messages).
pub(crate) fn count(c: &Cell, en: &str, zh: &str) -> Result<u64, Msg> {
    let bad = || {
        msg(
            format!("not {en}; expected a whole number ≥ 0"),
            format!("不是有效的{zh}，应为不小于0的整数"),
        )
    };
    match c {
        Cell::Int(i) => u64::try_from(*i).map_err(|_| bad()),
        Cell::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15 => Ok(*f as u64),
        Cell::Text(_) => {
            let s = text(c).unwrap_or_default().replace([',', '，'], "");
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

pub(crate) fn fen(c: &Cell) -> Result<i64, Msg> {
    let n = count(c, "an amount in fen", "金额（分）")?;
    i64::try_from(n).map_err(|_| msg("amount too large", "金额过大"))
}

/// Yes/no: 是/否, true/false, 1/0, Y/N, yes/no (and 有/无, 免费/收费 where it reads naturally).
pub(crate) fn yes_no(c: &Cell) -> Result<bool, Msg> {
    if let Cell::Bool(b) = c {
        return Ok(*b);
    }
    match fold(&text(c).unwrap_or_default()).as_str() {
        "是" | "true" | "1" | "y" | "yes" | "有" | "免费" | "√" => Ok(true),
        "否" | "false" | "0" | "n" | "no" | "无" | "收费" | "×" => Ok(false),
        _ => Err(msg(
            "not yes or no; expected 是/否, true/false, 1/0 or Y/N",
            "应填写 是/否（或 true/false、1/0、Y/N）",
        )),
    }
}

/// Satisfaction 1–5 (5 = very satisfied) or its name; blank or 0 = not surveyed.
pub(crate) fn satisfaction(c: &Cell) -> Result<Option<u8>, Msg> {
    let Some(raw) = text(c) else { return Ok(None) };
    let v = match fold(&raw).as_str() {
        "0" => return Ok(None),
        "5" | "非常满意" | "verysatisfied" => 5,
        "4" | "满意" | "satisfied" => 4,
        "3" | "一般" | "neutral" => 3,
        "2" | "不满意" | "dissatisfied" => 2,
        "1" | "非常不满意" | "verydissatisfied" => 1,
        _ => {
            return Err(msg(
                "unknown satisfaction; expected 1-5 (5 = very satisfied) or very satisfied, \
                 satisfied, neutral, dissatisfied, very dissatisfied; blank if not surveyed",
                "满意度无法识别，应为1-5（5为非常满意）或 非常满意、满意、一般、不满意、非常不满意；未调查可留空",
            ))
        }
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    const TODAY: Date = date!(2026 - 06 - 15);

    #[test]
    fn dates() {
        for s in [
            "2026-05-03",
            "2026/5/3",
            "2026-5-3",
            "2026.05.03",
            "2026年5月3日",
            "20260503",
            "2026/5/3 0:00",
        ] {
            assert_eq!(date(&t(s), TODAY), Ok(date!(2026 - 05 - 03)), "{s}");
        }
        // Excel serial 46145 = 2026-05-03.
        assert_eq!(
            date(&Cell::Float(46145.0), TODAY),
            Ok(date!(2026 - 05 - 03))
        );
        assert_eq!(date(&Cell::Int(20260503), TODAY), Ok(date!(2026 - 05 - 03)));
        assert_eq!(
            date(&Cell::Date(date!(2026 - 05 - 03)), TODAY),
            Ok(date!(2026 - 05 - 03))
        );
        for s in ["2026-13-01", "2026-02-30", "26-5-3", "May 3", "", "2026-05"] {
            assert!(date(&t(s), TODAY).is_err(), "{s}");
        }
        assert!(date(&t("2026-06-16"), TODAY)
            .unwrap_err()
            .en
            .contains("future"));
        assert!(date(&t("1999-12-31"), TODAY)
            .unwrap_err()
            .en
            .contains("2000"));
    }

    #[test]
    fn money_never_goes_through_floats() {
        let cases = [
            ("0", 0),
            ("12", 1200),
            ("12.5", 1250),
            ("12.34", 1234),
            ("0.01", 1),
            ("¥1,234.50", 123_450),
            ("1234.500", 123_450),
            ("99999999.99", 9_999_999_999),
            ("300元", 30_000),
            ("92233720368547758.07", i64::MAX),
        ];
        for (s, fen) in cases {
            assert_eq!(yuan_to_fen(&t(s)), Ok(fen), "{s}");
        }
        // 0.1 + 0.2 style values arrive as the shortest decimal of the f64.
        assert_eq!(yuan_to_fen(&Cell::Float(19.99)), Ok(1999));
        assert_eq!(yuan_to_fen(&Cell::Float(1e6)), Ok(100_000_000));
        for s in [
            "-1",
            "1.234",
            "abc",
            "1e3",
            "",
            ".5",
            "1.2.3",
            "92233720368547758.08",
        ] {
            assert!(yuan_to_fen(&t(s)).is_err(), "{s}");
        }
        assert_eq!(fen(&t("1234")), Ok(1234));
        assert!(fen(&t("12.5")).is_err());
        assert!(fen(&Cell::Float(12.5)).is_err());
    }

    #[test]
    fn functions() {
        for (s, f) in [
            ("3", ServiceFunction::Quality),
            ("质量管理", ServiceFunction::Quality),
            ("Quality", ServiceFunction::Quality),
            (
                "technology innovation",
                ServiceFunction::TechnologyInnovation,
            ),
            ("Market_Expansion", ServiceFunction::MarketExpansion),
            ("SERVICE_FUNCTION_TRAINING", ServiceFunction::Training),
            ("5 创业辅导", ServiceFunction::Entrepreneurship),
            ("1.信息查询", ServiceFunction::Information),
        ] {
            assert_eq!(function(&t(s)), Ok(f), "{s}");
        }
        assert_eq!(function(&Cell::Float(7.0)), Ok(ServiceFunction::Training));
        for s in ["0", "8", "", "3 技术创新", "consult"] {
            assert!(function(&t(s)).is_err(), "{s}");
        }
    }

    #[test]
    fn enums_and_codes() {
        assert_eq!(enterprise_size(&t("小型企业")), Ok(EnterpriseSize::Small));
        assert_eq!(enterprise_size(&t("Micro")), Ok(EnterpriseSize::Micro));
        assert_eq!(enterprise_size(&t("")), Ok(EnterpriseSize::Unspecified));
        assert!(enterprise_size(&t("large")).is_err());
        assert_eq!(industry(&t("c")), Ok("C".into()));
        assert_eq!(industry(&t("C 制造业")), Ok("C".into()));
        assert!(industry(&t("U")).is_err());
        assert!(industry(&t("CA")).is_err());
        assert_eq!(region(&Cell::Int(350102)), Ok("350102".into()));
        assert_eq!(region(&Cell::Float(110105.0)), Ok("110105".into()));
        assert!(region(&t("990000")).is_err());
        assert!(region(&t("35010")).is_err());
        assert_eq!(yes_no(&t("是")), Ok(true));
        assert_eq!(yes_no(&t("N")), Ok(false));
        assert_eq!(yes_no(&Cell::Bool(true)), Ok(true));
        assert!(yes_no(&t("maybe")).is_err());
        assert_eq!(satisfaction(&t("非常满意")), Ok(Some(5)));
        assert_eq!(satisfaction(&t("very dissatisfied")), Ok(Some(1)));
        assert_eq!(satisfaction(&t("")), Ok(None));
        assert_eq!(satisfaction(&Cell::Int(4)), Ok(Some(4)));
        assert!(satisfaction(&t("6")).is_err());
        assert_eq!(count(&t("1,200"), "x", "x"), Ok(1200));
        assert!(count(&t("-1"), "x", "x").is_err());
        assert!(record_id(&t("a\nb")).is_err());
    }
}
