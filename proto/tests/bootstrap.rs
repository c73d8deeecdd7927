//! Regenerates the checked-in gRPC code from `proto/` and fails when it differs from what is
//! committed, so the generated code can never drift from the `.proto` files.
//! Run `cargo test -p sme-proto --test bootstrap` after editing a `.proto`; it rewrites
//! `src/gen/` and fails once, then passes.

use std::path::{Path, PathBuf};

/// Messages that also (de)serialise with serde.
const SERDE_MESSAGES: &[&str] = &[
    "Report",
    "FunctionVolume",
    "Satisfaction",
    "StaffComposition",
    "Finance",
    "Disclosures",
    "Capacity",
    "Startups",
    "ServiceRecord",
    "Explanation",
    "FieldViolation",
];

#[test]
fn generated_code_is_up_to_date() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = root.join("proto");
    let files: Vec<PathBuf> = [
        "report.proto",
        "reporting_service.proto",
        "enrollment_service.proto",
    ]
    .iter()
    .map(|f| proto_dir.join("sme/report/v1").join(f))
    .collect();
    let out_dir = root.join("src/gen");

    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    let include = protoc_bin_vendored::include_path().expect("vendored protoc includes");
    let tmp = tempdir(&root);

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    let mut builder = tonic_prost_build::configure();
    // The report's messages double as the agent's JSON report format (field names as in the
    // .proto, enums as numbers, absent fields defaulted).
    for message in SERDE_MESSAGES {
        builder = builder.type_attribute(
            format!(".sme.report.v1.{message}"),
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default, deny_unknown_fields)]",
        );
    }
    builder
        .field_attribute(
            ".sme.report.v1.Report.generated_at",
            "#[serde(with = \"crate::json_timestamp\", skip_serializing_if = \"Option::is_none\")]",
        )
        .build_client(true)
        .build_server(true)
        .out_dir(&tmp)
        .file_descriptor_set_path(tmp.join("sme_report_v1_descriptor.bin"))
        .compile_with_config(config, &files, &[proto_dir.clone(), include])
        .expect("compile protos");

    let mut stale = Vec::new();
    for entry in std::fs::read_dir(&tmp).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let fresh = std::fs::read(&path).unwrap();
        let target = out_dir.join(&name);
        if std::fs::read(&target).ok().as_deref() != Some(&fresh[..]) {
            std::fs::write(&target, &fresh).unwrap();
            stale.push(name.to_string_lossy().into_owned());
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
    assert!(
        stale.is_empty(),
        "generated code was stale and has been rewritten: {stale:?}; review and commit src/gen/"
    );
}

fn tempdir(root: &Path) -> PathBuf {
    let dir = root.join(format!("target-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
