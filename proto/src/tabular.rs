//! Reading tables that people made in Excel or a text editor: the conventions shared by the
//! agent's intake (`sme-agent import`) and the hub's registry import (`sme-hub registry
//! import`), so that both read the same file the same way.
//!
//! - Text files: a byte-order mark decides (UTF-8, UTF-16LE/BE); else strict UTF-8; else
//!   GB18030, a superset of the GBK that Excel writes on Chinese Windows ([`decode`]). The
//!   separator is the one the first non-blank line uses most: comma, tab or semicolon
//!   ([`sniff_delimiter`]).
//! - Workbooks: calamine's cells become [`Cell`]s ([`xlsx_cell`]); a cell formatted as a date is
//!   a date, not a serial number.
//! - Header and sheet names are compared [`fold`]ed: case, spaces, `_`, `-` and full-width
//!   brackets and colons do not matter.

use std::fmt;
use std::path::Path;

use calamine::Data;
use encoding_rs::{Encoding, GB18030};
use time::{Date, Month};

/// Where in a file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole.
    File,
    /// A CSV line (1-based; the line where the record starts).
    Line(u64),
    /// A worksheet row (1-based, as Excel shows it).
    Row {
        /// Sheet name.
        sheet: String,
        /// Row number.
        row: u32,
    },
    /// A JSON array element (0-based index).
    Index(usize),
    /// A JSON object key.
    Key(String),
}

/// One problem found in a file: where, which column and value, what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub location: Location,
    /// Column header (or profile item) as written in the file, when the problem is in one.
    pub column: Option<String>,
    /// The offending value as written, when there is one.
    pub value: Option<String>,
    /// What is wrong and what is expected, in English.
    pub en: String,
    /// The same in Chinese.
    pub zh: String,
}

/// A located row of cells.
pub type RawRow = (Location, Vec<Cell>);

impl Problem {
    /// A problem with the whole file.
    pub fn file(en: impl Into<String>, zh: impl Into<String>) -> Problem {
        Problem {
            location: Location::File,
            column: None,
            value: None,
            en: en.into(),
            zh: zh.into(),
        }
    }
}

impl fmt::Display for Problem {
    /// One line: `line 5, column "服务日期", value "2026-13-01": … / …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.location != Location::File {
            parts.push(format!("{} / {}", self.location, self.location.zh()));
        }
        if let Some(c) = &self.column {
            parts.push(format!("column 列 “{c}”"));
        }
        if let Some(v) = &self.value {
            parts.push(format!("value 值 “{v}”"));
        }
        if !parts.is_empty() {
            write!(f, "{}: ", parts.join(", "))?;
        }
        write!(f, "{} / {}", self.en, self.zh)
    }
}

impl Location {
    /// The location in Chinese.
    pub fn zh(&self) -> String {
        match self {
            Location::File => "整个文件".into(),
            Location::Line(n) => format!("第{n}行"),
            Location::Row { sheet, row } => format!("工作表“{sheet}”第{row}行"),
            Location::Index(i) => format!("第{}条记录", i + 1),
            Location::Key(k) => format!("键“{k}”"),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("file"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row { sheet, row } => write!(f, "sheet \"{sheet}\" row {row}"),
            Location::Index(i) => write!(f, "records[{i}]"),
            Location::Key(k) => write!(f, "key \"{k}\""),
        }
    }
}

/// A rejected file's problems as text: a summary line, then one line per problem.
pub fn rejected_text(file: &Path, problems: &[Problem]) -> String {
    let mut s = format!(
        "{}: {} problem(s), nothing imported / 发现{}处问题，未导入任何数据",
        file.display(),
        problems.len(),
        problems.len()
    );
    for p in problems {
        s.push_str("\n  - ");
        s.push_str(&p.to_string());
    }
    s
}

/// The rows of a CSV file ([`decode`]d, separator [`sniff_delimiter`]ed), each located by the
/// line it starts on; blank cells are [`Cell::Empty`]. Every unreadable record is a problem.
pub fn read_csv(bytes: &[u8]) -> Result<Vec<RawRow>, Vec<Problem>> {
    let text = decode(bytes).ok_or_else(|| {
        vec![Problem::file(
            "the file is neither UTF-8 nor GB18030/GBK text; save it from Excel as \
             \"CSV UTF-8\" or \"CSV (逗号分隔)\"",
            "文件编码无法识别（既不是UTF-8也不是GB18030/GBK），请在Excel中另存为“CSV UTF-8”或“CSV（逗号分隔）”",
        )]
    })?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(&text))
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                // csv does not count the blank lines it skips; count newlines before the record.
                let line = r.position().map_or(0, |p| line_of(&text, p.byte()));
                let cells = r
                    .iter()
                    .map(|s| {
                        if s.trim().is_empty() {
                            Cell::Empty
                        } else {
                            Cell::Text(s.to_owned())
                        }
                    })
                    .collect();
                rows.push((Location::Line(line), cells));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of(&text, p.byte()));
                problems.push(Problem {
                    location: Location::Line(line),
                    column: None,
                    value: None,
                    en: format!("unreadable CSV ({e}); check the quotes on this line"),
                    zh: format!("CSV格式错误（{e}），请检查该行的引号"),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// One cell as read from any format.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text (not trimmed).
    Text(String),
    /// A whole number cell.
    Int(i64),
    /// A number cell.
    Float(f64),
    /// A boolean cell.
    Bool(bool),
    /// A cell the workbook marks as a date.
    Date(Date),
    /// Something no column accepts (a JSON array, an Excel error value); the text says what.
    Unsupported(String),
}

impl Cell {
    /// The cell as trimmed text; `None` when blank. Numbers read as typed (`110105`, `12.5`:
    /// `Display` of `f64` never uses an exponent and reads back exactly), dates as
    /// `YYYY-MM-DD`.
    pub fn text(&self) -> Option<String> {
        let s = match self {
            Cell::Empty => return None,
            Cell::Text(s) => s.trim().to_owned(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format!("{f}"),
            Cell::Bool(b) => b.to_string(),
            Cell::Date(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            Cell::Unsupported(s) => s.clone(),
        };
        (!s.is_empty()).then_some(s)
    }

    /// True for an empty cell or whitespace-only text.
    pub fn is_blank(&self) -> bool {
        self.text().is_none()
    }
}

/// The text of a CSV file: BOM (UTF-8, UTF-16LE/BE) → that encoding; else strict UTF-8; else
/// GB18030 (⊃ GBK). `None` when the bytes are none of these.
pub fn decode(bytes: &[u8]) -> Option<String> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, malformed) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return (!malformed).then(|| text.into_owned());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_owned());
    }
    GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| s.into_owned())
}

