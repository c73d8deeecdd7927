//! Plain-text tables for the operators' commands (`registry`, `period`, `completeness`): codes
//! always next to names, times in UTC+8, columns aligned for Chinese text (wide characters
//! count twice).

use std::collections::HashMap;
use std::fmt::Write as _;

use sme_proto::period::{Calendar, Period, PeriodKind};
use time::OffsetDateTime;

use crate::analytics::completeness::Completeness;
use crate::registry::{import::ImportReport, Division, Platform, SmeCount};
use crate::reporting::periods::{format_cst, ReopenTarget, Reopening};

/// A table: header and rows of cells; numeric columns are right-aligned.
struct Table {
    header: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&'static str, bool)]) -> Self {
        Table {
            header: columns.iter().map(|c| c.0).collect(),
            right: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let mut parts = Vec::new();
            for (i, cell) in cells.enumerate() {
                let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
                parts.push(if self.right[i] {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                });
            }
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        line(&mut out, &mut self.header.iter().copied());
        for row in &self.rows {
            line(&mut out, &mut row.iter().map(String::as_str));
        }
        out
    }
}

/// Display width: East Asian wide characters count two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFE30..=0xFE4F).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn region_label(code: &str, names: &HashMap<String, String>) -> String {
    match names.get(code) {
        Some(n) => format!("{code} {n}"),
        None => code.to_owned(),
    }
}

/// The registry listing.
pub fn platforms(list: &[Platform], names: &HashMap<String, String>) -> String {
    let mut t = Table::new(&[
        ("credit code", false),
        ("name", false),
        ("region", false),
        ("industry", false),
        ("type", false),
        ("level", false),
        ("legal person", false),
        ("registered", false),
        ("closed", false),
        ("warnings", true),
    ]);
    for p in list {
        let province = crate::registry::region::province_of(&p.region_code);
        let region = match (names.get(&p.region_code), names.get(&province)) {
            (Some(n), _) => format!("{} {n}", p.region_code),
            (None, Some(n)) => format!("{} ({n})", p.region_code),
            (None, None) => p.region_code.clone(),
        };
        t.row(vec![
            p.credit_code.clone(),
            p.name.clone(),
            region,
            p.industry.clone(),
            p.platform_type.name_zh().to_owned(),
            p.level.name_zh().to_owned(),
            if p.independent_legal_person {
                "是"
            } else {
                "否"
            }
            .to_owned(),
            p.registered.to_string(),
            p.closed.map(|d| d.to_string()).unwrap_or_default(),
            p.warnings.len().to_string(),
        ]);
    }
    let mut out = t.render();
    let _ = writeln!(out, "{} platform(s)", list.len());
    for p in list.iter().filter(|p| !p.warnings.is_empty()) {
        for w in &p.warnings {
            let _ = writeln!(out, "warning {}: {} / {}", p.credit_code, w.en, w.zh);
        }
    }
    out
}

/// The division listing.
pub fn divisions(list: &[Division]) -> String {
    let mut t = Table::new(&[
        ("code", false),
        ("name", false),
        ("English", false),
        ("revision", true),
    ]);
    for d in list {
        t.row(vec![
            d.code.clone(),
            d.name.clone(),
            d.name_en.clone(),
            d.revision.to_string(),
        ]);
    }
    let mut out = t.render();
    let _ = writeln!(out, "{} division(s)", list.len());
    out
}

/// The SME-count listing.
pub fn sme_counts(list: &[SmeCount], names: &HashMap<String, String>) -> String {
    let mut t = Table::new(&[("region", false), ("year", true), ("SMEs", true)]);
    for c in list {
        t.row(vec![
            region_label(&c.region_code, names),
            c.year.to_string(),
            c.count.to_string(),
        ]);
    }
    t.render()
}

/// What an import did, with every warning.
pub fn import_report(r: &ImportReport) -> String {
    let mut out = format!(
        "{}: {} {} row(s), {} {} / {}：{}行，{}{}\n",
        r.file.display(),
        r.kind,
        r.rows,
        r.changed,
        if r.dry_run {
            "would be written (dry run, nothing written)"
        } else {
            "written (new or changed)"
        },
        r.kind,
        r.rows,
        if r.dry_run { "将写入" } else { "已写入" },
        r.changed
    );
    for w in &r.warnings {
        let _ = writeln!(
            out,
            "  warning 警告 {} / {}, {}: {} / {}",
            w.location,
            w.location.zh(),
            w.key,
            w.warning.en,
            w.warning.zh
        );
    }
    out
}

/// Recent periods of a kind with their calendar (UTC+8) and state at `now`.
pub fn periods(calendar: &Calendar, kind: PeriodKind, count: usize, now: OffsetDateTime) -> String {
    let mut t = Table::new(&[
        ("period", false),
        ("starts", false),
        ("ends (last day)", false),
        ("due", false),
        ("locks", false),
        ("state", false),
    ]);
    for p in sme_proto::period::current_and_recent(now, kind, count.saturating_sub(1)) {
        let state = if !p.has_ended(now) {
            "in progress 进行中"
        } else if calendar.is_locked(&p, now) {
            "locked 已锁定"
        } else if now > calendar.due_at(&p) {
            "overdue, open 逾期可报"
        } else {
            "open 可报送"
        };
        t.row(vec![
            p.to_string(),
            p.first_day().to_string(),
            p.last_day().to_string(),
            format_cst(calendar.due_at(&p)),
            format_cst(calendar.locks_at(&p)),
            state.to_owned(),
        ]);
    }
    format!("{}times are UTC+8 (北京时间)\n", t.render())
}

