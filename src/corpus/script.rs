//! Which writing systems a corpus uses, so that `index` can say when the
//! model cannot read it (an English-only model over an Arabic FAQ ranks by
//! noise, and nothing else would say so).

use std::collections::HashMap;

/// A writing system, as far as telling a reader "this model cannot read it" needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Script {
    /// Latin letters (English, German, Spanish, Vietnamese, …).
    Latin,
    /// Greek.
    Greek,
    /// Cyrillic (Russian, Ukrainian, Bulgarian, …).
    Cyrillic,
    /// Armenian.
    Armenian,
    /// Hebrew.
    Hebrew,
    /// Arabic (Arabic, Persian, Urdu, …).
    Arabic,
    /// Devanagari (Hindi, Marathi, Nepali, …).
    Devanagari,
    /// The other scripts of India and South Asia (Bengali, Tamil, …).
    OtherIndic,
    /// Thai.
    Thai,
    /// Georgian.
    Georgian,
    /// Hangul (Korean).
    Hangul,
    /// Hiragana and katakana (Japanese).
    Kana,
    /// Han characters (Chinese; Japanese kanji).
    Han,
    /// Ethiopic.
    Ethiopic,
    /// Any other letters.
    Other,
}

impl Script {
    /// The script of a letter; None for anything that is not a letter.
    pub fn of(c: char) -> Option<Script> {
        if !c.is_alphabetic() {
            return None;
        }
        let u = c as u32;
        Some(match u {
            0x0000..=0x024F
            | 0x1E00..=0x1EFF
            | 0x2C60..=0x2C7F
            | 0xA720..=0xA7FF
            | 0xFF21..=0xFF5A => Script::Latin,
            0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
            0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => {
                Script::Cyrillic
            }
            0x0530..=0x058F => Script::Armenian,
            0x0590..=0x05FF | 0xFB1D..=0xFB4F => Script::Hebrew,
            0x0600..=0x06FF
            | 0x0750..=0x077F
            | 0x08A0..=0x08FF
            | 0xFB50..=0xFDFF
            | 0xFE70..=0xFEFF => Script::Arabic,
            0x0900..=0x097F | 0xA8E0..=0xA8FF => Script::Devanagari,
            0x0980..=0x0DFF => Script::OtherIndic,
            0x0E00..=0x0E7F => Script::Thai,
            0x10A0..=0x10FF | 0x2D00..=0x2D2F => Script::Georgian,
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
            0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Kana,
            0x2E80..=0x2FDF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0x20000..=0x3FFFF => Script::Han,
            0x1200..=0x139F | 0x2D80..=0x2DDF => Script::Ethiopic,
            _ => Script::Other,
        })
    }

    /// What a reader calls text mostly in this script.
    pub fn language_name(self) -> &'static str {
        match self {
            Script::Latin => "Latin-script",
            Script::Greek => "Greek",
            Script::Cyrillic => "Cyrillic-script (Russian, Ukrainian, …)",
            Script::Armenian => "Armenian",
            Script::Hebrew => "Hebrew",
            Script::Arabic => "Arabic-script (Arabic, Persian, Urdu, …)",
            Script::Devanagari => "Devanagari (Hindi, Marathi, …)",
            Script::OtherIndic => "South Asian (Bengali, Tamil, …)",
            Script::Thai => "Thai",
            Script::Georgian => "Georgian",
            Script::Hangul => "Korean",
            Script::Kana => "Japanese",
            Script::Han => "Chinese or Japanese",
            Script::Ethiopic => "Ethiopic-script (Amharic, Tigrinya, …)",
            Script::Other => "in a script other than Latin",
        }
    }
}

/// Letters counted per script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    counts: HashMap<Script, usize>,
    letters: usize,
}

/// Letters read at most: a sample is enough to tell a script.
const SAMPLE_LETTERS: usize = 2_000_000;

