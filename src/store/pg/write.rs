//! Writing a generation: one transaction, new rows only.

use super::schema::VIEW_INDEXES;
use super::*;

impl Postgres {
    /// A connection of its own for a build: no statement timeout (graphs
    /// take minutes on large corpora), holding the builders' lock.
    pub(crate) fn writer(&self) -> Result<Client> {
        let at = self.location();
        let client = self.untimed("60s")?;
        // A builder killed mid-statement: the server stops its work (and
        // frees the lock) within a second instead of when the statement ends.
        // (PostgreSQL 14 and later; older servers notice at the end.)
        let _ = client.batch_execute("SET client_connection_check_interval = '1s'");
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .map_err(|e| failed(at, "cannot take the builders' lock", &e))?
            .get(0);
        if !locked {
            return Err(Error::Busy {
                index: at.into(),
                lock: format!("advisory lock {LOCK_KEY}").into(),
            });
        }
        Ok(client)
    }

    /// Writes `generation` (vectors in memory) as the next generation, in
    /// one transaction; returns its number.
    pub(crate) fn write(
        &self,
        client: &mut Client,
        generation: &mut Snapshot,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        let at = self.location();
        let fail = |doing: &'static str| {
            let at = at.to_string();
            move |e: tokio_postgres::Error| failed_pg(&at, doing, e)
        };
        let answer_vectors = generation.manifest.answer_vectors;
        let apart = generation.manifest.model.settings.roles_differ();
        let model = generation.manifest.model.id();
        let manifest_hnsw = generation.manifest.hnsw;

        let t = Instant::now();
        let lap = |what: &str| {
            log::debug!("store write: {what} at {:.1} s", t.elapsed().as_secs_f64());
        };
        let written = client.transaction(async |tx| -> Result<(u64, bool, RowDiff, usize)> {
            let previous: Option<i64> = tx
                .query_opt("SELECT generation FROM qasearch_store FOR UPDATE", &[])
                .await
                .map_err(fail("cannot read the store"))?
                .map(|r| r.get(0));
            let existing = held_rows(tx).await.map_err(fail("cannot read the rows"))?;
            let diff = RowDiff::plan(&generation.meta, answer_vectors, apart, &model, &existing);
            tx.execute("DELETE FROM qasearch_rows WHERE id = ANY($1)", &[&diff.gone])
                .await
                .map_err(fail("cannot delete rows"))?;
            tx.execute(
                "UPDATE qasearch_rows SET kinds = k.kinds FROM unnest($1::bigint[], $2::smallint[]) AS k(id, kinds)
                 WHERE qasearch_rows.id = k.id",
                &[&diff.kind_ids, &diff.kind_values],
            )
            .await
            .map_err(fail("cannot update rows"))?;

            // Into an empty table (a first load, another model), rows go in
            // before the graphs are built: much faster than inserting into
            // them, and nobody reads an empty table. Otherwise into the graphs,
            // so that readers keep the previous generation until the commit.
            let bulk = existing.len() == diff.gone.len() && !diff.new_rows.is_empty();
            if bulk {
                for (name, _) in VIEW_INDEXES {
                    tx.batch_execute(&format!("DROP INDEX IF EXISTS {name}"))
                        .await
                        .map_err(fail("cannot drop an index"))?;
                }
            }
            progress.start(Stage::Writing, diff.new_rows.len() as u64);
            load_rows(tx, generation, &diff.new_rows, progress)
                .await
                .map_err(fail("cannot load rows"))?;
            progress.finish();
            lap("rows loaded");
            tx.execute("DELETE FROM qasearch_pairs", &[])
                .await
                .map_err(fail("cannot replace the pairs"))?;
            load_pairs(tx, &generation.meta)
                .await
                .map_err(fail("cannot load the pairs"))?;

            let number = previous
                .map_or(1, |g| g as u64 + 1)
                .max(generation.manifest.generation);
            generation.manifest.generation = number;
            write_store_row(tx, at, generation, &diff.row_ids).await?;
            lap("pairs and store row written");
            inject_abort()?;
            let new_rows = diff.new_rows.len();
            Ok((number, bulk, diff, new_rows))
        });
        let (number, bulk, diff, new_rows) =
            written.map_err(|e| failed(at, "cannot write the generation", &e))??;
        *self.committed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        lap("committed");
        if bulk {
            log::info!(
                "{new_rows} rows committed in {:.1} s and answering (by scanning until the vector indexes are built)",
                t.elapsed().as_secs_f64()
            );
        }
        self.ensure_indexes(client, &manifest_hnsw, progress)?;
        lap("vector indexes ready");
        log::debug!(
            "store: {} rows inserted, {} deleted, {} retyped{}",
            new_rows,
            diff.gone.len(),
            diff.kind_ids.len(),
            if bulk {
                " (vector indexes rebuilt)"
            } else {
                ""
            }
        );
        Ok(number)
    }
}

