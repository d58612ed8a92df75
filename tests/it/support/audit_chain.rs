//! A generated audit chain, sealed by kaccess's own `seal` and rotated
//! across files as the broker rotates (each later file opens with an
//! `audit`/`rotated` record): sessions of many people on two clusters,
//! interleaved, with requests, mutations, streams, refusals, renewals,
//! approvals, break glass, failed logins and every way a session ends.
//! What was generated is counted here, independently of kaccess's queries,
//! so `kaccess audit sessions|show|report` can be checked against it.

use kaccess::audit::record::{ProxiedRequest, ProxiedResult};
use kaccess::audit::{AuditRecord, GENESIS, seal, seal_value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What one session did, as generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub person: String,
    pub cluster: String,
    pub reason: String,
    pub ended: String,
    pub start: OffsetDateTime,
    pub requests: u64,
    pub mutations: u64,
    pub denials: u64,
    pub streams: u64,
    pub break_glass: bool,
    /// Started with a named grant (approved or break glass).
    pub elevated: bool,
}

#[derive(Debug, Default)]
pub struct Generated {
    pub files: Vec<PathBuf>,
    pub records: usize,
    pub first: Option<OffsetDateTime>,
    pub last: Option<OffsetDateTime>,
    pub sessions: BTreeMap<String, Expected>,
    /// Start times of every mutating request, per cluster.
    pub mutations: Vec<(OffsetDateTime, String)>,
    pub streams: u64,
    pub failed_logins: u64,
    pub mfa_refusals: u64,
    pub request_events: u64,
    pub admin_actions: u64,
    /// Rows of the report's denials section.
    pub denials: u64,
}

/// xorshift64*: deterministic and fast; no need for a real RNG here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Live {
    id: String,
    left: u32,
    /// Request id of its open stream.
    stream: Option<(String, AuditRecord)>,
    template: AuditRecord,
    ending: &'static str,
    /// Its plain requests' record, as JSON, reused from one to the next.
    proxy: Option<serde_json::Value>,
}

struct Writer {
    dir: PathBuf,
    per_file: usize,
    files: usize,
    out: Option<std::io::BufWriter<std::fs::File>>,
    prev: String,
    t: OffsetDateTime,
    g: Generated,
}

impl Writer {
    fn put(&mut self, mut rec: AuditRecord) -> OffsetDateTime {
        let due = self.g.records >= self.per_file * self.g.files.len();
        if self.out.is_none() || due && self.g.files.len() < self.files {
            self.rotate();
        }
        self.t += time::Duration::seconds(1);
        let time = self.t.format(&Rfc3339).unwrap();
        let line = seal(&mut rec, &self.prev, &time).unwrap();
        self.prev = rec.hash;
        let out = self.out.as_mut().unwrap();
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        self.g.records += 1;
        self.g.first.get_or_insert(self.t);
        self.g.last = Some(self.t);
        self.t
    }

    /// [`Writer::put`] for a record kept as JSON.
    fn put_value(&mut self, v: &mut serde_json::Value) -> OffsetDateTime {
        let due = self.g.records >= self.per_file * self.g.files.len();
        if self.out.is_none() || due && self.g.files.len() < self.files {
            self.rotate();
        }
        self.t += time::Duration::seconds(1);
        let time = self.t.format(&Rfc3339).unwrap();
        let (hash, line) = seal_value(v, &self.prev, &time);
        self.prev = hash;
        let out = self.out.as_mut().unwrap();
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        self.g.records += 1;
        self.g.first.get_or_insert(self.t);
        self.g.last = Some(self.t);
        self.t
    }

    fn rotate(&mut self) {
        if let Some(mut out) = self.out.take() {
            out.flush().unwrap();
        }
        let path = self
            .dir
            .join(format!("audit.{:02}.jsonl", self.g.files.len()));
        self.out = Some(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&path).unwrap(),
        ));
        self.g.files.push(path);
        if self.prev != GENESIS {
            let rotated = AuditRecord {
                outcome: "rotated".into(),
                ..AuditRecord::new("audit")
            };
            // Counted as a record of the new file (it is its first line).
            self.t += time::Duration::seconds(1);
            let time = self.t.format(&Rfc3339).unwrap();
            let mut rec = rotated;
            let line = seal(&mut rec, &self.prev, &time).unwrap();
            self.prev = rec.hash;
            let out = self.out.as_mut().unwrap();
            out.write_all(line.as_bytes()).unwrap();
            out.write_all(b"\n").unwrap();
            self.g.records += 1;
        }
    }
}

