//! Probes of a graph: a fixed set of its member rows, each with its exact
//! nearest members, kept with the index (`probes.bin`). The check of an
//! extended graph compares its searches from the probes with these exact
//! answers, and brings each answer up to date by comparing the probe with
//! the rows the update added only: the check costs what the update adds,
//! not a scan of every row (a scan of a million rows for each of a hundred
//! queries would cost more than the update).
//!
//! A probe's list is exact above its floor: every member more similar than
//! the floor is in it. Rows that leave are dropped from the list, added rows
//! more similar than the floor join it; the list is cut back to [`NEAR`]
//! rows and its floor raised to the last one kept. A list left with fewer
//! rows than a question needs is no longer known and is scanned again.

use serde::{Deserialize, Serialize};

use crate::index::ann::Hit;
use crate::model::vector::dot_each;

/// Nearest rows a probe keeps.
pub const NEAR: usize = 20;

/// The probes of each graph of a generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Probes {
    /// Of the main graph (`graph.bin`).
    pub main: Vec<Probe>,
    /// Of the graph of the stored questions (`questions.graph.bin`).
    pub questions: Vec<Probe>,
    /// Of the graph of the passages (`passages.graph.bin`): stored apart,
    /// in `passages.probes.bin`, so that `probes.bin` keeps the layout an
    /// earlier qasearch reads.
    #[serde(skip)]
    pub passages: Vec<Probe>,
}

/// A member row and its exact nearest members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The row asked.
    pub row: u32,
    /// Every member more similar to the row than this is in `near`
    /// (`-inf`: every member is).
    pub floor: f32,
    /// The nearest members, best first (ties by row): row and similarity.
    pub near: Vec<(u32, f32)>,
}

impl Probes {
    /// Checks that every row named is one of `rows`.
    pub fn validate(&self, rows: usize) -> Result<(), String> {
        let named = self
            .main
            .iter()
            .chain(&self.questions)
            .chain(&self.passages)
            .flat_map(|p| std::iter::once(p.row).chain(p.near.iter().map(|&(r, _)| r)));
        match named.into_iter().find(|&r| r as usize >= rows) {
            Some(r) => Err(format!("names row {r} of {rows}")),
            None => Ok(()),
        }
    }
}

impl Probe {
    /// A probe from an exact search over every member (`hits`, best first,
    /// at most [`NEAR`] asked): exact above its last hit when the search
    /// found as many as it asked for.
    pub fn from_exact(row: usize, hits: &[Hit]) -> Probe {
        let near: Vec<(u32, f32)> = hits
            .iter()
            .take(NEAR)
            .map(|h| (h.row as u32, h.score))
            .collect();
        let floor = if near.len() == NEAR {
            near[NEAR - 1].1
        } else {
            f32::NEG_INFINITY
        };
        Probe {
            row: row as u32,
            floor,
            near,
        }
    }

    /// The probe after an update in which `added` rows (row-major
    /// `vectors`, `dim` wide) became members and rows for which `member` is
    /// false left; None when its own row left.
    pub fn updated(
        &self,
        vectors: &[f32],
        dim: usize,
        member: &dyn Fn(usize) -> bool,
        added: &[usize],
    ) -> Option<Probe> {
        let own = self.row as usize;
        if !member(own) || (own + 1) * dim > vectors.len() {
            return None;
        }
        let mut near: Vec<(u32, f32)> = self
            .near
            .iter()
            .filter(|(r, _)| (*r as usize + 1) * dim <= vectors.len() && member(*r as usize))
            .copied()
            .collect();
        let query = &vectors[own * dim..(own + 1) * dim];
        let mut sims = Vec::with_capacity(added.len());
        let row = |i: usize| &vectors[added[i] * dim..(added[i] + 1) * dim];
        dot_each(query, added.len(), row, &mut sims);
        near.extend(
            added
                .iter()
                .zip(&sims)
                .filter(|(_, &s)| s > self.floor)
                .map(|(&r, &s)| (r as u32, s)),
        );
        near.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut floor = self.floor;
        if near.len() > NEAR {
            near.truncate(NEAR);
            floor = floor.max(near[NEAR - 1].1);
        }
        Some(Probe {
            row: self.row,
            floor,
            near,
        })
    }

    /// The exact `k` nearest members, when the probe knows them (it holds
    /// `k` rows, or every member).
    pub fn exact_top(&self, k: usize) -> Option<Vec<Hit>> {
        (self.near.len() >= k || self.floor == f32::NEG_INFINITY).then(|| {
            self.near
                .iter()
                .take(k)
                .map(|&(row, score)| Hit {
                    row: row as usize,
                    score,
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ann::{exact_search, tests::random_unit};

    #[test]
    fn a_probe_kept_through_updates_answers_as_an_exact_search() {
        let dim = 16;
        let data = random_unit(600, dim, 21);
        // Members change over four updates: rows join in blocks, and every
        // seventh row of the previous ones leaves at the second.
        let member_at =
            |step: usize| move |r: usize| r < 200 + 100 * step && !(step >= 2 && r % 7 == 3);
        let exact = |row: usize, step: usize, k: usize| {
            let m = member_at(step);
            let v = &data[..(200 + 100 * step) * dim];
            exact_search(v, dim, &data[row * dim..(row + 1) * dim], k, Some(&m))
        };
        for row in [0usize, 5, 42, 199] {
            let mut probe = Probe::from_exact(row, &exact(row, 0, NEAR));
            for step in 1..=4 {
                let (before, now) = (member_at(step - 1), member_at(step));
                let v = &data[..(200 + 100 * step) * dim];
                let added: Vec<usize> = (0..200 + 100 * step)
                    .filter(|&r| now(r) && !before(r))
                    .collect();
                let next = probe.updated(v, dim, &now, &added);
                if !now(row) {
                    assert!(next.is_none(), "row {row} left at step {step}");
                    break;
                }
                probe = next.unwrap();
                let want = exact(row, step, 10);
                match probe.exact_top(10) {
                    // Scores are the same numbers (dot either way round).
                    Some(got) => assert_eq!(got, want, "row {row} step {step}"),
                    None => assert!(probe.near.len() < 10),
                }
                assert!(probe.near.len() <= NEAR);
            }
        }
        // Fewer members than NEAR: the list is every member, known to the end.
        let few = |r: usize| r < 5;
        let hits = exact_search(&data[..5 * dim], dim, &data[..dim], NEAR, Some(&few));
        let probe = Probe::from_exact(0, &hits);
        assert_eq!(probe.floor, f32::NEG_INFINITY);
        assert_eq!(probe.exact_top(10).unwrap().len(), 5);
    }
}
