//! Checking a service-record table row by row.

use std::collections::HashMap;

use sme_proto::{credit_code, pseudonym};
use time::Date;

use super::columns::{self, Field};
use super::values::{self, Msg};
use super::{Cell, Location, Problem, Table};
use crate::store::RecordRow;

/// Checks every row; returns the records or every problem found.
pub(crate) fn check(
    table: &Table,
    key: &[u8],
    today: Date,
) -> Result<Vec<RecordRow>, Vec<Problem>> {
    let mut problems = Vec::new();
    let columns = map_header(table, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, Location> = HashMap::new();
    for (location, cells) in &table.rows {
        if cells.iter().all(values::is_blank) {
            continue;
        }
        let mut row = RowCheck {
            table,
            columns: &columns,
            location,
            cells,
            problems: &mut problems,
        };
        let id_header = row.header(Field::RecordId);
        let id = row.cell(Field::RecordId).and_then(values::text);
        let record = row.check(key, today);
        // Duplicates are found among all rows, good or bad, so fixing one problem does not
        // reveal another on the next attempt.
        match id {
            Some(id) if seen.contains_key(&id) => problems.push(Problem {
                location: location.clone(),
                column: Some(id_header),
                value: Some(id.clone()),
                en: format!("record id repeated; first used at {}", seen[&id]),
                zh: format!("记录编号重复，已在{}使用", seen[&id].zh()),
            }),
            Some(id) => {
                seen.insert(id, location.clone());
                out.extend(record);
            }
            None => out.extend(record),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Column index of each known field; problems for duplicate or missing columns.
fn map_header(table: &Table, problems: &mut Vec<Problem>) -> HashMap<Field, usize> {
    let mut columns = HashMap::new();
    for (i, h) in table.header.iter().enumerate() {
        let Some(field) = columns::match_header(h) else {
            continue;
        };
        if let Some(&first) = columns.get(&field) {
            problems.push(Problem {
                location: table.header_location.clone(),
                column: Some(h.clone()),
                value: None,
                en: format!(
                    "column given twice (also \"{}\"); keep one",
                    table.header[first]
                ),
                zh: format!("该列重复（另有“{}”），请只保留一列", table.header[first]),
            });
        } else {
            columns.insert(field, i);
        }
    }
    for spec in columns::RECORD_COLUMNS.iter().filter(|s| s.required) {
        let present = columns.contains_key(&spec.field)
            || (spec.field == Field::FeeYuan && columns.contains_key(&Field::FeeFen));
        if !present {
            problems.push(Problem {
                location: table.header_location.clone(),
                column: Some(spec.zh.to_owned()),
                value: None,
                en: format!(
                    "required column \"{}\" ({}) is missing from the header row; \
                     expected: {}",
                    spec.en, spec.zh, spec.help_en
                ),
                zh: format!(
                    "表头缺少必填列“{}”（{}）：{}",
                    spec.zh, spec.en, spec.help_zh
                ),
            });
        }
    }
    columns
}

struct RowCheck<'a> {
    table: &'a Table,
    columns: &'a HashMap<Field, usize>,
    location: &'a Location,
    cells: &'a [Cell],
    problems: &'a mut Vec<Problem>,
}

impl RowCheck<'_> {
    fn header(&self, field: Field) -> String {
        self.columns
            .get(&field)
            .and_then(|&i| self.table.header.get(i).cloned())
            .unwrap_or_else(|| columns::spec(field).zh.to_owned())
    }

    fn cell(&self, field: Field) -> Option<&Cell> {
        let i = *self.columns.get(&field)?;
        Some(self.cells.get(i).unwrap_or(&Cell::Empty))
    }

    fn problem(&mut self, field: Field, m: Msg) {
        let value = self.cell(field).and_then(values::text);
        self.problems.push(Problem {
            location: self.location.clone(),
            column: Some(self.header(field)),
            value,
            en: m.en,
            zh: m.zh,
        });
    }

    /// Parses a field; records a problem and returns `None` when it is wrong. An absent optional
    /// column reads as an empty cell.
    fn get<T>(&mut self, field: Field, parse: impl FnOnce(&Cell) -> Result<T, Msg>) -> Option<T> {
        let cell = self.cell(field).cloned().unwrap_or(Cell::Empty);
        match parse(&cell) {
            Ok(v) => Some(v),
            Err(m) => {
                self.problem(field, m);
                None
            }
        }
    }

    fn required<T>(
        &mut self,
        field: Field,
        parse: impl FnOnce(&Cell) -> Result<T, Msg>,
    ) -> Option<T> {
        if self.cell(field).is_some_and(values::is_blank) {
            let spec = columns::spec(field);
            self.problem(
                field,
                values::msg(
                    format!("required value missing; expected {}", spec.help_en),
                    format!("必填项为空，应填写：{}", spec.help_zh),
                ),
            );
            return None;
        }
        self.get(field, parse)
    }

    fn check(&mut self, key: &[u8], today: Date) -> Option<RecordRow> {
        let record_id = self.required(Field::RecordId, values::record_id);
        let date = self.required(Field::Date, |c| values::date(c, today));
        let function = self.required(Field::Function, values::function);
        let enterprise = self.required(Field::CreditCode, |c| {
            let code = values::text(c).unwrap_or_default();
            credit_code::validate(&code)
                .map(|()| pseudonym::pseudonymise(key, &code))
                .map_err(|e| values::msg(e.to_string(), e.message_zh()))
        });
        let enterprise_size = self.get(Field::EnterpriseSize, values::enterprise_size);
        let industry = self.required(Field::Industry, values::industry);
        let enterprise_region = self.required(Field::Region, values::region);
        let fee_fen = self.fee();
        let free = self.free(fee_fen);
        let satisfaction = self.get(Field::Satisfaction, values::satisfaction);
        let person_times = self.get(Field::PersonTimes, |c| {
            if values::is_blank(c) {
                Ok(0)
            } else {
                values::count(c, "a number of person-times", "服务人次")
            }
        });
        Some(RecordRow {
            record_id: record_id?,
            date: date?,
            function: function?,
            enterprise: enterprise?,
            enterprise_size: enterprise_size?,
            industry: industry?,
            enterprise_region: enterprise_region?,
            fee_fen: fee_fen?,
            free: free?,
            satisfaction: satisfaction?,
            person_times: person_times?,
            source_line: match self.location {
                Location::Line(n) => *n,
                Location::Row { row, .. } => u64::from(*row),
                Location::Index(i) => *i as u64,
                Location::File | Location::Key(_) => 0,
            },
        })
    }

    /// The fee in fen from whichever fee column is filled; blank is 0.
    fn fee(&mut self) -> Option<i64> {
        let blank = |c: Option<&Cell>| c.is_none_or(values::is_blank);
        let yuan_blank = blank(self.cell(Field::FeeYuan));
        let fen_blank = blank(self.cell(Field::FeeFen));
        let yuan = if yuan_blank {
            Some(None)
        } else {
            self.get(Field::FeeYuan, values::yuan_to_fen).map(Some)
        };
        let fen = if fen_blank {
            Some(None)
        } else {
            self.get(Field::FeeFen, values::fen).map(Some)
        };
        match (yuan?, fen?) {
            (Some(a), Some(b)) if a != b => {
                self.problem(
                    Field::FeeFen,
                    values::msg(
                        format!(
                            "fee in fen ({b}) differs from the fee in yuan ({a} fen); fill in one"
                        ),
                        format!("收费金额（分）{b}与收费金额（元）折合的{a}分不一致，请只填写一列"),
                    ),
                );
                None
            }
            (a, b) => Some(a.or(b).unwrap_or(0)),
        }
    }

    /// Whether free; blank means "free when the fee is 0". Free with a fee is a problem.
    fn free(&mut self, fee_fen: Option<i64>) -> Option<bool> {
        let cell = self.cell(Field::Free).cloned().unwrap_or(Cell::Empty);
        if values::is_blank(&cell) {
            return Some(fee_fen? == 0);
        }
        let free = self.get(Field::Free, values::yes_no)?;
        if free && fee_fen.is_some_and(|f| f > 0) {
            self.problem(
                Field::Free,
                values::msg(
                    "marked free but a fee is given; set the fee to 0 or mark it not free",
                    "标记为免费但填写了收费金额；请将收费金额改为0或改为“否”",
                ),
            );
            return None;
        }
        Some(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const KEY: &[u8] = b"test-key";
    const TODAY: Date = date!(2026 - 06 - 15);

    fn table(header: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            header_location: Location::Line(1),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        Location::Line(i as u64 + 2),
                        r.iter().map(|s| Cell::Text(s.to_string())).collect(),
                    )
                })
                .collect(),
        }
    }

    const HEADER: &[&str] = &[
        "记录编号",
        "服务日期",
        "服务功能",
        "企业信用代码",
        "企业规模",
        "行业门类",
        "企业所在地区",
        "收费金额（元）",
        "是否免费",
        "满意度",
        "服务人次",
    ];

    #[test]
    fn good_row() {
        let t = table(
            HEADER,
            &[&[
                "R1",
                "2026/5/3",
                "质量管理",
                "91350100M000100Y43",
                "小型",
                "C",
                "350102",
                "1200.5",
                "否",
                "非常满意",
                "",
            ]],
        );
        let rows = check(&t, KEY, TODAY).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.fee_fen, 120_050);
        assert!(!r.free);
        assert_eq!(
            r.enterprise,
            pseudonym::pseudonymise(KEY, "91350100M000100Y43")
        );
        assert_eq!(r.satisfaction, Some(5));
        assert_eq!(r.source_line, 2);
    }

    #[test]
    fn every_problem_is_listed() {
        let t = table(
            HEADER,
            &[
                &[
                    "R1",
                    "2026-13-01",
                    "9",
                    "91350100M000100Y44",
                    "巨型",
                    "Z",
                    "99",
                    "-3",
                    "也许",
                    "7",
                    "x",
                ],
                &[
                    "R2",
                    "2026-05-03",
                    "1",
                    "91350100M000100Y43",
                    "",
                    "C",
                    "350102",
                    "10",
                    "是",
                    "",
                    "",
                ],
                &[
                    "R2",
                    "2026-05-03",
                    "1",
                    "91350100M000100Y43",
                    "",
                    "C",
                    "350102",
                    "0",
                    "",
                    "",
                    "",
                ],
                &["", "", "", "", "", "", "", "", "", "", ""],
            ],
        );
        let problems = check(&t, KEY, TODAY).unwrap_err();
        let at = |line: u64| {
            problems
                .iter()
                .filter(|p| p.location == Location::Line(line))
                .map(|p| p.column.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            at(2),
            [
                "服务日期",
                "服务功能",
                "企业信用代码",
                "企业规模",
                "行业门类",
                "企业所在地区",
                "收费金额（元）",
                "是否免费",
                "满意度",
                "服务人次"
            ]
        );
        assert_eq!(at(3), ["是否免费"], "free with a fee");
        assert_eq!(at(4), ["记录编号"], "duplicate of a bad row is still found");
        assert!(problems
            .iter()
            .all(|p| !p.en.is_empty() && !p.zh.is_empty()));
    }

    #[test]
    fn missing_and_duplicate_columns() {
        let t = table(&["record_id", "date", "记录编号"], &[]);
        let problems = check(&t, KEY, TODAY).unwrap_err();
        assert!(problems[0].en.contains("given twice"), "{:?}", problems[0]);
        let missing: Vec<_> = problems[1..]
            .iter()
            .map(|p| p.column.clone().unwrap())
            .collect();
        assert_eq!(
            missing,
            [
                "服务功能",
                "企业信用代码",
                "企业规模",
                "行业门类",
                "企业所在地区",
                "收费金额（元）"
            ]
        );
    }

    #[test]
    fn fee_fen_column_and_blank_fee() {
        let t = table(
            &[
                "record_id",
                "date",
                "function",
                "enterprise_credit_code",
                "enterprise_size",
                "industry",
                "enterprise_region",
                "fee_fen",
            ],
            &[
                &[
                    "A",
                    "2026-05-03",
                    "7",
                    "91350100M000100Y43",
                    "micro",
                    "P",
                    "350102",
                    "4550",
                ],
                &[
                    "B",
                    "2026-05-03",
                    "7",
                    "91350100M000100Y43",
                    "micro",
                    "P",
                    "350102",
                    "",
                ],
            ],
        );
        let rows = check(&t, KEY, TODAY).unwrap();
        assert_eq!((rows[0].fee_fen, rows[0].free), (4550, false));
        assert_eq!((rows[1].fee_fen, rows[1].free), (0, true));
    }
}
