//! Webhooks (`notify:` in `broker.yaml`): a JSON POST to each target on
//! every access request, approval, denial, lapse and break glass, and on
//! every alert a rule in `alerts:` raises ([`Alert`]). The body
//! carries the facts as fields and a `text` that Slack and Teams incoming
//! webhooks show as is.
//!
//! Delivery never holds up a decision: each event goes out on its own task
//! per target, retried with backoff; a target that stays down is logged
//! and counted (`kaccess_notifications_total{outcome="failed"}`), and the
//! decision it would have announced stands in the audit log regardless.

use super::config::NotifyTarget;
use super::server::Shared;
use serde::Serialize;
use std::time::Duration;

/// Waits between attempts; the first attempt goes at once.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(8),
    Duration::from_secs(30),
];
/// One attempt's limit: a receiver that hangs must not pile up tasks.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `requested`, `approved`, `denied`, `lapsed`, `cancelled` or
    /// `break-glass`.
    pub event: &'static str,
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub requester: String,
    /// Who acted: the approver, or the requester themselves.
    pub actor: String,
    pub grant: String,
    pub reason: String,
    /// One line for chat.
    pub text: String,
}

/// An alert rule matched (`alerts:` in `broker.yaml`).
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Always `alert`.
    pub event: &'static str,
    /// The rule's name.
    pub alert: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Who acted in the matching record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Matches that raised it: 1, or the rule's `at-least`.
    pub count: u32,
    /// One line for chat.
    pub text: String,
    /// The (last) matching audit record, as the chain holds it.
    pub record: serde_json::Value,
}

/// Sends `event` to every configured target, in the background.
pub fn send(st: &Shared, mut event: Event) {
    event.text = chat_escape(&event.text);
    send_to_all(st, event.event, event);
}

/// Sends `alert` to every configured target, in the background.
pub fn send_alert(st: &Shared, mut alert: Alert) {
    alert.text = chat_escape(&alert.text);
    send_to_all(st, alert.event, alert);
}

/// The `text` as Slack's incoming webhooks require it: `&`, `<` and `>`
/// as entities (Teams shows them as the characters). A reason or a name
/// holding `<!channel>` or `<https://evil|your bank>` would otherwise
/// ping everyone or show a disguised link; the fields beside `text` keep
/// the raw values for machines.
fn chat_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn send_to_all<T>(st: &Shared, label: &'static str, body: T)
where
    T: Serialize + Clone + Send + Sync + 'static,
{
    let targets = st.live().config.notify.clone();
    for target in targets {
        let st = st.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let delivered = deliver(&target, label, &body).await;
            st.metrics.notification(delivered);
        });
    }
}

/// Every attempt until one is answered 2xx; false when all failed.
async fn deliver(target: &NotifyTarget, label: &str, event: &impl Serialize) -> bool {
    let mut waits = BACKOFF.iter();
    loop {
        match attempt(target, event).await {
            Ok(()) => return true,
            Err(why) => match waits.next() {
                Some(wait) => {
                    tracing::warn!(url = %target.url, event = label, error = %why, "notification failed; retrying");
                    tokio::time::sleep(*wait).await;
                }
                None => {
                    tracing::error!(url = %target.url, event = label, error = %why, "notification failed; giving up");
                    return false;
                }
            },
        }
    }
}

async fn attempt(target: &NotifyTarget, event: &impl Serialize) -> Result<(), String> {
    let mut roots = Vec::new();
    if let Some(ca) = &target.ca_file {
        let pem = tokio::fs::read(ca)
            .await
            .map_err(|e| format!("cannot read `{}`: {e}", ca.display()))?;
        roots.push(reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?);
    }
    let client = crate::http::client(roots).map_err(|e| format!("{e:#}"))?;
    let mut req = client
        .post(&target.url)
        .timeout(ATTEMPT_TIMEOUT)
        .json(event);
    if let Some(file) = &target.token_file {
        let token = tokio::fs::read_to_string(file)
            .await
            .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
        req = req.bearer_auth(token.trim());
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::chat_escape;

    #[test]
    fn chat_text_cannot_mention_everyone_or_disguise_a_link() {
        assert_eq!(
            chat_escape("INC-1 <!channel> <https://evil|bank> & more"),
            "INC-1 &lt;!channel&gt; &lt;https://evil|bank&gt; &amp; more"
        );
        assert_eq!(chat_escape("plain `prod` text"), "plain `prod` text");
    }
}
