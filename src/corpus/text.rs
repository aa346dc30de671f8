//! What counts as text: one test, shared by every front end (questions) and
//! every corpus reader (questions, answers, passages).
//!
//! The models read a text after their own normalisation, which drops what
//! carries nothing: control characters, format characters (zero-width
//! spaces and joiners, direction marks, the BOM, soft hyphens, tags),
//! combining marks with no base (accents are stripped by MiniLM's), variation
//! selectors, U+FFFD. A text made only of those (and whitespace) reaches the
//! model empty, and its vector is the same for every such text: asked, it
//! would match any other such text with confidence. So it is refused: a
//! question is a usage error (exit 2, HTTP 400, MCP tool error), a corpus
//! text is skipped with a warning naming its file and line.

/// Whether `text` holds anything a model reads (see the module comment).
pub fn means_something(text: &str) -> bool {
    text.chars().any(|c| !carries_nothing(c))
}

/// Characters the models' normalisation removes or that stand for nothing.
pub(crate) fn carries_nothing(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFEFF
            | 0xFFA0 | 0xFFF0..=0xFFFD | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF
            // Combining marks (with no base they are nothing).
            | 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
            | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
}

/// `text` for a message: control characters shown as escapes, so a message
/// about an invisible text says what it holds.
pub fn visible(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_texts_mean_nothing_and_every_script_means_something() {
        for nothing in [
            "",
            "  \t\n",
            "\u{1}\u{2}",
            "\u{200B}\u{200D}\u{FEFF}",
            "\u{202E}\u{2066}",
            "\u{301}\u{308}",
            "\u{FE0F}\u{E0041}",
            "\u{FFFD}",
            "\u{AD}\u{7F}\u{9F}",
        ] {
            assert!(!means_something(nothing), "{nothing:?}");
        }
        for something in [
            "a",
            "?",
            "42",
            "é",
            "日本",
            "Привет",
            "🚲",
            "\u{200B}x",
            "ـ",
            "·",
            "\u{E000}",
        ] {
            assert!(means_something(something), "{something:?}");
        }
    }
}
