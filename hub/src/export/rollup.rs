//! Subtotals while streaming: rows arrive ordered by area key (a region code, or region and
//! credit code for platforms), and every level between the requested region and the rows'
//! level keeps one open group. When a key leaves a group, the group is written after its
//! children; each period ends with the requested region's total, the export with the total of
//! every period. Memory is one group per level, whatever the number of rows.
//!
//! Only additive counts are added (sums of services, of responses, reports, expected
//! platform-periods); shares are recomputed from the added counts when a row is written, and
//! distinct counts are never added (no statistic rolled up here has one).

use std::collections::BTreeMap;

use sme_proto::period::Period;

use super::names::Names;
use super::table::{Row, RowKind, Value};
use super::Level;

/// The counts of one statistic that add up across areas and periods.
pub(crate) trait Measures: Default + Clone {
    /// Adds another area's counts.
    fn add(&mut self, other: &Self);
    /// Whether anything behind the counts was reported.
    fn reported(&self) -> bool;
    /// The measure cells, in the table's column order, with the expected reports of the row.
    fn values(&self, expected: u64) -> Vec<Value>;
}

/// One area of the rows' level, with what is expected of it and its counts per breakdown
/// code (`None`: no breakdown). No parts = nothing reported.
pub(crate) struct Leaf<M> {
    /// The area key ([`Level::sql_key`] form).
    pub key: String,
    /// Expected reports (platform-periods).
    pub expected: u64,
    /// Counts per breakdown code.
    pub parts: Vec<(Option<String>, M)>,
}

struct Group<M> {
    key: String,
    expected: u64,
    parts: BTreeMap<Option<String>, M>,
}

impl<M: Measures> Group<M> {
    fn new(key: String) -> Self {
        Group {
            key,
            expected: 0,
            parts: BTreeMap::new(),
        }
    }

    fn add(&mut self, expected: u64, parts: &[(Option<String>, M)]) {
        self.expected += expected;
        for (code, m) in parts {
            self.parts.entry(code.clone()).or_default().add(m);
        }
    }

    fn merge(&mut self, other: &Group<M>) {
        self.expected += other.expected;
        for (code, m) in &other.parts {
            self.parts.entry(code.clone()).or_default().add(m);
        }
    }
}

/// The subtotal state of one table.
pub(crate) struct Rollup<'a, M> {
    names: &'a Names,
    region: String,
    /// Levels below the region down to the leaves' level, coarsest first.
    chain: Vec<Level>,
    /// The level written as detail; finer groups only feed the coarser ones.
    output: Level,
    open: Vec<Option<Group<M>>>,
    total: Group<M>,
    grand: Group<M>,
    period: Option<Period>,
}

impl<'a, M: Measures> Rollup<'a, M> {
    /// Leaves of level `input` under `region`, written from level `output` up.
    pub(crate) fn new(names: &'a Names, region: &str, input: Level, output: Level) -> Self {
        let chain: Vec<Level> = Level::ALL
            .into_iter()
            .filter(|l| l.is_below_region(region) && *l <= input)
            .collect();
        Rollup {
            names,
            region: region.to_owned(),
            open: chain.iter().map(|_| None).collect(),
            chain,
            output,
            total: Group::new(region.to_owned()),
            grand: Group::new(region.to_owned()),
            period: None,
        }
    }

    /// Starts a period (rows until [`Rollup::end_period`] carry it).
    pub(crate) fn begin_period(&mut self, period: Option<Period>) {
        self.period = period;
    }

    /// Adds a leaf; writes the groups it closes into `out`.
    pub(crate) fn push(&mut self, leaf: Leaf<M>, out: &mut Vec<Row>) {
        let codes: Vec<String> = self.chain.iter().map(|l| l.ancestor(&leaf.key)).collect();
        if let Some(first_changed) = (0..self.chain.len())
            .find(|&i| self.open[i].as_ref().map(|g| &g.key) != Some(&codes[i]))
        {
            self.close_from(first_changed, out);
            for (i, code) in codes.iter().enumerate().skip(first_changed) {
                self.open[i] = Some(Group::new(code.clone()));
            }
        }
        for group in self.open.iter_mut().flatten() {
            group.add(leaf.expected, &leaf.parts);
        }
        self.total.add(leaf.expected, &leaf.parts);
    }

    /// Closes every open group and writes the period's total.
    pub(crate) fn end_period(&mut self, out: &mut Vec<Row>) {
        self.close_from(0, out);
        let total = std::mem::replace(&mut self.total, Group::new(self.region.clone()));
        self.write(&total, RowKind::Total, out);
        self.grand.merge(&total);
    }

    /// The total over every period (for periodic tables of more than one period).
    pub(crate) fn finish(&mut self, out: &mut Vec<Row>) {
        let grand = std::mem::replace(&mut self.grand, Group::new(self.region.clone()));
        self.period = None;
        self.write(&grand, RowKind::GrandTotal, out);
    }

