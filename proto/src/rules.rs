//! Validation of a periodic report (domain §5). The hub is the authority; the agent runs the same
//! [`check`] before sending. Every violation is collected, not just the first; errors reject the
//! report, flags are stored with it.
//!
//! | rule | kind  | field paths                                   | fires when |
//! |------|-------|-----------------------------------------------|------------|
//! | E001 | error | `platform_id`                                 | not a valid unified social credit code (length, alphabet, digits in 3–8, check character) |
//! | E002 | error | `platform_id`                                 | `ctx.certificate_platform_id` is `Some` and differs |
//! | E003 | error | `period`                                      | not `2026-M05` / `2026-Q2` / `2026-A`, or its UTC+8 start is after `ctx.now` |
//! | E004 | error | `platform_id`                                 | `ctx.platform_active == Some(false)` (not registered, or not active in the period) |
//! | E005 | error | `staff.*`                                     | professional > total; college degree, degree-or-mid-title or senior title > professional; college degree > degree-or-mid-title |
//! | E006 | error | `finance.*`, `volumes[i].revenue_fen`, `capacity.equipment_value_fen`, `capacity.floor_area_m2`, `service_records[i].fee_fen` | service revenue > total revenue; any money negative; floor area negative or not finite |
//! | E007 | error | `volumes[i].enterprises_served`, `volumes[i].free_services` | greater than `services` of that entry |
//! | E008 | error | `satisfaction.responses`, `service_records[i].satisfaction` | the five counts do not sum to `responses`; a record's satisfaction is above 5 |
//! | E009 | error | `volumes[i].function`, `service_records[i].function` | unspecified or unknown function; a function listed twice in `volumes` |
//! | E010 | error | `volumes`, `satisfaction`, `startups`, `staff`, `finance`, `disclosures`, `capacity` | a section required for the period kind is missing |
//! | E011 | error | `volumes`, `volumes[i].*`, `service_records[i].*` | records present and their totals differ from the volume section; a record malformed or dated outside the period |
//! | E012 | error | `period`                                      | `ctx.lock == Some(t)` and `ctx.now >= t` (FAILED_PRECONDITION) |
//! | E013 | error | `form_version`, `report_id`, `generated_at`, `""` (whole report) | unknown form version; `encoded_len > max_report_bytes`; malformed envelope |
//! | W101 | flag  | `staff.professional_with_degree_or_mid_title`, `staff.professional_staff` | degree-or-mid-title share of professional staff < 50 %, or no professional staff |
//! | W102 | flag  | `finance.service_revenue_fen`                 | service revenue < 50 % of total revenue (total > 0) |
//! | W103 | flag  | `disclosures.content` … `disclosures.time`    | one flag per disclosure that is false |
//! | W104 | flag  | `satisfaction.responses`                      | fewer than 30 responses |
//! | W201 | flag or error | `volumes`                             | total services > 3× or < ⅓ of the previous period's; a flag when an `explanations` entry with rule id `W201` and non-blank text exists, else an error |
//!
//! Choices where the domain is silent:
//! - **Sections (E010).** Required: volumes, satisfaction and startups every period; staff,
//!   finance and disclosures for quarters and years; capacity for years. `volumes` counts as
//!   missing when it has no entries; a platform with no services sends an entry with zeros, and
//!   functions not listed count as zero. Sections sent but not required are checked all the same.
//!   When the period is malformed only the every-period sections are required.
//! - **Service records (E011).** Totals are compared per function for services (= number of
//!   records), enterprises served (= distinct `enterprise`), free services (= records with
//!   `free`), revenue (= Σ `fee_fen`) and person-times (= Σ `person_times`); a function with
//!   records but no volume entry, and a volume entry with non-zero numbers but no records, both
//!   violate. Records with an invalid function (E009) are left out of the totals. A record also
//!   violates E011 when its `record_id` is empty or repeated; its date is not `YYYY-MM-DD` or not
//!   in the period; its `enterprise` is not a 32-lowercase-hex pseudonym; its industry is neither
//!   empty (unknown) nor a letter A–T; its `enterprise_region` is not 6 digits; its size is an
//!   unknown enum value; or it is marked `free` with a fee above zero. Negative fees are E006,
//!   satisfaction above 5 is E008, functions are E009.
//! - **Envelope (E013).** Besides the form version and size, `report_id` must be a UUID in
//!   canonical lower-case hyphenated form and not nil (it is the idempotency key, compared as a
//!   string), and `generated_at` must be present. The size violation has the empty field path.
//! - **Lock (E012).** `ctx.lock` is the instant from which this platform's period is locked (the
//!   calendar's `locks_at`, or later after a reopening); `None` means not locked or not known.
//!   Only-E012 rejections are FAILED_PRECONDITION; anything else INVALID_ARGUMENT.
//! - **W101** with zero professional staff is flagged: such a platform cannot meet the staff
//!   basic condition. **W102** with zero total revenue is not flagged: there is no revenue mix
//!   to judge (wholly publicly funded platforms are what §3 encourages).
//! - **W201.** The total is Σ `volumes[].services`. A previous total of 0 never triggers (no
//!   baseline; ratios from zero are meaningless); a fall to 0 from any positive total does. The
//!   explanation must have `rule_id` exactly `"W201"`.
//! - Violations are sorted by rule id (stable, so field order is kept within a rule).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use time::{Date, Month, OffsetDateTime};

use crate::{
    credit_code,
    period::{Calendar, Period, PeriodKind, CST},
    pseudonym, v1,
};

/// Supported form versions (表式版本).
pub const FORM_VERSIONS: &[&str] = &["1"];

/// A reasonable default for `max_report_bytes`: tonic's default message limit.
pub const DEFAULT_MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;

/// Fewer satisfaction responses than this are flagged (W104).
pub const MIN_RESPONSES: u64 = 30;

/// What the rules need to know besides the report.
#[derive(Debug, Clone)]
pub struct CheckContext<'a> {
    /// The current time.
    pub now: OffsetDateTime,
    /// The reporting calendar.
    pub calendar: &'a Calendar,
    /// Platform id from the client certificate; E002 when `Some` and different.
    pub certificate_platform_id: Option<&'a str>,
    /// Encoded size of the report in bytes.
    pub encoded_len: usize,
    /// Size limit; E013 when `encoded_len` exceeds it.
    pub max_report_bytes: usize,
    /// Whether the platform is registered and active in the period; E004 when `Some(false)`.
    pub platform_active: Option<bool>,
    /// When this platform's period locks (after reopenings); E012 when `now` is at or past it.
    pub lock: Option<OffsetDateTime>,
    /// Total services of the platform's previous period, for W201.
    pub previous_total_services: Option<u64>,
}

impl<'a> CheckContext<'a> {
    /// A context with nothing known but the clock and calendar: no certificate, registry, lock
    /// or history checks, and [`DEFAULT_MAX_REPORT_BYTES`] with `encoded_len` 0.
    pub fn new(now: OffsetDateTime, calendar: &'a Calendar) -> Self {
        Self {
            now,
            calendar,
            certificate_platform_id: None,
            encoded_len: 0,
            max_report_bytes: DEFAULT_MAX_REPORT_BYTES,
            platform_active: None,
            lock: None,
            previous_total_services: None,
        }
    }
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Hard-rule violations; the report is rejected when there is any.
    pub errors: Vec<v1::FieldViolation>,
    /// Soft-rule flags stored with an accepted report.
    pub flags: Vec<v1::FieldViolation>,
}

// === impl Verdict ===

impl Verdict {
    /// Whether the report is accepted (no errors).
    pub fn is_accepted(&self) -> bool {
        self.errors.is_empty()
    }

    /// `OK` when accepted, `FAILED_PRECONDITION` when the only errors are E012, else
    /// `INVALID_ARGUMENT`.
    pub fn status_code(&self) -> tonic::Code {
        if self.errors.is_empty() {
            tonic::Code::Ok
        } else if self.errors.iter().all(|v| v.rule_id == "E012") {
            tonic::Code::FailedPrecondition
        } else {
            tonic::Code::InvalidArgument
        }
    }

