//! Figure 6: `kaccess audit report` over a generated chain of 1,000,000
//! records in 10 rotated files (sealed by kaccess's own `seal`, as the
//! integration test's), in records per second, with its peak RSS from GNU
//! `time` at 100,000 and at 1,000,000 records: memory must stay flat in
//! the number of records. The baseline is `kaccess audit verify` over the
//! same files, which only checks the chain.

use super::{Row, Settings};
use crate::support::audit_chain::generate;
use crate::support::kaccess_bin;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Run {
    secs: f64,
    rss_kb: u64,
}

/// Runs kaccess with `args` and `files` under `/usr/bin/time`, its stdout
/// thrown away; wall time from here, peak RSS from `time`.
fn measure(args: &[&str], files: &[PathBuf]) -> Run {
    let out_file = std::env::temp_dir().join(format!("kaccess-bench-audit-{}", std::process::id()));
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&out_file)
            .arg(kaccess_bin());
        c
    } else {
        Command::new(kaccess_bin())
    };
    cmd.args(args)
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().expect("run kaccess");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "kaccess {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss_kb = std::fs::read_to_string(&out_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let _ = std::fs::remove_file(&out_file);
    Run { secs, rss_kb }
}

fn mb(kb: u64) -> String {
    if kb == 0 {
        "? (no /usr/bin/time)".into()
    } else {
        format!("{:.1} MB", kb as f64 / 1024.0)
    }
}

pub fn report(s: &Settings) -> Vec<Row> {
    let root = std::env::temp_dir().join(format!("kaccess-bench-chain-{}", std::process::id()));
    let mut runs = Vec::new();
    for &n in &s.audit_records {
        let dir = root.join(n.to_string());
        std::fs::create_dir_all(&dir).expect("chain dir");
        let made = Instant::now();
        let g = generate(&dir, n, 10);
        eprintln!(
            "bench: 6 generated {} records in {:.1} s",
            g.records,
            made.elapsed().as_secs_f64()
        );
        let since = (g.first.unwrap() - time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let report = measure(
            &["audit", "report", "--since", &since, "-o", "md"],
            &g.files,
        );
        let verify = measure(&["audit", "verify"], &g.files);
        runs.push((g.records, report, verify));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&root);
    let (small_n, small, _) = &runs[0];
    let (big_n, big, big_verify) = runs.last().expect("two sizes");
    let rate = |n: usize, r: &Run| n as f64 / r.secs;
    let ratio = if small.rss_kb > 0 {
        big.rss_kb as f64 / small.rss_kb as f64
    } else {
        f64::NAN
    };
    vec![Row {
        figure: format!("7 audit report -o md, {big_n} records in 10 rotated files"),
        measured: format!(
            "{:.0} records/s ({:.2} s), peak RSS {} (at {small_n} records: {})",
            rate(*big_n, big),
            big.secs,
            mb(big.rss_kb),
            mb(small.rss_kb)
        ),
        baseline: format!(
            "audit verify {:.0} records/s, RSS {}",
            rate(*big_n, big_verify),
            mb(big_verify.rss_kb)
        ),
        ratio,
        ratio_means: "RSS largest ÷ smallest",
        target: "memory flat (≤ 1.5×)".into(),
        met: (!ratio.is_nan()).then_some(ratio <= 1.5),
        detail: format!(
            "{small_n} records: {:.0} records/s ({:.2} s); the chain is checked while the report is built, one pass",
            rate(*small_n, small),
            small.secs
        ),
    }]
}
