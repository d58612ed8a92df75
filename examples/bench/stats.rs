//! Medians, percentiles, the process measurements the table needs, and
//! summaries of several loads and of revocation times.

use crate::load::Load;
use std::time::Duration;

/// `p` in 0..=100 of sorted microseconds (nearest rank).
pub fn percentile(sorted: &[u32], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Duration::from_micros(sorted[rank.clamp(1, sorted.len()) - 1] as u64)
}

pub fn median(sorted: &[u32]) -> Duration {
    percentile(sorted, 50.0)
}

/// User + system CPU time of process `pid` so far (all its threads).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`, which may itself hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// Time the hypervisor ran something else on this machine's virtual
/// CPUs (steal, summed over CPUs) so far. On a shared VM a vCPU taken away
/// for a few milliseconds stalls whatever thread was on it; this says how
/// much of that a run saw.
pub fn steal_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8)?.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// Runs `cmd` to the end; its wall time and exit code.
pub fn timed_run(cmd: &mut std::process::Command) -> (Duration, i32) {
    let start = std::time::Instant::now();
    let status = cmd.status().expect("spawn");
    (start.elapsed(), status.code().unwrap_or(-1))
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    // SAFETY: an all-zero timespec is valid; the clock id is a constant.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The 1-minute load average: how busy the shared machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Several loads as one: counts and wall times added, latencies merged.
pub fn merge(parts: Vec<Load>) -> Load {
    let mut all = Load {
        ok: 0,
        failed: 0,
        wall: Duration::ZERO,
        latencies: Vec::new(),
    };
    for p in parts {
        all.ok += p.ok;
        all.failed += p.failed;
        all.wall += p.wall;
        all.latencies.extend(p.latencies);
    }
    all.latencies.sort_unstable();
    all
}

/// Revocation times between replicas (figure 9); `None` where the other
/// replica never refused.
pub struct Propagation {
    /// Sorted, microseconds.
    seen: Vec<u32>,
    pub missed: usize,
}

impl Propagation {
    pub fn new(times: &[Option<Duration>]) -> Propagation {
        let mut seen: Vec<u32> = times
            .iter()
            .flatten()
            .map(|d| d.as_micros().min(u32::MAX as u128) as u32)
            .collect();
        seen.sort_unstable();
        Propagation {
            missed: times.len() - seen.len(),
            seen,
        }
    }

    pub fn p50(&self) -> Duration {
        percentile(&self.seen, 50.0)
    }

    pub fn max(&self) -> Duration {
        percentile(&self.seen, 100.0)
    }

    pub fn count(&self) -> usize {
        self.seen.len() + self.missed
    }

    /// Every revocation seen at B, the slowest within `limit`.
    pub fn within(&self, limit: Duration) -> bool {
        self.missed == 0 && !self.seen.is_empty() && self.max() <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_slices_are_one_sorted_load() {
        let part = |lat: Vec<u32>, failed| Load {
            ok: lat.len(),
            failed,
            wall: Duration::from_secs(1),
            latencies: lat,
        };
        let m = merge(vec![part(vec![1, 5, 9], 0), part(vec![2, 3], 1)]);
        assert_eq!(m.latencies, [1, 2, 3, 5, 9]);
        assert_eq!((m.ok, m.failed, m.wall), (5, 1, Duration::from_secs(2)));
        assert_eq!(m.rate(), 2.5);
    }

    #[test]
    fn propagation_is_the_median_and_the_slowest_and_a_miss_fails_the_target() {
        let ms = Duration::from_millis;
        let p = Propagation::new(&[Some(ms(3)), Some(ms(1)), Some(ms(900)), Some(ms(2))]);
        assert_eq!((p.p50(), p.max(), p.count()), (ms(2), ms(900), 4));
        assert!(p.within(Duration::from_secs(1)));
        assert!(!p.within(ms(500)));
        let missed = Propagation::new(&[Some(ms(1)), None]);
        assert_eq!(missed.missed, 1);
        assert!(!missed.within(Duration::from_secs(1)));
        assert!(!Propagation::new(&[]).within(Duration::from_secs(1)));
    }
}
