//! Before an `exec` or `attach` is forwarded: whether the cluster's
//! `record:` policy wants it recorded, whether it can be, and the file it
//! goes to. Under `required`, a stream that cannot be recorded is refused
//! here, before anything reaches the apiserver.

use super::Recorder;
use super::asciicast::Header;
use super::channel;
use crate::proxy::config::RecordPolicy;
use crate::proxy::request_info::RequestInfo;
use http::HeaderMap;
use std::path::Path;

/// The decision for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Not an interactive stream, or `record: off`.
    Skip,
    Record,
    /// `optional`, and this stream cannot be recorded: why.
    Unrecorded(String),
}

/// Streams recorded: `pods/exec` and `pods/attach`.
pub fn is_interactive(info: &RequestInfo) -> bool {
    info.resource == "pods" && matches!(info.subresource.as_str(), "exec" | "attach")
}

/// Decides for `info`; under `required` a stream that cannot be recorded
/// is `Err(message)` (the refusal, naming the fix), and the offered
/// subprotocols are narrowed to those a recording parses.
pub fn decide(
    policy: RecordPolicy,
    audit_dir: Option<&Path>,
    cluster: &str,
    info: &RequestInfo,
    headers: &mut HeaderMap,
    upgrade: bool,
) -> Result<Plan, String> {
    if policy == RecordPolicy::Off || !is_interactive(info) {
        return Ok(Plan::Skip);
    }
    let why = match audit_dir {
        None => Some(
            "the broker keeps no audit file to put recordings beside (PostgreSQL state)".into(),
        ),
        Some(_) => channel::unrecordable(headers, upgrade),
    };
    match (why, policy) {
        (None, RecordPolicy::Required) => {
            channel::offer_only_recordable(headers);
            Ok(Plan::Record)
        }
        (None, _) => Ok(Plan::Record),
        (Some(why), RecordPolicy::Required) => Err(format!(
            "kaccess proxy: cluster `{cluster}` requires every {} to be recorded \
             (`record: required`), and this one cannot be: {why}; use kubectl 1.30 or newer, \
             which speaks WebSocket (and leave KUBECTL_REMOTE_COMMAND_WEBSOCKETS unset), or ask \
             the broker's operator for `record: optional` in `clusters.{cluster}.proxy`",
            info.subresource
        )),
        (Some(why), _) => Ok(Plan::Unrecorded(why)),
    }
}

/// The recording's header for `info`.
pub fn header(info: &RequestInfo) -> Header {
    let command = (!info.command.is_empty()).then(|| info.command.join(" "));
    let mut title = format!("{} {}/{}", info.subresource, info.namespace, info.name);
    if let Some(c) = &info.container {
        title.push_str(&format!(" -c {c}"));
    }
    if let Some(c) = &command {
        title.push_str(&format!(" -- {c}"));
    }
    Header {
        timestamp: 0,
        title,
        command,
    }
}

/// Opens the recording of a `Record` plan.
pub fn open(
    audit_dir: &Path,
    session: &str,
    request: &str,
    info: &RequestInfo,
) -> Result<Recorder, String> {
    Recorder::create(audit_dir, session, request, header(info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn exec() -> RequestInfo {
        crate::proxy::request_info::parse(
            "GET",
            "/api/v1/namespaces/default/pods/web/exec",
            Some("command=sh&stdin=true"),
        )
    }

    fn spdy() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("upgrade", HeaderValue::from_static("SPDY/3.1"));
        h
    }

    #[test]
    fn required_refuses_spdy_naming_the_fix_optional_runs_it_unrecorded_off_skips() {
        let dir = Path::new("/var/lib/kaccess");
        let info = exec();
        let why = decide(
            RecordPolicy::Required,
            Some(dir),
            "prod",
            &info,
            &mut spdy(),
            true,
        )
        .unwrap_err();
        assert!(
            why.contains("SPDY/3.1") && why.contains("kubectl 1.30"),
            "{why}"
        );
        assert!(why.contains("record: optional"), "{why}");
        let plan = decide(
            RecordPolicy::Optional,
            Some(dir),
            "prod",
            &info,
            &mut spdy(),
            true,
        );
        assert!(matches!(plan, Ok(Plan::Unrecorded(w)) if w.contains("SPDY")));
        let plan = decide(
            RecordPolicy::Off,
            Some(dir),
            "prod",
            &info,
            &mut spdy(),
            true,
        );
        assert_eq!(plan, Ok(Plan::Skip));
    }

    #[test]
    fn only_exec_and_attach_are_recorded_and_without_an_audit_file_nothing_can_be() {
        let logs = crate::proxy::request_info::parse(
            "GET",
            "/api/v1/namespaces/default/pods/web/log",
            None,
        );
        let mut h = HeaderMap::new();
        assert_eq!(
            decide(RecordPolicy::Required, None, "prod", &logs, &mut h, false),
            Ok(Plan::Skip)
        );
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("v5.channel.k8s.io"),
        );
        let why = decide(RecordPolicy::Required, None, "prod", &exec(), &mut h, true).unwrap_err();
        assert!(why.contains("PostgreSQL"), "{why}");
        assert_eq!(
            decide(
                RecordPolicy::Required,
                Some(Path::new("/x")),
                "prod",
                &exec(),
                &mut h,
                true
            ),
            Ok(Plan::Record)
        );
        assert_eq!(header(&exec()).title, "exec default/web -- sh");
    }
}
