//! The dashboard definitions (`dashboards/definitions/*.toml`): one file per dashboard, each
//! panel naming its title in Chinese and English, the API analytic and view it reads, the chart
//! that draws it, the metric, its default filters and its order. The hub loads and checks them
//! at start ([`Dashboards::load`]); any error names the file and the line, and the hub does not
//! start. The front end draws every page from `GET /api/v1/dashboards`, so a new panel or a
//! new dashboard is a new TOML table, not a code change.
//!
//! What is checked beyond the TOML syntax and the known keys: ids unique and made of `a-z0-9-`,
//! titles present in both languages, the analytic known, the view one of that analytic's, the
//! metric one of that view's columns, the chart type known and able to draw that view (a map
//! needs rows keyed by region), the default filters known with values the analytic accepts.
//!
//! The catalogue of analytics ([`CATALOGUE`]) mirrors the JSON API: it is the one list the
//! front end's adapters implement (`dashboards/src/data/`), checked against it by the browser
//! test, which opens every panel.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// One view of an analytic: the table the panel's chart and data table show.
#[derive(Debug, Clone, Copy)]
pub struct ViewSpec {
    /// The view's name (`regions`, `rows` …).
    pub name: &'static str,
    /// Numeric columns a chart can plot.
    pub metrics: &'static [&'static str],
    /// The rows are keyed by region code (a map can draw them); `None`: only with `by=region`.
    pub region_keyed: Option<bool>,
}

/// One analytic of the JSON API, as the dashboards use it.
#[derive(Debug, Clone, Copy)]
pub struct AnalyticSpec {
    /// Name in the definitions.
    pub name: &'static str,
    /// Its views.
    pub views: &'static [ViewSpec],
    /// Accepted values of `by`, empty when the analytic has no `by`.
    pub by: &'static [&'static str],
    /// Period kinds it reads.
    pub period_kinds: &'static [&'static str],
    /// Filter parameters it takes (besides the period range).
    pub filters: &'static [&'static str],
}

const ALL_KINDS: &[&str] = &["month", "quarter", "year"];
const REGIONAL: Option<bool> = Some(true);