/// The separator the first non-blank line uses most outside quotes: `,`, tab or `;` (a tie, or
/// none, gives the comma).
pub fn sniff_delimiter(text: &str) -> u8 {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [(b',', 0usize), (b'\t', 0), (b';', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if *d == b {
                    *n += 1;
                }
            }
        }
    }
    // max_by_key returns the last maximum; reversed, a tie (or none) gives the comma.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

/// 1-based line number of the record starting at `byte` of `text`. The reported start of a
/// record may lie on the blank lines before it, which are skipped first.
pub fn line_of(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// A workbook cell as a [`Cell`].
pub fn xlsx_cell(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            Month::try_from(m)
                .ok()
                .and_then(|m| Date::from_calendar_date(i32::from(y), m, d).ok())
                .map_or_else(|| Cell::Unsupported(format!("{}", dt.as_f64())), Cell::Date)
        }
        Data::DateTime(dt) => Cell::Unsupported(format!("duration {}", dt.as_f64())),
        Data::DateTimeIso(s) => Cell::Text(s.clone()),
        Data::DurationIso(s) => Cell::Unsupported(format!("duration {s}")),
        Data::Error(e) => Cell::Unsupported(format!("#{e:?}")),
    }
}

/// Lowercase, without whitespace, `_`, `-` or a leading BOM, with full-width brackets and
/// colons folded: for matching header and sheet names.
pub fn fold(s: &str) -> String {
    s.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-'))
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '：' => ':',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bom_utf8_and_gbk() {
        assert_eq!(decode("编号,a".as_bytes()).unwrap(), "编号,a");
        assert_eq!(decode(b"\xEF\xBB\xBFid").unwrap(), "id");
        let (gbk, _, _) = GB18030.encode("服务日期");
        assert_eq!(decode(&gbk).unwrap(), "服务日期");
        // A UTF-16 BOM followed by an odd byte is malformed, not guessed.
        assert_eq!(decode(b"\xFF\xFEa"), None);
    }

    #[test]
    fn sniffs_the_separator_outside_quotes() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2;3"), b';');
        assert_eq!(sniff_delimiter("\n\na\tb\n"), b'\t');
        assert_eq!(sniff_delimiter("\"x;y;z\",b\n"), b',');
        assert_eq!(sniff_delimiter("single"), b',');
    }

    #[test]
    fn lines_skip_blank_lines_before_a_record() {
        let text = "h\n\n\nrow\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 4);
        assert_eq!(line_of(text, 999), 5);
    }

    #[test]
    fn folding_ignores_case_spaces_and_full_width_marks() {
        assert_eq!(fold("\u{feff}Service_Date（元）："), "servicedate(元):");
        assert_eq!(fold(" Record-ID "), "recordid");
    }

    #[test]
    fn cells_read_as_typed() {
        assert_eq!(Cell::Float(110105.0).text().as_deref(), Some("110105"));
        assert_eq!(Cell::Float(12.5).text().as_deref(), Some("12.5"));
        assert_eq!(Cell::Text("  ".into()).text(), None);
        assert!(Cell::Empty.is_blank());
        let d = Date::from_calendar_date(2026, Month::March, 5).unwrap();
        assert_eq!(Cell::Date(d).text().as_deref(), Some("2026-03-05"));
    }
}
