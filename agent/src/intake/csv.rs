//! CSV (and tab- or semicolon-separated text) in UTF-8, UTF-16 with BOM, or GB18030/GBK.

use sme_proto::tabular::read_csv;

use super::{classify, Problem, Sheet};

pub(crate) fn read(bytes: &[u8]) -> Result<Sheet, Vec<Problem>> {
    classify(read_csv(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::Location;
    use sme_proto::tabular::{decode, sniff_delimiter};

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
