//! Reporting periods (报告期) and the reporting calendar (报送日历), in China Standard Time.
//!
//! Periods are SDMX-style codes: `2026-M05` (month), `2026-Q2` (quarter), `2026-A` (year; SDMX
//! exports write plain `2026`). A period is the closed-open interval [start, next start) of
//! UTC+8 wall-clock time, so the instant 2026-05-31T16:00:00Z is already June.
//!
//! Choices where the domain is silent:
//! - Parsing is exact: four ASCII digits, `-`, then `Mmm` (two digits, 01–12), `Qn` (1–4) or
//!   `A`, all upper case, no whitespace. Nothing is "fixed".
//! - Years are limited to [`MIN_YEAR`]..=[`MAX_YEAR`] so that every start, end, due and lock
//!   instant is representable; [`Period::next`] and [`Period::previous`] return `None` at the
//!   edges.
//! - A due day beyond the end of its month (say 31 for a monthly report due in April) falls on
//!   the last day of that month.
//! - A period is locked from `locks_at` inclusive (`now >= locks_at`).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use time::{macros::offset, Date, Duration, Month, OffsetDateTime, Time, UtcOffset};

use crate::v1;

/// China Standard Time, the time zone of every period and due time.
pub const CST: UtcOffset = offset!(+8);

/// Earliest year a period may have.
pub const MIN_YEAR: i32 = 1000;
/// Latest year a period may have (its due and lock times fall in the following year).
pub const MAX_YEAR: i32 = 9998;

/// Kind of a reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// Month (月报).
    Month,
    /// Quarter (季报).
    Quarter,
    /// Year (年报).
    Year,
}

/// A period code that could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeriodError {
    /// Not of the form `2026-M05`, `2026-Q2` or `2026-A`.
    #[error(
        "period {input:?} is not a period code; write 2026-M05 (month, two digits), 2026-Q2 \
         (quarter) or 2026-A (year), in upper case without spaces"
    )]
    Malformed {
        /// The rejected text (at most 40 characters of it).
        input: String,
    },
    /// Month outside 01–12.
    #[error("period {input:?} has month {month}; months run from M01 to M12")]
    MonthOutOfRange {
        /// The rejected text.
        input: String,
        /// The month given.
        month: u32,
    },
    /// Quarter outside 1–4.
    #[error("period {input:?} has quarter {quarter}; quarters run from Q1 to Q4")]
    QuarterOutOfRange {
        /// The rejected text.
        input: String,
        /// The quarter given.
        quarter: u32,
    },
    /// Year outside the supported range.
    #[error("period {input:?} has year {year}; years run from {MIN_YEAR} to {MAX_YEAR}")]
    YearOutOfRange {
        /// The rejected text.
        input: String,
        /// The year given.
        year: i32,
    },
    /// `PERIOD_KIND_UNSPECIFIED` or an unknown enum value.
    #[error("period kind {0} is not month, quarter or year")]
    UnknownKind(i32),
}

// === impl PeriodError ===

impl PeriodError {
    /// The same message in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            Self::Malformed { input } => format!(
                "报告期{input:?}格式不正确；应写作2026-M05（月，两位数字）、2026-Q2（季）或2026-A（年），大写且不含空格。"
            ),
            Self::MonthOutOfRange { input, month } => {
                format!("报告期{input:?}的月份为{month}，月份应在M01至M12之间。")
            }
            Self::QuarterOutOfRange { input, quarter } => {
                format!("报告期{input:?}的季度为{quarter}，季度应在Q1至Q4之间。")
            }
            Self::YearOutOfRange { input, year } => {
                format!("报告期{input:?}的年份为{year}，年份应在{MIN_YEAR}至{MAX_YEAR}之间。")
            }
            Self::UnknownKind(k) => format!("报告期类型{k}不是月、季或年。"),
        }
    }
}

fn clip(input: &str) -> String {
    input.chars().take(40).collect()
}

// === impl PeriodKind ===

impl PeriodKind {
    /// `month`, `quarter` or `year`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }

    /// Chinese name: 月、季、年.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Month => "月",
            Self::Quarter => "季",
            Self::Year => "年",
        }
    }

    fn max_index(self) -> u8 {
        match self {
            Self::Month => 12,
            Self::Quarter => 4,
            Self::Year => 1,
        }
    }
}

