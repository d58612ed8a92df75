//! Medians, percentiles and the process measurements the table needs.

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
