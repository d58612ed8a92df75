//! Free text that reaches the audit chain (reasons above all) must read
//! the same wherever it is shown: in a terminal, a Markdown report, a
//! spreadsheet. Unicode bidirectional controls and other invisible format
//! characters (general category Cf) make `INC-1` + U+202E + `evil` display
//! as something other than what the chain holds, so they are refused, not
//! stripped: a silent edit would change what the person wrote.

/// Unicode's format characters (general category Cf, Unicode 15), as
/// inclusive ranges; C0 and C1 controls are refused separately.
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A control or format character: text holding one may not display as it
/// reads.
pub fn is_deceptive(c: char) -> bool {
    let n = c as u32;
    c.is_control() || FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&n))
}

fn name(c: char) -> &'static str {
    match c as u32 {
        0x202A => "LEFT-TO-RIGHT EMBEDDING",
        0x202B => "RIGHT-TO-LEFT EMBEDDING",
        0x202C => "POP DIRECTIONAL FORMATTING",
        0x202D => "LEFT-TO-RIGHT OVERRIDE",
        0x202E => "RIGHT-TO-LEFT OVERRIDE",
        0x2066 => "LEFT-TO-RIGHT ISOLATE",
        0x2067 => "RIGHT-TO-LEFT ISOLATE",
        0x2068 => "FIRST STRONG ISOLATE",
        0x2069 => "POP DIRECTIONAL ISOLATE",
        0x200E => "LEFT-TO-RIGHT MARK",
        0x200F => "RIGHT-TO-LEFT MARK",
        0x061C => "ARABIC LETTER MARK",
        0x200B => "ZERO WIDTH SPACE",
        0x200C => "ZERO WIDTH NON-JOINER",
        0x200D => "ZERO WIDTH JOINER",
        0xFEFF => "ZERO WIDTH NO-BREAK SPACE",
        0x00AD => "SOFT HYPHEN",
        0x0A => "LINE FEED",
        0x0D => "CARRIAGE RETURN",
        0x09 => "TAB",
        n if n < 0x20 || (0x7F..0xA0).contains(&n) => "a control character",
        _ => "an invisible format character",
    }
}

/// Refuses `text` (what the user gave as `what`, e.g. `--reason`) if it
/// holds a control or format character, naming the first and where it is.
pub fn check_free_text(what: &str, text: &str) -> Result<(), String> {
    match text.chars().enumerate().find(|(_, c)| is_deceptive(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(format!(
            "{what} holds U+{:04X} ({}) at character {}: it would show differently from what \
             the audit log keeps; write it as plain text, on one line",
            c as u32,
            name(c),
            at + 1
        )),
    }
}

/// clap's parser for every `--reason`: refused at once, before any login.
pub fn reason_arg(text: &str) -> Result<String, String> {
    check_free_text("the reason", text)?;
    Ok(text.to_string())
}

/// `text` with every control or format character written as `\u{XXXX}`:
/// for text kaccess must keep but did not choose (a client's user agent).
pub fn escape_deceptive(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_deceptive(c) {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_right_to_left_override_is_refused_by_name_and_position() {
        let e = check_free_text("`--reason`", "INC-1\u{202E}evil").unwrap_err();
        assert!(
            e.contains("U+202E (RIGHT-TO-LEFT OVERRIDE) at character 6"),
            "{e}"
        );
        for bad in [
            "a\u{2066}b",
            "a\u{200B}b",
            "a\nb",
            "a\u{FEFF}",
            "\u{E0041}tag",
            "a\u{85}b",
        ] {
            assert!(check_free_text("x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ordinary_text_in_any_script_passes() {
        for good in [
            "INC-1 payments down",
            "Störung im Zahlungsverkehr",
            "حادث ١٢",
            "事故 #7",
            "emoji 🔥 ok",
        ] {
            assert!(check_free_text("x", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn kept_text_shows_its_hidden_characters() {
        assert_eq!(escape_deceptive("curl\u{202E}1"), "curl\\u{202E}1");
    }
}
