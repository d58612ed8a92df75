//! Records for the query tests, built as the broker and proxy build them.

use crate::audit::AuditRecord;
use crate::audit::record::{ProxiedRequest, ProxiedResult};
use serde_json::Value;

pub fn at(minute: u32) -> String {
    format!("2026-05-01T10:{minute:02}:00Z")
}

pub fn value(mut r: AuditRecord, minute: u32) -> Value {
    r.time = at(minute);
    serde_json::to_value(r).unwrap()
}

pub fn issued(id: &str, user: &str, minute: u32, until_minute: u32) -> AuditRecord {
    AuditRecord {
        outcome: "issued".into(),
        username: Some(user.into()),
        cluster: Some("prod".into()),
        session_id: Some(id.into()),
        reason: Some("INC-7 payments down".into()),
        kube_groups: Some(vec!["kaccess:prod:view".into()]),
        expires_at: Some(at(until_minute.min(minute + 5))),
        session_expires_at: Some(at(until_minute)),
        ..AuditRecord::new("exchange")
    }
}

pub fn proxied(
    id: &str,
    user: &str,
    rid: &str,
    outcome: &str,
    verb: &str,
    sub: Option<&str>,
) -> AuditRecord {
    AuditRecord {
        outcome: outcome.into(),
        username: Some(user.into()),
        cluster: Some("prod".into()),
        session_id: Some(id.into()),
        kube_groups: Some(vec!["kaccess:prod:view".into()]),
        reason: Some("INC-7 payments down".into()),
        request: Some(ProxiedRequest {
            id: rid.into(),
            method: "POST".into(),
            path: "/api/v1/namespaces/payments/pods/web".into(),
            verb: verb.into(),
            resource: Some("pods".into()),
            subresource: sub.map(str::to_string),
            namespace: Some("payments".into()),
            name: Some("web".into()),
            ..Default::default()
        }),
        ..AuditRecord::new("proxy")
    }
}

pub fn finished(mut r: AuditRecord, status: u16, ended: Option<&str>) -> AuditRecord {
    r.outcome = "finished".into();
    r.status = Some(status);
    r.result = Some(ProxiedResult {
        bytes_in: 10,
        bytes_out: 20,
        duration_ms: 30,
        ended: ended.map(str::to_string),
        recording: None,
        unrecorded: None,
        ports: None,
    });
    r
}

pub fn revoked(id: &str, owner: &str, actor: Option<&str>) -> AuditRecord {
    AuditRecord {
        outcome: "revoked".into(),
        username: Some(owner.into()),
        cluster: Some("prod".into()),
        session_id: Some(id.into()),
        actor: actor.map(str::to_string),
        cause: actor.map(|_| "revoked by an admin: leaver".to_string()),
        ..AuditRecord::new("revoke")
    }
}