    /// Distinct rule ids of errors and flags, sorted: what the audit trail records.
    pub fn rule_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&str> = self
            .errors
            .iter()
            .chain(&self.flags)
            .map(|v| v.rule_id.as_str())
            .collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    /// The gRPC rejection for this verdict, `None` when accepted.
    pub fn to_status(&self) -> Option<tonic::Status> {
        (!self.is_accepted()).then(|| crate::status::rejection(self.status_code(), &self.errors))
    }
}

/// Chinese and English name of a service function.
pub fn function_name(function: v1::ServiceFunction) -> Option<(&'static str, &'static str)> {
    use v1::ServiceFunction as F;
    Some(match function {
        F::Unspecified => return None,
        F::Information => ("信息查询", "information"),
        F::TechnologyInnovation => ("技术创新", "technology innovation"),
        F::Quality => ("质量管理", "quality"),
        F::ManagementConsulting => ("管理咨询", "management consulting"),
        F::Entrepreneurship => ("创业辅导", "entrepreneurship"),
        F::MarketExpansion => ("市场开拓", "market expansion"),
        F::Training => ("人员培训", "training"),
    })
}

/// A function code that is one of the seven.
fn valid_function(code: i32) -> Option<v1::ServiceFunction> {
    v1::ServiceFunction::try_from(code)
        .ok()
        .filter(|f| *f != v1::ServiceFunction::Unspecified)
}

/// Total services of a report: Σ `volumes[].services` (saturating). The W201 quantity.
pub fn total_services(report: &v1::Report) -> u64 {
    report
        .volumes
        .iter()
        .fold(0u64, |acc, v| acc.saturating_add(v.services))
}

/// Volume entries computed from service records, one per valid function that has records, in
/// function order. Records with an invalid function are skipped. What E011 compares against.
pub fn volumes_from_records(records: &[v1::ServiceRecord]) -> Vec<v1::FunctionVolume> {
    record_totals(records)
        .into_iter()
        .map(|(function, t)| v1::FunctionVolume {
            function,
            services: t.services,
            enterprises_served: t.enterprises.len() as u64,
            free_services: t.free,
            revenue_fen: t.revenue.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            person_times: t.person_times.min(u64::MAX.into()) as u64,
        })
        .collect()
}

#[derive(Default)]
struct Totals<'r> {
    services: u64,
    enterprises: BTreeSet<&'r str>,
    free: u64,
    revenue: i128,
    person_times: u128,
}

fn record_totals(records: &[v1::ServiceRecord]) -> BTreeMap<i32, Totals<'_>> {
    let mut totals: BTreeMap<i32, Totals<'_>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| valid_function(r.function).is_some())
    {
        let t = totals.entry(r.function).or_default();
        t.services += 1;
        t.enterprises.insert(&r.enterprise);
        t.free += u64::from(r.free);
        t.revenue += i128::from(r.fee_fen);
        t.person_times += u128::from(r.person_times);
    }
    totals
}

/// Checks a report against every rule of domain §5.
pub fn check(report: &v1::Report, ctx: &CheckContext<'_>) -> Verdict {
    let mut out = Out::default();
    let period = check_envelope(report, ctx, &mut out);
    check_sections(report, period.map(|p| p.kind()), &mut out);
    if let Some(staff) = &report.staff {
        check_staff(staff, &mut out);
    }
    if let Some(finance) = &report.finance {
        check_finance(finance, &mut out);
    }
    check_volumes(&report.volumes, &mut out);
    if let Some(s) = &report.satisfaction {
        check_satisfaction(s, &mut out);
    }
    if let Some(d) = &report.disclosures {
        check_disclosures(d, &mut out);
    }
    if let Some(c) = &report.capacity {
        check_capacity(c, &mut out);
    }
    if !report.service_records.is_empty() {
        check_records(report, period, &mut out);
    }
    if let Some(previous) = ctx.previous_total_services {
        check_change(report, previous, &mut out);
    }
    out.errors.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    out.flags.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    Verdict {
        errors: out.errors,
        flags: out.flags,
    }
}

#[derive(Default)]
struct Out {
    errors: Vec<v1::FieldViolation>,
    flags: Vec<v1::FieldViolation>,
}

impl Out {
    fn error(&mut self, field: impl Into<String>, rule: &str, zh: String, en: String) {
        self.errors.push(violation(field, rule, zh, en));
    }

    fn flag(&mut self, field: impl Into<String>, rule: &str, zh: String, en: String) {
        self.flags.push(violation(field, rule, zh, en));
    }
}

fn violation(field: impl Into<String>, rule: &str, zh: String, en: String) -> v1::FieldViolation {
    v1::FieldViolation {
        field: field.into(),
        rule_id: rule.to_owned(),
        message_zh: zh,
        message_en: en,
    }
}

/// User text quoted for a message, at most 40 characters of it.
fn q(s: &str) -> String {
    let mut clipped: String = s.chars().take(40).collect();
    if clipped.len() < s.len() {
        clipped.push('…');
    }
    format!("{clipped:?}")
}

/// Fen as yuan with two decimals.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn money_en(fen: i64) -> String {
    format!("{fen} fen ({} yuan)", yuan(fen))
}

fn money_zh(fen: i64) -> String {
    format!("{fen}分（{}元）", yuan(fen))
}

fn function_en(code: i32) -> String {
    match valid_function(code).and_then(function_name) {
        Some((_, en)) => format!("function {code} ({en})"),
        None => format!("function {code}"),
    }
}

fn function_zh(code: i32) -> String {
    match valid_function(code).and_then(function_name) {
        Some((zh, _)) => format!("服务功能{code}（{zh}）"),
        None => format!("服务功能{code}"),
    }
}

// === envelope: E001 E002 E003 E004 E012 E013 ===

