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

use catalogue::DEFAULT_KEYS;

mod catalogue;

pub use catalogue::{AnalyticSpec, ViewSpec, CATALOGUE, CHARTS};

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
                "tier" => {
                    analytic.filters.contains(&"tier")
                        && matches!(value.as_str(), "all" | "basic" | "national")
                }
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
                    "tier" if analytic.filters.contains(&"tier") => "all, basic, national".into(),
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
mod tests;
