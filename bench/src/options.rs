//! The command-line options every benchmark shares.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::report::Subject;

/// What the command line chose. `T` names what a benchmark measures (its pairings or
/// targets), for `--only`.
#[derive(Debug, Clone)]
pub struct Options<T> {
    /// Requests sent before measuring each pairing or target.
    pub warmup: usize,
    /// Sequential requests measured one at a time.
    pub requests: usize,
    /// Concurrent requesters (or connections) in the throughput phase.
    pub concurrency: usize,
    /// Length of the throughput phase.
    pub duration: Duration,
    /// Times everything is measured.
    pub rounds: usize,
    /// Whether to measure the breakdown pairings or targets too.
    pub breakdown: bool,
    /// What `--only` named, measured instead of the default selection.
    pub only: Vec<T>,
    /// `--mongodb`: the services keep their data in MongoDB (SecantusDB started from
    /// `SECANTUSD_BIN`, or `MONGODB_URI`) instead of SQLite, where a benchmark supports it.
    pub mongodb: bool,
}

impl<T> Options<T> {
    /// Defaults with `warmup` and `requests`; 64 requesters for 5 s, 2 rounds.
    pub fn with_defaults(warmup: usize, requests: usize) -> Self {
        Self {
            warmup,
            requests,
            concurrency: 64,
            duration: Duration::from_secs(5),
            rounds: 2,
            breakdown: false,
            only: Vec::new(),
            mongodb: false,
        }
    }

    /// Reads the options that follow the benchmark's name, starting from `self`; `named`
    /// turns a `--only` entry into a `T`.
    pub fn parse(
        mut self,
        args: impl Iterator<Item = String>,
        named: impl Fn(&str) -> Result<T>,
    ) -> Result<Self> {
        let mut args = args;
        while let Some(flag) = args.next() {
            if flag == "--breakdown" {
                self.breakdown = true;
                continue;
            }
            if flag == "--mongodb" {
                self.mongodb = true;
                continue;
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = || -> Result<usize> {
                let n: usize = value
                    .parse()
                    .with_context(|| format!("{flag} {value:?}: not a whole number"))?;
                ensure!(n > 0, "{flag} must be at least 1");
                Ok(n)
            };
            match flag.as_str() {
                "--warmup" => self.warmup = number()?,
                "--requests" => self.requests = number()?,
                "--concurrency" => self.concurrency = number()?,
                "--seconds" => {
                    let seconds: f64 = value
                        .parse()
                        .with_context(|| format!("--seconds {value:?}: not a number"))?;
                    ensure!(
                        seconds.is_finite() && seconds > 0.0,
                        "--seconds must be positive"
                    );
                    self.duration = Duration::from_secs_f64(seconds);
                }
                "--rounds" => self.rounds = number()?,
                "--only" => {
                    self.only = value.split(',').map(&named).collect::<Result<_>>()?;
                }
                other => bail!("unknown option {other:?} (try --help)"),
            }
        }
        Ok(self)
    }
}

impl<T: Subject> Options<T> {
    /// What a round measures, in order: what `--only` named, else every subject with
    /// `--breakdown`, else the benchmark's default selection.
    pub fn chosen(&self) -> Vec<T> {
        if !self.only.is_empty() {
            self.only.clone()
        } else if self.breakdown {
            T::NAMES.iter().map(|&(subject, _)| subject).collect()
        } else {
            T::DEFAULT.to_vec()
        }
    }
}
