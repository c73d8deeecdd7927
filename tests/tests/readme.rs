//! Every command of the README's "Using it" section, read from README.md and run once as written
//! with the real binaries: the hub operator's, the coordinators' and planners', and the
//! platform's. Only what a reader must fill in is replaced — the hub address
//! (`https://hub.example.cn:7443` → the hub this test started) and the token (`SME1.…` → the one
//! `token issue` printed) — and the files the commands read (`platforms.xlsx`, `records.xlsx`,
//! `profile.csv`, `report.json`) are made here first. The services (`serve`, `run`) run in the
//! background and are stopped with SIGTERM. The Debian package block is left out (it needs a
//! package build and systemd). A command this test does not know how to prepare for is still
//! run, and must succeed.
//!
//! The records are of the last ended month. When its quarter (or year) has ended too, its
//! report is built from the same records, so the quarter's (year's) profile is imported just
//! before the README's `import`. `scripts/prefectures.sh` fetches its data from the npm
//! registry, so this test needs that registry, like `scripts/setup.sh`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sme_proto::credit_code;
use sme_proto::period::{Period, PeriodKind, CST};
use sme_tests::binary;
use sme_tests::process::{output_within, Service};
use sme_tests::readme::{using_it, Documented};
use time::OffsetDateTime;

/// The walk-through's state: its folder (the commands' working directory), the hub once it
/// serves, the token once issued.
struct Walk {
    root: PathBuf,
    dir: tempfile::TempDir,
    hub: Option<Service>,
    hub_url: Option<String>,
    token: Option<String>,
    /// Every platform the commands name (all registered), and the one the agent enrols as.
    platforms: BTreeSet<String>,
    agent_platform: Option<String>,
    /// The month of the records; and the month of the hand-made report.
    records_month: Period,
    report_month: Period,
}

