//! The agent's inbox against hostile or broken drops: a symbolic link (here to the agent's own
//! private key), a file over `[inbox] max_file_bytes`, and a workbook that unpacks to 256 MiB
//! (a zip bomb). Each is quarantined with a reason naming the file and the limit; the running
//! agent stays within its memory and keeps importing and delivering the good files beside
//! them. Real `sme-agent run`, real hub and ClickHouse.

use std::io::{Cursor, Read, Write};
use std::time::Duration;

use sme_tests::agent::{
    agent_toml, profile_json, recent_months, records, records_csv, sendable_periods, wait_until,
    TestAgent,
};
use sme_tests::{platform, TestHub};

const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// An .xlsx made by a spreadsheet writer, whose sheet is then replaced by `unpacked` bytes of
/// rows: a few hundred kilobytes on disk.
fn zip_bomb(unpacked: usize) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("服务记录").unwrap();
    ws.write(0, 0, "记录编号").unwrap();
    ws.write(0, 1, "服务日期").unwrap();
    let book = wb.save_to_buffer().unwrap();
    let mut source = zip::ZipArchive::new(Cursor::new(book)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..source.len() {
        let mut entry = source.by_index(i).unwrap();
        let name = entry.name().to_owned();
        out.start_file(name.as_str(), options).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            let row = "<row><c t=\"inlineStr\"><is><t>R</t></is></c><c t=\"inlineStr\"><is><t>2026-01-01</t></is></c></row>";
            let chunk = row.repeat((1 << 20) / row.len());
            out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>").unwrap();
            let mut written = 0;
            while written < unpacked {
                out.write_all(chunk.as_bytes()).unwrap();
                written += chunk.len();
            }
            out.write_all(b"</sheetData></worksheet>").unwrap();
        } else {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.write_all(&bytes).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

/// Peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

fn errors_of(agent: &TestAgent, name: &str) -> String {
    std::fs::read_to_string(
        agent
            .data_dir()
            .join("quarantine")
            .join(format!("{name}.errors.txt")),
    )
    .unwrap_or_default()
}

fn quarantined(agent: &TestAgent, name: &str) -> bool {
    let q = agent.data_dir().join("quarantine");
    q.join(format!("{name}.errors.txt")).exists() && std::fs::symlink_metadata(q.join(name)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_large_files_and_zip_bombs_are_quarantined_and_the_agent_keeps_working() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(430), "").await;
    let toml = agent_toml(agent.data_dir(), &hub.url, "").replace(
        "[inbox]\npoll_secs = 1\n",
        &format!("[inbox]\npoll_secs = 1\nmax_file_bytes = {MAX_FILE_BYTES}\n"),
    );
    assert!(toml.contains("max_file_bytes"));
    std::fs::write(&agent.config_path, toml).unwrap();

    // A link to the agent's private key, named like a records file.
    let key = agent.data_dir().join("identity").join("key.pem");
    assert!(key.exists());
    let link = agent.inbox().join("records-link.csv");
    std::os::unix::fs::symlink(&key, &link).unwrap();
    // Too large: 8 MiB of records for a 4 MiB limit.
    let (_, m1) = recent_months();
    let mut big = records_csv(&records("BIG", &m1, 10));
    while (big.len() as u64) <= 2 * MAX_FILE_BYTES {
        big.extend_from_slice(b"\n");
    }
    agent.drop_file("big.csv", &big);
    // 256 MiB unpacked, under 4 MiB on disk (so only the unpacked limit, 64 MiB, applies).
    let bomb = zip_bomb(256 << 20);
    assert!((bomb.len() as u64) < MAX_FILE_BYTES, "{} bytes", bomb.len());
    agent.drop_file("bomb.xlsx", &bomb);

    let mut process = agent.spawn();
    let pid = process.id();
    wait_until(
        Duration::from_secs(60),
        "the three files are quarantined",
        || {
            ["records-link.csv", "big.csv", "bomb.xlsx"]
                .iter()
                .all(|n| quarantined(&agent, n))
        },
    )
    .await;
    assert!(process.is_running(), "{}", process.log_text());

    let reason = errors_of(&agent, "records-link.csv");
    assert!(reason.contains("symbolic link"), "{reason}");
    assert!(
        !reason.contains("PRIVATE KEY") && !reason.contains("-----BEGIN"),
        "nothing of the link's target is read: {reason}"
    );
    assert!(
        std::fs::symlink_metadata(agent.data_dir().join("quarantine/records-link.csv"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link itself is moved, its target stays"
    );
    assert!(key.exists());
    let reason = errors_of(&agent, "big.csv");
    assert!(
        reason.contains("big.csv") && reason.contains(&format!("limit of {MAX_FILE_BYTES} bytes")),
        "{reason}"
    );
    assert!(reason.contains("max_file_bytes"), "{reason}");
    let reason = errors_of(&agent, "bomb.xlsx");
    assert!(reason.contains("max_unpacked_bytes"), "{reason}");
    let peak = peak_rss(pid);
    assert!(
        peak < 150 * 1024 * 1024,
        "the agent peaked at {} MiB (its unit allows 192 MiB)",
        peak >> 20
    );

    // Good files beside them still go in and out.
    let rows = records("OK", &m1, 12);
    agent.drop_file("records.csv", &records_csv(&rows));
    let periods = sendable_periods(&rows);
    for p in &periods {
        agent.drop_file(&format!("profile-{p}.json"), &profile_json(p));
    }
    wait_until(
        Duration::from_secs(60),
        "the good files are delivered",
        || {
            agent.is_settled()
                && agent.store().outbox_counts().unwrap().delivered == periods.len() as u64
        },
    )
    .await;
    assert!(process.is_running(), "{}", process.log_text());
    let totals = hub
        .store()
        .volume_totals(&agent.platform_id, &m1.to_string())
        .await
        .unwrap();
    assert_eq!(totals.iter().map(|t| t.1).sum::<u64>(), rows.len() as u64);
    process.terminate();
    hub.stop().await;
}
