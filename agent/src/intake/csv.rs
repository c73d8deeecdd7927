//! CSV (and tab- or semicolon-separated text) in UTF-8, UTF-16 with BOM, or GB18030/GBK.

use encoding_rs::{Encoding, GB18030};

use super::{classify, Cell, Location, Problem, RawRow, Sheet};

pub(crate) fn read(bytes: &[u8]) -> Result<Sheet, Vec<Problem>> {
    let text = decode(bytes).ok_or_else(|| {
        vec![Problem::file(
            "the file is neither UTF-8 nor GB18030/GBK text; save it from Excel as \
             \"CSV UTF-8\" or \"CSV (逗号分隔)\"",
            "文件编码无法识别（既不是UTF-8也不是GB18030/GBK），请在Excel中另存为“CSV UTF-8”或“CSV（逗号分隔）”",
        )]
    })?;
    let delimiter = sniff_delimiter(&text);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows: Vec<RawRow> = Vec::new();
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
                    en: format!("unreadable CSV: {e}"),
                    zh: format!("CSV格式错误：{e}"),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    classify(rows)
}

/// 1-based line number of the record starting at `byte`. The reported start of a record may lie
/// on the blank lines before it, which are skipped first.
fn line_of(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// BOM (UTF-8, UTF-16LE/BE) → that encoding; else strict UTF-8; else GB18030 (⊃ GBK).
fn decode(bytes: &[u8]) -> Option<String> {
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

/// The separator the first non-blank line uses most (outside quotes): `,`, tab or `;`.
fn sniff_delimiter(text: &str) -> u8 {
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
    // max_by_key returns the last maximum; reverse so a tie (or no separator) gives the comma.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let s = "记录编号,服务日期\nR1,2026-05-03\n";
        assert_eq!(decode(s.as_bytes()).unwrap(), s);
        let bom = [b"\xEF\xBB\xBF".as_slice(), s.as_bytes()].concat();
        assert_eq!(decode(&bom).unwrap(), s);
        let (gbk, _, _) = encoding_rs::GBK.encode(s);
        assert!(std::str::from_utf8(&gbk).is_err());
        assert_eq!(decode(&gbk).unwrap(), s);
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(s.encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(&utf16).unwrap(), s);
        assert_eq!(decode(b"\x81\x20"), None, "malformed GB18030");
    }

    #[test]
    fn delimiters() {
        assert_eq!(sniff_delimiter("a,b,c\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc\n"), b'\t');
        assert_eq!(sniff_delimiter("a;b;\"c,d,e\"\n"), b';');
        assert_eq!(sniff_delimiter("single\n"), b',');
    }

    #[test]
    fn line_numbers_follow_the_file() {
        let text = "title row\n\n记录编号,服务日期\n\"R\n1\",2026-05-03\nR2,2026-05-04\n";
        let Sheet::Records(t) = read(text.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(t.header_location, Location::Line(3));
        let lines: Vec<_> = t.rows.iter().map(|r| r.0.clone()).collect();
        assert_eq!(lines, [Location::Line(4), Location::Line(6)]);
    }
}
