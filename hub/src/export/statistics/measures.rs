//! The additive counts of each periodic statistic, their columns and how a row is rendered
//! from them; the shares are recomputed from the added counts exactly as the views do.

use super::super::rollup::Measures;
use super::super::table::{col, Column, Kind, Value};
use crate::analytics::sql::share;
use crate::analytics::staff;

/// Volume counts (the view's [`crate::analytics::volume::VolumeRow`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Volume {
    pub services: u64,
    pub free: u64,
    pub revenue_fen: i64,
    pub person_times: u64,
    pub reported: u64,
}

pub(crate) const VOLUME_COLUMNS: &[Column] = &[
    col("services", "服务次数", "services", Kind::Count),
    col(
        "free_services",
        "公益服务次数",
        "free services",
        Kind::Count,
    ),
    col(
        "paid_services",
        "收费服务次数",
        "paid services",
        Kind::Count,
    ),
    col("free_share", "公益服务占比", "free share", Kind::Ratio),
    col(
        "revenue_yuan",
        "服务收入（元）",
        "revenue (yuan)",
        Kind::Yuan,
    ),
    col("person_times", "服务人次", "person-times", Kind::Count),
    col("reported", "已报送", "reports", Kind::Count),
    col("expected", "应报送", "expected reports", Kind::Count),
];

impl Measures for Volume {
    fn add(&mut self, o: &Self) {
        self.services += o.services;
        self.free += o.free;
        self.revenue_fen += o.revenue_fen;
        self.person_times += o.person_times;
        self.reported += o.reported;
    }
    fn reported(&self) -> bool {
        self.reported > 0
    }
    fn values(&self, expected: u64) -> Vec<Value> {
        let counts = expected_counts(self.reported, expected);
        if self.reported == 0 {
            return nulls(6, counts);
        }
        let mut v = vec![
            Value::Count(self.services),
            Value::Count(self.free),
            Value::Count(self.services.saturating_sub(self.free)),
            Value::opt_number(share(self.free, self.services)),
            Value::Fen(self.revenue_fen),
            Value::Count(self.person_times),
        ];
        v.extend(counts);
        v
    }
}

/// Satisfaction counts (the view's [`crate::analytics::satisfaction::SatisfactionRow`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Satisfaction {
    pub responses: u64,
    pub satisfied: u64,
    pub score: u64,
    pub reported: u64,
}

pub(crate) const SATISFACTION_COLUMNS: &[Column] = &[
    col("responses", "评价数", "responses", Kind::Count),
    col(
        "satisfied",
        "满意数（非常满意+满意）",
        "satisfied",
        Kind::Count,
    ),
    col("rate", "满意率", "satisfaction rate", Kind::Ratio),
    col(
        "mean_score",
        "平均分（1–5）",
        "mean score (1-5)",
        Kind::Decimal,
    ),
    col("reported", "已报送", "reports", Kind::Count),
    col("expected", "应报送", "expected reports", Kind::Count),
];

impl Measures for Satisfaction {
    fn add(&mut self, o: &Self) {
        self.responses += o.responses;
        self.satisfied += o.satisfied;
        self.score += o.score;
        self.reported += o.reported;
    }
    fn reported(&self) -> bool {
        self.reported > 0
    }
    fn values(&self, expected: u64) -> Vec<Value> {
        let counts = expected_counts(self.reported, expected);
        if self.reported == 0 {
            return nulls(4, counts);
        }
        let mut v = vec![
            Value::Count(self.responses),
            Value::Count(self.satisfied),
            Value::opt_number(share(self.satisfied, self.responses)),
            Value::opt_number(
                (self.responses > 0).then(|| self.score as f64 / self.responses as f64),
            ),
        ];
        v.extend(counts);
        v
    }
}

/// Staff and basic-condition counts (the view's [`staff::StaffRow`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Staff(pub staff::Sums);

