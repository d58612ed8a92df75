//! Keeps the load generator and the broker off each other's cores, so a
//! figure measures the broker, not the scheduler's mood. The bench's own
//! threads (and the IdP and the API stand-in it starts, which inherit its
//! mask) take the first half of the CPUs, the broker's threads the rest.

/// The machine's CPUs as this process saw them before it pinned itself
/// (after, `available_parallelism` counts only the pinned ones).
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// What was pinned, for the table's header.
pub fn describe(cpus: usize, pinned: bool) -> String {
    if pinned {
        let (load, broker) = split(cpus);
        format!(
            "load generator on CPU {}, broker on CPU {}",
            list(&load),
            list(&broker)
        )
    } else if cpus < 2 {
        "NOT pinned: one CPU, the load generator and the broker share it".into()
    } else {
        "NOT pinned: sched_setaffinity was refused".into()
    }
}

fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The CPUs this process may use, in order.
pub fn allowed() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the call fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ok != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect()
}

/// The load generator's half and the broker's half of `cpus` allowed CPUs.
pub fn split(cpus: usize) -> (Vec<usize>, Vec<usize>) {
    let all = allowed();
    let all = if all.len() == cpus {
        all
    } else {
        (0..cpus).collect()
    };
    let half = all.len() / 2;
    (all[..half].to_vec(), all[half..].to_vec())
}

fn set(tid: libc::pid_t, cpus: &[usize]) -> bool {
    // SAFETY: as in `allowed`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for c in cpus {
        unsafe { libc::CPU_SET(*c, &mut set) };
    }
    unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Pins the calling thread (so every thread and child started after it)
/// to the load generator's CPUs. Call first thing in `main`.
pub fn pin_self(cpus: usize) -> bool {
    cpus >= 2 && set(0, &split(cpus).0)
}

/// Pins every thread of `pid` to the broker's CPUs; threads it starts
/// later inherit the mask from the thread that starts them.
pub fn pin_process(pid: u32, cpus: usize) -> bool {
    if cpus < 2 {
        return false;
    }
    let broker = split(cpus).1;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut all = true;
    for t in tasks.flatten() {
        if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) {
            all &= set(tid, &broker);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_halves_share_no_cpu_and_cover_them_all() {
        let n = allowed().len().max(2);
        let (a, b) = split(n);
        assert!(!a.is_empty() && !b.is_empty());
        assert!(a.iter().all(|c| !b.contains(c)));
        assert_eq!(a.len() + b.len(), n);
    }

    #[test]
    fn one_cpu_is_said_to_be_unpinned() {
        assert!(describe(1, false).starts_with("NOT pinned"));
    }
}