fn check_envelope(report: &v1::Report, ctx: &CheckContext<'_>, out: &mut Out) -> Option<Period> {
    if let Err(e) = credit_code::validate(&report.platform_id) {
        out.error(
            "platform_id",
            "E001",
            format!("平台代码{}无效：{}", q(&report.platform_id), e.message_zh()),
            format!("platform_id {} is invalid: {e}", q(&report.platform_id)),
        );
    }
    if let Some(cert) = ctx.certificate_platform_id {
        if cert != report.platform_id {
            out.error(
                "platform_id",
                "E002",
                format!(
                    "报表中的平台代码{}与客户端证书中的身份{}不一致；平台只能报送本平台的报表，请检查代理配置中的平台代码。",
                    q(&report.platform_id),
                    q(cert)
                ),
                format!(
                    "platform_id {} differs from the identity {} in the client certificate; a \
                     platform may only report for itself — check the platform id in the agent's \
                     configuration",
                    q(&report.platform_id),
                    q(cert)
                ),
            );
        }
    }
    if ctx.platform_active == Some(false) {
        out.error(
            "platform_id",
            "E004",
            format!(
                "平台{}不在平台名录中，或在该报告期内未处于有效状态；请联系所在地区中小企业主管部门核实登记信息。",
                q(&report.platform_id)
            ),
            format!(
                "platform {} is not in the registry or not active in this period; ask your \
                 regional SME authority to check the registration",
                q(&report.platform_id)
            ),
        );
    }

    let period = match report.period.parse::<Period>() {
        Ok(p) => Some(p),
        Err(e) => {
            out.error("period", "E003", e.message_zh(), e.to_string());
            None
        }
    };
    if let Some(p) = period.filter(|p| p.starts_in_future(ctx.now)) {
        let start = format_cst(p.start());
        out.error(
            "period",
            "E003",
            format!("报告期{p}尚未开始（开始于{start}，北京时间），不能提前报送；请在报告期结束后报送。"),
            format!(
                "period {p} has not started yet (it starts {start} UTC+8); report a period after \
                 it has ended"
            ),
        );
    }
    if let Some(locked_at) = ctx.lock.filter(|t| ctx.now >= *t) {
        let at = format_cst(locked_at);
        out.error(
            "period",
            "E012",
            format!(
                "报告期{}已于{at}（北京时间）锁定，不再接收报送；如需更正，请联系所在地区中小企业主管部门解锁。",
                report.period
            ),
            format!(
                "period {} has been locked since {at} UTC+8 and accepts nothing; ask the SME \
                 authority of your region to reopen it if a correction is needed",
                report.period
            ),
        );
    }

    if !FORM_VERSIONS.contains(&report.form_version.as_str()) {
        let supported = FORM_VERSIONS.join(", ");
        out.error(
            "form_version",
            "E013",
            format!(
                "表式版本{}不受支持（支持：{supported}）；请升级报送代理后重新生成报表。",
                q(&report.form_version)
            ),
            format!(
                "form_version {} is not supported (supported: {supported}); upgrade the agent \
                 and rebuild the report",
                q(&report.form_version)
            ),
        );
    }
    if ctx.encoded_len > ctx.max_report_bytes {
        out.error(
            "",
            "E013",
            format!(
                "报表大小为{}字节，超过上限{}字节；请将服务记录拆分或联系管理员。",
                ctx.encoded_len, ctx.max_report_bytes
            ),
            format!(
                "the report is {} bytes, more than the limit of {} bytes; split the service \
                 records or ask the hub operator",
                ctx.encoded_len, ctx.max_report_bytes
            ),
        );
    }
    if !is_canonical_uuid(&report.report_id) {
        out.error(
            "report_id",
            "E013",
            format!(
                "报表编号{}不是规范的UUID（小写、带连字符、非全零，如 1b4e28ba-2fa1-11d2-883f-0016d3cca427）；报表编号由代理生成，请勿手工修改。",
                q(&report.report_id)
            ),
            format!(
                "report_id {} is not a UUID in canonical form (lower case, hyphenated, not nil, \
                 e.g. 1b4e28ba-2fa1-11d2-883f-0016d3cca427); the agent generates it — do not \
                 edit it",
                q(&report.report_id)
            ),
        );
    }
    if report.generated_at.is_none() {
        out.error(
            "generated_at",
            "E013",
            "报表缺少生成时间（generated_at）；请使用报送代理生成报表。".to_owned(),
            "generated_at is missing; build the report with the agent, which sets it".to_owned(),
        );
    }
    period
}

fn is_canonical_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s)
        .map(|u| !u.is_nil() && u.hyphenated().to_string() == s)
        .unwrap_or(false)
}

