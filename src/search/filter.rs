//! Filters on pairs' metadata: `--where name=value`, several together.
//!
//! A pair passes when, for every term, one of its metadata fields has the
//! term's name (ASCII case ignored) and value (case ignored). Passages carry
//! no metadata: a filter leaves them out. The views search only the pairs a
//! filter passes: by scanning their vectors when they are few
//! ([`scan_up_to`]: at least [`EXACT_FILTERED`] rows, more in a larger
//! index), otherwise by walking the graph until it holds the usual breadth
//! of rows that pass.

use crate::error::{Error, Result};
use crate::store::{Meta, PairMeta};

/// Up to this many vector rows of the pairs a filter passes are always
/// scanned rather than searched in the graph (a scan of 20,000
/// 384-dimension vectors takes about 4 ms, and finds the exact nearest).
pub const EXACT_FILTERED: usize = 20_000;

/// The most filtered rows scanned in an index of `rows` rows: a scan costs
/// about 0.22 µs a row, a filtered walk of the graph about the unfiltered
/// walk (1.7 ms at 200,000 rows) times the share the filter leaves out, so
/// scanning is cheaper below √(8,000 · rows) filtered rows (`cargo bench
/// --bench filter`, docs/benchmarks.md "Filters"), and never less than
/// [`EXACT_FILTERED`].
pub fn scan_up_to(rows: usize) -> usize {
    EXACT_FILTERED.max((8_000.0 * rows as f64).sqrt() as usize)
}

/// Terms a pair's metadata must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<(String, String)>,
}

