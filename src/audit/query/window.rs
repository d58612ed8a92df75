//! `--since` and `--until`: an RFC 3339 time or an age (`24h` = 24 hours
//! before now), as `kaccess audit export --since` takes them.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `text` given to `flag` as an instant: RFC 3339, or an age before `now`.
pub fn parse_time_arg(
    flag: &str,
    text: &str,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let age = crate::units::parse_duration(text)
        .map_err(|_| format!("`{flag} {text}`: not an RFC 3339 time nor an age"))?;
    Ok(now - age)
}

/// A half-open span of time, `[since, until)`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl Window {
    /// Whether a record at `at` falls inside. A record whose time cannot be
    /// read is kept: a filter must not hide what it cannot date.
    pub fn contains(&self, at: Option<OffsetDateTime>) -> bool {
        let Some(t) = at else { return true };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    /// Whether something that lasted from `start` to `end` (`None`: still
    /// going) was in force at some time inside.
    pub fn overlaps(&self, start: OffsetDateTime, end: Option<OffsetDateTime>) -> bool {
        self.until.is_none_or(|u| start < u)
            && self.since.is_none_or(|s| end.is_none_or(|e| e >= s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn a_time_reads_as_rfc3339_or_as_an_age_before_now() {
        assert_eq!(
            parse_time_arg("--since", "2026-05-01T08:00:00Z", NOW).unwrap(),
            datetime!(2026-05-01 08:00 UTC)
        );
        assert_eq!(
            parse_time_arg("--since", "24h", NOW).unwrap(),
            datetime!(2026-05-31 12:00 UTC)
        );
        let e = parse_time_arg("--until", "last tuesday", NOW).unwrap_err();
        assert!(e.contains("`--until last tuesday`"), "{e}");
    }

    #[test]
    fn since_is_inclusive_until_is_exclusive_and_undated_records_are_kept() {
        let w = Window {
            since: Some(datetime!(2026-05-01 00:00 UTC)),
            until: Some(datetime!(2026-05-02 00:00 UTC)),
        };
        assert!(w.contains(Some(datetime!(2026-05-01 00:00 UTC))));
        assert!(w.contains(Some(datetime!(2026-05-01 23:59:59 UTC))));
        assert!(!w.contains(Some(datetime!(2026-05-02 00:00 UTC))));
        assert!(!w.contains(Some(datetime!(2026-04-30 23:59 UTC))));
        assert!(w.contains(None));
        assert!(Window::default().contains(Some(NOW)));
    }

    #[test]
    fn a_session_overlaps_a_window_it_was_open_in() {
        let w = Window {
            since: Some(datetime!(2026-05-01 00:00 UTC)),
            until: Some(datetime!(2026-05-02 00:00 UTC)),
        };
        // Started before, ended inside.
        assert!(w.overlaps(
            datetime!(2026-04-30 20:00 UTC),
            Some(datetime!(2026-05-01 01:00 UTC))
        ));
        // Started before, still open.
        assert!(w.overlaps(datetime!(2026-04-01 00:00 UTC), None));
        // Ended before it.
        assert!(!w.overlaps(
            datetime!(2026-04-30 20:00 UTC),
            Some(datetime!(2026-04-30 21:00 UTC))
        ));
        // Started after it.
        assert!(!w.overlaps(datetime!(2026-05-02 00:00 UTC), None));
    }
}
