//! Quantities as people write and read them: durations in config files and
//! flags (`15m`, `8h`, `1h30m`), with serde support so config structs can
//! hold them directly, and counts in messages (`1 record`, `2 records`).

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Parses `90s`, `15m`, `8h`, `1h30m`, `2d`. A bare number is refused: the
/// unit is what keeps `ttl: 10` from meaning ten seconds to one reader and
/// ten minutes to another.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; expected e.g. `90s`, `15m`, `8h`, `1h30m`".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let mult = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(format!(
                    "`{t}` is not a duration: unexpected `{c}`; expected e.g. `90s`, `15m`, `8h`, `1h30m`"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!(
                "`{t}` is not a duration: unit `{c}` has no number before it"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{t}` is not a duration: number too large"))?;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{t}` is not a duration: too large"))?;
        digits.clear();
        saw_unit = true;
    }
    if !digits.is_empty() {
        return Err(if saw_unit {
            format!("`{t}` is not a duration: trailing number without a unit")
        } else {
            format!("`{t}` has no unit; write e.g. `{t}s` or `{t}m`")
        });
    }
    Ok(Duration::from_secs(total))
}

/// Formats as the largest exact units: `1h30m`, `15m`, `45s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

/// serde adapter: `#[serde(with = "crate::units::serde_duration")]`.
pub mod serde_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// serde adapter for `Option<Duration>`.
pub mod serde_opt_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `1 record`, `3 records`: a count with its noun (regular plurals only).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn refuses_bare_numbers_and_unknown_units() {
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("10y")
                .unwrap_err()
                .contains("unexpected `y`")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").unwrap_err().contains("no number"));
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["1h30m", "15m", "45s", "8h", "1d2h"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn counts_of_one_are_singular() {
        assert_eq!(count(1, "record"), "1 record");
        assert_eq!(count(0, "record"), "0 records");
        assert_eq!(count(12, "file"), "12 files");
    }
}