/// Every analytic a panel can read.
pub const CATALOGUE: &[AnalyticSpec] = &[
    AnalyticSpec {
        name: "layout",
        views: &[
            ViewSpec {
                name: "regions",
                metrics: &[
                    "platforms_per_10k_smes",
                    "active_platforms",
                    "smes",
                    "enterprises_reached",
                    "reach",
                    "missing_functions",
                ],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "priorities",
                metrics: &["priority", "density_gap", "missing_functions", "reach_gap"],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "function_gaps",
                metrics: &["regions_without_provider"],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "headline",
                metrics: &["value"],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: &["month"],
        filters: &["region", "level"],
    },
    AnalyticSpec {
        name: "volume",
        views: &[ViewSpec {
            name: "rows",
            metrics: &[
                "services",
                "free_services",
                "paid_services",
                "free_share",
                "revenue_yuan",
                "person_times",
            ],
            region_keyed: None,
        }],
        by: &[
            "function",
            "region",
            "period",
            "industry",
            "enterprise_size",
        ],
        period_kinds: ALL_KINDS,
        filters: &["region", "function", "industry", "enterprise_size", "level"],
    },
    AnalyticSpec {
        name: "satisfaction",
        views: &[
            ViewSpec {
                name: "rows",
                metrics: &["rate", "mean_score", "responses"],
                region_keyed: None,
            },
            ViewSpec {
                name: "headline",
                metrics: &["value"],
                region_keyed: Some(false),
            },
        ],
        by: &["region", "period"],
        period_kinds: ALL_KINDS,
        filters: &["region", "level"],
    },
    AnalyticSpec {
        name: "staff",
        views: &[
            ViewSpec {
                name: "conditions",
                metrics: &[
                    "w101_share",
                    "w102_share",
                    "w103_share",
                    "degree_share",
                    "service_revenue_share",
                ],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "distribution",
                metrics: &["reports"],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: &["quarter", "year"],
        filters: &["region", "level"],
    },
    AnalyticSpec {
        name: "completeness",
        views: &[
            ViewSpec {
                name: "regions",
                metrics: &["rate", "on_time_rate", "expected", "received", "on_time"],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "missing",
                metrics: &[],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "headline",
                metrics: &["value"],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: ALL_KINDS,
        filters: &["region"],
    },
    AnalyticSpec {
        name: "platforms",
        views: &[ViewSpec {
            name: "list",
            metrics: &[],
            region_keyed: Some(false),
        }],
        by: &[],
        period_kinds: ALL_KINDS,
        filters: &["region"],
    },
    AnalyticSpec {
        name: "history",
        views: &[ViewSpec {
            name: "periods",
            metrics: &[
                "services",
                "free_services",
                "satisfaction_rate",
                "degree_share",
                "service_revenue_share",
            ],
            region_keyed: Some(false),
        }],
        by: &[],
        period_kinds: ALL_KINDS,
        filters: &["platform"],
    },
];

/// Chart types and whether they need a metric.
pub const CHARTS: &[(&str, bool)] = &[
    ("map", true),
    ("bar", true),
    ("hbar", true),
    ("line", true),
    ("stacked_bar", false),
    ("pie", true),
    ("headline", false),
    ("table", false),
];

/// Default-filter keys a panel may set.
const DEFAULT_KEYS: &[&str] = &[
    "by",
    "period_kind",
    "function",
    "industry",
    "enterprise_size",
    "level",
];

// === file format ===

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    id: Spanned<String>,
    order: Spanned<u32>,
    title_zh: Spanned<String>,
    title_en: Spanned<String>,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
    /// Only for these roles (`planner`, `coordinator`, `admin`); empty = everyone.
    #[serde(default)]
    roles: Option<Spanned<Vec<String>>>,
    #[serde(default, rename = "panel")]
    panels: Vec<PanelFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PanelFile {
    id: Spanned<String>,
    order: Spanned<u32>,
    title_zh: Spanned<String>,
    title_en: Spanned<String>,
    #[serde(default)]
    note_zh: String,
    #[serde(default)]
    note_en: String,
    analytic: Spanned<String>,
    view: Spanned<String>,
    chart: Spanned<String>,
    #[serde(default)]
    metric: Option<Spanned<String>>,
    /// `half` (default) or `full` width.
    #[serde(default)]
    width: Option<Spanned<String>>,
    #[serde(default)]
    defaults: Option<Spanned<BTreeMap<String, String>>>,
}

// === checked definitions ===

/// A checked panel, as the front end receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Panel {
    /// Unique within its dashboard.
    pub id: String,
    /// Position on the page.
    pub order: u32,
    /// Title in Chinese.
    pub title_zh: String,
    /// Title in English.
    pub title_en: String,
    /// Note under the chart (Chinese).
    pub note_zh: String,
    /// Note under the chart (English).
    pub note_en: String,
    /// The analytic of [`CATALOGUE`].
    pub analytic: String,
    /// Its view.
    pub view: String,
    /// The chart type of [`CHARTS`].
    pub chart: String,
    /// Column plotted, when the chart plots one.
    pub metric: Option<String>,
    /// `half` or `full`.
    pub width: String,
    /// Default filters (`by`, `period_kind`, `function` …).
    pub defaults: BTreeMap<String, String>,
}

/// A checked dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// Unique id, used in the page address.
    pub id: String,
    /// Position in the navigation.
    pub order: u32,
    /// Title in Chinese.
    pub title_zh: String,
    /// Title in English.
    pub title_en: String,
    /// Description (Chinese).
    pub description_zh: String,
    /// Description (English).
    pub description_en: String,
    /// Roles that see it; empty = everyone.
    pub roles: Vec<String>,
    /// Panels in order.
    pub panels: Vec<Panel>,
}

/// Every dashboard, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dashboards {
    /// In navigation order.
    pub dashboards: Vec<Dashboard>,
}

/// A definition that cannot be used: the file, the line and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The folder or a file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not usable.
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// The folder holds no definition.
    #[error("{}: no dashboard definitions (*.toml) in this folder", .0.display())]
    Empty(PathBuf),
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> DefinitionError {
        DefinitionError::Invalid {
            path: self.path.to_owned(),
            line: line_of(self.text, span),
            message: message.into(),
        }
    }

    fn id(&self, id: &Spanned<String>, what: &str) -> Result<String, DefinitionError> {
        let v = id.get_ref();
        if v.is_empty()
            || !v
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(self.err(
                id.span(),
                format!("{what} id {v:?}: use lower-case letters, digits and '-'"),
            ));
        }
        Ok(v.clone())
    }

    fn text(&self, t: &Spanned<String>, key: &str) -> Result<String, DefinitionError> {
        if t.get_ref().trim().is_empty() {
            return Err(self.err(t.span(), format!("{key} is empty: give the title")));
        }
        Ok(t.get_ref().clone())
    }

    fn panel(&self, p: PanelFile) -> Result<Panel, DefinitionError> {
        let id = self.id(&p.id, "panel")?;
        let analytic_name = p.analytic.get_ref();
        let analytic = CATALOGUE
            .iter()
            .find(|a| a.name == analytic_name)
            .ok_or_else(|| {
                let known: Vec<_> = CATALOGUE.iter().map(|a| a.name).collect();
                self.err(
                    p.analytic.span(),
                    format!(
                        "panel {id}: unknown analytic {analytic_name:?}; known: {}",
                        known.join(", ")
                    ),
                )
            })?;
        let view = analytic
            .views
            .iter()
            .find(|v| v.name == p.view.get_ref())
            .ok_or_else(|| {
                let known: Vec<_> = analytic.views.iter().map(|v| v.name).collect();
                self.err(
                    p.view.span(),
                    format!(
                        "panel {id}: analytic {} has no view {:?}; its views: {}",
                        analytic.name,
                        p.view.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
        let chart_name = p.chart.get_ref();
        let Some(&(_, needs_metric)) = CHARTS.iter().find(|(c, _)| c == chart_name) else {
            let known: Vec<_> = CHARTS.iter().map(|(c, _)| *c).collect();
            return Err(self.err(
                p.chart.span(),
                format!(
                    "panel {id}: unknown chart {chart_name:?}; known: {}",
                    known.join(", ")
                ),
            ));
        };
        let metric = match (&p.metric, needs_metric) {
            (None, true) => {
                return Err(self.err(
                    p.chart.span(),
                    format!(
                        "panel {id}: a {chart_name} chart needs a metric; one of: {}",
                        view.metrics.join(", ")
                    ),
                ))
            }
            (Some(m), _) if !view.metrics.contains(&m.get_ref().as_str()) => {
                return Err(self.err(
                    m.span(),
                    format!(
                        "panel {id}: view {}.{} has no metric {:?}; its metrics: {}",
                        analytic.name,
                        view.name,
                        m.get_ref(),
                        if view.metrics.is_empty() {
                            "none (use chart = \"table\")".to_owned()
                        } else {
                            view.metrics.join(", ")
                        }
                    ),
                ))
            }
            (m, _) => m.as_ref().map(|m| m.get_ref().clone()),
        };
        let empty = BTreeMap::new();
        let defaults_span = p.defaults.as_ref().map(|d| d.span()).unwrap_or(p.id.span());
        let defaults = p.defaults.as_ref().map(|d| d.get_ref()).unwrap_or(&empty);
        for (key, value) in defaults {
            let ok = match key.as_str() {
                "by" => analytic.by.contains(&value.as_str()),
                "period_kind" => analytic.period_kinds.contains(&value.as_str()),
                k if DEFAULT_KEYS.contains(&k) => analytic.filters.contains(&k),
                _ => {
                    return Err(self.err(
                        defaults_span.clone(),
                        format!(
                            "panel {id}: unknown default filter {key:?}; known: {}",
                            DEFAULT_KEYS.join(", ")
                        ),
                    ))
                }
            };
            if !ok {
                let accepted = match key.as_str() {
                    "by" => analytic.by.join(", "),
                    "period_kind" => analytic.period_kinds.join(", "),
                    _ => format!("(the analytic takes: {})", analytic.filters.join(", ")),
                };
                return Err(self.err(
                    defaults_span.clone(),
                    format!(
                        "panel {id}: {key} = {value:?} does not apply to analytic {}; accepted: {accepted}",
                        analytic.name
                    ),
                ));
            }
        }
        if chart_name == "map" {
            let regional = view
                .region_keyed
                .unwrap_or(defaults.get("by").map(String::as_str) == Some("region"));
            if !regional {
                return Err(self.err(
                    p.chart.span(),
                    format!(
                        "panel {id}: a map needs rows keyed by region; view {}.{} is not (set defaults.by = \"region\" where the analytic has it)",
                        analytic.name, view.name
                    ),
                ));
            }
        }
        let width = match &p.width {
            None => "half".to_owned(),
            Some(w) if matches!(w.get_ref().as_str(), "half" | "full") => w.get_ref().clone(),
            Some(w) => {
                return Err(self.err(
                    w.span(),
                    format!(
                        "panel {id}: width {:?}: use \"half\" or \"full\"",
                        w.get_ref()
                    ),
                ))
            }
        };
        Ok(Panel {
            id,
            order: *p.order.get_ref(),
            title_zh: self.text(&p.title_zh, "title_zh")?,
            title_en: self.text(&p.title_en, "title_en")?,
            note_zh: p.note_zh,
            note_en: p.note_en,
            analytic: analytic.name.to_owned(),
            view: view.name.to_owned(),
            chart: chart_name.clone(),
            metric,
            width,
            defaults: defaults.clone(),
        })
    }

    fn dashboard(&self) -> Result<(Dashboard, Range<usize>, Range<usize>), DefinitionError> {
        let file: DashboardFile = toml::from_str(self.text).map_err(|e| {
            let line = e.span().map(|s| line_of(self.text, s)).unwrap_or(1);
            DefinitionError::Invalid {
                path: self.path.to_owned(),
                line,
                message: e.message().to_owned(),
            }
        })?;
        let id = self.id(&file.id, "dashboard")?;
        let roles = file.roles.map(|r| (r.span(), r.into_inner()));
        for role in roles.iter().flat_map(|(_, r)| r) {
            if !matches!(role.as_str(), "planner" | "coordinator" | "admin") {
                return Err(self.err(
                    roles.as_ref().map(|(s, _)| s.clone()).unwrap_or_default(),
                    format!("role {role:?}: use planner, coordinator or admin"),
                ));
            }
        }
        let mut panels = Vec::new();
        let mut ids = HashSet::new();
        let mut orders = HashSet::new();
        for p in file.panels {
            let (id_span, order_span) = (p.id.span(), p.order.span());
            let panel = self.panel(p)?;
            if !ids.insert(panel.id.clone()) {
                return Err(self.err(
                    id_span,
                    format!("panel id {:?} is used twice in this dashboard", panel.id),
                ));
            }
            if !orders.insert(panel.order) {
                return Err(self.err(
                    order_span,
                    format!(
                        "panel {}: order {} is used twice in this dashboard",
                        panel.id, panel.order
                    ),
                ));
            }
            panels.push(panel);
        }
        if panels.is_empty() {
            return Err(self.err(file.id.span(), format!("dashboard {id} has no [[panel]]")));
        }
        panels.sort_by_key(|p| p.order);
        let dashboard = Dashboard {
            id,
            order: *file.order.get_ref(),
            title_zh: self.text(&file.title_zh, "title_zh")?,
            title_en: self.text(&file.title_en, "title_en")?,
            description_zh: file.description_zh,
            description_en: file.description_en,
            roles: roles.map(|(_, r)| r).unwrap_or_default(),
            panels,
        };
        Ok((dashboard, file.id.span(), file.order.span()))
    }
}

// === impl Dashboards ===

impl Dashboards {
    /// Checks one definition file's text.
    pub fn parse_file(path: &Path, text: &str) -> Result<Dashboard, DefinitionError> {
        Checker { path, text }.dashboard().map(|(d, _, _)| d)
    }

    /// Loads and checks every `*.toml` of `dir` (in name order); ids and orders unique across
    /// files.
    pub fn load(dir: &Path) -> Result<Dashboards, DefinitionError> {
        let read = |source| DefinitionError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(DefinitionError::Empty(dir.to_owned()));
        }
        let mut dashboards = Vec::new();
        let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut orders: BTreeMap<u32, PathBuf> = BTreeMap::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| DefinitionError::Read {
                path: path.clone(),
                source,
            })?;
            let checker = Checker {
                path: &path,
                text: &text,
            };
            let (d, id_span, order_span) = checker.dashboard()?;
            if let Some(other) = ids.insert(d.id.clone(), path.clone()) {
                return Err(checker.err(
                    id_span,
                    format!(
                        "dashboard id {:?} is already used by {}",
                        d.id,
                        other.display()
                    ),
                ));
            }
            if let Some(other) = orders.insert(d.order, path.clone()) {
                return Err(checker.err(
                    order_span,
                    format!(
                        "dashboard order {} is already used by {}",
                        d.order,
                        other.display()
                    ),
                ));
            }
            dashboards.push(d);
        }
        dashboards.sort_by_key(|d| d.order);
        Ok(Dashboards { dashboards })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"id = "overview"
order = 1
title_zh = "全国概览"
title_en = "National overview"

[[panel]]
id = "map"
order = 1
title_zh = "每万家中小企业平台数"
title_en = "Platforms per 10 000 SMEs"
analytic = "layout"
view = "regions"
chart = "map"
metric = "platforms_per_10k_smes"
"#;

    fn error(text: &str) -> (usize, String) {
        match Dashboards::parse_file(Path::new("defs/x.toml"), text) {
            Err(DefinitionError::Invalid {
                line,
                message,
                path,
            }) => {
                assert_eq!(path, Path::new("defs/x.toml"));
                (line, message)
            }
            other => panic!("expected an invalid definition, got {other:?}"),
        }
    }

    #[test]
    fn a_good_definition_loads() {
        let d = Dashboards::parse_file(Path::new("x.toml"), GOOD).unwrap();
        assert_eq!(d.id, "overview");
        assert_eq!(d.panels.len(), 1);
        assert_eq!(d.panels[0].width, "half");
        assert_eq!(
            d.panels[0].metric.as_deref(),
            Some("platforms_per_10k_smes")
        );
    }

    #[test]
    fn syntax_and_unknown_keys_name_the_line() {
        let (line, msg) = error(&GOOD.replace("chart = \"map\"", "chart = map"));
        assert_eq!(line, 13, "{msg}");
        let (line, msg) = error(&GOOD.replace("view = \"regions\"", "colour = \"red\""));
        assert_eq!(line, 12, "{msg}");
        assert!(msg.contains("colour"), "{msg}");
    }

    #[test]
    fn unknown_analytic_view_metric_and_chart_are_named_with_their_line() {
        let (line, msg) = error(&GOOD.replace("\"layout\"", "\"weather\""));
        assert_eq!(line, 11);
        assert!(msg.contains("unknown analytic \"weather\""), "{msg}");
        assert!(msg.contains("layout, volume"), "{msg}");
        let (line, msg) = error(&GOOD.replace("\"regions\"", "\"cities\""));
        assert_eq!(line, 12);
        assert!(msg.contains("no view \"cities\""), "{msg}");
        let (line, msg) = error(&GOOD.replace("\"platforms_per_10k_smes\"", "\"smiles\""));
        assert_eq!(line, 14);
        assert!(msg.contains("no metric \"smiles\""), "{msg}");
        let (line, msg) = error(&GOOD.replace("\"map\"\n", "\"radar\"\n"));
        assert_eq!(line, 13);
        assert!(msg.contains("unknown chart \"radar\""), "{msg}");
    }

    #[test]
    fn a_map_needs_regions_and_a_chart_its_metric() {
        let text = GOOD
            .replace("\"layout\"", "\"volume\"")
            .replace("\"regions\"", "\"rows\"")
            .replace("\"platforms_per_10k_smes\"", "\"services\"");
        let (line, msg) = error(&text);
        assert_eq!(line, 13);
        assert!(msg.contains("a map needs rows keyed by region"), "{msg}");
        let ok = format!("{text}[panel.defaults]\nby = \"region\"\n");
        Dashboards::parse_file(Path::new("x.toml"), &ok).unwrap();
        let (line, msg) = error(&GOOD.replace("metric = \"platforms_per_10k_smes\"\n", ""));
        assert_eq!(line, 13);
        assert!(msg.contains("needs a metric"), "{msg}");
    }

    #[test]
    fn default_filters_must_apply_to_the_analytic() {
        let (line, msg) = error(&format!("{GOOD}[panel.defaults]\nby = \"region\"\n"));
        assert_eq!(line, 15);
        assert!(msg.contains("by = \"region\" does not apply"), "{msg}");
        let (_, msg) = error(&format!(
            "{GOOD}[panel.defaults]\nperiod_kind = \"quarter\"\n"
        ));
        assert!(msg.contains("accepted: month"), "{msg}");
        let (_, msg) = error(&format!("{GOOD}[panel.defaults]\nfunction = \"3\"\n"));
        assert!(msg.contains("region, level"), "{msg}");
        let (_, msg) = error(&format!("{GOOD}[panel.defaults]\nweather = \"sunny\"\n"));
        assert!(msg.contains("unknown default filter \"weather\""), "{msg}");
    }

    #[test]
    fn ids_titles_and_orders() {
        let (line, msg) = error(&GOOD.replace("id = \"map\"", "id = \"Map One\""));
        assert_eq!(line, 7);
        assert!(msg.contains("lower-case"), "{msg}");
        let (line, msg) =
            error(&GOOD.replace("title_en = \"National overview\"", "title_en = \" \""));
        assert_eq!(line, 4);
        assert!(msg.contains("title_en is empty"), "{msg}");
        let twice = format!("{GOOD}\n{}", &GOOD[GOOD.find("[[panel]]").unwrap()..]);
        let (line, msg) = error(&twice);
        assert_eq!(line, 17);
        assert!(msg.contains("used twice"), "{msg}");
        let (_, msg) = error(&GOOD.replace("roles", "x").replace(
            "order = 1\ntitle_zh = \"全国",
            "order = 1\nroles = [\"mayor\"]\ntitle_zh = \"全国",
        ));
        assert!(msg.contains("role \"mayor\""), "{msg}");
        let (line, msg) = error(&GOOD[..GOOD.find("[[panel]]").unwrap()]);
        assert_eq!(line, 1);
        assert!(msg.contains("no [[panel]]"), "{msg}");
    }

    #[test]
    fn a_folder_names_the_file_of_a_duplicate_dashboard() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Dashboards::load(dir.path()),
            Err(DefinitionError::Empty(_))
        ));
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::write(
            dir.path().join("b.toml"),
            GOOD.replace(
                "order = 1\ntitle_zh = \"全国",
                "order = 2\ntitle_zh = \"全国",
            ),
        )
        .unwrap();
        let err = Dashboards::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("b.toml:1:"), "{err}");
        assert!(err.contains("already used by"), "{err}");
        assert!(err.contains("a.toml"), "{err}");
    }

    #[test]
    fn the_shipped_definitions_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/definitions");
        let d = Dashboards::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = d.dashboards.iter().map(|d| d.id.as_str()).collect();
        for id in [
            "overview",
            "layout",
            "volume",
            "staff",
            "satisfaction",
            "completeness",
            "platform",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
    }
}