/// Recorded reopenings.
pub fn reopenings(
    list: &[Reopening],
    names: &HashMap<String, String>,
    now: OffsetDateTime,
) -> String {
    let mut t = Table::new(&[
        ("reopened at", false),
        ("period", false),
        ("target", false),
        ("region", false),
        ("until", false),
        ("by", false),
        ("reason", false),
    ]);
    for r in list {
        let target = match &r.target {
            ReopenTarget::Platform(id) => id.clone(),
            ReopenTarget::Region(_) => "whole region 全区".to_owned(),
        };
        let until = format!(
            "{}{}",
            format_cst(r.until),
            if r.until <= now { " (over)" } else { "" }
        );
        t.row(vec![
            format_cst(r.reopened_at),
            r.period.clone(),
            target,
            region_label(&r.region_code, names),
            until,
            format!("{} ({})", r.by_name, region_label(&r.by_region, names)),
            r.reason.clone(),
        ]);
    }
    let mut out = t.render();
    let _ = writeln!(out, "{} reopening(s); times are UTC+8", list.len());
    out
}

/// Effective lock of a (platform, period).
pub fn lock_line(
    platform: &str,
    period: &Period,
    calendar: &Calendar,
    lock: OffsetDateTime,
    now: OffsetDateTime,
) -> String {
    let state = if now >= lock {
        "locked 已锁定"
    } else {
        "open 可报送"
    };
    let extended = if lock > calendar.locks_at(period) {
        format!(
            " (calendar lock {} extended by a reopening)",
            format_cst(calendar.locks_at(period))
        )
    } else {
        String::new()
    };
    format!(
        "{platform} {period}: locks at {} UTC+8{extended}; now {state}\n",
        format_cst(lock)
    )
}

/// The completeness report: one row per region, the total, then the missing platforms.
pub fn completeness(c: &Completeness) -> String {
    let mut t = Table::new(&[
        ("region", false),
        ("name", false),
        ("expected", true),
        ("received", true),
        ("rate", true),
        ("on time", true),
        ("on-time rate", true),
        ("missing", true),
    ]);
    for r in c.regions.iter().chain(std::iter::once(&c.total)) {
        let total = std::ptr::eq(r, &c.total);
        t.row(vec![
            r.region_code.clone(),
            if total {
                format!("{} total 合计", r.region_name)
                    .trim_start()
                    .to_owned()
            } else {
                r.region_name.clone()
            },
            r.expected.to_string(),
            r.received.to_string(),
            percent(r.rate()),
            r.on_time.to_string(),
            percent(r.on_time_rate()),
            r.missing.len().to_string(),
        ]);
    }
    let mut out = format!(
        "completeness of {} (due {} UTC+8), {} {}\n",
        c.period,
        format_cst(c.due_at),
        c.total.region_code,
        c.total.region_name
    );
    out.push_str(&t.render());
    if !c.total.missing.is_empty() {
        out.push_str("missing 未报送:\n");
        let mut m = Table::new(&[("region", false), ("credit code", false), ("name", false)]);
        for p in &c.total.missing {
            m.row(vec![
                p.region_code.clone(),
                p.credit_code.clone(),
                p.name.clone(),
            ]);
        }
        out.push_str(&m.render());
    }
    out
}

/// Web users.
pub fn users(list: &[crate::users::User]) -> String {
    let mut t = Table::new(&[
        ("name", false),
        ("role", false),
        ("region", false),
        ("state", false),
        ("changed (UTC+8)", false),
        ("by", false),
    ]);
    for u in list {
        t.row(vec![
            u.name.clone(),
            u.role.to_string(),
            u.region
                .clone()
                .unwrap_or_else(|| "000000 (national)".into()),
            if u.disabled {
                "disabled 已停用"
            } else {
                "active 有效"
            }
            .to_owned(),
            format_cst(u.updated_at),
            u.updated_by.clone(),
        ]);
    }
    format!("{}{} users\n", t.render(), list.len())
}

/// The certificate ledger (`cert list`): one line per certificate, with its state now.
pub fn certificates(
    list: &[crate::pki::LedgerEntry],
    revoked: &dyn Fn(&str) -> Option<String>,
    now: OffsetDateTime,
) -> String {
    let mut t = Table::new(&[
        ("serial", false),
        ("platform", false),
        ("not before (UTC+8)", false),
        ("not after (UTC+8)", false),
        ("issued by", false),
        ("state", false),
    ]);
    for e in list {
        let state = match revoked(&e.serial) {
            Some(reason) => format!("revoked 已吊销: {reason}"),
            None if e.not_after <= now => "expired 已过期".to_owned(),
            None => "valid 有效".to_owned(),
        };
        let issued_by = match &e.predecessor {
            Some(p) => format!("{} of {p}", e.issued_by.as_str()),
            None => e.issued_by.as_str().to_owned(),
        };
        t.row(vec![
            e.serial.clone(),
            e.platform_id.clone(),
            format_cst(e.not_before),
            format_cst(e.not_after),
            issued_by,
            state,
        ]);
    }
    format!("{}{} certificates\n", t.render(), list.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("北京市"), 6);
        assert_eq!(width("110000"), 6);
        let mut t = Table::new(&[("code", false), ("n", true)]);
        t.row(vec!["北京".into(), "1".into()]);
        t.row(vec!["ab".into(), "100".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "北京    1");
        assert_eq!(lines[2], "ab    100");
    }
}