impl fmt::Display for PeriodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<PeriodKind> for v1::PeriodKind {
    fn from(kind: PeriodKind) -> Self {
        match kind {
            PeriodKind::Month => Self::Month,
            PeriodKind::Quarter => Self::Quarter,
            PeriodKind::Year => Self::Year,
        }
    }
}

impl TryFrom<v1::PeriodKind> for PeriodKind {
    type Error = PeriodError;
    fn try_from(kind: v1::PeriodKind) -> Result<Self, PeriodError> {
        match kind {
            v1::PeriodKind::Month => Ok(Self::Month),
            v1::PeriodKind::Quarter => Ok(Self::Quarter),
            v1::PeriodKind::Year => Ok(Self::Year),
            v1::PeriodKind::Unspecified => Err(PeriodError::UnknownKind(0)),
        }
    }
}

impl TryFrom<i32> for PeriodKind {
    type Error = PeriodError;
    /// From the `i32` a prost message field holds.
    fn try_from(kind: i32) -> Result<Self, PeriodError> {
        v1::PeriodKind::try_from(kind)
            .map_err(|_| PeriodError::UnknownKind(kind))?
            .try_into()
    }
}

/// One reporting period. Always valid: build it with [`Period::new`], the kind-specific
/// constructors or [`str::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i32,
    kind: PeriodKind,
    /// Month 1–12, quarter 1–4, or 1 for a year.
    index: u8,
}

// === impl Period ===