fn format_cst(t: OffsetDateTime) -> String {
    let t = t.to_offset(CST);
    format!(
        "{} {:02}:{:02}:{:02}",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

// === E010: required sections ===

fn check_sections(report: &v1::Report, kind: Option<PeriodKind>, out: &mut Out) {
    let quarter_or_year = matches!(kind, Some(PeriodKind::Quarter | PeriodKind::Year));
    let year = kind == Some(PeriodKind::Year);
    let sections: [(&str, &str, bool, bool); 7] = [
        ("volumes", "服务量", true, !report.volumes.is_empty()),
        (
            "satisfaction",
            "企业满意度",
            true,
            report.satisfaction.is_some(),
        ),
        ("startups", "创业辅导", true, report.startups.is_some()),
        ("staff", "人员构成", quarter_or_year, report.staff.is_some()),
        (
            "finance",
            "财务状况",
            quarter_or_year,
            report.finance.is_some(),
        ),
        (
            "disclosures",
            "五公开",
            quarter_or_year,
            report.disclosures.is_some(),
        ),
        ("capacity", "服务能力", year, report.capacity.is_some()),
    ];
    let kind_en = kind.map_or("every", PeriodKind::as_str);
    let kind_zh = kind.map_or("各", PeriodKind::name_zh);
    for (field, zh, required, present) in sections {
        if required && !present {
            let hint_en = if field == "volumes" {
                " (at least one entry; a function with no services is sent with zeros)"
            } else {
                ""
            };
            let hint_zh = if field == "volumes" {
                "（至少一项；无服务的功能填0）"
            } else {
                ""
            };
            out.error(
                field,
                "E010",
                format!("{kind_zh}报缺少必填部分“{zh}”（{field}）{hint_zh}；请补充后重新报送。"),
                format!(
                    "section `{field}` is required in a {kind_en} report but missing{hint_en}; \
                     add it and resubmit"
                ),
            );
        }
    }
}

// === E005 W101: staff ===

fn check_staff(s: &v1::StaffComposition, out: &mut Out) {
    let p = s.professional_staff;
    if p > s.total_staff {
        out.error(
            "staff.professional_staff",
            "E005",
            format!(
                "专业服务人员（{p}人）多于从业人员总数（{}人）；专业服务人员是从业人员的一部分，请核对。",
                s.total_staff
            ),
            format!(
                "professional_staff ({p}) is greater than total_staff ({}); professional service \
                 staff are part of all staff — correct one of the two",
                s.total_staff
            ),
        );
    }
    let subsets = [
        (
            "professional_with_college_degree",
            "大专及以上学历的专业服务人员",
            s.professional_with_college_degree,
        ),
        (
            "professional_with_degree_or_mid_title",
            "大专及以上学历或中级及以上职称的专业服务人员",
            s.professional_with_degree_or_mid_title,
        ),
        ("senior_title_staff", "高级职称人员", s.senior_title_staff),
    ];
    for (field, zh, n) in subsets {
        if n > p {
            out.error(
                format!("staff.{field}"),
                "E005",
                format!("{zh}（{n}人）多于专业服务人员（{p}人）；请核对人员构成。"),
                format!(
                    "{field} ({n}) is greater than professional_staff ({p}); it counts a part of \
                     the professional staff — correct the staff composition"
                ),
            );
        }
    }
    let (college, either) = (
        s.professional_with_college_degree,
        s.professional_with_degree_or_mid_title,
    );
    if college > either {
        out.error(
            "staff.professional_with_degree_or_mid_title",
            "E005",
            format!(
                "“大专及以上学历或中级及以上职称”人数（{either}）少于“大专及以上学历”人数（{college}）；前者包含后者，请核对。"
            ),
            format!(
                "professional_with_degree_or_mid_title ({either}) is less than \
                 professional_with_college_degree ({college}); everyone with a degree counts in \
                 the former — correct the staff composition"
            ),
        );
    }
    if p == 0 {
        out.flag(
            "staff.professional_staff",
            "W101",
            "专业服务人员为0，不满足“专业服务人员中大专以上学历或中级以上职称人员占比不低于50%”的基本条件。".to_owned(),
            "professional_staff is 0, so the basic condition that at least 50 % of professional \
             staff hold a college degree or a mid-level title cannot be met"
                .to_owned(),
        );
    } else if u64::from(either) * 2 < u64::from(p) {
        let share = f64::from(either) * 100.0 / f64::from(p);
        out.flag(
            "staff.professional_with_degree_or_mid_title",
            "W101",
            format!(
                "专业服务人员中大专及以上学历或中级及以上职称人员占比为{share:.1}%（{either}/{p}），低于基本条件要求的50%。"
            ),
            format!(
                "{share:.1} % of professional staff ({either} of {p}) hold a college degree or a \
                 mid-level title, below the 50 % basic condition"
            ),
        );
    }
}

// === E006 W102: finance ===

fn check_negative(field: &str, zh: &str, fen: i64, out: &mut Out) {
    if fen < 0 {
        out.error(
            field,
            "E006",
            format!(
                "{zh}为{}，金额不能为负数；请核对单位（分）和符号。",
                money_zh(fen)
            ),
            format!(
                "{field} is {}; amounts are never negative — check the sign and that the unit is \
                 fen",
                money_en(fen)
            ),
        );
    }
}

fn check_finance(f: &v1::Finance, out: &mut Out) {
    check_negative(
        "finance.total_revenue_fen",
        "营业额",
        f.total_revenue_fen,
        out,
    );
    check_negative(
        "finance.service_revenue_fen",
        "服务收入",
        f.service_revenue_fen,
        out,
    );
    check_negative(
        "finance.public_funding_fen",
        "财政补助",
        f.public_funding_fen,
        out,
    );
    check_negative(
        "finance.total_assets_fen",
        "资产总额",
        f.total_assets_fen,
        out,
    );
    let (service, total) = (f.service_revenue_fen, f.total_revenue_fen);
    if service > total {
        out.error(
            "finance.service_revenue_fen",
            "E006",
            format!(
                "服务收入{}大于营业额{}；服务收入是营业额的一部分，请核对。",
                money_zh(service),
                money_zh(total)
            ),
            format!(
                "service_revenue_fen {} is greater than total_revenue_fen {}; service revenue is \
                 part of total revenue — correct one of the two",
                money_en(service),
                money_en(total)
            ),
        );
    }
    if total > 0 && service >= 0 && i128::from(service) * 2 < i128::from(total) {
        let share = service as f64 * 100.0 / total as f64;
        out.flag(
            "finance.service_revenue_fen",
            "W102",
            format!(
                "服务收入占营业额的{share:.1}%（{}/{}），低于基本条件要求的50%。",
                money_zh(service),
                money_zh(total)
            ),
            format!(
                "service revenue is {share:.1} % of total revenue ({} of {}), below the 50 % \
                 basic condition",
                money_en(service),
                money_en(total)
            ),
        );
    }
}

// === E006 E007 E009: volumes ===

fn check_volumes(volumes: &[v1::FunctionVolume], out: &mut Out) {
    let mut first_seen: HashMap<i32, usize> = HashMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let path = |field: &str| format!("volumes[{i}].{field}");
        if valid_function(v.function).is_none() {
            out.error(
                path("function"),
                "E009",
                format!(
                    "服务功能代码{}无效，应为1至7；请检查服务功能对照。",
                    v.function
                ),
                format!(
                    "function code {} is not one of the seven service functions 1-7; check the \
                     function mapping",
                    v.function
                ),
            );
        } else if let Some(first) = first_seen.get(&v.function) {
            out.error(
                path("function"),
                "E009",
                format!(
                    "{}重复出现（已在volumes[{first}]）；每个服务功能只能填报一次，请合并。",
                    function_zh(v.function)
                ),
                format!(
                    "{} is listed twice (also volumes[{first}]); list each function once with \
                     its totals",
                    function_en(v.function)
                ),
            );
        } else {
            first_seen.insert(v.function, i);
        }
        check_negative(&path("revenue_fen"), "服务收入", v.revenue_fen, out);
        let parts = [
            ("enterprises_served", "服务企业数", v.enterprises_served),
            ("free_services", "免费服务次数", v.free_services),
        ];
        for (field, zh, n) in parts {
            if n > v.services {
                out.error(
                    path(field),
                    "E007",
                    format!(
                        "{}的{zh}（{n}）大于服务次数（{}）；请核对。",
                        function_zh(v.function),
                        v.services
                    ),
                    format!(
                        "{field} ({n}) of {} is greater than its services ({}); it cannot exceed \
                         the number of services — correct the volume",
                        function_en(v.function),
                        v.services
                    ),
                );
            }
        }
    }
}

// === E008 W104: satisfaction ===

fn check_satisfaction(s: &v1::Satisfaction, out: &mut Out) {
    let sum: u128 = [
        s.very_satisfied,
        s.satisfied,
        s.neutral,
        s.dissatisfied,
        s.very_dissatisfied,
    ]
    .into_iter()
    .map(u128::from)
    .sum();
    if sum != u128::from(s.responses) {
        out.error(
            "satisfaction.responses",
            "E008",
            format!(
                "有效问卷数为{}，但五级满意度合计为{sum}（{}+{}+{}+{}+{}）；两者应相等，请核对。",
                s.responses,
                s.very_satisfied,
                s.satisfied,
                s.neutral,
                s.dissatisfied,
                s.very_dissatisfied
            ),
            format!(
                "responses is {} but the five satisfaction counts sum to {sum} \
                 ({}+{}+{}+{}+{}); they must be equal",
                s.responses,
                s.very_satisfied,
                s.satisfied,
                s.neutral,
                s.dissatisfied,
                s.very_dissatisfied
            ),
        );
    }
    if s.responses < MIN_RESPONSES {
        out.flag(
            "satisfaction.responses",
            "W104",
            format!(
                "有效问卷仅{}份，少于{MIN_RESPONSES}份，满意度样本偏小，结果仅供参考。",
                s.responses
            ),
            format!(
                "only {} satisfaction responses (fewer than {MIN_RESPONSES}); the sample is too \
                 small to rely on",
                s.responses
            ),
        );
    }
}

// === W103: disclosures ===

fn check_disclosures(d: &v1::Disclosures, out: &mut Out) {
    let items = [
        ("content", "服务内容", d.content),
        ("process", "服务流程", d.process),
        ("standards", "服务标准", d.standards),
        ("fees", "收费", d.fees),
        ("time", "服务时间", d.time),
    ];
    for (field, zh, public) in items {
        if !public {
            out.flag(
                format!("disclosures.{field}"),
                "W103",
                format!("{zh}未公开，不满足“五公开”基本条件。"),
                format!(
                    "service {field} is not made public, so the five-disclosures basic condition \
                     (五公开) is not met"
                ),
            );
        }
    }
}

// === E006: capacity ===

fn check_capacity(c: &v1::Capacity, out: &mut Out) {
    check_negative(
        "capacity.equipment_value_fen",
        "设备原值",
        c.equipment_value_fen,
        out,
    );
    if !c.floor_area_m2.is_finite() || c.floor_area_m2 < 0.0 {
        out.error(
            "capacity.floor_area_m2",
            "E006",
            format!("服务场地面积为{}，应为非负数（平方米）。", c.floor_area_m2),
            format!(
                "floor_area_m2 is {}; it must be a non-negative number of square metres",
                c.floor_area_m2
            ),
        );
    }
}

// === E006 E008 E009 E011: service records ===

fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !(digits(0..4) && digits(5..7) && digits(8..10))
    {
        return None;
    }
    let month = Month::try_from(s[5..7].parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(s[..4].parse().ok()?, month, s[8..10].parse().ok()?).ok()
}

fn check_record<'r>(
    i: usize,
    r: &'r v1::ServiceRecord,
    period: Option<Period>,
    ids: &mut HashSet<&'r str>,
    out: &mut Out,
) {
    let path = |field: &str| format!("service_records[{i}].{field}");
    let mut e011 = |field: &str, zh: String, en: String| out.error(path(field), "E011", zh, en);
    if r.record_id.is_empty() {
        e011(
            "record_id",
            "服务记录缺少记录编号（record_id）。".to_owned(),
            "record_id is empty; every service record needs the platform's own id".to_owned(),
        );
    } else if !ids.insert(&r.record_id) {
        e011(
            "record_id",
            format!("记录编号{}重复；同一服务只能报送一次。", q(&r.record_id)),
            format!(
                "record_id {} appears more than once; send each service once",
                q(&r.record_id)
            ),
        );
    }
    match (parse_date(&r.date), period) {
        (None, _) => e011(
            "date",
            format!(
                "服务日期{}格式不正确，应为YYYY-MM-DD（北京时间）。",
                q(&r.date)
            ),
            format!(
                "date {} is not a date of the form YYYY-MM-DD (UTC+8)",
                q(&r.date)
            ),
        ),
        (Some(d), Some(p)) if !p.contains(d) => e011(
            "date",
            format!(
                "服务日期{d}不在报告期{p}（{}至{}）内；请将该记录报送到所属报告期。",
                p.first_day(),
                p.last_day()
            ),
            format!(
                "date {d} is outside period {p} ({} to {}); report the record in its own period",
                p.first_day(),
                p.last_day()
            ),
        ),
        _ => {}
    }
    if !pseudonym::is_pseudonym(&r.enterprise) {
        let clear = credit_code::validate(&r.enterprise).is_ok();
        let (zh, en) = if clear {
            (
                "企业标识是明文统一社会信用代码！企业代码不得离开平台，应报送其假名（HMAC-SHA256前16字节的小写十六进制）；请检查代理配置。".to_owned(),
                "enterprise is a credit code in clear! Enterprise codes must never leave the platform; send the pseudonym (lowercase hex of the first 16 bytes of HMAC-SHA256) — check the agent".to_owned(),
            )
        } else {
            (
                format!("企业标识{}不是32位小写十六进制假名。", q(&r.enterprise)),
                format!(
                    "enterprise {} is not a pseudonym of 32 lowercase hex digits",
                    q(&r.enterprise)
                ),
            )
        };
        e011("enterprise", zh, en);
    }
    if v1::EnterpriseSize::try_from(r.enterprise_size).is_err() {
        e011(
            "enterprise_size",
            format!(
                "企业规模代码{}无效（0未知、1微型、2小型、3中型）。",
                r.enterprise_size
            ),
            format!(
                "enterprise_size {} is not a known size (0 unknown, 1 micro, 2 small, 3 medium)",
                r.enterprise_size
            ),
        );
    }
    let industry_ok = r.industry.is_empty()
        || (r.industry.len() == 1 && matches!(r.industry.as_bytes()[0], b'A'..=b'T'));
    if !industry_ok {
        e011(
            "industry",
            format!("行业{}不是国民经济行业分类（GB/T 4754-2017）门类字母A-T；未知时留空。", q(&r.industry)),
            format!("industry {} is not a GB/T 4754-2017 section letter A-T (upper case); leave it empty when unknown", q(&r.industry)),
        );
    }
    if r.enterprise_region.len() != 6 || !r.enterprise_region.bytes().all(|b| b.is_ascii_digit()) {
        e011(
            "enterprise_region",
            format!(
                "企业所在地区{}不是6位行政区划代码。",
                q(&r.enterprise_region)
            ),
            format!(
                "enterprise_region {} is not a 6-digit administrative division code",
                q(&r.enterprise_region)
            ),
        );
    }
    if r.free && r.fee_fen > 0 {
        e011(
            "fee_fen",
            format!("该记录标为免费服务，但收费{}；免费服务收费应为0，否则请取消免费标记。", money_zh(r.fee_fen)),
            format!("the record is marked free but fee_fen is {}; a free service has fee 0 — fix the fee or the flag", money_en(r.fee_fen)),
        );
    }
    check_negative(&path("fee_fen"), "收费金额", r.fee_fen, out);
    if r.satisfaction > 5 {
        out.error(
            path("satisfaction"),
            "E008",
            format!("满意度评分为{}，应为1至5（未调查填0）。", r.satisfaction),
            format!(
                "satisfaction is {}; it must be 1 to 5, or 0 when not surveyed",
                r.satisfaction
            ),
        );
    }
    if valid_function(r.function).is_none() {
        out.error(
            path("function"),
            "E009",
            format!("服务功能代码{}无效，应为1至7。", r.function),
            format!(
                "function code {} is not one of the seven service functions 1-7",
                r.function
            ),
        );
    }
}