/// The rows the store holds: key → (id, kinds).
async fn held_rows(
    tx: &tokio_postgres::Transaction<'_>,
) -> std::result::Result<HashMap<Vec<u8>, (i64, i16)>, tokio_postgres::Error> {
    let mut existing: HashMap<Vec<u8>, (i64, i16)> = HashMap::new();
    for r in tx
        .query("SELECT key, id, kinds FROM qasearch_rows", &[])
        .await?
    {
        existing.insert(r.get(0), (r.get(1), r.get(2)));
    }
    Ok(existing)
}

/// The store's one row: the generation's number, model, manifest, metadata,
/// lexical index and the ids of its rows in order.
async fn write_store_row(
    tx: &tokio_postgres::Transaction<'_>,
    at: &str,
    generation: &Snapshot,
    row_ids: &[i64],
) -> Result<()> {
    // The store's own layout, whatever a folder's generation moved here had
    // (its metadata in columns, its files patched): bincode, format 7.
    let mut manifest = generation.manifest.clone();
    manifest.meta_columns = false;
    manifest.format_version = store::FORMAT_VERSION;
    let manifest_json = serde_json::to_value(&manifest).map_err(|e| Error::Store {
        store: at.into(),
        message: format!("cannot encode the manifest: {e}"),
    })?;
    let ids: Vec<u8> = row_ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    tx.execute(
        "INSERT INTO qasearch_store (one, schema_version, generation, model, dimension, updated, manifest, meta, lexical, row_ids)
         VALUES (true, $1, $2, $3, $4, now(), $5, $6, $7, $8)
         ON CONFLICT (one) DO UPDATE SET schema_version = $1, generation = $2, model = $3, dimension = $4,
           updated = now(), manifest = $5, meta = $6, lexical = $7, row_ids = $8",
        &[
            &SCHEMA_VERSION,
            &(generation.manifest.generation as i64),
            &generation.manifest.model.id(),
            &(generation.dimension() as i32),
            &manifest_json,
            &store::encode(&generation.meta),
            &store::encode(&*generation.lexical.merged()),
            &ids,
        ],
    )
    .await
    .map_err(|e| failed_pg(at, "cannot write the store row", e))?;
    Ok(())
}

/// PostgreSQL's `text` cannot hold NUL; the SQL tables show U+FFFD for it.
/// (Nothing is lost: the engine reads its texts from `meta`, which keeps
/// them as they are.)
fn sql_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

/// Copies the new rows into `qasearch_rows` (binary COPY).
async fn load_rows(
    tx: &tokio_postgres::Transaction<'_>,
    generation: &Snapshot,
    new_rows: &[(i64, Vec<u8>, i16, usize)],
    progress: &mut dyn Progress,
) -> std::result::Result<(), tokio_postgres::Error> {
    use tokio_postgres::types::Type;
    let vector_type = tx.prepare("SELECT $1::vector").await?.params()[0].clone();
    let sink = tx
        .copy_in("COPY qasearch_rows (id, key, kinds, text, embedding) FROM STDIN BINARY")
        .await?;
    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(
        sink,
        &[Type::INT8, Type::BYTEA, Type::INT2, Type::TEXT, vector_type],
    );
    let mut writer = std::pin::pin!(writer);
    for (i, (id, key, kinds, row)) in new_rows.iter().enumerate() {
        let text = sql_text(generation.meta.row_text(*row).unwrap_or_default());
        let v = Vector::from(generation.vector(*row).to_vec());
        writer
            .as_mut()
            .write(&[id, key, kinds, &text.as_ref(), &v])
            .await?;
        if i % 1024 == 1023 {
            progress.advance(1024);
        }
    }
    writer.finish().await?;
    Ok(())
}

