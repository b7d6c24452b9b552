//! CPU time spent by this process and by the nats-server it started, read from `/proc`.
//!
//! Wall-clock throughput on a shared 2-core machine moves with whatever else runs; CPU time
//! per request moves much less, so it tells efficiency apart from noise. Linux only: where
//! `/proc` cannot be read, the figures are simply absent.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat` (`USER_HZ`, 100 on
/// every mainstream Linux build).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system) of this process and of its `nats-server` child at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// This process: the requesters, the probe service and the raw responders.
    pub bench: Option<Duration>,
    /// The nats-server child.
    pub server: Option<Duration>,
}

/// Reads the CPU clocks of this process and of the nats-server it started.
#[derive(Debug, Clone)]
pub struct Clocks {
    /// `/proc/<pid>/stat` of the nats-server child, when one was found.
    server: Option<PathBuf>,
}

impl Clocks {
    /// Finds the nats-server child (started by any thread of this process).
    pub fn find() -> Self {
        Self {
            server: children()
                .into_iter()
                .find(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|comm| comm.trim() == "nats-server")
                })
                .map(|pid| PathBuf::from(format!("/proc/{pid}/stat"))),
        }
    }

    /// Both clocks now.
    pub fn now(&self) -> Snapshot {
        Snapshot {
            bench: cpu_time(Path::new("/proc/self/stat")),
            server: self.server.as_deref().and_then(cpu_time),
        }
    }
}

impl Snapshot {
    /// CPU time per request between `earlier` and `self`, for (this process, nats-server).
    pub fn per_request(
        &self,
        earlier: &Snapshot,
        requests: usize,
    ) -> (Option<Duration>, Option<Duration>) {
        let per = |now: Option<Duration>, then: Option<Duration>| {
            let spent = now?.checked_sub(then?)?;
            let requests = u32::try_from(requests).ok().filter(|n| *n > 0)?;
            Some(spent / requests)
        };
        (
            per(self.bench, earlier.bench),
            per(self.server, earlier.server),
        )
    }
}

/// Process ids of this process's children, from every thread's `children` file.
fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// User + system time of every thread of the process whose `stat` file is `path`.
fn cpu_time(path: &Path) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces; the fields
    // after it start with the state (field 3), so utime (14) and stime (15) are the 12th
    // and 13th.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}
