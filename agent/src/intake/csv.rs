//! CSV (and tab- or semicolon-separated text) in UTF-8, UTF-16 with BOM, or GB18030/GBK.

use sme_proto::tabular::{decode, line_of, sniff_delimiter};

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