    fn close_from(&mut self, from: usize, out: &mut Vec<Row>) {
        for i in (from..self.chain.len()).rev() {
            if let Some(group) = self.open[i].take() {
                let level = self.chain[i];
                let kind = if level == self.output {
                    RowKind::Detail(level)
                } else if level < self.output {
                    RowKind::Subtotal(level)
                } else {
                    continue;
                };
                self.write(&group, kind, out);
            }
        }
    }

    fn write(&self, group: &Group<M>, kind: RowKind, out: &mut Vec<Row>) {
        let (region_code, platform) = match group.key.split_once(':') {
            Some((r, p)) => (r.to_owned(), Some(p.to_owned())),
            None => (group.key.clone(), None),
        };
        let region_name = self.names.region(&region_code);
        let platform_name = platform.as_deref().map(|p| self.names.platform(p));
        let row = |breakdown: Option<String>, m: &M| Row {
            kind,
            period: self.period,
            region_code: region_code.clone(),
            region_name: region_name.clone(),
            platform_id: platform.clone(),
            platform_name: platform_name.clone(),
            breakdown,
            values: m.values(group.expected),
            reported: m.reported(),
        };
        if group.parts.is_empty() {
            out.push(row(None, &M::default()));
        }
        for (code, m) in &group.parts {
            out.push(row(code.clone(), m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Clone, Debug)]
    struct N(u64);
    impl Measures for N {
        fn add(&mut self, o: &Self) {
            self.0 += o.0;
        }
        fn reported(&self) -> bool {
            self.0 > 0
        }
        fn values(&self, expected: u64) -> Vec<Value> {
            vec![Value::Count(self.0), Value::Count(expected)]
        }
    }

    fn leaf(key: &str, n: u64) -> Leaf<N> {
        Leaf {
            key: key.into(),
            expected: 1,
            parts: if n > 0 { vec![(None, N(n))] } else { vec![] },
        }
    }

    #[test]
    fn subtotals_follow_their_children_and_totals_add_up() {
        let names = Names::default();
        let mut r = Rollup::new(&names, "000000", Level::Platform, Level::Platform);
        let mut out = Vec::new();
        r.begin_period(Some("2026-M01".parse().unwrap()));
        r.push(leaf("440305:A", 2), &mut out);
        r.push(leaf("440306:B", 3), &mut out);
        r.push(leaf("440403:C", 0), &mut out);
        r.push(leaf("110101:D", 5), &mut out);
        r.end_period(&mut out);
        r.finish(&mut out);
        let got: Vec<(String, &str, Vec<Value>)> = out
            .iter()
            .map(|row| {
                let key = match &row.platform_id {
                    Some(p) => format!("{}:{p}", row.region_code),
                    None => row.region_code.clone(),
                };
                (key, row.kind.id(), row.values.clone())
            })
            .collect();
        let c = |a: u64, b: u64| vec![Value::Count(a), Value::Count(b)];
        let want = vec![
            ("440305:A", "platform", c(2, 1)),
            ("440305", "county_subtotal", c(2, 1)),
            ("440306:B", "platform", c(3, 1)),
            ("440306", "county_subtotal", c(3, 1)),
            ("440300", "prefecture_subtotal", c(5, 2)),
            ("440403:C", "platform", c(0, 1)),
            ("440403", "county_subtotal", c(0, 1)),
            ("440400", "prefecture_subtotal", c(0, 1)),
            ("440000", "province_subtotal", c(5, 3)),
            ("110101:D", "platform", c(5, 1)),
            ("110101", "county_subtotal", c(5, 1)),
            ("110100", "prefecture_subtotal", c(5, 1)),
            ("110000", "province_subtotal", c(5, 1)),
            ("000000", "total", c(10, 4)),
            ("000000", "grand_total", c(10, 4)),
        ];
        let want: Vec<(String, &str, Vec<Value>)> = want
            .into_iter()
            .map(|(k, t, v)| (k.to_owned(), t, v))
            .collect();
        assert_eq!(got, want);
        assert!(!out[5].reported, "nothing reported is not a zero report");
    }

    #[test]
    fn finer_leaves_feed_the_output_level_only() {
        let names = Names::default();
        let mut r = Rollup::new(&names, "440000", Level::Platform, Level::Prefecture);
        let mut out = Vec::new();
        r.begin_period(None);
        r.push(leaf("440305:A", 2), &mut out);
        r.push(leaf("440306:B", 3), &mut out);
        r.push(leaf("440403:C", 1), &mut out);
        r.end_period(&mut out);
        let kinds: Vec<(&str, &str)> = out
            .iter()
            .map(|r| (r.region_code.as_str(), r.kind.id()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("440300", "prefecture"),
                ("440400", "prefecture"),
                ("440000", "total")
            ]
        );
        assert_eq!(out[0].values, vec![Value::Count(5), Value::Count(2)]);
    }
}
