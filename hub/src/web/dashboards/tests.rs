//! The definition errors a person sees: file, line and what to write instead.
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
    let (line, msg) = error(&GOOD.replace("title_en = \"National overview\"", "title_en = \" \""));
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
        "demo",
        "platform",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
}