impl Period {
    /// Builds a period; `index` is the month (1–12), the quarter (1–4) or 1 for a year.
    pub fn new(year: i32, kind: PeriodKind, index: u8) -> Result<Self, PeriodError> {
        let input = match kind {
            PeriodKind::Month => format!("{year:04}-M{index:02}"),
            PeriodKind::Quarter => format!("{year:04}-Q{index}"),
            PeriodKind::Year => format!("{year:04}-A"),
        };
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(PeriodError::YearOutOfRange { input, year });
        }
        if index == 0 || index > kind.max_index() {
            return Err(match kind {
                PeriodKind::Month => PeriodError::MonthOutOfRange {
                    input,
                    month: index.into(),
                },
                PeriodKind::Quarter => PeriodError::QuarterOutOfRange {
                    input,
                    quarter: index.into(),
                },
                PeriodKind::Year => PeriodError::Malformed { input },
            });
        }
        Ok(Self { year, kind, index })
    }

    /// A month, `1..=12`.
    pub fn month(year: i32, month: u8) -> Result<Self, PeriodError> {
        Self::new(year, PeriodKind::Month, month)
    }

    /// A quarter, `1..=4`.
    pub fn quarter(year: i32, quarter: u8) -> Result<Self, PeriodError> {
        Self::new(year, PeriodKind::Quarter, quarter)
    }

    /// A calendar year.
    pub fn year_period(year: i32) -> Result<Self, PeriodError> {
        Self::new(year, PeriodKind::Year, 1)
    }

    /// The period of `kind` containing a calendar date (UTC+8).
    pub fn containing_date(kind: PeriodKind, date: Date) -> Result<Self, PeriodError> {
        let month = u8::from(date.month());
        let index = match kind {
            PeriodKind::Month => month,
            PeriodKind::Quarter => (month - 1) / 3 + 1,
            PeriodKind::Year => 1,
        };
        Self::new(date.year(), kind, index)
    }

    /// The period of `kind` containing an instant, read in UTC+8.
    pub fn containing(kind: PeriodKind, instant: OffsetDateTime) -> Result<Self, PeriodError> {
        Self::containing_date(kind, instant.to_offset(CST).date())
    }

    /// Calendar year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// Month, quarter or year.
    pub fn kind(&self) -> PeriodKind {
        self.kind
    }

    /// Month 1–12, quarter 1–4, or 1 for a year.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The code as SDMX exports write it: `2026-M05`, `2026-Q2`, but `2026` for a year.
    pub fn sdmx_export(&self) -> String {
        match self.kind {
            PeriodKind::Year => format!("{:04}", self.year),
            _ => self.to_string(),
        }
    }

    /// First calendar month (1–12) of the period.
    fn first_month(&self) -> u8 {
        match self.kind {
            PeriodKind::Month => self.index,
            PeriodKind::Quarter => (self.index - 1) * 3 + 1,
            PeriodKind::Year => 1,
        }
    }

    fn month_count(&self) -> u8 {
        match self.kind {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
        }
    }

    /// First day of the period.
    pub fn first_day(&self) -> Date {
        first_of_month(self.year, self.first_month())
    }

    /// Last day of the period (inclusive).
    pub fn last_day(&self) -> Date {
        let last_month = self.first_month() + self.month_count() - 1;
        let month = month_of(last_month);
        date(self.year, last_month, month.length(self.year))
    }

    /// Start of the period: midnight UTC+8 of its first day (inclusive).
    pub fn start(&self) -> OffsetDateTime {
        self.first_day().midnight().assume_offset(CST)
    }

    /// End of the period: midnight UTC+8 after its last day (exclusive).
    pub fn end(&self) -> OffsetDateTime {
        let (year, month) = add_months(self.year, self.first_month(), self.month_count());
        first_of_month(year, month).midnight().assume_offset(CST)
    }

    /// Whether a UTC+8 calendar date lies in the period.
    pub fn contains(&self, date: Date) -> bool {
        (self.first_day()..=self.last_day()).contains(&date)
    }

    /// Whether an instant lies in [start, end).
    pub fn contains_instant(&self, instant: OffsetDateTime) -> bool {
        self.start() <= instant && instant < self.end()
    }

    /// Whether the period starts after `now` (rule E003).
    pub fn starts_in_future(&self, now: OffsetDateTime) -> bool {
        self.start() > now
    }

    /// Whether the period is over at `now` (its end is not after `now`).
    pub fn has_ended(&self, now: OffsetDateTime) -> bool {
        self.end() <= now
    }

    /// The period of the same kind before this one; `None` before [`MIN_YEAR`].
    pub fn previous(&self) -> Option<Self> {
        if self.index > 1 {
            Self::new(self.year, self.kind, self.index - 1).ok()
        } else {
            Self::new(self.year - 1, self.kind, self.kind.max_index()).ok()
        }
    }

    /// The period of the same kind after this one; `None` after [`MAX_YEAR`].
    pub fn next(&self) -> Option<Self> {
        if self.index < self.kind.max_index() {
            Self::new(self.year, self.kind, self.index + 1).ok()
        } else {
            Self::new(self.year + 1, self.kind, 1).ok()
        }
    }

    /// The months the period consists of, in order (a month yields itself).
    pub fn months(&self) -> Vec<Self> {
        (0..self.month_count())
            .map(|i| Self {
                year: self.year,
                kind: PeriodKind::Month,
                index: self.first_month() + i,
            })
            .collect()
    }

    /// The quarter or year of `kind` that contains this period, if it is at least as long.
    pub fn within(&self, kind: PeriodKind) -> Option<Self> {
        if kind < self.kind {
            return None;
        }
        Self::containing_date(kind, self.first_day()).ok()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{:04}-M{:02}", self.year, self.index),
            PeriodKind::Quarter => write!(f, "{:04}-Q{}", self.year, self.index),
            PeriodKind::Year => write!(f, "{:04}-A", self.year),
        }
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, PeriodError> {
        let malformed = || PeriodError::Malformed { input: clip(s) };
        let b = s.as_bytes();
        if b.len() < 6 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return Err(malformed());
        }
        let year: i32 = s[..4].parse().map_err(|_| malformed())?;
        let rest = &b[5..];
        let two_digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
        let (kind, index): (PeriodKind, u32) = match rest {
            [b'A'] => (PeriodKind::Year, 1),
            [b'M', d @ ..] if d.len() == 2 && two_digits(d) => (
                PeriodKind::Month,
                u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'),
            ),
            [b'Q', d] if d.is_ascii_digit() => (PeriodKind::Quarter, u32::from(d - b'0')),
            _ => return Err(malformed()),
        };
        Self::new(year, kind, index as u8).map_err(|e| match e {
            // Report the text as given, not as re-formatted by `new`.
            PeriodError::YearOutOfRange { year, .. } => PeriodError::YearOutOfRange {
                input: clip(s),
                year,
            },
            PeriodError::MonthOutOfRange { month, .. } => PeriodError::MonthOutOfRange {
                input: clip(s),
                month,
            },
            PeriodError::QuarterOutOfRange { quarter, .. } => PeriodError::QuarterOutOfRange {
                input: clip(s),
                quarter,
            },
            other => other,
        })
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Every period from `first` to `last` inclusive, oldest first; empty when the kinds differ or
/// `first` is after `last`.
pub fn periods_between(first: Period, last: Period) -> Vec<Period> {
    let mut out = Vec::new();
    if first.kind != last.kind {
        return out;
    }
    let mut p = Some(first);
    while let Some(period) = p.filter(|p| *p <= last) {
        out.push(period);
        p = period.next();
    }
    out
}

