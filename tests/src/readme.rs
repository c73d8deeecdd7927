//! The README's shell commands, read as `sh` would: the "Using it" section of README.md, for
//! `tests/tests/readme.rs`, which runs them as written.

/// One command of the README: where it stands and its words, as `sh` would split them.
#[derive(Debug, Clone)]
pub struct Documented {
    /// Line of README.md it starts on.
    pub line: usize,
    /// The line as written (continuations joined).
    pub text: String,
    /// Its words.
    pub argv: Vec<String>,
}

impl Documented {
    /// `sme-hub token issue`, `sme-agent run`: the program and its subcommand words (options and
    /// their values left out).
    pub fn verb(&self) -> String {
        let mut words = vec![self.argv[0].as_str()];
        let mut args = self.argv[1..].iter();
        while let Some(a) = args.next() {
            if a == "--config" {
                args.next();
            } else if a.starts_with('-') || words.len() == 3 {
                break;
            } else if a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                words.push(a);
            } else {
                break;
            }
        }
        words.join(" ")
    }

    /// The value after `--name`, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        let i = self.argv.iter().position(|a| a == name)?;
        self.argv.get(i + 1).map(String::as_str)
    }
}

/// The shell commands of the README's "Using it" section, in order, except the code block after
/// the paragraph about the Debian package.
pub fn using_it(readme: &str) -> Vec<Documented> {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "## Using it")
        .expect("README.md has a \"## Using it\" section");
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut skip_block = false;
    let mut skipped_debian = false;
    // The paragraph before the current code block.
    let mut prose = String::new();
    let mut blank = true;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in lines.iter().enumerate().take(end).skip(start + 1) {
        if line.starts_with("```") {
            if !in_block {
                skip_block = prose.contains("Debian package");
                skipped_debian |= skip_block;
            }
            in_block = !in_block;
            continue;
        }
        if !in_block {
            if line.trim().is_empty() {
                blank = true;
            } else {
                if blank {
                    prose.clear();
                }
                blank = false;
                prose.push_str(line);
                prose.push(' ');
            }
            continue;
        }
        if skip_block {
            continue;
        }
        let (first, mut text) = pending.take().unwrap_or((i + 1, String::new()));
        if let Some(head) = line.strip_suffix('\\') {
            text.push_str(head.trim_start());
            pending = Some((first, text));
            continue;
        }
        text.push_str(line.trim_start());
        let words = shlex::split(&text).unwrap_or_else(|| {
            panic!("README.md:{first}: cannot split {text:?} into words as sh would")
        });
        for argv in words.split(|w| w == "&&").filter(|a| !a.is_empty()) {
            commands.push(Documented {
                line: first,
                text: text.trim().to_owned(),
                argv: argv.to_vec(),
            });
        }
    }
    assert!(
        skipped_debian,
        "the Debian package block of \"Using it\" was not found; this test skips it by the \
         paragraph before it (\"… Debian package …\")"
    );
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_using_it_parser_joins_lines_and_splits_commands() {
        let readme = "## Using it\n\n```sh\n\
                      a --x 1   # comment\n\
                      b \\\n    --y \"two words\"\n\
                      c && d e\n\
                      ```\n\nInstalling the agent as a Debian\npackage:\n\n```sh\n\
                      cargo deb\n```\n\n## Next\n```sh\nz\n```\n";
        let c = using_it(readme);
        let argv: Vec<Vec<String>> = c.iter().map(|d| d.argv.clone()).collect();
        assert_eq!(
            argv,
            [
                vec!["a", "--x", "1"],
                vec!["b", "--y", "two words"],
                vec!["c"],
                vec!["d", "e"],
            ]
            .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
        );
        assert_eq!(c[1].line, 5);
        let doc = Documented {
            line: 1,
            text: String::new(),
            argv: "sme-hub --config hub.toml registry import platforms.xlsx"
                .split(' ')
                .map(String::from)
                .collect(),
        };
        assert_eq!(doc.verb(), "sme-hub registry import");
    }
}