pub(crate) const STAFF_COLUMNS: &[Column] = &[
    col("reported", "已报送", "reports", Kind::Count),
    col("expected", "应报送", "expected reports", Kind::Count),
    col(
        "with_staff",
        "有人员构成的报表",
        "reports with staff",
        Kind::Count,
    ),
    col(
        "professional_staff",
        "专业服务人员",
        "professional staff",
        Kind::Count,
    ),
    col(
        "with_degree_or_title",
        "大专及以上或中级及以上职称",
        "with degree or mid title",
        Kind::Count,
    ),
    col("degree_share", "学历职称占比", "degree share", Kind::Ratio),
    col(
        "bucket_none",
        "无专业人员（报表数）",
        "reports: no professional staff",
        Kind::Count,
    ),
    col(
        "bucket_0_25",
        "占比0–25%（报表数）",
        "reports: share 0-25%",
        Kind::Count,
    ),
    col(
        "bucket_25_50",
        "占比25–50%（报表数）",
        "reports: share 25-50%",
        Kind::Count,
    ),
    col(
        "bucket_50_75",
        "占比50–75%（报表数）",
        "reports: share 50-75%",
        Kind::Count,
    ),
    col(
        "bucket_75_100",
        "占比75–100%（报表数）",
        "reports: share 75-100%",
        Kind::Count,
    ),
    col("w101_meeting", "W101达标", "W101 meeting", Kind::Count),
    col("w101_assessed", "W101评估", "W101 assessed", Kind::Count),
    col("w101_share", "W101达标率", "W101 share", Kind::Ratio),
    col("w102_meeting", "W102达标", "W102 meeting", Kind::Count),
    col("w102_assessed", "W102评估", "W102 assessed", Kind::Count),
    col("w102_share", "W102达标率", "W102 share", Kind::Ratio),
    col("w103_meeting", "W103达标", "W103 meeting", Kind::Count),
    col("w103_assessed", "W103评估", "W103 assessed", Kind::Count),
    col("w103_share", "W103达标率", "W103 share", Kind::Ratio),
    col(
        "service_revenue_share",
        "服务收入占比",
        "service revenue share",
        Kind::Ratio,
    ),
];

impl Measures for Staff {
    fn add(&mut self, o: &Self) {
        self.0.add(&o.0);
    }
    fn reported(&self) -> bool {
        self.0.reported > 0
    }
    fn values(&self, expected: u64) -> Vec<Value> {
        let r = staff::row(self.0.clone(), expected);
        let cond = |c: &staff::Condition| {
            [
                Value::Count(c.meeting),
                Value::Count(c.assessed),
                Value::opt_number(c.share),
            ]
        };
        let mut v = vec![
            Value::Count(r.coverage.reported),
            Value::Count(r.coverage.expected),
            Value::Count(r.with_staff),
            Value::Count(r.professional_staff),
            Value::Count(r.with_degree_or_title),
            Value::opt_number(r.degree_share),
        ];
        v.extend(r.distribution.iter().map(|b| Value::Count(b.reports)));
        v.extend(cond(&r.w101_degree_share));
        v.extend(cond(&r.w102_service_revenue));
        v.extend(cond(&r.w103_disclosures));
        v.push(Value::opt_number(r.service_revenue_share));
        if r.coverage.reported == 0 {
            // Nothing reported: every figure is unknown, not zero.
            for cell in v.iter_mut().skip(2) {
                *cell = Value::Null;
            }
        }
        v
    }
}

/// Completeness counts (the view's [`crate::analytics::completeness::RegionCompleteness`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Completeness {
    pub received: u64,
    pub on_time: u64,
}

pub(crate) const COMPLETENESS_COLUMNS: &[Column] = &[
    col("expected", "应报送", "expected", Kind::Count),
    col("received", "已报送", "received", Kind::Count),
    col("on_time", "按时报送", "on time", Kind::Count),
    col("missing", "未报送", "missing", Kind::Count),
    col("rate", "报送率", "reporting rate", Kind::Ratio),
    col("on_time_rate", "及时率", "on-time rate", Kind::Ratio),
];

impl Measures for Completeness {
    fn add(&mut self, o: &Self) {
        self.received += o.received;
        self.on_time += o.on_time;
    }
    fn reported(&self) -> bool {
        self.received > 0
    }
    fn values(&self, expected: u64) -> Vec<Value> {
        vec![
            Value::Count(expected),
            Value::Count(self.received),
            Value::Count(self.on_time),
            Value::Count(expected.saturating_sub(self.received)),
            Value::opt_number(share(self.received, expected)),
            Value::opt_number(share(self.on_time, expected)),
        ]
    }
}

fn expected_counts(reported: u64, expected: u64) -> [Value; 2] {
    [Value::Count(reported), Value::Count(expected)]
}

fn nulls(n: usize, tail: [Value; 2]) -> Vec<Value> {
    let mut v = vec![Value::Null; n];
    v.extend(tail);
    v
}