/// The period of `kind` containing `now` and the `n` periods before it, oldest first. Only the
/// last element is still open; the others have ended.
pub fn current_and_recent(now: OffsetDateTime, kind: PeriodKind, n: usize) -> Vec<Period> {
    let Ok(current) = Period::containing(kind, now) else {
        return Vec::new();
    };
    let mut out = vec![current];
    while out.len() <= n {
        match out.last().and_then(Period::previous) {
            Some(p) => out.push(p),
            None => break,
        }
    }
    out.reverse();
    out
}

fn month_of(month: u8) -> Month {
    Month::try_from(month).expect("month in 1..=12")
}

fn date(year: i32, month: u8, day: u8) -> Date {
    Date::from_calendar_date(year, month_of(month), day).expect("date within the supported years")
}

fn first_of_month(year: i32, month: u8) -> Date {
    date(year, month, 1)
}

/// `months` months after (year, month).
fn add_months(year: i32, month: u8, months: u8) -> (i32, u8) {
    let zero_based = i32::from(month) - 1 + i32::from(months);
    (year + zero_based / 12, (zero_based % 12) as u8 + 1)
}

/// `day` of the given month, or its last day when the month is shorter.
fn clamped(year: i32, month: u8, day: u8) -> Date {
    let last = month_of(month).length(year);
    date(year, month, day.clamp(1, last))
}

/// The reporting calendar: when reports are due and when periods lock (domain §6).
///
/// In TOML (all keys optional, defaults shown):
///
/// ```toml
/// monthly_due_day = 10      # day of the month after the month
/// quarterly_due_day = 15    # day of the month after the quarter
/// annual_due_month = 3      # month of the year after the year
/// annual_due_day = 31
/// due_time = "23:59:59"     # UTC+8
/// lock_after_days = 90      # a period locks this many days after its due time
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Calendar {
    /// Day of the following month on which a monthly report is due.
    pub monthly_due_day: u8,
    /// Day of the month after the quarter on which a quarterly report is due.
    pub quarterly_due_day: u8,
    /// Month of the following year in which an annual report is due.
    pub annual_due_month: u8,
    /// Day of `annual_due_month` on which an annual report is due.
    pub annual_due_day: u8,
    /// Time of day (UTC+8) of every due date, `"HH:MM:SS"`.
    #[serde(with = "hms")]
    pub due_time: Time,
    /// Days after the due time at which a period locks.
    pub lock_after_days: u32,
}

/// A calendar setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("calendar setting `{key}` is {value}; it must be {expected}")]
pub struct CalendarError {
    /// The offending key.
    pub key: &'static str,
    /// Its value.
    pub value: u32,
    /// What it must be.
    pub expected: &'static str,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            monthly_due_day: 10,
            quarterly_due_day: 15,
            annual_due_month: 3,
            annual_due_day: 31,
            due_time: time::macros::time!(23:59:59),
            lock_after_days: 90,
        }
    }
}

// === impl Calendar ===

