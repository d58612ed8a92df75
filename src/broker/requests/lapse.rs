//! Pending and approved-but-unused requests past their `expires_at` lapse:
//! the broker's periodic sweep records each once (audit record, webhook).
//! Decisions check the time themselves, so nothing waits on the sweep.

use super::super::server::Shared;
use super::{announce, describe};
use crate::store::RequestState;
use time::OffsetDateTime;

pub async fn sweep(st: &Shared, now: OffsetDateTime) {
    let (due, _) = st.store.requests(|r| r.lapsed_at(now), usize::MAX);
    for r in due {
        let next = r.next(|n| n.state = RequestState::Lapsed);
        // Another replica may have swept it first: that one records it.
        if st.store.put_request(next.clone()).await.is_err() {
            continue;
        }
        let mut rec = crate::audit::AuditRecord::new("request");
        describe(&mut rec, &next);
        rec.reason = Some(next.reason.clone());
        rec.outcome = "lapsed".into();
        rec.cause = Some(format!(
            "{} request not used or decided before it expired",
            if r.state == RequestState::Approved {
                "an approved"
            } else {
                "a pending"
            }
        ));
        if let Err(e) = st.audit.append(rec).await {
            tracing::error!(error = %e, request = %next.id, "cannot audit a lapsed request");
        }
        announce(st, "lapsed", &next, "kaccess", &next.reason);
    }
}
