use super::*;
use crate::audit::AuditRecord;
use crate::audit::chain::Status;
use crate::audit::query::fixture::*;
use crate::audit::query::render::document;
use crate::audit::query::window::Window;
use serde_json::Value;
use time::macros::datetime;

const NOW: time::OffsetDateTime = datetime!(2026-05-01 11:00 UTC);

fn records() -> Vec<Value> {
    let del = proxied("s1", "alice", "r1", "started", "delete", None);
    let exec = proxied("s1", "alice", "r2", "started", "create", Some("exec"));
    let patch = proxied("s1", "alice", "r3", "started", "patch", None);
    let mut glass = issued("s2", "bob", 5, 40);
    glass.break_glass = Some(true);
    glass.grant = Some("prod-admin".into());
    glass.reason = Some("=HYPERLINK(\"http://evil\")".into());
    let mfa = AuditRecord {
        outcome: "refused".into(),
        username: Some("carol".into()),
        cluster: Some("prod".into()),
        error: Some("mfa_required".into()),
        cause: Some("no otp in amr".into()),
        status: Some(403),
        ..AuditRecord::new("exchange")
    };
    let approved = AuditRecord {
        outcome: "approved".into(),
        username: Some("dave".into()),
        actor: Some("erin".into()),
        cluster: Some("prod".into()),
        request_id: Some("prod:1".into()),
        grant: Some("prod-admin".into()),
        cause: Some("looks right".into()),
        ..AuditRecord::new("request")
    };
    let other_cluster = AuditRecord {
        cluster: Some("staging".into()),
        ..proxied("s9", "zed", "r9", "started", "delete", None)
    };
    vec![
        value(issued("s1", "alice", 0, 30), 0),
        value(del.clone(), 1),
        value(finished(del, 200, None), 1),
        value(exec.clone(), 2),
        value(patch.clone(), 3),
        value(finished(patch, 403, None), 3),
        value(glass, 5),
        value(mfa, 6),
        value(approved, 7),
        value(revoked("s1", "alice", Some("erin")), 8),
        value(finished(exec, 101, Some("revoked")), 8),
        value(proxied("s1", "alice", "r4", "refused", "get", None), 9),
        value(other_cluster, 10),
        // Before `since`: counted nowhere.
        value(proxied("s1", "alice", "r0", "started", "delete", None), 59),
    ]
}

fn run(format: Format) -> Finished {
    let filter = Filter {
        cluster: Some("prod".into()),
        user: None,
        window: Window {
            since: Some(datetime!(2026-05-01 10:00 UTC)),
            until: Some(datetime!(2026-05-01 10:30 UTC)),
        },
    };
    let mut r = Report::new(format, filter);
    for v in records() {
        r.add(&View::of(&v)).unwrap();
    }
    r.finish(NOW).unwrap()
}