impl Calendar {
    /// Checks ranges; call after loading a configuration.
    pub fn validate(&self) -> Result<(), CalendarError> {
        let check = |key, value: u32, max: u32, expected| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(CalendarError {
                    key,
                    value,
                    expected,
                })
            }
        };
        check("monthly_due_day", self.monthly_due_day.into(), 31, "1-31")?;
        check(
            "quarterly_due_day",
            self.quarterly_due_day.into(),
            31,
            "1-31",
        )?;
        check("annual_due_month", self.annual_due_month.into(), 12, "1-12")?;
        check("annual_due_day", self.annual_due_day.into(), 31, "1-31")?;
        check("lock_after_days", self.lock_after_days, 3660, "1-3660")?;
        Ok(())
    }

    /// When the report for `period` is due (UTC+8).
    pub fn due_at(&self, period: &Period) -> OffsetDateTime {
        let end = period.end().date();
        let day = match period.kind {
            PeriodKind::Month => clamped(end.year(), end.month().into(), self.monthly_due_day),
            PeriodKind::Quarter => clamped(end.year(), end.month().into(), self.quarterly_due_day),
            PeriodKind::Year => clamped(
                end.year(),
                self.annual_due_month.clamp(1, 12),
                self.annual_due_day,
            ),
        };
        day.with_time(self.due_time).assume_offset(CST)
    }

    /// When `period` locks: `lock_after_days` after its due time.
    pub fn locks_at(&self, period: &Period) -> OffsetDateTime {
        // `validate` caps the setting; the cap here only keeps an unvalidated value from
        // overflowing.
        self.due_at(period) + Duration::days(self.lock_after_days.min(3660).into())
    }

    /// Whether `period` is locked at `now` by the calendar alone (reopenings are the hub's).
    pub fn is_locked(&self, period: &Period, now: OffsetDateTime) -> bool {
        now >= self.locks_at(period)
    }

    /// Periods of `kind` that have ended but are not locked at `now`, oldest first: what an
    /// agent may (re)send.
    pub fn open_for_reporting(&self, kind: PeriodKind, now: OffsetDateTime) -> Vec<Period> {
        let mut out = Vec::new();
        let mut p = Period::containing(kind, now).ok();
        while let Some(period) = p {
            if period.has_ended(now) {
                if self.is_locked(&period, now) {
                    break;
                }
                out.push(period);
            }
            p = period.previous();
        }
        out.reverse();
        out
    }

    /// The wire form of one calendar entry; `locked` from the calendar alone, `received` false.
    pub fn calendar_period(&self, period: &Period, now: OffsetDateTime) -> v1::CalendarPeriod {
        v1::CalendarPeriod {
            period: period.to_string(),
            kind: v1::PeriodKind::from(period.kind) as i32,
            starts_at: Some(to_timestamp(period.start())),
            ends_at: Some(to_timestamp(period.end())),
            due_at: Some(to_timestamp(self.due_at(period))),
            locks_at: Some(to_timestamp(self.locks_at(period))),
            locked: self.is_locked(period, now),
            received: false,
        }
    }
}

/// An instant as a protobuf `Timestamp`.
pub fn to_timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

/// A protobuf `Timestamp` as an instant in UTC; `None` when out of range or denormal.
pub fn from_timestamp(ts: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    let t = OffsetDateTime::from_unix_timestamp(ts.seconds).ok()?;
    Some(t + Duration::nanoseconds(ts.nanos.into()))
}

/// `"HH:MM:SS"` (de)serialisation of the due time.
mod hms {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::{macros::format_description, Time};

