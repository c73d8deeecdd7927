//! The documentation's examples follow the rules: every unified social credit code in the
//! README, `docs/`, the example configurations, the scripts and the crates' doc comments passes
//! `sme_proto::credit_code::validate`, so a reader who copies one is not refused by the hub.

use std::path::{Path, PathBuf};

use sme_proto::credit_code;

/// The repository root (this crate is `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Tokens that look like a credit code: a maximal run of exactly 18 ASCII letters and digits
/// with at least 6 digits (so words such as `ReplacingMergeTree` are not taken), with their
/// 1-based line numbers. Lower case letters are kept, so a mistyped code is caught, not skipped.
fn credit_code_tokens(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for token in line.split(|c: char| !c.is_ascii_alphanumeric()) {
            let digits = token.bytes().filter(u8::is_ascii_digit).count();
            if token.len() == credit_code::LEN && digits >= 6 {
                found.push((n + 1, token));
            }
        }
    }
    found
}

/// The files whose examples readers copy, with the part of each that is documentation.
fn documentation() -> Vec<(PathBuf, String)> {
    let root = root();
    let mut files: Vec<PathBuf> = vec![
        root.join("README.md"),
        root.join("hub/hub.example.toml"),
        root.join("agent/agent.example.toml"),
    ];
    for dir in ["docs", "scripts"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("reading {dir}/: {e}"))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("md" | "sh")))
            .collect();
        entries.sort();
        files.extend(entries);
    }
    let mut docs: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p, text)
        })
        .collect();
    // Doc comments of the crates' sources (not their test data, which is invalid on purpose):
    // the lines themselves are kept, the code lines blanked, so line numbers stay right.
    for krate in ["proto/src", "agent/src", "hub/src", "tests/src"] {
        for path in rust_files(&root.join(krate)) {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let comments: Vec<&str> = text
                .lines()
                .map(|l| {
                    let t = l.trim_start();
                    if t.starts_with("///") || t.starts_with("//!") {
                        l
                    } else {
                        ""
                    }
                })
                .collect();
            docs.push((path, comments.join("\n")));
        }
    }
    docs
}

/// Every `.rs` file under `dir`, generated code (`gen/`) left out.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display()))
        {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "gen") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_credit_code_in_the_documentation_is_valid() {
    let root = root();
    let mut checked = 0;
    let mut bad = Vec::new();
    for (path, text) in documentation() {
        for (line, code) in credit_code_tokens(&text) {
            checked += 1;
            if let Err(e) = credit_code::validate(code) {
                let hint = code
                    .get(..credit_code::LEN - 1)
                    .and_then(|first17| credit_code::check_character(first17).ok())
                    .map(|c| {
                        format!(
                            " (a valid code with these 17 characters: {}{c})",
                            &code[..17]
                        )
                    })
                    .unwrap_or_default();
                bad.push(format!(
                    "{}:{line}: {code}: {e}{hint}",
                    path.strip_prefix(&root).unwrap_or(&path).display()
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "credit codes in the documentation that the hub would refuse; use valid codes \
         (sme_proto::credit_code::make_valid completes 17 characters):\n{}",
        bad.join("\n")
    );
    // The README alone has several (token issue, enroll, period reopen) and the demo a dozen:
    // finding fewer means the scan missed its files, not that they are clean.
    assert!(
        checked >= 15,
        "only {checked} credit codes found in the docs"
    );
}

#[test]
fn the_scan_finds_codes_in_text_and_skips_words() {
    let text = "sme-hub token issue --platform 91110108MA01ABCD2X\n\
                `urn:sme:platform:91440300MA5F00T1XM`, ReplacingMergeTree, \
                0123456789ABCDEF0123456789ABCDEF, 91350100m000100Y43";
    let tokens = credit_code_tokens(text);
    assert_eq!(
        tokens,
        [
            (1, "91110108MA01ABCD2X"),
            (2, "91440300MA5F00T1XM"),
            (2, "91350100m000100Y43")
        ]
    );
    // The code that once stood in the README: its check character is wrong.
    assert!(credit_code::validate(tokens[0].1).is_err());
    assert!(credit_code::validate(tokens[1].1).is_ok());
    assert!(credit_code::validate(tokens[2].1).is_err());
}