fn check_records(report: &v1::Report, period: Option<Period>, out: &mut Out) {
    let mut ids = HashSet::new();
    for (i, r) in report.service_records.iter().enumerate() {
        check_record(i, r, period, &mut ids, out);
    }
    let totals = record_totals(&report.service_records);
    let zero = Totals::default();
    let mut covered = HashSet::new();
    for (i, v) in report.volumes.iter().enumerate() {
        // Unknown and repeated functions are E009; comparing them too would only add noise.
        if valid_function(v.function).is_none() || !covered.insert(v.function) {
            continue;
        }
        let t = totals.get(&v.function).unwrap_or(&zero);
        let pairs: [(&str, &str, i128, i128); 5] = [
            ("services", "服务次数", v.services.into(), t.services.into()),
            (
                "enterprises_served",
                "服务企业数（按企业去重）",
                v.enterprises_served.into(),
                t.enterprises.len() as i128,
            ),
            (
                "free_services",
                "免费服务次数",
                v.free_services.into(),
                t.free.into(),
            ),
            (
                "revenue_fen",
                "服务收入（分）",
                v.revenue_fen.into(),
                t.revenue,
            ),
            (
                "person_times",
                "服务人次",
                v.person_times.into(),
                t.person_times.min(i128::MAX as u128) as i128,
            ),
        ];
        for (field, zh, reported, from_records) in pairs {
            if reported != from_records {
                out.error(
                    format!("volumes[{i}].{field}"),
                    "E011",
                    format!(
                        "{}的{zh}填报为{reported}，但该功能的{}条服务记录合计为{from_records}；报送服务记录时服务量必须等于记录合计，请按记录重新汇总或补报缺失的记录。",
                        function_zh(v.function), t.services
                    ),
                    format!(
                        "volumes[{i}].{field} is {reported} but the {} service records of {} give {from_records}; when service records are sent the volume section must equal their totals — rebuild the volumes from the records or send the missing records",
                        t.services, function_en(v.function)
                    ),
                );
            }
        }
    }
    for (function, t) in totals.iter().filter(|(f, _)| !covered.contains(*f)) {
        out.error(
            "volumes",
            "E011",
            format!(
                "有{}条{}的服务记录，但服务量中没有该功能；请补充该功能的服务量（服务次数{}）。",
                t.services, function_zh(*function), t.services
            ),
            format!(
                "there are {} service records of {} but volumes has no entry for it; add one with their totals (services {})",
                t.services, function_en(*function), t.services
            ),
        );
    }
}

// === W201: change against the previous period ===