impl Profile {
    /// Counts the letters of `texts` (up to a couple of million).
    pub fn of<'a>(texts: impl IntoIterator<Item = &'a str>) -> Profile {
        let mut p = Profile::default();
        // Most letters are Latin: counted apart from the map.
        let mut latin = 0;
        for t in texts {
            for s in t.chars().filter_map(Script::of) {
                match s {
                    Script::Latin => latin += 1,
                    other => *p.counts.entry(other).or_default() += 1,
                }
                p.letters += 1;
            }
            if p.letters >= SAMPLE_LETTERS {
                break;
            }
        }
        if latin > 0 {
            p.counts.insert(Script::Latin, latin);
        }
        // Japanese mixes kana and kanji: count them as one.
        if p.counts.get(&Script::Kana).copied().unwrap_or(0) * 10 >= p.letters {
            let han = p.counts.remove(&Script::Han).unwrap_or(0);
            *p.counts.entry(Script::Kana).or_default() += han;
        }
        p
    }

    /// The script with the most letters that is not Latin, and its share of
    /// all letters.
    pub fn main_non_latin(&self) -> Option<(Script, f64)> {
        self.counts
            .iter()
            .filter(|(s, _)| **s != Script::Latin)
            .max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)))
            .map(|(s, n)| (*s, *n as f64 / self.letters.max(1) as f64))
    }
}

/// Share of letters in another script from which a warning is given.
pub const WARN_SHARE: f64 = 0.2;

/// A warning when a model that reads only Latin-script English is given a
/// corpus mostly in another script. `english_only` says what the model reads.
pub fn mismatch(profile: &Profile, model: &str, english_only: bool) -> Option<String> {
    if !english_only {
        return None;
    }
    let (script, share) = profile.main_non_latin()?;
    (share >= WARN_SHARE).then(|| {
        format!(
            "this corpus looks {} ({:.0}% of its letters), but the model {model} reads English only: \
             its answers to questions in that language will be close to noise (only the lexical arm \
             matches words): the multilingual model e5-small reads it",
            script.language_name(),
            share * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_of_letters() {
        assert_eq!(Script::of('a'), Some(Script::Latin));
        assert_eq!(Script::of('ß'), Some(Script::Latin));
        assert_eq!(Script::of('ж'), Some(Script::Cyrillic));
        assert_eq!(Script::of('ب'), Some(Script::Arabic));
        assert_eq!(Script::of('भ'), Some(Script::Devanagari));
        assert_eq!(Script::of('书'), Some(Script::Han));
        assert_eq!(Script::of('の'), Some(Script::Kana));
        assert_eq!(Script::of('한'), Some(Script::Hangul));
        assert_eq!(Script::of('1'), None);
        assert_eq!(Script::of('?'), None);
        assert_eq!(Script::of('؟'), None);
    }

    #[test]
    fn a_corpus_in_another_script_gets_a_warning_for_an_english_model() {
        let arabic = Profile::of(["ما هو الهدف من التحالف؟", "الهدف هو السلام في المنطقة."]);
        let w = mismatch(&arabic, "all-MiniLM-L6-v2", true).unwrap();
        assert!(w.contains("Arabic") && w.contains("100%"), "{w}");
        assert_eq!(
            mismatch(&arabic, "e5", false),
            None,
            "a multilingual model is fine"
        );
        let english = Profile::of([
            "What is the goal?",
            "Peace in the region, say Москва and 北京.",
        ]);
        assert_eq!(
            mismatch(&english, "m", true),
            None,
            "a few foreign names are fine"
        );
        let japanese = Profile::of(["東京は日本の首都です。", "大阪はどこですか？"]);
        assert_eq!(japanese.main_non_latin().unwrap().0, Script::Kana);
        let hindi = Profile::of(["भारत की राजधानी नई दिल्ली है।"]);
        assert!(mismatch(&hindi, "m", true).unwrap().contains("Devanagari"));
        assert_eq!(mismatch(&Profile::of(["123 ?!"]), "m", true), None);
    }
}
