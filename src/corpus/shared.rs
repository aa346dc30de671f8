//! [`Text`]: a corpus text that many owners share without copying it.
//!
//! An update holds every pair's question and answer three times over: in
//! the previous generation's metadata, in the corpus taken from it
//! ([`super::Recorded`]), and in the new generation's metadata. As `String`s
//! each hand-over copied them (about 500 MB of fresh memory at a million
//! pairs, three million allocations); a [`Text`] is handed over by counting
//! one more owner. It is a range of a shared buffer, so that texts read
//! together can share one allocation.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string shared by reference count: a range of a buffer
/// that other texts may share. Cloning it copies no text. Compares,
/// hashes, orders, prints and serializes as the `str` it holds.
#[derive(Clone)]
pub struct Text {
    buf: Arc<String>,
    start: usize,
    end: usize,
}

impl Text {
    /// The empty text (one buffer shared by every empty text).
    pub fn empty() -> Text {
        static EMPTY: std::sync::LazyLock<Arc<String>> =
            std::sync::LazyLock::new(|| Arc::new(String::new()));
        Text {
            buf: Arc::clone(&EMPTY),
            start: 0,
            end: 0,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // In range and on character boundaries by construction (`From`
        // takes a whole string; `slice` checks both).
        &self.buf[self.start..self.end]
    }

    /// The text at `range` of `buf`, sharing it; None where the range is
    /// out of `buf` or cuts a character.
    pub fn slice(buf: &Arc<String>, range: std::ops::Range<usize>) -> Option<Text> {
        buf.get(range.clone())?;
        Some(Text {
            buf: Arc::clone(buf),
            start: range.start,
            end: range.end,
        })
    }

    /// True when both are the same range of the same buffer (so equal
    /// without comparing a byte).
    pub fn same(&self, other: &Text) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf) && self.start == other.start && self.end == other.end
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::empty()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.is_empty() {
            return Text::empty();
        }
        let end = s.len();
        Text {
            buf: Arc::new(s),
            start: 0,
            end,
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::from(s.to_string())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.same(other) || self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        String::deserialize(deserializer).map(Text::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_the_str_it_holds_and_shares_its_buffer() {
        let buf = Arc::new("Ann went to Rome. Bö was there.".to_string());
        let first = Text::slice(&buf, 0..17).unwrap();
        let second = Text::slice(&buf, 18..buf.len()).unwrap();
        assert_eq!(first, "Ann went to Rome.");
        assert_eq!(&*second, "Bö was there.");
        assert_eq!(first.len(), 17);
        assert!(Text::slice(&buf, 19..20).is_none(), "cuts 'ö'");
        assert!(
            Text::slice(&buf, 0..buf.len() + 1).is_none(),
            "past the end"
        );
        // A clone shares the buffer; an equal text elsewhere is equal too.
        let clone = second.clone();
        assert!(clone.same(&second) && Arc::strong_count(&buf) == 4);
        let apart = Text::from("Bö was there.");
        assert!(!apart.same(&second));
        assert_eq!(apart, second);
        assert_ne!(apart, first);
        assert!(first < second);
        assert_eq!(
            format!("{first}|{second:?}"),
            "Ann went to Rome.|\"Bö was there.\""
        );
        // Serialized as the str it holds, read back as its own buffer.
        let json = serde_json::to_string(&second).unwrap();
        assert_eq!(json, "\"Bö was there.\"");
        let back: Text = serde_json::from_str(&json).unwrap();
        assert_eq!(back, second);
        assert_eq!(Text::default(), "");
        let hash = |t: &Text| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(t)
        };
        assert_eq!(hash(&apart), hash(&second));
    }
}