const USERS: u64 = 40;
const VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// Writes at least `records` records into `files` files in `dir`, the last
/// record about a day before now.
pub fn generate(dir: &Path, records: usize, files: usize) -> Generated {
    let now = OffsetDateTime::now_utc();
    let start = now - time::Duration::seconds(records as i64 * 2) - time::Duration::days(1);
    let period_end = start + time::Duration::seconds(records as i64 * 2);
    let mut w = Writer {
        dir: dir.to_path_buf(),
        per_file: records.div_ceil(files).max(1),
        files,
        out: None,
        prev: GENESIS.to_string(),
        t: start,
        g: Generated::default(),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<Live> = Vec::new();
    let mut serial = 0u64;
    while w.g.records < records {
        if live.len() < 12 {
            serial += 1;
            live.push(open_session(&mut w, &mut rng, serial, period_end, now));
            continue;
        }
        let i = rng.below(live.len() as u64) as usize;
        let roll = rng.below(100);
        if roll < 2 {
            failed_login(&mut w, &mut rng);
            continue;
        }
        if roll == 2 {
            let rec = AuditRecord {
                outcome: "refused".into(),
                cluster: Some("prod".into()),
                token_hash_prefix: Some("abcd1234".into()),
                cause: Some("unknown token".into()),
                ..AuditRecord::new("tokenreview")
            };
            w.put(rec);
            w.g.denials += 1;
            continue;
        }
        if roll == 3 {
            w.put(AuditRecord {
                outcome: "reloaded".into(),
                cause: Some("`broker.yaml` sha256 00".into()),
                ..AuditRecord::new("config")
            });
            w.g.admin_actions += 1;
            continue;
        }
        step(&mut w, &mut rng, &mut live[i], serial);
        serial += 1;
        if live[i].left == 0 {
            let s = live.swap_remove(i);
            close_session(&mut w, s);
        }
    }
    for s in std::mem::take(&mut live) {
        close_session(&mut w, s);
    }
    w.out.take().unwrap().flush().unwrap();
    w.g
}

fn open_session(
    w: &mut Writer,
    rng: &mut Rng,
    n: u64,
    period_end: OffsetDateTime,
    now: OffsetDateTime,
) -> Live {
    let user = format!("user{:02}", rng.below(USERS));
    let cluster = if rng.below(3) == 0 { "staging" } else { "prod" };
    let id = format!("{:016x}{:016x}", rng.next(), n);
    let ending = ["expired", "revoked by root", "logged out", "still open"][rng.below(4) as usize];
    let planned = if ending == "still open" {
        now + time::Duration::days(1)
    } else {
        period_end + time::Duration::minutes(1)
    };
    let kind = rng.below(10);
    let mut rec = AuditRecord {
        outcome: "issued".into(),
        username: Some(user.clone()),
        subject: Some(format!("sub-{user}")),
        cluster: Some(cluster.into()),
        session_id: Some(id.clone()),
        reason: Some(format!("INC-{n} check, payments")),
        kube_groups: Some(vec![format!("kaccess:{cluster}:view")]),
        credential: Some("token".into()),
        status: Some(200),
        session_expires_at: Some(planned.format(&Rfc3339).unwrap()),
        ..AuditRecord::new("exchange")
    };
    if kind == 0 {
        rec.break_glass = Some(true);
        rec.grant = Some("break-glass".into());
    } else if kind == 1 {
        let request = format!("{cluster}:{n:016x}");
        for (outcome, actor) in [("filed", None), ("approved", Some("lead"))] {
            w.put(AuditRecord {
                outcome: outcome.into(),
                username: Some(user.clone()),
                actor: actor.map(str::to_string),
                cluster: Some(cluster.into()),
                request_id: Some(request.clone()),
                grant: Some("admin".into()),
                reason: rec.reason.clone(),
                ..AuditRecord::new("request")
            });
            w.g.request_events += 1;
        }
        rec.grant = Some("admin".into());
        rec.request_id = Some(request);
    }
    let started = w.put(rec.clone());
    w.g.sessions.insert(
        id.clone(),
        Expected {
            person: user.clone(),
            cluster: cluster.into(),
            reason: rec.reason.clone().unwrap(),
            ended: ending.into(),
            start: started,
            break_glass: kind == 0,
            elevated: kind <= 1,
            requests: 0,
            mutations: 0,
            denials: 0,
            streams: 0,
        },
    );
    let template = AuditRecord {
        username: Some(user),
        subject: rec.subject.clone(),
        cluster: Some(cluster.into()),
        session_id: Some(id.clone()),
        reason: rec.reason.clone(),
        kube_groups: rec.kube_groups.clone(),
        credential: Some("token".into()),
        client_addr: Some("127.0.0.1:50000".into()),
        ..AuditRecord::new("proxy")
    };
    Live {
        id,
        left: 20 + rng.below(400) as u32,
        stream: None,
        template,
        ending,
        proxy: None,
    }
}

fn failed_login(w: &mut Writer, rng: &mut Rng) {
    let mfa = rng.below(2) == 0;
    w.put(AuditRecord {
        outcome: "refused".into(),
        username: Some(format!("user{:02}", rng.below(USERS))),
        cluster: Some("prod".into()),
        status: Some(if mfa { 403 } else { 401 }),
        error: Some(
            if mfa {
                "mfa_required"
            } else {
                "unauthenticated"
            }
            .into(),
        ),
        cause: Some(
            if mfa {
                "no otp in amr"
            } else {
                "token expired"
            }
            .into(),
        ),
        ..AuditRecord::new("exchange")
    });
    w.g.failed_logins += 1;
    w.g.mfa_refusals += u64::from(mfa);
}

fn step(w: &mut Writer, rng: &mut Rng, s: &mut Live, serial: u64) {
    s.left = s.left.saturating_sub(1);
    let roll = rng.below(100);
    let cluster = s.template.cluster.clone().unwrap();
    if let Some((_, started)) = &s.stream
        && roll < 10
    {
        let started = started.clone();
        s.stream = None;
        finish(w, started, 101, Some("client closed"));
        return;
    }
    if roll < 3 {
        let mut rec = s.template.clone();
        rec.outcome = "issued".into();
        rec.event = "exchange".into();
        w.put(rec);
        return;
    }
    let exp = w.g.sessions.get_mut(&s.id).unwrap();
    let rid = format!("req-{serial:x}");
    let mut rec = s.template.clone();
    if roll < 6 {
        rec.outcome = "refused".into();
        rec.status = Some(403);
        rec.cause = Some("kaccess proxy: the `Impersonate-User` header is refused".into());
        rec.request = Some(request(&rid, "get", None));
        exp.requests += 1;
        exp.denials += 1;
        w.g.denials += 1;
        w.put(rec);
        return;
    }
    if roll < 9 && s.stream.is_none() {
        let sub = ["exec", "attach", "portforward"][rng.below(3) as usize];
        rec.outcome = "started".into();
        rec.request = Some(request(&rid, "create", Some(sub)));
        exp.requests += 1;
        exp.streams += 1;
        w.g.streams += 1;
        w.put(rec.clone());
        s.stream = Some((rid, rec));
        return;
    }
    // The bulk of the chain: kept as JSON and changed in place, so a
    // debug build seals it without serialising a whole record each time.
    let verb = VERBS[rng.below(VERBS.len() as u64) as usize];
    exp.requests += 1;
    let mutating = !matches!(verb, "get" | "list" | "watch");
    let status = if rng.below(20) == 0 { 403 } else { 200 };
    if status == 403 {
        exp.denials += 1;
        w.g.denials += 1;
    }
    let v = s.proxy.get_or_insert_with(|| {
        rec.request = Some(request(&rid, verb, None));
        serde_json::to_value(&rec).unwrap()
    });
    let map = v.as_object_mut().unwrap();
    map.insert("outcome".into(), "started".into());
    map.remove("status");
    map.remove("result");
    let q = map["request"].as_object_mut().unwrap();
    q.insert("id".into(), rid.into());
    q.insert("verb".into(), verb.into());
    q.insert(
        "method".into(),
        if verb == "get" { "GET" } else { "POST" }.into(),
    );
    let at = w.put_value(v);
    if mutating {
        w.g.sessions.get_mut(&s.id).unwrap().mutations += 1;
        w.g.mutations.push((at, cluster));
    }
    let map = v.as_object_mut().unwrap();
    map.insert("outcome".into(), "finished".into());
    map.insert("status".into(), status.into());
    map.insert(
        "result".into(),
        serde_json::json!({"bytes_in": 100, "bytes_out": 2000, "duration_ms": 5}),
    );
    w.put_value(v);
}

fn finish(w: &mut Writer, mut rec: AuditRecord, status: u16, ended: Option<&str>) {
    rec.outcome = "finished".into();
    rec.status = Some(status);
    rec.result = Some(ProxiedResult {
        bytes_in: 100,
        bytes_out: 2000,
        duration_ms: 5,
        ended: ended.map(str::to_string),
        recording: None,
        unrecorded: None,
        ports: None,
    });
    w.put(rec);
}

fn request(id: &str, verb: &str, sub: Option<&str>) -> ProxiedRequest {
    ProxiedRequest {
        id: id.into(),
        method: if verb == "get" { "GET" } else { "POST" }.into(),
        path: "/api/v1/namespaces/payments/pods/web".into(),
        verb: verb.into(),
        api_version: Some("v1".into()),
        resource: Some("pods".into()),
        subresource: sub.map(str::to_string),
        namespace: Some("payments".into()),
        name: Some("web".into()),
        command: (sub == Some("exec")).then(|| vec!["sh".into()]),
        ..Default::default()
    }
}

fn close_session(w: &mut Writer, mut s: Live) {
    if let Some((_, started)) = s.stream.take() {
        finish(w, started, 101, Some("session ended"));
    }
    let revoke = |actor: Option<&str>| AuditRecord {
        outcome: "revoked".into(),
        username: s.template.username.clone(),
        cluster: s.template.cluster.clone(),
        session_id: Some(s.id.clone()),
        actor: actor.map(str::to_string),
        status: Some(200),
        cause: actor.map(|_| "revoked by an admin: rotation".to_string()),
        ..AuditRecord::new("revoke")
    };
    match s.ending {
        "revoked by root" => {
            w.put(revoke(Some("root")));
            w.g.admin_actions += 1;
        }
        "logged out" => {
            w.put(revoke(None));
        }
        _ => {}
    }
}
