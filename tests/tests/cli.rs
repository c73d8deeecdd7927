//! The operator's path through the real binaries: `sme-hub token issue`, `sme-agent enroll`,
//! `sme-agent example-report`, `sme-agent send` — receipts and the hub's reasons printed readably.

use std::process::Command;

use sme_proto::period::{Period, PeriodKind};
use sme_tests::{binary, platform, TestHub};

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_and_send_with_the_command_line_tools() {
    let hub = TestHub::start().await;
    let id = platform(40);
    hub.register(&id).await;
    let work = tempfile::tempdir().unwrap();
    let hub_toml = work.path().join("hub.toml");
    std::fs::write(
        &hub_toml,
        format!("data_dir = {:?}\n", hub.data_dir().display().to_string()),
    )
    .unwrap();
    let agent_toml = work.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!(
            "data_dir = {:?}\n",
            work.path().join("agent").display().to_string()
        ),
    )
    .unwrap();

    let (code, token, err) = run(Command::new(binary("sme-hub")).args([
        "--config",
        hub_toml.to_str().unwrap(),
        "token",
        "issue",
        "--platform",
        &id,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("sme-agent enroll"), "{err}");

    let agent = |args: &[&str]| {
        let mut c = Command::new(binary("sme-agent"));
        c.args(["--config", agent_toml.to_str().unwrap()])
            .args(args);
        run(&mut c)
    };
    let (code, out, err) = agent(&[
        "enroll",
        "--hub",
        &hub.url,
        "--platform",
        &id,
        "--token",
        token.trim(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("enrolled platform {id}")), "{out}");

    let period = Period::containing(PeriodKind::Month, time::OffsetDateTime::now_utc())
        .unwrap()
        .previous()
        .unwrap()
        .to_string();
    let (code, json, err) = agent(&["example-report", "--period", &period]);
    assert_eq!(code, 0, "{err}");
    let report_path = work.path().join("report.json");
    std::fs::write(&report_path, &json).unwrap();

    let (code, out, err) = agent(&["send", report_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("accepted (已接收)"), "{out}");
    assert!(out.contains(&period), "{out}");

    // Sending the same file again is a replay: same report, no double counting.
    let (code, out, _) = agent(&["send", report_path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("already received earlier"), "{out}");

    // A broken report: the local check stops it and says why…
    let mut report: serde_json::Value = serde_json::from_str(&json).unwrap();
    report["report_id"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
    report["revision"] = serde_json::json!(1);
    report["satisfaction"]["responses"] = serde_json::json!(1);
    std::fs::write(&report_path, serde_json::to_string(&report).unwrap()).unwrap();
    let (code, out, err) = agent(&["send", report_path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("E008") && err.contains("satisfaction.responses"),
        "{err}"
    );

    // …and the hub, asked directly, refuses it with the same rule, in Chinese and English.
    let (code, out, err) = agent(&["send", "--skip-check", report_path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("rejected (被拒绝)"), "{out}");
    assert!(
        out.contains("E008") && out.contains("satisfaction.responses"),
        "{out}"
    );
    assert!(out.contains("满意"), "{out}");

    let totals = hub.store().volume_totals(&id, &period).await.unwrap();
    let services: u64 = totals.iter().map(|t| t.1).sum();
    let sent: u64 = report["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["services"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(services, sent);
    hub.stop().await;
}

/// `serve` and `token issue` never create a CA by themselves: on a data dir without one they
/// stop with an error naming `sme-hub ca init`, and leave no CA behind.
#[test]
fn a_missing_ca_is_an_error_naming_ca_init_never_a_new_ca() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("hub-data");
    let hub_toml = work.path().join("hub.toml");
    std::fs::write(
        &hub_toml,
        format!(
            "data_dir = {:?}\n[grpc]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    for args in [
        vec!["serve"],
        vec!["token", "issue", "--platform", &platform(41)],
    ] {
        // A hub that made itself a CA would start serving: bounded, so that fails too.
        let out = sme_tests::process::output_within(
            Command::new(binary("sme-hub"))
                .arg("--config")
                .arg(&hub_toml)
                .args(&args),
            std::time::Duration::from_secs(60),
            &format!("sme-hub {args:?} without a CA"),
        );
        let (code, err) = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_ne!(code, 0, "{args:?} must fail without a CA");
        assert!(err.contains("sme-hub ca init"), "{args:?}: {err}");
        assert!(
            !data.join("ca").join("ca.cert.pem").exists(),
            "{args:?} created a CA"
        );
    }
    // After `ca init`, `token issue` works.
    let (code, _, err) = run(Command::new(binary("sme-hub"))
        .arg("--config")
        .arg(&hub_toml)
        .args(["ca", "init"]));
    assert_eq!(code, 0, "{err}");
    let (code, token, err) = run(Command::new(binary("sme-hub"))
        .arg("--config")
        .arg(&hub_toml)
        .args(["token", "issue", "--platform", &platform(41)]));
    assert_eq!(code, 0, "{err}");
    assert!(token.trim().starts_with("SME1."), "{token}");
}
