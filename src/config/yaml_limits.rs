//! Bounds on YAML input, checked before the text is scanned: the client
//! and the broker configuration loaders both refuse a file that is too
//! large or too bracket-heavy to parse in bounded time.

/// Largest configuration file (client or broker) kaccess reads.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Most `[`/`{` a configuration may hold. The YAML scanner's work grows
/// with the square of the flow-nesting depth (100 000 nested `{a: ` take
/// over a minute), so a file that could nest that deep is refused before
/// it is scanned. Real files hold a few dozen.
pub const MAX_FLOW_BRACKETS: usize = 4096;

/// Refuses YAML text too large or too bracket-heavy to scan in bounded
/// time. Shared by the client and broker configuration loaders.
pub fn check_yaml_shape(text: &str) -> Result<(), String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "the file is {} bytes; a configuration may have at most {MAX_CONFIG_BYTES}",
            text.len()
        ));
    }
    let brackets = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if brackets > MAX_FLOW_BRACKETS {
        return Err(format!(
            "the file has {brackets} `[`/`{{`; a configuration may have at most {MAX_FLOW_BRACKETS} (is it nested this deep on purpose?)"
        ));
    }
    Ok(())
}
