//! `kaccess audit sessions|show|report` against a generated chain of over
//! 100,000 records in rotated files (sealed by kaccess's own `seal`), whose
//! answers the generator counted for itself; and a tampered chain, which
//! every command must call out loudly and fail on while still answering.

use crate::support::audit_chain::{Generated, generate};
use crate::support::kaccess_bin;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn kaccess(args: &[String], files: &[PathBuf]) -> Output {
    std::process::Command::new(kaccess_bin())
        .args(args)
        .args(files)
        .env_remove("KACCESS_CONFIG")
        .output()
        .expect("run kaccess")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn ok_json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("audit chain intact"), "{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn rfc(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// Runs the commands side by side: each reads the whole chain.
fn run_all(jobs: Vec<Vec<String>>, files: &[PathBuf]) -> Vec<Output> {
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|a| s.spawn(move || kaccess(a, files)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn check_sessions(g: &Generated, v: &Value) {
    let got = v["sessions"].as_array().unwrap();
    assert_eq!(got.len(), g.sessions.len());
    for s in got {
        let id = s["session"].as_str().unwrap();
        let want = &g.sessions[id];
        let counts = (
            s["requests"].as_u64().unwrap(),
            s["mutations"].as_u64().unwrap(),
            s["denials"].as_u64().unwrap(),
            s["streams"].as_u64().unwrap(),
        );
        assert_eq!(
            counts,
            (want.requests, want.mutations, want.denials, want.streams),
            "session {id}: {s}"
        );
        assert_eq!(s["person"], want.person.as_str(), "{id}");
        assert_eq!(s["cluster"], want.cluster.as_str(), "{id}");
        assert_eq!(s["reason"], want.reason.as_str(), "{id}");
        assert_eq!(s["ended"], want.ended.as_str(), "{id}");
        assert_eq!(s["start"], rfc(want.start).as_str(), "{id}");
        assert_eq!(s["break_glass"], want.break_glass, "{id}");
        assert_eq!(s["start_seen"], true, "{id}");
    }
}

#[test]
fn sessions_show_and_report_answer_a_rotated_chain_of_100k_records_as_generated() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let g = generate(dir.path(), 100_000, 4);
    eprintln!("generated {} records in {:?}", g.records, t0.elapsed());
    assert!(
        g.records >= 100_000 && g.files.len() == 4,
        "{} records",
        g.records
    );
    let first = g.first.unwrap();
    let since = rfc(first - time::Duration::hours(1));
    // A window in the middle, one cluster: counted from what was generated.
    let (from, to) = (
        first + time::Duration::hours(8),
        first + time::Duration::hours(20),
    );
    let in_window = g
        .mutations
        .iter()
        .filter(|(t, c)| *t >= from && *t < to && c == "prod")
        .count() as u64;
    let busiest = g
        .sessions
        .iter()
        .max_by_key(|(_, e)| (e.streams, e.requests))
        .map(|(id, e)| (id.clone(), e.clone()))
        .unwrap();
    let outs = run_all(
        vec![
            args(&["audit", "sessions", "-o", "json"]),
            args(&["audit", "show", &busiest.0, "-o", "json"]),
            args(&["audit", "report", "--since", &since, "-o", "json"]),
            args(&[
                "audit",
                "report",
                "--since",
                &rfc(from),
                "--until",
                &rfc(to),
                "--cluster",
                "prod",
                "-o",
                "json",
            ]),
        ],
        &g.files,
    );

    eprintln!("generated and answered in {:?}", t0.elapsed());
    check_sessions(&g, &ok_json(&outs[0]));

    let show = ok_json(&outs[1]);
    assert_eq!(show["session"]["session"], busiest.0.as_str());
    let timeline = show["timeline"].as_array().unwrap();
    let of = |kind: &str| timeline.iter().filter(|e| e["kind"] == kind).count() as u64;
    let e = &busiest.1;
    assert_eq!(
        of("request"),
        e.requests - e.streams,
        "one entry per request"
    );
    assert_eq!(of("stream"), 2 * e.streams, "opened and closed");
    let opened: Vec<u64> = timeline
        .iter()
        .filter(|e| e["outcome"] == "opened")
        .map(|e| e["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(opened, (1..=e.streams).collect::<Vec<_>>());

    let report = ok_json(&outs[2]);
    let sum = &report["summary"];
    let n = |k: &str| sum[k].as_u64().unwrap_or_else(|| panic!("{k}: {sum}"));
    assert_eq!(n("sessions"), g.sessions.len() as u64);
    assert_eq!(n("mutations"), g.mutations.len() as u64);
    assert_eq!(n("streams"), g.streams);
    assert_eq!(n("failed_logins"), g.failed_logins);
    assert_eq!(n("mfa_refusals"), g.mfa_refusals);
    assert_eq!(n("access_requests"), g.request_events);
    assert_eq!(n("admin_actions"), g.admin_actions);
    assert_eq!(n("denials"), g.denials);
    let elevated = g.sessions.values().filter(|e| e.elevated).count() as u64;
    let glass = g.sessions.values().filter(|e| e.break_glass).count() as u64;
    assert_eq!(
        (n("elevated_sessions"), n("break_glass")),
        (elevated, glass)
    );
    assert_eq!(
        report["mutations"].as_array().unwrap().len() as u64,
        n("mutations")
    );
    assert_eq!(report["chain"]["records"], g.records);

    let windowed = ok_json(&outs[3]);
    assert_eq!(windowed["summary"]["mutations"], in_window);
    assert!(
        windowed["mutations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["cluster"] == "prod")
    );
}

#[test]
fn the_text_the_markdown_and_the_csv_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let g = generate(dir.path(), 5_000, 2);
    let since = rfc(g.first.unwrap() - time::Duration::hours(1));
    let person = g
        .sessions
        .values()
        .find(|e| e.cluster == "prod")
        .map(|e| e.person.clone())
        .unwrap();
    let theirs = g
        .sessions
        .values()
        .filter(|e| e.person == person && e.cluster == "prod")
        .count();
    let busiest = g
        .sessions
        .iter()
        .max_by_key(|(_, e)| (e.streams, e.requests))
        .map(|(id, e)| (id.clone(), e.clone()))
        .unwrap();
    let outs = run_all(
        vec![
            args(&["audit", "report", "--since", &since]),
            args(&["audit", "report", "--since", &since, "-o", "csv"]),
            args(&["audit", "sessions", "--user", &person, "--cluster", "prod"]),
            args(&["audit", "show", &busiest.0[..8]]),
        ],
        &g.files,
    );
    let text = String::from_utf8(outs[2].stdout.clone()).unwrap();
    assert!(outs[2].status.success());
    assert_eq!(text.lines().count(), theirs + 1, "{text}");
    assert!(text.starts_with("SESSION "), "{text}");
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.contains(&person) && l.contains("prod"))
    );

    let shown = String::from_utf8(outs[3].stdout.clone()).unwrap();
    assert!(outs[3].status.success());
    assert!(
        shown.starts_with(&format!("session  {}\n", busiest.0)),
        "{shown}"
    );
    assert!(shown.contains("stream 1"), "{shown}");

    let md = String::from_utf8(outs[0].stdout.clone()).unwrap();
    assert!(outs[0].status.success());
    assert!(md.starts_with("# kaccess access report\n"), "{md}");
    assert!(md.contains("## Mutating requests"));
    assert!(
        md.contains(&format!("- {} mutating requests", g.mutations.len())),
        "{md}"
    );
    let csv = String::from_utf8(outs[1].stdout.clone()).unwrap();
    assert!(outs[1].status.success());
    let rows = |section: &str| csv.split("\r\n").filter(|l| l.starts_with(section)).count();
    assert_eq!(rows("mutations,"), g.mutations.len());
    assert_eq!(rows("session,"), g.sessions.len());
    assert_eq!(rows("chain,"), 1, "{}", &csv[..300]);
}

#[test]
fn a_tampered_file_makes_every_command_warn_loudly_and_fail_but_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let g = generate(dir.path(), 3_000, 3);
    // Change one person in the middle file, leaving its hash as it was.
    let middle = &g.files[1];
    let text = std::fs::read_to_string(middle).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("\"event\":\"proxy\"") && l.contains("\"username\":\"user"))
        .unwrap();
    let line = &lines[at];
    let user_at = line.find("\"username\":\"user").unwrap() + "\"username\":\"".len();
    lines[at] = format!("{}mallory{}", &line[..user_at], &line[user_at + 6..]);
    std::fs::write(middle, lines.join("\n") + "\n").unwrap();
    let session = g.sessions.keys().next().unwrap().clone();
    let since = rfc(g.first.unwrap() - time::Duration::hours(1));

    let outs = run_all(
        vec![
            args(&["audit", "sessions", "-o", "json"]),
            args(&["audit", "show", &session]),
            args(&["audit", "report", "--since", &since]),
        ],
        &g.files,
    );
    let place = format!("`{}` line {}", middle.display(), at + 1);
    for (out, name) in outs.iter().zip(["sessions", "show", "report"]) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("WARNING: THE AUDIT CHAIN IS BROKEN"),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(&place),
            "{name} must name {place}: {stderr}"
        );
        assert!(
            stderr.contains("the record was changed"),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains("help: run `kaccess audit verify`"),
            "{name}: {stderr}"
        );
        assert!(!out.stdout.is_empty(), "{name} still answers");
    }
    let sessions: Value = serde_json::from_slice(&outs[0].stdout).unwrap();
    assert_eq!(sessions["chain"]["intact"], false);
    assert_eq!(sessions["chain"]["first_broken"]["line"], at + 1);
    let md = String::from_utf8_lossy(&outs[2].stdout);
    assert!(
        md.contains("WARNING: THE AUDIT CHAIN IS BROKEN"),
        "the saved report says so too"
    );
}