impl Walk {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// The command with the program resolved and the reader's blanks filled in.
    fn command(&self, doc: &Documented) -> Command {
        let program = match doc.argv[0].as_str() {
            "sme-hub" | "sme-agent" => binary(&doc.argv[0]),
            p if p.starts_with("scripts/") => self.root.join(p),
            p => panic!(
                "README.md:{}: `{p}` is a program this test does not know how to run ({})",
                doc.line, doc.text
            ),
        };
        let mut cmd = Command::new(program);
        for arg in &doc.argv[1..] {
            cmd.arg(self.fill_in(doc, arg));
        }
        cmd.current_dir(self.dir.path());
        // Only the files decide: no SME_* setting of the environment running the tests.
        for (key, _) in std::env::vars() {
            if key.starts_with("SME_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    fn fill_in(&self, doc: &Documented, arg: &str) -> String {
        if arg == "https://hub.example.cn:7443" {
            return self
                .hub_url
                .clone()
                .unwrap_or_else(|| panic!("README.md:{}: the hub is not serving yet", doc.line));
        }
        if arg == "SME1.…" {
            return self.token.clone().unwrap_or_else(|| {
                panic!(
                    "README.md:{}: no token issued before this command",
                    doc.line
                )
            });
        }
        assert!(
            !arg.contains('…'),
            "README.md:{}: `{arg}` is a blank for the reader that this test has no value for ({})",
            doc.line,
            doc.text
        );
        arg.to_owned()
    }

    /// Runs one documented command and checks what it printed.
    fn run(&mut self, doc: &Documented) {
        eprintln!("README.md:{}: {}", doc.line, doc.text);
        let verb = doc.verb();
        match verb.as_str() {
            "sme-hub serve" => return self.serve(doc),
            "sme-agent run" => return self.agent_service(doc),
            "sme-agent send" => self.hand_made_report(doc),
            _ => {}
        }
        let out = output_within(
            &mut self.command(doc),
            Duration::from_secs(180),
            &format!("README.md:{}: {}", doc.line, doc.text),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for l in stdout.lines().chain(stderr.lines()) {
            eprintln!("    {l}");
        }
        assert!(
            out.status.success(),
            "README.md:{}: `{}` failed ({}):\n{stdout}{stderr}\nhub log:\n{}",
            doc.line,
            doc.text,
            out.status,
            self.log("hub.log")
        );
        let expect = |needle: &str| {
            assert!(
                stdout.contains(needle),
                "README.md:{}: `{}` printed no {needle:?}:\n{stdout}{stderr}",
                doc.line,
                doc.text
            )
        };
        match verb.as_str() {
            "sme-hub ca init" => expect("fingerprint (sha256)"),
            "sme-hub token issue" => {
                let token = stdout.trim();
                assert!(token.starts_with("SME1."), "{stdout}");
                self.token = Some(token.to_owned());
            }
            "sme-hub registry import" => expect("written"),
            "sme-hub registry list" => {
                // Every registered platform of the region asked (by its code's characters 3–8,
                // which is where this test registers them).
                let region = doc.option("--region").unwrap_or("");
                let prefix = region.trim_end_matches("00");
                for id in &self.platforms {
                    if credit_code::region_code(id).starts_with(prefix) {
                        expect(id);
                    }
                }
            }
            "sme-hub period list" => expect("-Q"),
            "sme-hub period reopen" => expect(&format!(
                "reopened {} for {}",
                doc.option("--period").unwrap(),
                doc.option("--platform").unwrap()
            )),
            "sme-hub completeness" => expect(&format!(
                "completeness of {}",
                doc.option("--period").unwrap()
            )),
            "sme-hub export" => {
                expect("sha256");
                let file = self.path(doc.option("-o").unwrap());
                assert!(file.is_file(), "{} not written", file.display());
            }
            "sme-agent enroll" => {
                let id = doc.option("--platform").unwrap();
                expect(&format!("enrolled platform {id}"));
                self.agent_platform = Some(id.to_owned());
            }
            "sme-agent template" => {
                let dir = self.path(&doc.argv[doc.argv.len() - 1]);
                for f in [
                    "service_records_template.csv",
                    "service_records_template.xlsx",
                    "profile_template.csv",
                ] {
                    assert!(dir.join(f).is_file(), "{} not written", f);
                }
            }
            "sme-agent import" => {
                let files = doc.argv.iter().skip_while(|a| *a != "import").skip(1);
                for f in files {
                    expect(&format!("{f}: "));
                }
            }
            "sme-agent status" => expect(self.agent_platform.as_deref().expect("enrolled")),
            "sme-agent explain" => expect("saved"),
            "sme-agent sync" => {
                let periods = self.periods_of_records();
                for p in &periods {
                    expect(&format!("built {p} revision 0"));
                }
                expect(&format!("delivered {}, rejected 0", periods.len()));
            }
            "sme-agent rebuild" => expect("new revision"),
            "sme-agent send" => expect("accepted (已接收)"),
            _ => {}
        }
    }

    /// `sme-hub serve` in the background, until its ClickHouse answers.
    fn serve(&mut self, doc: &Documented) {
        let out = std::fs::File::create(self.path("hub.out")).unwrap();
        let err = std::fs::File::create(self.path("hub.log")).unwrap();
        let child = self
            .command(doc)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("sme-hub serve starts");
        let mut hub = Service {
            child,
            name: "sme-hub serve".into(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let printed = self.log("hub.out");
            if printed.contains("ClickHouse (HTTP): ") {
                let addr = printed
                    .lines()
                    .find_map(|l| l.strip_prefix("sme-hub serving gRPC on "))
                    .expect("serve prints its gRPC address");
                self.hub_url = Some(format!("https://{}", addr.trim()));
                break;
            }
            if let Some(status) = hub.child.try_wait().unwrap() {
                panic!(
                    "README.md:{}: `{}` ended ({status}):\n{printed}{}",
                    doc.line,
                    doc.text,
                    self.log("hub.log")
                );
            }
            assert!(
                Instant::now() < deadline,
                "README.md:{}: the hub did not serve within 120 s:\n{}",
                doc.line,
                self.log("hub.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.hub = Some(hub);
    }

    /// `sme-agent run` for as long as its first run (at start) takes, then SIGTERM.
    fn agent_service(&mut self, doc: &Documented) {
        let err = std::fs::File::create(self.path("agent-run.log")).unwrap();
        let child = self
            .command(doc)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("sme-agent run starts");
        let mut agent = Service {
            child,
            name: "sme-agent run".into(),
        };
        let config = doc.option("--config").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = output_within(
                Command::new(binary("sme-agent"))
                    .current_dir(self.dir.path())
                    .args(["--config", config, "status", "--json"]),
                Duration::from_secs(30),
                "sme-agent status --json",
            );
            let json: serde_json::Value =
                serde_json::from_slice(&status.stdout).unwrap_or_default();
            if !json["last_heartbeat"].is_null() && !json["last_run"].is_null() {
                break;
            }
            if let Some(s) = agent.child.try_wait().unwrap() {
                panic!(
                    "README.md:{}: `{}` ended by itself ({s}):\n{}",
                    doc.line,
                    doc.text,
                    self.log("agent-run.log")
                );
            }
            assert!(
                Instant::now() < deadline,
                "README.md:{}: the agent service made no run with a heartbeat within 60 s:\n{}",
                doc.line,
                self.log("agent-run.log")
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let status = agent.stop(Duration::from_secs(30));
        let log = self.log("agent-run.log");
        assert!(
            status.success(),
            "README.md:{}: `{}` ended with {status} after SIGTERM:\n{log}",
            doc.line,
            doc.text
        );
        assert!(
            log.contains("agent running") && log.contains("agent stopped"),
            "{log}"
        );
    }

    /// The periods whose reports the records and profiles make: the records' month, and its
    /// quarter and year once they have ended.
    fn periods_of_records(&self) -> Vec<Period> {
        let now = OffsetDateTime::now_utc();
        let day = self.records_month.first_day();
        [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year]
            .into_iter()
            .map(|k| Period::containing_date(k, day).unwrap())
            .filter(|p| p.has_ended(now))
            .collect()
    }

    /// `send FILE` sends a hand-made report: an example report of another month, made here.
    fn hand_made_report(&self, doc: &Documented) {
        let file = self.path(doc.argv.last().unwrap());
        if file.exists() {
            return;
        }
        let out = output_within(
            Command::new(binary("sme-agent"))
                .current_dir(self.dir.path())
                .args([
                    "--config",
                    doc.option("--config").unwrap(),
                    "example-report",
                    "--period",
                    &self.report_month.to_string(),
                ]),
            Duration::from_secs(30),
            "sme-agent example-report",
        );
        assert!(out.status.success(), "{out:?}");
        std::fs::write(file, out.stdout).unwrap();
    }
}

/// Every platform id given with `--platform` in `commands`.
fn documented_platforms(commands: &[Documented]) -> BTreeSet<String> {
    commands
        .iter()
        .filter_map(|c| c.option("--platform"))
        .filter(|p| credit_code::validate(p).is_ok())
        .map(str::to_owned)
        .collect()
}

/// The files the documented commands read, as a platform or the ministry would have them.
fn write_inputs(walk: &Walk) {
    let dir = walk.dir.path();
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "data_dir = {:?}\n[grpc]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            dir.join("hub").display().to_string()
        ),
    )
    .unwrap();
    // Without the start offset, the service's first run happens at once.
    std::fs::write(
        dir.join("agent.toml"),
        format!(
            "data_dir = {:?}\n[schedule]\nmax_start_offset_secs = 0\n",
            dir.join("agent").display().to_string()
        ),
    )
    .unwrap();

    // The registry: every platform the commands name, counted where its code was registered.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = [
        "统一社会信用代码",
        "平台名称",
        "所在地区",
        "独立法人",
        "登记日期",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, id) in walk.platforms.iter().enumerate() {
        let row = r as u32 + 1;
        sheet.write_string(row, 0, id).unwrap();
        sheet
            .write_string(row, 1, format!("示例服务平台 {id}"))
            .unwrap();
        sheet
            .write_string(row, 2, credit_code::region_code(id))
            .unwrap();
        sheet.write_string(row, 3, "是").unwrap();
        sheet.write_string(row, 4, "2015-01-01").unwrap();
    }
    book.save(dir.join("platforms.xlsx")).unwrap();

    // Service records of one month, on its first days.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet().set_name("服务记录").unwrap();
    let header = [
        "记录编号",
        "服务日期",
        "服务功能",
        "企业信用代码",
        "企业规模",
        "行业门类",
        "企业所在地区",
        "收费金额（元）",
        "满意度",
        "服务人次",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let first = walk.records_month.first_day();
    let rows = [
        ("质量管理", "小型", "C", "1200.50", "非常满意", "0"),
        ("信息查询", "微型", "F", "0", "满意", "0"),
        ("人员培训", "中型", "C", "0", "", "35"),
        ("技术创新", "小型", "M", "8000", "满意", "0"),
    ];
    for (i, (function, size, industry, fee, satisfaction, persons)) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        let date = first + time::Duration::days(i as i64);
        let enterprise = credit_code::make_valid(&format!("9111010800{:07}", 500 + i));
        let cells = [
            format!("FW-{}-{row:03}", walk.records_month),
            date.to_string(),
            function.to_string(),
            enterprise,
            size.to_string(),
            industry.to_string(),
            "110108".to_owned(),
            fee.to_string(),
            satisfaction.to_string(),
            persons.to_string(),
        ];
        for (c, v) in cells.iter().enumerate() {
            sheet.write_string(row, c as u16, v).unwrap();
        }
    }
    book.save(dir.join("records.xlsx")).unwrap();

    // The month's profile: its start-ups section (a month report needs it, rule E010).
    std::fs::write(
        dir.join("profile.csv"),
        format!(
            "项目,值\n报告期,{}\n辅导创业企业数,2\n代办注册登记数,1\n",
            walk.records_month
        ),
    )
    .unwrap();
}

/// Profiles of the records' quarter and year when those have ended (in the first month of a
/// quarter every ended month lies in an ended quarter): their reports are built from the same
/// records and need the staff, finance, disclosure (and, for the year, capacity) sections.
/// Imported before the README's `import` as the platform's earlier work.
fn import_longer_profiles(walk: &Walk, doc: &Documented) {
    let config = doc.option("--config").unwrap();
    for period in walk.periods_of_records() {
        if period.kind() == PeriodKind::Month {
            continue;
        }
        let mut text = format!(
            "项目,值\n报告期,{period}\n从业人员总数,30\n专业服务人员数,20\n\
             大专及以上学历专业服务人员数,16\n大专及以上学历或中级及以上职称专业服务人员数,18\n\
             高级职称人员数,4\n参加培训人数,12\n营业额（元）,2000000\n服务收入（元）,1500000\n\
             财政补助（元）,300000\n资产总额（元）,5000000\n服务内容公开,是\n服务流程公开,是\n\
             服务标准公开,是\n收费公开,是\n服务时间公开,是\n辅导创业企业数,6\n代办注册登记数,3\n"
        );
        if period.kind() == PeriodKind::Year {
            text.push_str(
                "服务场地面积（平方米）,1200\n仪器设备台套数,40\n设备原值（元）,3000000\n\
                 设备共享机时,800\n合作高校数,2\n合作科研院所数,1\n合作行业协会数,3\n\
                 合作服务机构数,4\n",
            );
        }
        let file = walk.path(&format!("profile-{period}.csv"));
        std::fs::write(&file, text).unwrap();
        let out = output_within(
            Command::new(binary("sme-agent"))
                .current_dir(walk.dir.path())
                .args(["--config", config, "import"])
                .arg(&file),
            Duration::from_secs(30),
            "sme-agent import (profile of an ended quarter or year)",
        );
        assert!(out.status.success(), "{out:?}");
    }
}

#[test]
fn the_readme_commands_work_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let commands = using_it(&readme);
    let verbs: BTreeSet<String> = commands.iter().map(Documented::verb).collect();
    for needed in [
        "sme-hub serve",
        "sme-hub token issue",
        "sme-agent enroll",
        "sme-agent run",
    ] {
        assert!(
            verbs.contains(needed),
            "\"Using it\" lost `{needed}`: {verbs:?}"
        );
    }

    // The last ended month has the records; the month before it gets the hand-made report.
    let now = OffsetDateTime::now_utc().to_offset(CST);
    let records_month = Period::containing(PeriodKind::Month, now)
        .unwrap()
        .previous()
        .unwrap();
    let mut walk = Walk {
        root,
        dir: tempfile::tempdir().unwrap(),
        hub: None,
        hub_url: None,
        token: None,
        platforms: documented_platforms(&commands),
        agent_platform: None,
        records_month,
        report_month: records_month.previous().unwrap(),
    };
    write_inputs(&walk);
    for doc in &commands {
        if doc.verb() == "sme-agent import" {
            import_longer_profiles(&walk, doc);
        }
        walk.run(doc);
    }

    // What the hub holds afterwards: the agent's report of the records' month arrived, so of the
    // registered platforms only the others are missing for that month.
    let agent = walk.agent_platform.clone().expect("the agent enrolled");
    let out = output_within(
        Command::new(binary("sme-hub"))
            .current_dir(walk.dir.path())
            .args(["--config", "hub.toml", "completeness", "--period"])
            .arg(walk.records_month.to_string()),
        Duration::from_secs(60),
        "sme-hub completeness",
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(!table.contains(&agent), "{table}");
    for id in walk.platforms.iter().filter(|id| **id != agent) {
        assert!(table.contains(id.as_str()), "{id} not missing:\n{table}");
    }
    let status = walk
        .hub
        .as_mut()
        .expect("the hub served")
        .stop(Duration::from_secs(60));
    assert!(
        status.success(),
        "sme-hub serve ended with {status}:\n{}",
        walk.log("hub.log")
    );
}