/// Copies the pairs into `qasearch_pairs`, for SQL users (documents'
/// passages are not pairs: they live in `meta` and `qasearch_rows` only).
async fn load_pairs(
    tx: &tokio_postgres::Transaction<'_>,
    meta: &Meta,
) -> std::result::Result<(), tokio_postgres::Error> {
    use tokio_postgres::types::Type;
    let sink = tx
        .copy_in("COPY qasearch_pairs (id, document, line, question, answer) FROM STDIN BINARY")
        .await?;
    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(
        sink,
        &[Type::INT4, Type::TEXT, Type::INT4, Type::TEXT, Type::TEXT],
    );
    let mut writer = std::pin::pin!(writer);
    for (i, p) in meta.pairs.iter().enumerate().filter(|(_, p)| !p.passage) {
        let doc = sql_text(&meta.documents[p.doc as usize].key);
        writer
            .as_mut()
            .write(&[
                &(i as i32),
                &doc.as_ref(),
                &(p.line as i32),
                &sql_text(&p.question).as_ref(),
                &sql_text(&p.answer).as_ref(),
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// What a write does to `qasearch_rows`, planned from the generation and the
/// rows the table holds (key → id, kinds) before anything is written.
#[derive(Debug, Default, PartialEq)]
struct RowDiff {
    /// Each row of the generation's metadata: its id (-1: no pair holds it).
    row_ids: Vec<i64>,
    /// Rows to insert: id, key, kinds, row of the generation.
    new_rows: Vec<(i64, Vec<u8>, i16, usize)>,
    /// Kept rows whose kinds change, and their new kinds.
    kind_ids: Vec<i64>,
    kind_values: Vec<i16>,
    /// Rows no pair of the generation holds: deleted.
    gone: Vec<i64>,
}

impl RowDiff {
    fn plan(
        meta: &Meta,
        answer_vectors: store::AnswerVectors,
        apart: bool,
        model: &str,
        existing: &HashMap<Vec<u8>, (i64, i16)>,
    ) -> RowDiff {
        let mut next_id = existing.values().map(|v| v.0).max().map_or(1, |m| m + 1);
        let mut diff = RowDiff {
            row_ids: vec![-1; meta.row_count()],
            ..RowDiff::default()
        };
        let mut kept = std::collections::HashSet::new();
        for (row, row_id) in diff.row_ids.iter_mut().enumerate() {
            let Some(key) = store::row_key_of(meta, answer_vectors, apart, row) else {
                continue; // a hidden row: no pair holds it
            };
            let kinds = meta.occurrences_of(row).fold(0u8, |k, o| k | o.kind.bit()) as i16;
            let key = row_key_hash(model, key);
            match existing.get(&key) {
                Some(&(id, old_kinds)) => {
                    *row_id = id;
                    kept.insert(id);
                    if old_kinds != kinds {
                        diff.kind_ids.push(id);
                        diff.kind_values.push(kinds);
                    }
                }
                None => {
                    *row_id = next_id;
                    diff.new_rows.push((next_id, key, kinds, row));
                    next_id += 1;
                }
            }
        }
        diff.gone = existing
            .values()
            .map(|v| v.0)
            .filter(|id| !kept.contains(id))
            .collect();
        diff.gone.sort_unstable();
        diff
    }
}

/// The test switch `QASEARCH_ABORT_BEFORE_COMMIT`: fail just before the commit.
fn inject_abort() -> Result<()> {
    if crate::store::failpoint::abort_before_commit() {
        return Err(Error::InjectedAbort(0));
    }
    Ok(())
}

/// The key of a row: SHA-256 of the model, how the text is made, the text
/// and, for a sentence read in context, its place in it (a row is reused
/// only for the same vector).
fn row_key_hash(model: &str, key: store::RowKey<'_>) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update((model.len() as u64).to_le_bytes());
    h.update(model.as_bytes());
    h.update([key.how.code()]);
    if let Some((start, end)) = key.span {
        // The text's length first: no text and span hash as another's.
        h.update((key.text.len() as u64).to_le_bytes());
        h.update(start.to_le_bytes());
        h.update(end.to_le_bytes());
    }
    h.update(key.text.as_bytes());
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys_tell_the_model_and_how_a_text_was_made() {
        use store::Made::*;
        let key = |how, text| store::RowKey {
            how,
            text,
            span: None,
        };
        assert_ne!(
            row_key_hash("m", key(Embedded, "Is it open?")),
            row_key_hash("m", key(AsQuery, "Is it open?"))
        );
        assert_ne!(
            row_key_hash("m", key(Embedded, "a")),
            row_key_hash("n", key(Embedded, "a"))
        );
        assert_ne!(
            row_key_hash("m", key(Embedded, "ab")),
            row_key_hash("m0", key(Embedded, "b"))
        );
        assert_eq!(row_key_hash("m", key(Embedded, "a")).len(), 32);
        // Stores written before keep their keys: the codes never change.
        assert_eq!(
            [Embedded, Pooled, AsQuery, InContext].map(store::Made::code),
            [0, 1, 2, 3]
        );
        // A sentence read in context: its answer and its place there.
        let in_context = |start, end| store::RowKey {
            how: InContext,
            text: "Yes. It is open.",
            span: Some((start, end)),
        };
        assert_ne!(
            row_key_hash("m", in_context(0, 4)),
            row_key_hash("m", in_context(5, 16))
        );
        assert_ne!(
            row_key_hash("m", in_context(0, 4)),
            row_key_hash("m", key(InContext, "Yes. It is open."))
        );
    }

    /// The table after a write of `diff`: key → (id, kinds).
    fn applied(
        mut table: HashMap<Vec<u8>, (i64, i16)>,
        diff: &RowDiff,
    ) -> HashMap<Vec<u8>, (i64, i16)> {
        table.retain(|_, (id, _)| !diff.gone.contains(id));
        for (id, kinds) in diff.kind_ids.iter().zip(&diff.kind_values) {
            table
                .values_mut()
                .filter(|v| v.0 == *id)
                .for_each(|v| v.1 = *kinds);
        }
        for (id, key, kinds, _) in &diff.new_rows {
            table.insert(key.clone(), (*id, *kinds));
        }
        table
    }

    #[test]
    fn a_write_inserts_new_texts_keeps_the_rest_and_deletes_what_is_gone() {
        let a = "a.txt";
        let first = "P.\nHow much is a day pass?\nA day pass costs five euros. It is valid until midnight.\nWhere are the bikes?\nAt the station.\n";
        let (_d, one) = crate::indexer::testing::built(&[(a, first)]);
        let how = one.manifest.answer_vectors;
        assert_eq!(how, store::AnswerVectors::InContext, "the default");
        let plan = |meta: &Meta, table: &HashMap<Vec<u8>, (i64, i16)>| {
            RowDiff::plan(meta, how, false, "m", table)
        };
        // Into an empty table: every live row is new, ids from 1.
        let d1 = plan(&one.meta, &HashMap::new());
        assert_eq!(d1.new_rows.len(), one.manifest.counts.vectors);
        assert!(d1.gone.is_empty() && d1.kind_ids.is_empty());
        assert_eq!(d1.new_rows[0].0, 1);
        let table = applied(HashMap::new(), &d1);
        // The same generation again: nothing to do, the same ids.
        let same = plan(&one.meta, &table);
        assert!(same.new_rows.is_empty() && same.gone.is_empty() && same.kind_ids.is_empty());
        assert_eq!(same.row_ids, d1.row_ids);
        // One sentence changed: its answer's sentences (read in the
        // context of the answer) and the whole answer are new; the old ones
        // go; the rest keep their ids.
        let changed = first.replace("until midnight", "for 24 hours");
        let (_d2, two) = crate::indexer::testing::built(&[(a, &changed)]);
        let d2 = plan(&two.meta, &table);
        let texts: Vec<&str> = d2
            .new_rows
            .iter()
            .map(|r| two.meta.row_text(r.3).unwrap())
            .collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts.contains(&"It is valid for 24 hours."), "{texts:?}");
        assert!(texts.contains(&"A day pass costs five euros."), "{texts:?}");
        assert_eq!(d2.gone.len(), 3);
        assert!(d2
            .new_rows
            .iter()
            .all(|r| r.0 > d1.new_rows.last().unwrap().0));
        let after = applied(table, &d2);
        assert_eq!(after.len(), two.manifest.counts.vectors);
        // Another model shares no row.
        let other = RowDiff::plan(&one.meta, how, false, "n", &after);
        assert_eq!(other.new_rows.len(), one.manifest.counts.vectors);
        assert_eq!(other.gone.len(), after.len());
    }
}
