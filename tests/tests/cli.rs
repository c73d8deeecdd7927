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
