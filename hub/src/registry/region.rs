//! Administrative division codes (行政区划代码, GB/T 2260) as scopes: province `PP0000`,
//! prefecture `PPCC00`, county `PPCCDD`, and `000000` for the whole country. A code covers every
//! code that starts with its significant digits (`440000` → `44`, `440300` → `4403`).
//!
//! The 34 provincial-level divisions ship with the hub (`hub/data/divisions.csv`); they are the
//! only codes this module knows without ClickHouse.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The scope of the whole country (national planners, hub operators).
pub const NATIONAL: &str = "000000";

/// The shipped division table (revision, code, name, English name).
pub const SHIPPED_DIVISIONS_CSV: &str = include_str!("../../data/divisions.csv");

/// The revision of the shipped table.
pub const SHIPPED_REVISION: u32 = 2023;

/// How deep a code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionLevel {
    /// `000000`.
    National,
    /// `PP0000`.
    Province,
    /// `PPCC00`.
    Prefecture,
    /// `PPCCDD`.
    County,
}

/// Whether `s` is six ASCII digits.
pub fn is_region_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The level of a 6-digit code.
pub fn level(code: &str) -> RegionLevel {
    if code == NATIONAL {
        RegionLevel::National
    } else if code.ends_with("0000") {
        RegionLevel::Province
    } else if code.ends_with("00") {
        RegionLevel::Prefecture
    } else {
        RegionLevel::County
    }
}

/// The significant digits of a scope: `""`, `"44"`, `"4403"` or all six.
pub fn prefix(code: &str) -> &str {
    match level(code) {
        RegionLevel::National => "",
        RegionLevel::Province => &code[..2.min(code.len())],
        RegionLevel::Prefecture => &code[..4.min(code.len())],
        RegionLevel::County => code,
    }
}

/// Whether region `code` lies within `scope` (a scope contains itself).
pub fn within(scope: &str, code: &str) -> bool {
    code.starts_with(prefix(scope))
}

/// The province of a code: `440305` → `440000`.
pub fn province_of(code: &str) -> String {
    format!("{}0000", code.get(..2).unwrap_or("00"))
}

/// The prefecture of a code: `440305` → `440300`.
pub fn prefecture_of(code: &str) -> String {
    format!("{}00", code.get(..4).unwrap_or("0000"))
}

/// The region one level below `scope` that contains `code`: provinces under the country,
/// prefectures under a province, counties under a prefecture; a county is its own child.
pub fn child_within(scope: &str, code: &str) -> String {
    match level(scope) {
        RegionLevel::National => province_of(code),
        RegionLevel::Province => prefecture_of(code),
        RegionLevel::Prefecture | RegionLevel::County => code.to_owned(),
    }
}

/// Interprets a region filter: a 6-digit code (its scope) or a bare digit prefix (`"44"`).
/// Returns the digit prefix, or `None` when `filter` is neither.
pub fn filter_prefix(filter: &str) -> Option<String> {
    if is_region_code(filter) {
        Some(prefix(filter).to_owned())
    } else if filter.len() < 6 && filter.bytes().all(|b| b.is_ascii_digit()) {
        Some(filter.to_owned())
    } else {
        None
    }
}

/// One shipped province: code, Chinese name, English name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    /// `PP0000`.
    pub code: String,
    /// e.g. 广东省.
    pub name: String,
    /// e.g. Guangdong.
    pub name_en: String,
}

static PROVINCES: LazyLock<Vec<Province>> = LazyLock::new(|| {
    SHIPPED_DIVISIONS_CSV
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "hub/data/divisions.csv: {l}");
            Province {
                code: f[1].to_owned(),
                name: f[2].to_owned(),
                name_en: f[3].to_owned(),
            }
        })
        .collect()
});

static BY_PREFIX: LazyLock<HashMap<&'static str, &'static Province>> =
    LazyLock::new(|| PROVINCES.iter().map(|p| (&p.code[..2], p)).collect());

/// The 34 provincial-level divisions, in code order.
pub fn provinces() -> &'static [Province] {
    &PROVINCES
}

/// The province a code belongs to, if its first two digits are one of the 34.
pub fn province(code: &str) -> Option<&'static Province> {
    code.get(..2).and_then(|p| BY_PREFIX.get(p).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ships_the_34_provincial_divisions() {
        assert_eq!(provinces().len(), 34);
        for code in ["110000", "650000", "710000", "810000", "820000"] {
            assert!(province(code).is_some(), "{code}");
        }
        assert_eq!(province("440305").unwrap().name, "广东省");
        assert!(province("100000").is_none(), "10 is no province");
        let mut codes: Vec<_> = provinces().iter().map(|p| &p.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), 34);
        assert!(provinces()
            .iter()
            .all(|p| level(&p.code) == RegionLevel::Province));
    }

    #[test]
    fn scopes_contain_what_starts_with_their_digits() {
        assert!(within(NATIONAL, "440305"));
        assert!(within("440000", "440305"));
        assert!(within("440300", "440305"));
        assert!(within("440305", "440305"));
        assert!(!within("440300", "440400"));
        assert!(!within("110000", "120101"));
        assert_eq!(prefix("440300"), "4403");
        assert_eq!(child_within(NATIONAL, "440305"), "440000");
        assert_eq!(child_within("440000", "440305"), "440300");
        assert_eq!(child_within("440300", "440305"), "440305");
        assert_eq!(filter_prefix("44").as_deref(), Some("44"));
        assert_eq!(filter_prefix("440000").as_deref(), Some("44"));
        assert_eq!(filter_prefix("4a"), None);
    }
}