impl Filter {
    /// A filter of `name=value` terms, as the command line and the APIs give them.
    pub fn parse<S: AsRef<str>>(terms: &[S]) -> Result<Filter> {
        let terms = terms
            .iter()
            .map(|t| {
                let t = t.as_ref();
                match t.split_once('=') {
                    Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
                        Ok((name.trim().to_string(), value.trim().to_string()))
                    }
                    _ => Err(Error::Usage(format!(
                        "the filter {t:?} is not name=value: filter on a field of the pairs' \
                         metadata, e.g. --where category=billing"
                    ))),
                }
            })
            .collect::<Result<_>>()?;
        Ok(Filter { terms })
    }

    /// A filter of (name, value) terms.
    pub fn of<N: Into<String>, V: Into<String>>(terms: impl IntoIterator<Item = (N, V)>) -> Filter {
        Filter {
            terms: terms
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// A filter as JSON gives it (the HTTP API's and MCP's `where`): an
    /// object of field → value (`{"category": "billing"}`), or a list of
    /// `"name=value"` strings; null is no filter.
    pub fn from_json(value: &serde_json::Value) -> Result<Filter> {
        use serde_json::Value;
        let usage = || {
            Error::Usage(
                "`where` must be an object of field and value, e.g. {\"category\": \"billing\"}"
                    .into(),
            )
        };
        match value {
            Value::Null => Ok(Filter::default()),
            Value::Object(fields) => {
                let terms = fields
                    .iter()
                    .map(|(name, v)| match v {
                        Value::String(s) => Ok(format!("{name}={s}")),
                        Value::Number(n) => Ok(format!("{name}={n}")),
                        Value::Bool(b) => Ok(format!("{name}={b}")),
                        _ => Err(usage()),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Filter::parse(&terms)
            }
            Value::Array(items) => {
                let terms = items
                    .iter()
                    .map(|v| v.as_str().ok_or_else(usage))
                    .collect::<Result<Vec<_>>>()?;
                Filter::parse(&terms)
            }
            _ => Err(usage()),
        }
    }

    /// True when the filter lets every pair through.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms, as given.
    pub fn terms(&self) -> &[(String, String)] {
        &self.terms
    }

    /// Whether a pair passes.
    pub fn passes(&self, pair: &PairMeta) -> bool {
        self.terms.iter().all(|(name, value)| {
            pair.meta
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && same_text(v, value))
        })
    }

    /// The pairs that pass, in order, from the metadata's field index
    /// (None when the filter is empty): as many steps as the rarest term
    /// has pairs, not as the corpus has.
    pub fn pairs(&self, meta: &Meta) -> Option<Vec<u32>> {
        let mut lists: Vec<&[u32]> = self
            .terms
            .iter()
            .map(|(name, value)| meta.pairs_with(name, value))
            .collect();
        lists.sort_by_key(|l| l.len());
        let (first, rest) = lists.split_first()?;
        Some(
            first
                .iter()
                .copied()
                .filter(|p| rest.iter().all(|l| l.binary_search(p).is_ok()))
                .collect(),
        )
    }

    /// Per pair, whether it passes (None when the filter is empty).
    pub fn mask(&self, meta: &Meta) -> Option<Vec<bool>> {
        let pairs = self.pairs(meta)?;
        let mut mask = vec![false; meta.pairs.len()];
        pairs.iter().for_each(|&p| mask[p as usize] = true);
        Some(mask)
    }
}

/// Equal, ignoring case (as [`Meta::pairs_with`] compares).
fn same_text(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || (!a.is_ascii() && a.to_lowercase() == b.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(meta: &[(&str, &str)]) -> PairMeta {
        PairMeta {
            doc: 0,
            question: "Q?".into(),
            answer: "A.".into(),
            line: 1,
            meta: meta
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            passage: false,
        }
    }

    #[test]
    fn every_term_must_match_a_field_ignoring_case() {
        let f = Filter::parse(&["Category=Billing", "tags=eu"]).unwrap();
        assert!(f.passes(&pair(&[
            ("category", "billing"),
            ("tags", "us"),
            ("tags", "EU")
        ])));
        assert!(!f.passes(&pair(&[("category", "billing"), ("tags", "us")])));
        assert!(!f.passes(&pair(&[])));
        let g = Filter::parse(&["stadt=MÜNCHEN"]).unwrap();
        assert!(g.passes(&pair(&[("Stadt", "München")])));
    }

    #[test]
    fn the_field_index_gives_the_pairs_every_term_passes() {
        let pairs = vec![
            pair(&[("category", "Billing"), ("tags", "eu")]),
            pair(&[("category", "billing"), ("tags", "us"), ("tags", "eu")]),
            pair(&[("category", "account")]),
            pair(&[("Category", "BILLING"), ("tags", "us")]),
        ];
        let doc = crate::store::DocMeta {
            key: "a".into(),
            source: "a".into(),
        };
        let meta = Meta::new(vec![doc], pairs.clone(), Vec::new(), 0);
        let both = Filter::parse(&["category=billing", "TAGS=eu"]).unwrap();
        assert_eq!(both.pairs(&meta), Some(vec![0, 1]));
        let one = Filter::parse(&["category=billing"]).unwrap();
        assert_eq!(one.pairs(&meta), Some(vec![0, 1, 3]));
        // The index and `passes` agree.
        for f in [&both, &one] {
            let by_scan: Vec<u32> = (0..4).filter(|&i| f.passes(&pairs[i as usize])).collect();
            assert_eq!(f.pairs(&meta), Some(by_scan));
        }
        assert_eq!(Filter::default().pairs(&meta), None);
        assert_eq!(Filter::parse(&["x=y"]).unwrap().pairs(&meta), Some(vec![]));
    }

    #[test]
    fn json_gives_an_object_or_a_list_of_terms() {
        let object = Filter::from_json(&serde_json::json!({"category": "billing", "year": 2024}));
        let list = Filter::from_json(&serde_json::json!(["category=billing", "year=2024"]));
        assert_eq!(object.unwrap(), list.unwrap());
        assert!(Filter::from_json(&serde_json::Value::Null)
            .unwrap()
            .is_empty());
        for bad in [
            serde_json::json!("category=billing"),
            serde_json::json!({"a": {"b": 1}}),
        ] {
            assert!(Filter::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_term_without_name_or_value_is_a_usage_error() {
        for bad in ["category", "=billing", "category=", " = "] {
            let e = Filter::parse(&[bad]).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{bad}");
            assert!(e.to_string().contains("name=value"), "{e}");
        }
        assert_eq!(
            Filter::parse(&["a=b=c"]).unwrap().terms(),
            [("a".to_string(), "b=c".to_string())]
        );
    }
}
