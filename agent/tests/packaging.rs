//! The packaging stays consistent: the `.deb` metadata names files that exist, the systemd unit
//! runs the service the way `sme-agent run` expects with its hardening in place, and the
//! maintainer scripts keep cargo-deb's `#DEBHELPER#` hook, and the man pages are those of the
//! current command line. Building, lintian, installing and purging the `.deb` itself is
//! `scripts/packaging-check.sh` (run by `scripts/test.sh`).

use std::collections::HashMap;
use std::path::Path;

const UNIT: &str = include_str!("../packaging/sme-agent.service");

/// `key → values` of the unit's `[Service]` and `[Unit]` sections (keys may repeat).
fn unit_keys() -> HashMap<String, Vec<String>> {
    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') || line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').expect("key=value");
        keys.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    keys
}

fn deb_metadata() -> toml::Value {
    let manifest: toml::Value =
        toml::from_str(include_str!("../Cargo.toml")).expect("Cargo.toml parses");
    manifest["package"]["metadata"]["deb"].clone()
}

#[test]
fn the_unit_runs_the_service_hardened() {
    let keys = unit_keys();
    let one = |k: &str| -> &str {
        keys.get(k)
            .and_then(|v| v.first())
            .unwrap_or_else(|| panic!("{k} missing from the unit"))
    };
    assert_eq!(
        one("ExecStart"),
        "/usr/bin/sme-agent --config /etc/sme-agent/agent.toml run"
    );
    assert_eq!(one("User"), "sme-agent");
    assert_eq!(one("StateDirectory"), "sme-agent");
    assert_eq!(one("KillSignal"), "SIGTERM");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    // Starts only once enrolled, under the data dir of the example configuration.
    let cfg = sme_agent::config::AgentConfig::from_sources(
        Some(include_str!("../agent.example.toml")),
        None,
        &|_| None,
    )
    .unwrap();
    let identity = sme_agent::identity::Identity::dir(&cfg.data_dir).join("identity.toml");
    assert_eq!(
        Path::new(one("ConditionPathExists")),
        identity,
        "the unit waits for enrolment"
    );
    assert_eq!(
        format!("/var/lib/{}", one("StateDirectory")),
        cfg.data_dir.display().to_string()
    );
}

#[test]
fn the_deb_metadata_names_existing_files() {
    let deb = deb_metadata();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let assets = deb["assets"].as_array().expect("assets");
    let mut targets = Vec::new();
    for asset in assets {
        let source = asset[0].as_str().unwrap();
        targets.push(asset[1].as_str().unwrap().to_owned());
        if source.starts_with("target/") {
            continue; // built by `cargo deb`
        }
        if let Some((folder, suffix)) = source.split_once("/*") {
            let found = std::fs::read_dir(dir.join(folder))
                .unwrap_or_else(|e| panic!("asset folder {folder}: {e}"))
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(suffix)
                })
                .count();
            assert!(found > 0, "asset {source} matches no file");
            continue;
        }
        assert!(dir.join(source).exists(), "asset {source} is missing");
    }
    assert!(targets.iter().any(|t| t == "usr/bin/"));
    assert!(targets.iter().any(|t| t == "etc/sme-agent/agent.toml"));
    assert_eq!(
        deb["conf-files"][0].as_str(),
        Some("/etc/sme-agent/agent.toml")
    );
    let scripts = dir.join(deb["maintainer-scripts"].as_str().unwrap());
    for name in ["postinst", "prerm", "postrm"] {
        let text = std::fs::read_to_string(scripts.join(name)).unwrap();
        assert!(
            text.contains("#DEBHELPER#"),
            "{name} keeps the debhelper hook"
        );
        assert!(text.starts_with("#!/bin/sh"), "{name} is a shell script");
    }
    let units = &deb["systemd-units"];
    assert_eq!(units["unit-name"].as_str(), Some("sme-agent"));
    let unit_dir = dir.join(units["unit-scripts"].as_str().unwrap());
    assert!(unit_dir.join("sme-agent.service").exists());
}

#[test]
fn the_package_builds_the_shipped_profile_with_a_short_synopsis() {
    let deb = deb_metadata();
    assert_eq!(
        deb["profile"].as_str(),
        Some("agent"),
        "`cargo deb -p sme-agent` must package the size-optimised `agent` profile"
    );
    let manifest: toml::Value = toml::from_str(include_str!("../Cargo.toml")).unwrap();
    let synopsis = manifest["package"]["description"].as_str().unwrap();
    assert!(
        synopsis.chars().count() < 80,
        "the package synopsis is {} characters; dpkg and apt cut it at 80: {synopsis}",
        synopsis.chars().count()
    );
}

/// The man pages under `packaging/man/` are what clap_mangen makes of the current command line.
/// `SME_UPDATE_MAN_PAGES=1 cargo test -p sme-agent --test packaging` rewrites them.
#[test]
fn the_man_pages_match_the_command_line() {
    use clap::CommandFactory;
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/man");
    let fresh = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(sme_agent::cli::Cli::command(), fresh.path()).unwrap();
    let pages = |dir: &Path| -> std::collections::BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "1"))
                    .map(|p| {
                        let name = p.file_name().unwrap().to_string_lossy().into_owned();
                        (name, std::fs::read_to_string(&p).unwrap())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let want = pages(fresh.path());
    assert!(want.contains_key("sme-agent.1") && want.contains_key("sme-agent-run.1"));
    if std::env::var_os("SME_UPDATE_MAN_PAGES").is_some() {
        std::fs::create_dir_all(&checked_in).unwrap();
        for name in pages(&checked_in).keys() {
            std::fs::remove_file(checked_in.join(name)).unwrap();
        }
        for (name, text) in &want {
            std::fs::write(checked_in.join(name), text).unwrap();
        }
    }
    let have = pages(&checked_in);
    for (name, text) in &want {
        assert!(
            have.get(name) == Some(text),
            "{} is missing or out of date with the command line; regenerate the man pages with \
             SME_UPDATE_MAN_PAGES=1 cargo test -p sme-agent --test packaging",
            checked_in.join(name).display()
        );
    }
    if let Some(name) = have.keys().find(|n| !want.contains_key(*n)) {
        panic!(
            "{} belongs to no command any more; regenerate the man pages with \
             SME_UPDATE_MAN_PAGES=1 cargo test -p sme-agent --test packaging",
            checked_in.join(name).display()
        );
    }
}
