//! Who ended a session before its time, and the one sentence every
//! refusal of it uses (the proxy's 401, the broker's exchange), so the
//! person reading kubectl's error learns who to ask and when it happened.

use super::model::Session;
use time::{OffsetDateTime, UtcOffset};

/// Who revoked a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokedBy {
    /// Its owner, with `kaccess logout`.
    Logout,
    /// Its owner otherwise (a new login replaced it, or a direct call).
    Owner,
    /// A broker admin, by username.
    Admin(String),
}

impl RevokedBy {
    /// As the `revoked_by` column and the replicas' notifications keep it:
    /// `logout`, `owner` or `admin:NAME`.
    pub fn stored(&self) -> String {
        match self {
            RevokedBy::Logout => "logout".into(),
            RevokedBy::Owner => "owner".into(),
            RevokedBy::Admin(name) => format!("admin:{name}"),
        }
    }

    /// `None` for a value this broker does not know (a newer broker
    /// wrote it): the refusal then says only when.
    pub fn from_stored(text: &str) -> Option<RevokedBy> {
        match text {
            "logout" => Some(RevokedBy::Logout),
            "owner" => Some(RevokedBy::Owner),
            _ => text
                .strip_prefix("admin:")
                .filter(|name| !name.is_empty())
                .map(|name| RevokedBy::Admin(name.to_string())),
        }
    }
}

/// A revoked session, as a refusal describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: OffsetDateTime,
    /// `None` for a revocation stored before brokers kept who did it.
    pub by: Option<RevokedBy>,
    /// The session's owner: the person reading the refusal.
    pub username: String,
}

impl Revocation {
    pub fn of(session: &Session) -> Option<Revocation> {
        Some(Revocation {
            at: session.revoked_at?,
            by: session.revoked_by.clone(),
            username: session.username.clone(),
        })
    }

    /// `session revoked by bob at 12:03 UTC`, told to the session's owner;
    /// `subject` names the session (`session`, or `` session `ID` ``).
    pub fn sentence(&self, subject: &str, now: OffsetDateTime) -> String {
        let when = short_time(self.at, now);
        let you = &self.username;
        match &self.by {
            Some(RevokedBy::Admin(name)) => format!("{subject} revoked by {name} at {when}"),
            Some(RevokedBy::Owner) => format!("{subject} revoked by you ({you}) at {when}"),
            Some(RevokedBy::Logout) => {
                format!("{subject} ended when you ({you}) logged out at {when}")
            }
            None => format!("{subject} revoked at {when}"),
        }
    }
}

/// `12:03 UTC` on `now`'s (UTC) day, `2026-05-01 12:03 UTC` on another:
/// short enough for kubectl's one-line error, unambiguous across zones.
pub fn short_time(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let (at, now) = (at.to_offset(UtcOffset::UTC), now.to_offset(UtcOffset::UTC));
    let clock = format!("{:02}:{:02} UTC", at.hour(), at.minute());
    if at.date() == now.date() {
        clock
    } else {
        format!("{} {clock}", at.date())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn revoked(by: Option<RevokedBy>) -> Revocation {
        Revocation {
            at: datetime!(2026-05-01 12:03:59 UTC),
            by,
            username: "alice@example.com".into(),
        }
    }

    #[test]
    fn the_sentence_names_who_revoked_and_when() {
        let now = datetime!(2026-05-01 12:30 UTC);
        let cases = [
            (
                Some(RevokedBy::Admin("bob".into())),
                "session revoked by bob at 12:03 UTC",
            ),
            (
                Some(RevokedBy::Owner),
                "session revoked by you (alice@example.com) at 12:03 UTC",
            ),
            (
                Some(RevokedBy::Logout),
                "session ended when you (alice@example.com) logged out at 12:03 UTC",
            ),
            (None, "session revoked at 12:03 UTC"),
        ];
        for (by, want) in cases {
            assert_eq!(revoked(by).sentence("session", now), want);
        }
        assert_eq!(
            revoked(Some(RevokedBy::Admin("bob".into()))).sentence("session `s1`", now),
            "session `s1` revoked by bob at 12:03 UTC"
        );
    }

    #[test]
    fn the_time_is_utc_and_gains_its_date_on_another_day() {
        let at = datetime!(2026-05-01 23:59 UTC);
        assert_eq!(
            short_time(at, datetime!(2026-05-01 23:59:30 UTC)),
            "23:59 UTC"
        );
        assert_eq!(
            short_time(at, datetime!(2026-05-02 00:01 UTC)),
            "2026-05-01 23:59 UTC"
        );
        // Written in another zone, read in UTC.
        let paris = datetime!(2026-05-02 01:59 +2);
        assert_eq!(
            short_time(paris, datetime!(2026-05-01 23:59:30 UTC)),
            "23:59 UTC"
        );
    }

    #[test]
    fn who_revoked_round_trips_through_its_stored_form_and_unknown_forms_are_none() {
        for by in [
            RevokedBy::Logout,
            RevokedBy::Owner,
            RevokedBy::Admin("bob@example.com".into()),
        ] {
            assert_eq!(RevokedBy::from_stored(&by.stored()), Some(by));
        }
        assert_eq!(RevokedBy::from_stored("admin:"), None);
        assert_eq!(RevokedBy::from_stored("robot:cron"), None);
    }
}