    const FORMAT: &[time::format_description::FormatItem<'static>] =
        format_description!("[hour]:[minute]:[second]");

    pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(FORMAT).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let text = String::deserialize(d)?;
        Time::parse(&text, FORMAT).map_err(|e| {
            serde::de::Error::custom(format!("due_time {text:?} is not HH:MM:SS ({e})"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn p(s: &str) -> Period {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_round_trips() {
        for code in [
            "2026-M05", "2026-M01", "2026-M12", "2026-Q1", "2026-Q4", "2026-A",
        ] {
            assert_eq!(p(code).to_string(), code);
        }
        assert_eq!(p("2026-M05"), Period::month(2026, 5).unwrap());
        assert_eq!(p("2026-Q2"), Period::quarter(2026, 2).unwrap());
        assert_eq!(p("2026-A"), Period::year_period(2026).unwrap());
        let q = p("2026-Q2");
        assert_eq!(
            (q.year(), q.kind(), q.index()),
            (2026, PeriodKind::Quarter, 2)
        );
    }

    #[test]
    fn sdmx_export_writes_plain_year() {
        assert_eq!(p("2026-A").sdmx_export(), "2026");
        assert_eq!(p("2026-Q2").sdmx_export(), "2026-Q2");
        assert_eq!(p("2026-M05").sdmx_export(), "2026-M05");
    }

    #[test]
    fn rejects_malformed_codes() {
        let cases = [
            "2026-M13",
            "2026-M00",
            "2026-M5",
            "2026-Q0",
            "2026-Q5",
            "26-A",
            "2026-a",
            " 2026-A",
            "2026-A ",
            "2026-m05",
            "2026-q2",
            "2026M05",
            "2026-M005",
            "2026-Q22",
            "2026-",
            "",
            "2026-H1",
            "2026-W01",
            "2026-M1a",
            "２026-A",
            "0999-A",
            "9999-A",
            "2026-AA",
        ];
        for code in cases {
            assert!(code.parse::<Period>().is_err(), "{code:?} was accepted");
        }
        assert_eq!(
            "2026-M13".parse::<Period>(),
            Err(PeriodError::MonthOutOfRange {
                input: "2026-M13".into(),
                month: 13
            })
        );
        assert_eq!(
            "2026-Q0".parse::<Period>(),
            Err(PeriodError::QuarterOutOfRange {
                input: "2026-Q0".into(),
                quarter: 0
            })
        );
        assert_eq!(
            "2026-M5".parse::<Period>(),
            Err(PeriodError::Malformed {
                input: "2026-M5".into()
            })
        );
        assert_eq!(
            " 2026-A".parse::<Period>(),
            Err(PeriodError::Malformed {
                input: " 2026-A".into()
            })
        );
        assert!(matches!(
            "0999-A".parse::<Period>(),
            Err(PeriodError::YearOutOfRange { year: 999, .. })
        ));
        let e = "2026-a".parse::<Period>().unwrap_err();
        assert!(e.to_string().contains("upper case"), "{e}");
        assert!(e.message_zh().contains("大写"));
        assert!(Period::month(2026, 13).is_err());
        assert!(Period::new(2026, PeriodKind::Year, 2).is_err());
    }

    #[test]
    fn long_input_is_clipped_in_errors() {
        let long = "x".repeat(10_000);
        let e = long.parse::<Period>().unwrap_err();
        assert!(e.to_string().len() < 300);
    }

    #[test]
    fn start_and_end_are_utc8_midnights() {
        let m = p("2026-M05");
        assert_eq!(m.start(), datetime!(2026-05-01 00:00 +8));
        assert_eq!(m.end(), datetime!(2026-06-01 00:00 +8));
        assert_eq!(m.start(), datetime!(2026-04-30 16:00 UTC));
        assert_eq!(p("2026-M12").end(), datetime!(2027-01-01 00:00 +8));
        assert_eq!(p("2026-Q4").start(), datetime!(2026-10-01 00:00 +8));
        assert_eq!(p("2026-Q4").end(), datetime!(2027-01-01 00:00 +8));
        assert_eq!(p("2026-A").end(), datetime!(2027-01-01 00:00 +8));
        assert_eq!(p("2026-Q2").last_day(), date!(2026 - 06 - 30));
    }

    #[test]
    fn leap_years() {
        assert_eq!(p("2028-M02").last_day(), date!(2028 - 02 - 29));
        assert_eq!(p("2028-M02").end(), datetime!(2028-03-01 00:00 +8));
        assert!(p("2028-M02").contains(date!(2028 - 02 - 29)));
        assert_eq!(p("2026-M02").last_day(), date!(2026 - 02 - 28));
        assert_eq!(p("2100-M02").last_day(), date!(2100 - 02 - 28));
        assert_eq!(p("2000-M02").last_day(), date!(2000 - 02 - 29));
    }

    #[test]
    fn utc8_boundaries() {
        let june = p("2026-M06");
        let may = p("2026-M05");
        let instant = datetime!(2026-05-31 16:00 UTC);
        assert!(june.contains_instant(instant));
        assert!(!may.contains_instant(instant));
        assert_eq!(
            Period::containing(PeriodKind::Month, instant).unwrap(),
            june
        );
        let just_before = datetime!(2026-05-31 15:59:59.999 UTC);
        assert_eq!(
            Period::containing(PeriodKind::Month, just_before).unwrap(),
            may
        );
        assert_eq!(
            Period::containing(PeriodKind::Year, datetime!(2026-12-31 16:00 UTC)).unwrap(),
            p("2027-A")
        );
        assert_eq!(
            Period::containing(PeriodKind::Quarter, datetime!(2026-03-31 16:00 UTC)).unwrap(),
            p("2026-Q2")
        );
        assert!(may.contains(date!(2026 - 05 - 31)));
        assert!(!may.contains(date!(2026 - 06 - 01)));
        assert!(!may.contains(date!(2026 - 04 - 30)));
    }

    #[test]
    fn starts_in_future_at_the_utc8_start() {
        let june = p("2026-M06");
        assert!(june.starts_in_future(datetime!(2026-05-31 15:59:59 UTC)));
        assert!(!june.starts_in_future(datetime!(2026-05-31 16:00 UTC)));
        assert!(!june.has_ended(datetime!(2026-06-30 15:59:59 UTC)));
        assert!(june.has_ended(datetime!(2026-06-30 16:00 UTC)));
    }

    #[test]
    fn previous_next_and_months() {
        assert_eq!(p("2026-M01").previous(), Some(p("2025-M12")));
        assert_eq!(p("2026-M12").next(), Some(p("2027-M01")));
        assert_eq!(p("2026-Q1").previous(), Some(p("2025-Q4")));
        assert_eq!(p("2026-Q4").next(), Some(p("2027-Q1")));
        assert_eq!(p("2026-A").previous(), Some(p("2025-A")));
        assert_eq!(p("1000-M01").previous(), None);
        assert_eq!(p("9998-A").next(), None);
        assert_eq!(
            p("2026-Q3").months(),
            vec![p("2026-M07"), p("2026-M08"), p("2026-M09")]
        );
        assert_eq!(p("2026-A").months().len(), 12);
        assert_eq!(p("2026-M05").months(), vec![p("2026-M05")]);
        assert_eq!(
            p("2026-M05").within(PeriodKind::Quarter),
            Some(p("2026-Q2"))
        );
        assert_eq!(p("2026-M05").within(PeriodKind::Year), Some(p("2026-A")));
        assert_eq!(p("2026-A").within(PeriodKind::Month), None);
    }

    #[test]
    fn listing_helpers() {
        assert_eq!(
            periods_between(p("2025-Q3"), p("2026-Q2")),
            vec![p("2025-Q3"), p("2025-Q4"), p("2026-Q1"), p("2026-Q2")]
        );
        assert!(periods_between(p("2026-Q2"), p("2025-Q3")).is_empty());
        assert!(periods_between(p("2026-Q2"), p("2026-M05")).is_empty());
        let now = datetime!(2026-02-10 12:00 +8);
        assert_eq!(
            current_and_recent(now, PeriodKind::Month, 3),
            vec![p("2025-M11"), p("2025-M12"), p("2026-M01"), p("2026-M02")]
        );
        assert_eq!(
            current_and_recent(now, PeriodKind::Year, 0),
            vec![p("2026-A")]
        );
    }

    #[test]
    fn default_due_dates() {
        let c = Calendar::default();
        assert_eq!(c.due_at(&p("2026-M05")), datetime!(2026-06-10 23:59:59 +8));
        // December is due in January of the next year.
        assert_eq!(c.due_at(&p("2026-M12")), datetime!(2027-01-10 23:59:59 +8));
        assert_eq!(c.due_at(&p("2026-Q2")), datetime!(2026-07-15 23:59:59 +8));
        assert_eq!(c.due_at(&p("2026-Q4")), datetime!(2027-01-15 23:59:59 +8));
        assert_eq!(c.due_at(&p("2026-A")), datetime!(2027-03-31 23:59:59 +8));
        assert_eq!(
            c.locks_at(&p("2026-M05")),
            datetime!(2026-09-08 23:59:59 +8)
        );
    }

    #[test]
    fn due_and_lock_on_leap_years() {
        let c = Calendar::default();
        // 2027-Q4 is due 2028-01-15; 90 days later crosses 29 February 2028.
        assert_eq!(c.locks_at(&p("2027-Q4")), datetime!(2028-04-14 23:59:59 +8));
        assert_eq!(c.locks_at(&p("2026-Q4")), datetime!(2027-04-15 23:59:59 +8));
        // 2028-M01 is due 2028-02-10 and locks 90 days later.
        assert_eq!(
            c.locks_at(&p("2028-M01")),
            datetime!(2028-05-10 23:59:59 +8)
        );
        assert_eq!(
            c.locks_at(&p("2027-M01")),
            datetime!(2027-05-11 23:59:59 +8)
        );
        assert_eq!(c.due_at(&p("2027-A")), datetime!(2028-03-31 23:59:59 +8));
        // A due day past the end of the month falls on its last day.
        let end_of_month = Calendar {
            monthly_due_day: 31,
            annual_due_month: 2,
            annual_due_day: 30,
            ..c
        };
        assert_eq!(
            end_of_month.due_at(&p("2028-M01")),
            datetime!(2028-02-29 23:59:59 +8)
        );
        assert_eq!(
            end_of_month.due_at(&p("2027-M01")),
            datetime!(2027-02-28 23:59:59 +8)
        );
        assert_eq!(
            end_of_month.due_at(&p("2027-A")),
            datetime!(2028-02-29 23:59:59 +8)
        );
        assert_eq!(
            end_of_month.due_at(&p("2026-A")),
            datetime!(2027-02-28 23:59:59 +8)
        );
    }

    #[test]
    fn locking_is_inclusive_of_locks_at() {
        let c = Calendar::default();
        let m = p("2026-M05");
        let locks = c.locks_at(&m);
        assert!(!c.is_locked(&m, locks - Duration::seconds(1)));
        assert!(c.is_locked(&m, locks));
    }

    #[test]
    fn open_for_reporting_lists_ended_unlocked_periods() {
        let c = Calendar::default();
        let now = datetime!(2026-05-20 12:00 +8);
        // 2026-M01 was due 2026-02-10 and locked 2026-05-11; M02 locks 2026-06-08.
        assert_eq!(
            c.open_for_reporting(PeriodKind::Month, now),
            vec![p("2026-M02"), p("2026-M03"), p("2026-M04")]
        );
        // 2025-Q4 due 2026-01-15 locks 2026-04-15; 2026-Q1 is open.
        assert_eq!(
            c.open_for_reporting(PeriodKind::Quarter, now),
            vec![p("2026-Q1")]
        );
        // 2025-A due 2026-03-31 locks 2026-06-29.
        assert_eq!(
            c.open_for_reporting(PeriodKind::Year, now),
            vec![p("2025-A")]
        );
    }

    #[test]
    fn calendar_period_wire_form() {
        let c = Calendar::default();
        let cp = c.calendar_period(&p("2026-Q1"), datetime!(2026-05-20 12:00 +8));
        assert_eq!(cp.period, "2026-Q1");
        assert_eq!(cp.kind, v1::PeriodKind::Quarter as i32);
        assert_eq!(
            from_timestamp(cp.starts_at.as_ref().unwrap()),
            Some(p("2026-Q1").start())
        );
        assert_eq!(
            from_timestamp(cp.due_at.as_ref().unwrap()),
            Some(c.due_at(&p("2026-Q1")))
        );
        assert!(!cp.locked && !cp.received);
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_timestamp(&bad), None);
    }

    #[test]
    fn kind_conversions() {
        for kind in [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year] {
            let wire = v1::PeriodKind::from(kind);
            assert_eq!(PeriodKind::try_from(wire), Ok(kind));
            assert_eq!(PeriodKind::try_from(wire as i32), Ok(kind));
        }
        assert!(PeriodKind::try_from(v1::PeriodKind::Unspecified).is_err());
        assert_eq!(PeriodKind::try_from(42), Err(PeriodError::UnknownKind(42)));
    }

    #[test]
    fn calendar_config() {
        #[derive(Deserialize)]
        struct Wrapper {
            calendar: Calendar,
        }
        let w: Wrapper = toml::from_str("[calendar]\n").unwrap();
        assert_eq!(w.calendar, Calendar::default());
        let w: Wrapper = toml::from_str(
            "[calendar]\nmonthly_due_day = 15\ndue_time = \"18:00:00\"\nlock_after_days = 30\n",
        )
        .unwrap();
        assert_eq!(w.calendar.monthly_due_day, 15);
        assert_eq!(w.calendar.quarterly_due_day, 15);
        assert_eq!(
            w.calendar.due_at(&p("2026-M05")),
            datetime!(2026-06-15 18:00 +8)
        );
        w.calendar.validate().unwrap();
        let e = toml::from_str::<Wrapper>("[calendar]\nmonthly_due = 15\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("monthly_due"), "{e}");
        let e = toml::from_str::<Wrapper>("[calendar]\ndue_time = \"24:00\"\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("due_time"), "{e}");
        let bad = Calendar {
            annual_due_month: 13,
            ..Calendar::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "annual_due_month");
        let bad = Calendar {
            monthly_due_day: 0,
            ..Calendar::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("monthly_due_day"));
        let text = toml::to_string(&Calendar::default()).unwrap();
        assert!(text.contains("due_time = \"23:59:59\""), "{text}");
    }

    #[test]
    fn period_serde_as_string() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct W {
            period: Period,
            kind: PeriodKind,
        }
        let w: W = toml::from_str("period = \"2026-Q2\"\nkind = \"quarter\"\n").unwrap();
        assert_eq!(
            w,
            W {
                period: p("2026-Q2"),
                kind: PeriodKind::Quarter
            }
        );
        assert!(toml::from_str::<W>("period = \"2026-q2\"\nkind = \"quarter\"\n").is_err());
    }
}
