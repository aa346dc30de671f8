//! Searching a generation's vectors in the database.

use super::*;

/// The rows of a generation in the database.
pub(super) struct PgRows {
    pub(super) pool: std::sync::Arc<Pool>,
    /// Each row's id (-1: a row no pair holds).
    pub(super) ids: Vec<i64>,
    pub(super) row_of: HashMap<i64, u32>,
}

impl std::fmt::Debug for PgRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRows")
            .field("location", &self.pool.location)
            .field("rows", &self.ids.len())
            .finish()
    }
}

impl RemoteRows for PgRows {
    fn nearest(
        &self,
        query: &[f32],
        n: usize,
        mask: u8,
        ef: usize,
        exact: bool,
    ) -> Result<Vec<Hit>> {
        let any =
            Kind::Sentence.bit() | Kind::Answer.bit() | Kind::Question.bit() | Kind::Passage.bit();
        let filter = if mask & any == any {
            String::new()
        } else {
            format!("WHERE kinds & {mask} <> 0")
        };
        let sql = format!(
            "SELECT id, 1 - (embedding <=> $1) FROM qasearch_rows {filter} ORDER BY embedding <=> $1 LIMIT $2"
        );
        let t = Instant::now();
        let q = Vector::from(query.to_vec());
        let limit = n as i64;
        let exact = exact || n > MAX_EF;
        let rows = self.pool.with(
            |c| {
                if exact {
                    let scanned = c.client.transaction(async |tx| {
                        tx.batch_execute(
                            "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off",
                        )
                        .await?;
                        tx.query(sql.as_str(), &[&q, &limit]).await
                    })?;
                    Ok(scanned?)
                } else {
                    let ef = ef.clamp(n.max(1), MAX_EF);
                    if c.ef != ef {
                        c.client
                            .batch_execute(&format!("SET hnsw.ef_search = {ef}"))?;
                        c.ef = ef;
                    }
                    let statement = c.prepared(&sql)?;
                    c.client.query_statement(&statement, &[&q, &limit])
                }
            },
            "cannot search the vectors",
        )?;
        log::debug!(
            "store: {} nearest of kinds {mask} (ef {ef}{}) in {:.2} ms",
            n,
            if exact { ", exact" } else { "" },
            t.elapsed().as_secs_f64() * 1e3
        );
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id: i64 = r.get(0);
                let score: f64 = r.get(1);
                // A row of a later generation (a build committed meanwhile): not ours.
                self.row_of.get(&id).map(|&row| Hit {
                    row: row as usize,
                    score: score as f32,
                })
            })
            .collect())
    }

    fn scores(&self, query: &[f32], rows: &[u32]) -> Result<Vec<f32>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows
            .iter()
            .map(|&r| self.ids.get(r as usize).copied().unwrap_or(-1))
            .collect();
        let q = Vector::from(query.to_vec());
        let found = self.pool.with(
            |c| {
                c.client.query(
                    "SELECT id, 1 - (embedding <=> $1) FROM qasearch_rows WHERE id = ANY($2)",
                    &[&q, &ids],
                )
            },
            "cannot read vectors",
        )?;
        let by_id: HashMap<i64, f32> = found
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, f64>(1) as f32))
            .collect();
        // A row gone meanwhile (a later generation) ranks last.
        Ok(ids
            .iter()
            .map(|id| by_id.get(id).copied().unwrap_or(f32::MIN))
            .collect())
    }
}