fn check_change(report: &v1::Report, previous: u64, out: &mut Out) {
    let total = total_services(report);
    let (t, p) = (u128::from(total), u128::from(previous));
    if p == 0 || (t <= 3 * p && 3 * t >= p) {
        return;
    }
    let ratio = total as f64 / previous as f64;
    let explained = report
        .explanations
        .iter()
        .any(|e| e.rule_id == "W201" && !e.text.trim().is_empty());
    let change_zh = format!(
        "本期服务总次数{total}，上期{previous}，变化为上期的{ratio:.2}倍，超过3倍（增或减）"
    );
    let change_en = format!(
        "total services are {total} against {previous} in the previous period ({ratio:.2}×), a \
         change of more than 3× up or down"
    );
    if explained {
        out.flag(
            "volumes",
            "W201",
            format!("{change_zh}；已附上报说明。"),
            format!("{change_en}; accepted with the explanation given"),
        );
    } else {
        out.error(
            "volumes",
            "W201",
            format!("{change_zh}；请核对服务量，如数据无误，请在上报说明中添加规则W201的说明后重新报送。"),
            format!(
                "{change_en}; check the volumes, and if they are right add an explanations entry \
                 with rule_id \"W201\" saying why, then resubmit"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        other_platform_id, recompute_volumes, sample_platform_id, sample_report,
    };
    use time::macros::datetime;

    /// After every 2026 period has ended, before any locks in these tests.
    fn now() -> OffsetDateTime {
        datetime!(2027-06-01 12:00 +8)
    }

    static CALENDAR: std::sync::LazyLock<Calendar> = std::sync::LazyLock::new(Calendar::default);

    fn run_with<'a>(report: &v1::Report, f: impl FnOnce(&mut CheckContext<'a>)) -> Verdict {
        let mut ctx = CheckContext::new(now(), &CALENDAR);
        f(&mut ctx);
        check(report, &ctx)
    }

    fn run(report: &v1::Report) -> Verdict {
        run_with(report, |_| {})
    }

    fn sample(period: &str) -> v1::Report {
        sample_report(&sample_platform_id(), period)
    }

    /// A sample without service records, so volume edits do not also trip E011.
    fn bare(period: &str) -> v1::Report {
        let mut r = sample(period);
        r.service_records.clear();
        r
    }

    #[track_caller]
    fn assert_has(list: &[v1::FieldViolation], rule: &str, field: &str) {
        let found = list.iter().find(|v| v.rule_id == rule && v.field == field);
        let v = found.unwrap_or_else(|| {
            panic!(
                "expected {rule} at {field:?}, got:\n{}",
                crate::status::describe(list)
            )
        });
        assert!(!v.message_zh.is_empty() && !v.message_en.is_empty());
    }

    #[track_caller]
    fn assert_error(v: &Verdict, rule: &str, field: &str) {
        assert!(!v.is_accepted());
        assert_has(&v.errors, rule, field);
    }

    #[track_caller]
    fn assert_flag(v: &Verdict, rule: &str, field: &str) {
        assert_has(&v.flags, rule, field);
    }

    #[track_caller]
    fn assert_clean(v: &Verdict) {
        assert!(
            v.errors.is_empty() && v.flags.is_empty(),
            "errors:\n{}flags:\n{}",
            crate::status::describe(&v.errors),
            crate::status::describe(&v.flags)
        );
    }

    #[test]
    fn samples_pass_every_rule() {
        for period in ["2026-M05", "2026-M02", "2024-M02", "2026-Q2", "2026-A"] {
            let r = sample(period);
            let v = run(&r);
            assert_clean(&v);
            assert_eq!(v.status_code(), tonic::Code::Ok);
            assert!(v.to_status().is_none());
        }
        let m = sample("2026-M05");
        assert!(m.staff.is_none() && m.capacity.is_none());
        let y = sample("2026-A");
        assert!(
            y.staff.is_some()
                && y.finance.is_some()
                && y.disclosures.is_some()
                && y.capacity.is_some()
        );
        assert_ne!(sample("2026-M05").report_id, m.report_id);
    }

    #[test]
    fn volumes_from_records_totals() {
        let r = sample("2026-M05");
        assert_eq!(r.volumes.len(), 7);
        // Function 1 has records j = 0, 1, 2: one free, two paid at 200 yuan, firms 0, 1, 2.
        let info = &r.volumes[0];
        assert_eq!(info.function, v1::ServiceFunction::Information as i32);
        assert_eq!(
            (
                info.services,
                info.enterprises_served,
                info.free_services,
                info.revenue_fen,
                info.person_times
            ),
            (3, 3, 1, 40_000, 0)
        );
        // Function 7 has 9 records over 4 distinct firms, person-times 10 + … + 18.
        let training = &r.volumes[6];
        assert_eq!((training.services, training.enterprises_served), (9, 4));
        assert_eq!(training.person_times, (10..=18).sum::<u64>());
        assert_eq!(training.free_services, 3);
        assert_eq!(total_services(&r), (3..=9).sum::<u64>());
    }

    #[test]
    fn e001_platform_id_malformed() {
        let mut id = sample_platform_id();
        id.pop();
        id.push(if id.ends_with('0') { '1' } else { '0' });
        let mut r = sample("2026-M05");
        r.platform_id = id;
        let v = run(&r);
        assert_error(&v, "E001", "platform_id");
        assert!(
            v.errors[0].message_en.contains("check character"),
            "{:?}",
            v.errors[0]
        );
        r.platform_id = sample_platform_id().to_lowercase();
        assert_error(&run(&r), "E001", "platform_id");
    }

    #[test]
    fn e002_certificate_identity_differs() {
        let r = sample("2026-M05");
        let other = other_platform_id();
        let v = run_with(&r, |c| c.certificate_platform_id = Some(&other));
        assert_error(&v, "E002", "platform_id");
        assert_eq!(v.errors.len(), 1);
        let own = sample_platform_id();
        assert_clean(&run_with(&r, |c| c.certificate_platform_id = Some(&own)));
    }

    #[test]
    fn e003_period_malformed_or_in_future() {
        for bad in [
            "2026-M13", "2026-M5", "2026-Q0", "26-A", "2026-a", " 2026-A", "",
        ] {
            let mut r = sample("2026-M05");
            r.period = bad.to_owned();
            assert_error(&run(&r), "E003", "period");
        }
        let r = sample("2027-M07");
        let v = run(&r);
        assert_error(&v, "E003", "period");
        assert!(v.errors[0].message_en.contains("has not started"));
        // The current, unfinished period may be reported.
        assert!(run(&sample("2027-M06")).is_accepted());
        assert!(run(&sample("2027-Q2")).is_accepted());
    }

    #[test]
    fn e004_platform_not_active() {
        let r = sample("2026-M05");
        assert_error(
            &run_with(&r, |c| c.platform_active = Some(false)),
            "E004",
            "platform_id",
        );
        assert_clean(&run_with(&r, |c| c.platform_active = Some(true)));
    }

    #[test]
    fn e005_staff_composition() {
        let mut r = sample("2026-Q2");
        let staff = r.staff.as_mut().unwrap();
        staff.total_staff = 20;
        staff.professional_staff = 25;
        let v = run(&r);
        assert_error(&v, "E005", "staff.professional_staff");
        assert!(v.errors[0].message_en.contains("(25)") && v.errors[0].message_en.contains("(20)"));
        assert!(v.errors[0].message_zh.contains("25") && v.errors[0].message_zh.contains("20"));

        for field in [
            "professional_with_college_degree",
            "professional_with_degree_or_mid_title",
            "senior_title_staff",
        ] {
            let mut r = sample("2026-Q2");
            let staff = r.staff.as_mut().unwrap();
            match field {
                "professional_with_college_degree" => {
                    staff.professional_with_college_degree = 21;
                    staff.professional_with_degree_or_mid_title = 21;
                }
                "professional_with_degree_or_mid_title" => {
                    staff.professional_with_degree_or_mid_title = 21
                }
                _ => staff.senior_title_staff = 21,
            }
            assert_error(&run(&r), "E005", &format!("staff.{field}"));
        }

        let mut r = sample("2026-A");
        let staff = r.staff.as_mut().unwrap();
        staff.professional_with_college_degree = 19;
        staff.professional_with_degree_or_mid_title = 18;
        assert_error(
            &run(&r),
            "E005",
            "staff.professional_with_degree_or_mid_title",
        );
    }

    #[test]
    fn e006_money() {
        let mut r = sample("2026-Q2");
        r.finance.as_mut().unwrap().service_revenue_fen = 600_000_000;
        let v = run(&r);
        assert_error(&v, "E006", "finance.service_revenue_fen");
        assert!(
            v.errors[0].message_en.contains("6000000.00 yuan"),
            "{}",
            v.errors[0].message_en
        );

        let mut r = sample("2026-A");
        let f = r.finance.as_mut().unwrap();
        f.public_funding_fen = -1;
        f.total_assets_fen = -5;
        r.capacity.as_mut().unwrap().equipment_value_fen = -100;
        r.capacity.as_mut().unwrap().floor_area_m2 = f64::NAN;
        let v = run(&r);
        assert_error(&v, "E006", "finance.public_funding_fen");
        assert_error(&v, "E006", "finance.total_assets_fen");
        assert_error(&v, "E006", "capacity.equipment_value_fen");
        assert_error(&v, "E006", "capacity.floor_area_m2");
        assert!(v.errors.iter().any(|e| e.message_en.contains("-1.00 yuan")));

        let mut r = bare("2026-M05");
        r.volumes[2].revenue_fen = -300;
        assert_error(&run(&r), "E006", "volumes[2].revenue_fen");

        let mut r = sample("2026-M05");
        r.service_records[1].fee_fen = -50_000;
        recompute_volumes(&mut r);
        let v = run(&r);
        assert_error(&v, "E006", "service_records[1].fee_fen");
        assert_error(&v, "E006", "volumes[0].revenue_fen");
    }

    #[test]
    fn e007_volume_parts_exceed_services() {
        let mut r = bare("2026-M05");
        r.volumes[2].enterprises_served = r.volumes[2].services + 1;
        r.volumes[4].free_services = r.volumes[4].services + 1;
        let v = run(&r);
        assert_error(&v, "E007", "volumes[2].enterprises_served");
        assert_error(&v, "E007", "volumes[4].free_services");
        assert_eq!(v.errors.len(), 2);
        assert!(v.errors[0].message_en.contains("function 3 (quality)"));
    }

    #[test]
    fn e008_satisfaction_counts() {
        let mut r = sample("2026-M05");
        r.satisfaction.as_mut().unwrap().responses = 51;
        let v = run(&r);
        assert_error(&v, "E008", "satisfaction.responses");
        assert!(v.errors[0].message_en.contains("responses is 51 but"));
        assert!(v.errors[0].message_en.contains("sum to 50"));

        let mut r = sample("2026-M05");
        r.service_records[0].satisfaction = 6;
        assert_error(&run(&r), "E008", "service_records[0].satisfaction");
    }

    #[test]
    fn e009_functions() {
        let mut r = bare("2026-M05");
        r.volumes[3].function = r.volumes[1].function;
        r.volumes[5].function = 99;
        r.volumes[6].function = 0;
        let v = run(&r);
        assert_error(&v, "E009", "volumes[3].function");
        assert!(v.errors[0].message_en.contains("also volumes[1]"));
        assert_error(&v, "E009", "volumes[5].function");
        assert_error(&v, "E009", "volumes[6].function");
        assert_eq!(v.errors.len(), 3);

        let mut r = sample("2026-M05");
        r.service_records[4].function = 0;
        recompute_volumes(&mut r);
        let v = run(&r);
        assert_error(&v, "E009", "service_records[4].function");
        assert!(v.errors.iter().all(|e| e.rule_id == "E009"), "{v:?}");
    }

    #[test]
    fn e010_required_sections() {
        let mut r = sample("2026-M05");
        r.volumes.clear();
        r.service_records.clear();
        r.satisfaction = None;
        r.startups = None;
        let v = run(&r);
        for field in ["volumes", "satisfaction", "startups"] {
            assert_error(&v, "E010", field);
        }
        assert_eq!(v.errors.len(), 3);

        for field in ["staff", "finance", "disclosures"] {
            let mut r = sample("2026-Q2");
            match field {
                "staff" => r.staff = None,
                "finance" => r.finance = None,
                _ => r.disclosures = None,
            }
            assert_error(&run(&r), "E010", field);
        }
        let mut r = sample("2026-A");
        r.capacity = None;
        assert_error(&run(&r), "E010", "capacity");
        // Optional sections may be sent and are checked.
        let mut r = sample("2026-M05");
        r.staff = sample("2026-Q2").staff;
        r.staff.as_mut().unwrap().professional_staff = 99;
        assert_error(&run(&r), "E005", "staff.professional_staff");
        // A malformed period still requires the every-period sections.
        let mut r = sample("2026-Q2");
        r.period = "2026-Q9".into();
        r.startups = None;
        assert_error(&run(&r), "E010", "startups");
    }

    #[test]
    fn e011_totals_must_match_records() {
        let mut r = sample("2026-M05");
        r.volumes[2].services += 1;
        r.volumes[2].revenue_fen += 100;
        let v = run(&r);
        assert_error(&v, "E011", "volumes[2].services");
        assert_error(&v, "E011", "volumes[2].revenue_fen");
        assert_eq!(v.errors.len(), 2);
        assert!(v.errors[0].message_en.contains("function 3 (quality)"));

        // Records of a function without a volume entry.
        let mut r = sample("2026-M05");
        r.volumes.remove(3);
        let v = run(&r);
        assert_error(&v, "E011", "volumes");
        assert!(
            v.errors[0].message_en.contains("function 4"),
            "{:?}",
            v.errors[0]
        );

        // A volume entry with numbers but no records.
        let mut r = sample("2026-M05");
        r.service_records.retain(|s| s.function != 3);
        let v = run(&r);
        for field in [
            "services",
            "enterprises_served",
            "free_services",
            "revenue_fen",
        ] {
            assert_error(&v, "E011", &format!("volumes[2].{field}"));
        }
        // A zero entry without records is fine.
        let mut r = sample("2026-M05");
        r.service_records.retain(|s| s.function != 3);
        r.volumes[2] = v1::FunctionVolume {
            function: 3,
            ..Default::default()
        };
        assert_clean(&run(&r));
    }

    #[test]
    fn e011_record_dates() {
        let mut r = sample("2026-M05");
        r.service_records[0].date = "2026-06-01".into();
        r.service_records[1].date = "2026-04-30".into();
        r.service_records[2].date = "2026-5-03".into();
        r.service_records[3].date = "2026-02-30".into();
        r.service_records[4].date = " 2026-05-03".into();
        let v = run(&r);
        for i in 0..5 {
            assert_error(&v, "E011", &format!("service_records[{i}].date"));
        }
        assert_eq!(v.errors.len(), 5);
        assert!(v.errors[0]
            .message_en
            .contains("outside period 2026-M05 (2026-05-01 to 2026-05-31)"));
        // Leap day belongs to 2024-M02.
        let mut r = sample("2024-M02");
        r.service_records[0].date = "2024-02-29".into();
        assert_clean(&run(&r));
    }

    #[test]
    fn e011_record_fields() {
        let mut r = sample("2026-M05");
        r.service_records[0].record_id = String::new();
        r.service_records[2].record_id = r.service_records[1].record_id.clone();
        r.service_records[3].enterprise = sample_platform_id();
        r.service_records[4].enterprise = "ABCDEF0123456789ABCDEF0123456789".into();
        r.service_records[5].enterprise_size = 9;
        r.service_records[6].industry = "U".into();
        r.service_records[7].industry = "c".into();
        r.service_records[8].enterprise_region = "11010".into();
        r.service_records[9].enterprise_region = "11010X".into();
        assert!(r.service_records[10].free);
        r.service_records[10].fee_fen = 100;
        recompute_volumes(&mut r);
        let v = run(&r);
        assert_error(&v, "E011", "service_records[0].record_id");
        assert_error(&v, "E011", "service_records[2].record_id");
        assert_error(&v, "E011", "service_records[3].enterprise");
        assert_error(&v, "E011", "service_records[4].enterprise");
        assert_error(&v, "E011", "service_records[5].enterprise_size");
        assert_error(&v, "E011", "service_records[6].industry");
        assert_error(&v, "E011", "service_records[7].industry");
        assert_error(&v, "E011", "service_records[8].enterprise_region");
        assert_error(&v, "E011", "service_records[9].enterprise_region");
        assert_error(&v, "E011", "service_records[10].fee_fen");
        assert_eq!(v.errors.len(), 10, "{}", crate::status::describe(&v.errors));
        let clear = v
            .errors
            .iter()
            .find(|e| e.field == "service_records[3].enterprise")
            .unwrap();
        assert!(clear.message_en.contains("in clear"));
    }

    #[test]
    fn e012_locked_period() {
        let r = sample("2026-M05");
        let lock = datetime!(2026-09-08 23:59:59 +8);
        let v = run_with(&r, |c| c.lock = Some(lock));
        assert_error(&v, "E012", "period");
        assert_eq!(v.status_code(), tonic::Code::FailedPrecondition);
        assert!(v.errors[0].message_en.contains("2026-09-08 23:59:59"));
        let status = v.to_status().unwrap();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(crate::status::violations(&status), v.errors);
        // Locked exactly at the lock instant, not before.
        assert!(!run_with(&r, |c| {
            c.lock = Some(lock);
            c.now = lock - time::Duration::seconds(1)
        })
        .errors
        .iter()
        .any(|e| e.rule_id == "E012"));
        assert_error(
            &run_with(&r, |c| {
                c.lock = Some(lock);
                c.now = lock
            }),
            "E012",
            "period",
        );
        // Together with another error it is INVALID_ARGUMENT.
        let mut r = r;
        r.satisfaction.as_mut().unwrap().responses += 1;
        let v = run_with(&r, |c| c.lock = Some(lock));
        assert_eq!(v.status_code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn e013_envelope() {
        let mut r = sample("2026-M05");
        r.form_version = "2".into();
        assert_error(&run(&r), "E013", "form_version");
        let r = sample("2026-M05");
        let v = run_with(&r, |c| {
            c.encoded_len = 1001;
            c.max_report_bytes = 1000;
        });
        assert_error(&v, "E013", "");
        assert!(v.errors[0].message_en.contains("1001 bytes"));
        assert!(run_with(&r, |c| {
            c.encoded_len = 1000;
            c.max_report_bytes = 1000;
        })
        .is_accepted());
        for bad in [
            "not-a-uuid",
            "",
            "00000000-0000-0000-0000-000000000000",
            "1B4E28BA-2FA1-11D2-883F-0016D3CCA427",
            "1b4e28ba2fa111d2883f0016d3cca427",
            "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
        ] {
            let mut r = sample("2026-M05");
            r.report_id = bad.into();
            assert_error(&run(&r), "E013", "report_id");
        }
        let mut r = sample("2026-M05");
        r.generated_at = None;
        assert_error(&run(&r), "E013", "generated_at");
    }

    #[test]
    fn w101_degree_share() {
        let mut r = sample("2026-Q2");
        let staff = r.staff.as_mut().unwrap();
        staff.professional_with_college_degree = 9;
        staff.professional_with_degree_or_mid_title = 9;
        let v = run(&r);
        assert!(v.is_accepted());
        assert_flag(&v, "W101", "staff.professional_with_degree_or_mid_title");
        assert!(
            v.flags[0].message_en.contains("45.0 %"),
            "{}",
            v.flags[0].message_en
        );
        // Exactly half meets the condition.
        r.staff
            .as_mut()
            .unwrap()
            .professional_with_degree_or_mid_title = 10;
        assert_clean(&run(&r));
        // No professional staff at all.
        let staff = r.staff.as_mut().unwrap();
        staff.professional_staff = 0;
        staff.professional_with_college_degree = 0;
        staff.professional_with_degree_or_mid_title = 0;
        staff.senior_title_staff = 0;
        let v = run(&r);
        assert!(v.is_accepted());
        assert_flag(&v, "W101", "staff.professional_staff");
    }

    #[test]
    fn w102_service_revenue_share() {
        let mut r = sample("2026-Q2");
        r.finance.as_mut().unwrap().service_revenue_fen = 249_999_999;
        let v = run(&r);
        assert!(v.is_accepted());
        assert_flag(&v, "W102", "finance.service_revenue_fen");
        r.finance.as_mut().unwrap().service_revenue_fen = 250_000_000;
        assert_clean(&run(&r));
        let f = r.finance.as_mut().unwrap();
        f.total_revenue_fen = 0;
        f.service_revenue_fen = 0;
        assert_clean(&run(&r));
    }

    #[test]
    fn w103_disclosures() {
        let mut r = sample("2026-A");
        let d = r.disclosures.as_mut().unwrap();
        d.fees = false;
        d.time = false;
        let v = run(&r);
        assert!(v.is_accepted());
        assert_flag(&v, "W103", "disclosures.fees");
        assert_flag(&v, "W103", "disclosures.time");
        assert_eq!(v.flags.len(), 2);
    }

    #[test]
    fn w104_small_sample() {
        let mut r = sample("2026-M05");
        let s = r.satisfaction.as_mut().unwrap();
        s.very_satisfied = 9;
        s.responses = 29;
        let v = run(&r);
        assert!(v.is_accepted());
        assert_flag(&v, "W104", "satisfaction.responses");
        let s = r.satisfaction.as_mut().unwrap();
        s.very_satisfied = 10;
        s.responses = 30;
        assert_clean(&run(&r));
    }

    #[test]
    fn w201_large_change_needs_an_explanation() {
        let mut r = sample("2026-M05");
        let total = total_services(&r);
        assert_eq!(total, 42);
        let with_previous =
            |r: &v1::Report, p: u64| run_with(r, |c| c.previous_total_services = Some(p));
        // 42 > 3 × 13: rejected without an explanation.
        let v = with_previous(&r, 13);
        assert_error(&v, "W201", "volumes");
        assert_eq!(v.status_code(), tonic::Code::InvalidArgument);
        assert!(v.errors[0].message_en.contains("42 against 13"));
        // Exactly 3× is not more than 3×.
        assert_clean(&with_previous(&r, 14));
        assert_clean(&with_previous(&r, 126));
        assert_error(&with_previous(&r, 127), "W201", "volumes");
        // No baseline.
        assert_clean(&with_previous(&r, 0));
        // A blank explanation or another rule's does not count.
        r.explanations.push(v1::Explanation {
            rule_id: "W201".into(),
            text: "  ".into(),
        });
        r.explanations.push(v1::Explanation {
            rule_id: "W101".into(),
            text: "new lab".into(),
        });
        assert_error(&with_previous(&r, 13), "W201", "volumes");
        r.explanations.push(v1::Explanation {
            rule_id: "W201".into(),
            text: "opened a second service centre".into(),
        });
        let v = with_previous(&r, 13);
        assert!(v.is_accepted());
        assert_flag(&v, "W201", "volumes");
        // A fall to zero.
        let mut r = bare("2026-M05");
        for vol in &mut r.volumes {
            *vol = v1::FunctionVolume {
                function: vol.function,
                ..Default::default()
            };
        }
        assert_error(&with_previous(&r, 5), "W201", "volumes");
    }

    #[test]
    fn collects_every_violation_sorted_by_rule() {
        let mut r = sample("2026-Q2");
        r.platform_id = "bad".into();
        r.form_version = "0".into();
        r.staff.as_mut().unwrap().professional_staff = 99;
        r.satisfaction.as_mut().unwrap().responses = 7;
        r.disclosures = None;
        r.service_records[0].date = "2020-01-01".into();
        r.volumes[0].free_services = 100;
        let v = run(&r);
        let rules: Vec<&str> = v.errors.iter().map(|e| e.rule_id.as_str()).collect();
        assert_eq!(
            rules,
            ["E001", "E005", "E007", "E008", "E010", "E011", "E011", "E013"]
        );
        assert_flag(&v, "W104", "satisfaction.responses");
        assert_eq!(
            v.rule_ids(),
            ["E001", "E005", "E007", "E008", "E010", "E011", "E013", "W101", "W104"]
        );
        let status = v.to_status().unwrap();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        // Eight long bilingual violations pass the 7 KiB status budget: the first ones and the
        // total travel.
        let carried = crate::status::violations(&status);
        assert!(
            carried.len() >= 4 && carried.len() < v.errors.len(),
            "{carried:?}"
        );
        assert_eq!(carried[..], v.errors[..carried.len()]);
        assert_eq!(crate::status::violation_total(&status), v.errors.len());
    }

    #[test]
    fn user_text_in_messages_is_clipped() {
        let mut r = sample("2026-M05");
        r.period = "x".repeat(100_000);
        r.service_records[0].date = "y".repeat(100_000);
        let v = run(&r);
        assert!(v
            .errors
            .iter()
            .all(|e| e.message_en.len() < 1000 && e.message_zh.len() < 1000));
    }

    #[test]
    fn function_names() {
        assert_eq!(
            function_name(v1::ServiceFunction::Quality),
            Some(("质量管理", "quality"))
        );
        assert_eq!(function_name(v1::ServiceFunction::Unspecified), None);
    }
}