fn rendered(format: Format) -> String {
    let status = Status {
        records: 14,
        sources: 1,
        head: "ab".repeat(32),
        ..Status::default()
    };
    let mut out = Vec::new();
    document(run(format), &status, NOW, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_section_gets_its_rows_and_the_totals_add_up() {
    let f = run(Format::Json);
    let rows = |k: &str| f.totals.rows[k];
    assert_eq!(rows("mutations"), 2, "delete and patch, not exec");
    assert_eq!(rows("streams"), 1);
    assert_eq!(rows("elevated_sessions"), 1);
    assert_eq!(rows("access_requests"), 1);
    assert_eq!(rows("admin_actions"), 1, "erin revoked alice's session");
    assert_eq!(rows("failed_logins"), 1);
    assert_eq!(
        rows("denials"),
        2,
        "the proxy's refusal and the API server's 403"
    );
    assert_eq!((f.totals.break_glass, f.totals.mfa_refusals), (1, 1));
    let people: Vec<&str> = f.sessions.iter().map(|s| s.person.as_str()).collect();
    assert_eq!(people, ["alice", "bob"], "zed is on another cluster");
}

#[test]
fn the_json_report_parses_and_names_each_section() {
    let v: Value = serde_json::from_str(&rendered(Format::Json)).unwrap();
    assert_eq!(v["chain"]["intact"], true);
    assert_eq!(v["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(v["mutations"][0]["action"], "delete");
    assert_eq!(v["mutations"][1]["outcome"], "403");
    assert_eq!(v["streams"][0]["action"], "exec #1");
    assert_eq!(v["streams"][0]["outcome"], "101, revoked, 30 ms");
    assert_eq!(v["failed_logins"][0]["outcome"], "refused 403 mfa_required");
    assert_eq!(v["admin_actions"][0]["who"], "erin");
}

#[test]
fn the_csv_report_is_one_table_with_formulas_defused() {
    let text = rendered(Format::Csv);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("section,time,end,cluster,who"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("chain,"), "{}", lines[1]);
    let columns = lines[0].split(',').count();
    // No cell here holds a comma or quote except the reason, which is quoted.
    let glass = lines.iter().find(|l| l.contains("BREAK GLASS")).unwrap();
    assert!(
        glass.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{glass}"
    );
    assert!(!text.contains(",=HYPERLINK"), "{text}");
    let mutations: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("mutations,"))
        .collect();
    assert_eq!(mutations.len(), 2);
    assert_eq!(mutations[0].split(',').count(), columns, "{}", mutations[0]);
}

#[test]
fn the_markdown_report_has_every_section_and_escapes_free_text() {
    let md = rendered(Format::Markdown);
    for title in [
        "## Summary",
        "## Access: who accessed which cluster, when and why",
        "## Privileged access: elevated sessions and break glass",
        "## Mutating requests",
        "## Failed logins and MFA refusals",
        "## Denials",
    ] {
        assert!(md.contains(title), "{title} missing:\n{md}");
    }
    assert!(md.contains("- 2 sessions by 2 people on 1 cluster"), "{md}");
    assert!(md.contains("revoked by erin"), "{md}");
    assert!(md.contains("=HYPERLINK\\(\"http://evil\"\\)"), "{md}");
    // Every table line has the same number of cells as its header.
    for line in md.lines().filter(|l| l.starts_with("| ")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells == 9 || cells == 10, "{line}");
    }
}

#[test]
fn a_broken_chain_is_said_at_the_top_of_the_report() {
    let status = Status {
        records: 14,
        sources: 1,
        broken: 1,
        first_broken: Some((
            crate::audit::chain::Place {
                source: "audit.jsonl".into(),
                line: 7,
            },
            "`hash` is x but the record hashes to y (the record was changed)".into(),
        )),
        ..Status::default()
    };
    let mut out = Vec::new();
    document(run(Format::Markdown), &status, NOW, &mut out).unwrap();
    let md = String::from_utf8(out).unwrap();
    let warning = md.find("WARNING: THE AUDIT CHAIN IS BROKEN").unwrap();
    assert!(warning < md.find("## Summary").unwrap());
    assert!(
        md.contains("`audit.jsonl` line 7") || md.contains("\\`audit.jsonl\\` line 7"),
        "{md}"
    );
}

#[test]
fn a_spdy_port_forward_shows_the_ports_its_finished_record_names() {
    let started = proxied(
        "s1",
        "alice",
        "r7",
        "started",
        "create",
        Some("portforward"),
    );
    let mut done = finished(started.clone(), 101, Some("client closed"));
    if let Some(res) = &mut done.result {
        res.ports = Some(vec!["8080".into(), "9090".into()]);
    }
    let mut r = Report::new(
        Format::Json,
        Filter {
            cluster: Some("prod".into()),
            user: None,
            window: Window::default(),
        },
    );
    for v in [
        value(issued("s1", "alice", 0, 30), 0),
        value(started, 1),
        value(done, 2),
    ] {
        r.add(&View::of(&v)).unwrap();
    }
    let mut out = Vec::new();
    document(r.finish(NOW).unwrap(), &Status::default(), NOW, &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["streams"][0]["action"], "portforward #1");
    assert_eq!(v["streams"][0]["detail"], "ports 8080,9090");
}
