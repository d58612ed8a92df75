//! What the stand-in answers once a caller is authenticated: legacy
//! discovery, two fake pods (as a PodList or, when asked, a
//! `meta.k8s.io/v1` Table), and SelfSubjectReview.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::App;
use super::authn::User;

/// A `metav1.Status` failure, the body kube-apiserver sends with errors.
pub(super) fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

pub(super) async fn not_found(req: Request) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!(
            "the server could not find the requested resource ({})",
            req.uri().path()
        ),
    )
}

pub(super) async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

pub(super) async fn core_versions(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": app.server_address},
        ],
    }))
}

pub(super) async fn group_list() -> Json<Value> {
    let v1 = json!({"groupVersion": "authentication.k8s.io/v1", "version": "v1"});
    Json(json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {"name": "authentication.k8s.io", "versions": [v1], "preferredVersion": v1},
        ],
    }))
}

pub(super) async fn core_resources() -> Json<Value> {
    Json(json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                "verbs": ["get", "list", "watch"], "shortNames": ["po"], "categories": ["all"],
            },
            {
                "name": "namespaces", "singularName": "namespace", "namespaced": false,
                "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"],
            },
        ],
    }))
}

pub(super) async fn authn_resources() -> Json<Value> {
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "authentication.k8s.io/v1",
        "resources": [
            {
                "name": "selfsubjectreviews", "singularName": "selfsubjectreview",
                "namespaced": false, "kind": "SelfSubjectReview", "verbs": ["create"],
            },
            {
                "name": "tokenreviews", "singularName": "tokenreview",
                "namespaced": false, "kind": "TokenReview", "verbs": ["create"],
            },
        ],
    }))
}

pub(super) async fn self_subject_review(
    Extension(user): Extension<User>,
) -> (StatusCode, Json<Value>) {
    let mut info = json!({"username": user.username, "groups": user.groups});
    if let Some(uid) = user.uid {
        info["uid"] = json!(uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    let body = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": now_rfc3339()},
        "status": {"userInfo": info},
    });
    (StatusCode::CREATED, Json(body))
}

/// The fake workload every namespace has: (name, ready, phase, restarts).
pub(super) const PODS: [(&str, &str, &str, u32); 2] = [
    ("web-7d4b9c6f5-x2kqp", "1/1", "Running", 0),
    ("worker-5f6c8d7b9-m4ntz", "1/1", "Running", 2),
];

pub(super) async fn list_pods(
    Path(ns): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let pods: Vec<_> = PODS.iter().map(|p| pod(&ns, p)).collect();
    // metav1's bool conversion: anything but false/0 is true.
    let watching = query
        .get("watch")
        .is_some_and(|w| !matches!(w.to_ascii_lowercase().as_str(), "false" | "0"));
    if watching {
        let objects = if wants_table(&headers) {
            pods.iter()
                .map(|p| table(std::slice::from_ref(p)))
                .collect()
        } else {
            pods
        };
        return super::streams::watch(objects);
    }
    if wants_table(&headers) {
        return Json(table(&pods)).into_response();
    }
    Json(json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"},
        "items": pods,
    }))
    .into_response()
}

pub(super) async fn get_pod(
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(found) = PODS.iter().find(|p| p.0 == name) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{name}\" not found"),
        );
    };
    let pod = pod(&ns, found);
    if wants_table(&headers) {
        return Json(table(&[pod])).into_response();
    }
    Json(pod).into_response()
}

fn pod(ns: &str, &(name, _, phase, restarts): &(&str, &str, &str, u32)) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": format!("00000000-0000-4000-8000-{:012x}", name.len()),
            "resourceVersion": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": restarts,
                "image": "registry.example/app:1", "imageID": "", "started": true,
                "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
            }],
        },
    })
}

/// A `meta.k8s.io/v1` Table of pods with kube-apiserver's default columns.
fn table(pods: &[Value]) -> Value {
    let column = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": "", "priority": 0});
    let rows: Vec<_> = pods
        .iter()
        .map(|p| {
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            let (_, ready, phase, restarts) = PODS
                .iter()
                .find(|x| x.0 == name)
                .copied()
                .unwrap_or(("", "0/1", "Unknown", 0));
            json!({
                "cells": [name, ready, phase, restarts.to_string(), "90d"],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": p["metadata"],
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [
            column("Name", "name"),
            column("Ready", ""),
            column("Status", ""),
            column("Restarts", ""),
            column("Age", ""),
        ],
        "rows": rows,
    })
}

/// Whether `Accept` offers `application/json;as=Table;v=v1;g=meta.k8s.io`
/// (kubectl lists it first, with v1beta1 and plain JSON as fallbacks).
fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let params: Vec<_> = media.split(';').map(str::trim).collect();
            params.contains(&"as=Table")
                && params.contains(&"v=v1")
                && params.contains(&"g=meta.k8s.io")
        })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
