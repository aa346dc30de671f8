//! Reading the current generation: its manifest, metadata and vectors.

use super::*;

impl Postgres {
    /// The store row's schema version and manifest, if there is a store row.
    pub(crate) fn state(&self) -> Result<Option<(i32, serde_json::Value)>> {
        self.pool.with(
            |c| {
                let exists: bool = c
                    .client
                    .query_one("SELECT to_regclass('qasearch_store') IS NOT NULL", &[])?
                    .get(0);
                if !exists {
                    return Ok(None);
                }
                Ok(c.client
                    .query_opt("SELECT schema_version, manifest FROM qasearch_store", &[])?
                    .map(|r| (r.get(0), r.get(1))))
            },
            "cannot read the store",
        )
    }

    pub(crate) fn manifest_of(&self, schema: i32, json: serde_json::Value) -> Result<Manifest> {
        if schema != SCHEMA_VERSION {
            return Err(Error::Incompatible {
                path: self.location().into(),
                what: "store schema version",
                expected: SCHEMA_VERSION.to_string(),
                found: schema.to_string(),
            });
        }
        let format = json.get("format_version").and_then(|v| v.as_u64());
        if format != Some(store::FORMAT_VERSION as u64) {
            return Err(Error::Incompatible {
                path: self.location().into(),
                what: "format version",
                expected: store::FORMAT_VERSION.to_string(),
                found: format.map_or("none".into(), |v| v.to_string()),
            });
        }
        serde_json::from_value(json)
            .map_err(|e| Error::corrupt(self.location(), format!("manifest: {e}")))
    }

    /// The current generation without its vectors: manifest, metadata,
    /// lexical index and each row's id.
    pub(crate) fn read_generation(
        &self,
    ) -> Result<(
        Manifest,
        Meta,
        crate::index::lexical::LexicalIndex,
        Vec<i64>,
    )> {
        let row = self.pool.with(
            |c| {
                c.client.query_opt(
                    "SELECT schema_version, manifest, meta, lexical, row_ids FROM qasearch_store",
                    &[],
                )
            },
            "cannot read the store",
        )?;
        let Some(row) = row else {
            return Err(Error::IndexMissing {
                path: self.location().into(),
            });
        };
        let manifest = self.manifest_of(row.get(0), row.get(1))?;
        let at = self.location();
        let meta_bytes: Vec<u8> = row.get(2);
        let mut meta: Meta =
            store::decode(&meta_bytes).map_err(|e| Error::corrupt(at, format!("meta: {e}")))?;
        drop(meta_bytes);
        store::check_meta(&meta).map_err(|e| Error::corrupt(at, format!("meta: {e}")))?;
        meta.index_rows();
        let lexical = store::decode_lexical(row.get::<_, &[u8]>(3))
            .map_err(|e| Error::corrupt(at, format!("lexical: {e}")))?;
        lexical
            .validate(meta.pairs.len())
            .map_err(|e| Error::corrupt(at, format!("lexical: {e}")))?;
        let ids: &[u8] = row.get(4);
        if ids.len() != meta.rows as usize * 8 || meta.rows as usize != manifest.counts.rows {
            return Err(Error::corrupt(at, "row ids disagree with the metadata"));
        }
        let ids = ids
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("invariant: 8 bytes")))
            .collect();
        Ok((manifest, meta, lexical, ids))
    }

    /// The current generation with every vector in memory (what a build
    /// reuses).
    pub(crate) fn read_with_vectors(&self) -> Result<Snapshot> {
        let (manifest, meta, lexical, ids) = self.read_generation()?;
        let dim = manifest.model.settings.dimension;
        let row_of: HashMap<i64, usize> = ids
            .iter()
            .enumerate()
            .filter(|(_, &id)| id >= 0)
            .map(|(row, &id)| (id, row))
            .collect();
        let mut vectors = vec![0f32; ids.len() * dim];
        let mut found = vec![false; ids.len()];
        let rows = self.pool.with(
            |c| {
                c.client
                    .query("SELECT id, embedding FROM qasearch_rows", &[])
            },
            "cannot read the vectors",
        )?;
        for r in rows {
            let id: i64 = r.get(0);
            if let Some(&row) = row_of.get(&id) {
                let v: Vector = r.get(1);
                let v = v.as_slice();
                if v.len() != dim {
                    return Err(Error::corrupt(
                        self.location(),
                        format!("row {id} has {} floats, not {dim}", v.len()),
                    ));
                }
                vectors[row * dim..(row + 1) * dim].copy_from_slice(v);
                found[row] = true;
            }
        }
        if let Some(row) = (0..ids.len()).find(|&r| ids[r] >= 0 && !found[r]) {
            return Err(Error::corrupt(
                self.location(),
                format!("row {} has no vector", ids[row]),
            ));
        }
        Ok(Snapshot::in_memory(
            manifest,
            meta,
            crate::index::mmap_graph::MmapGraph::empty(),
            crate::index::lexical_delta::Lexical::whole(lexical),
            vectors.into(),
        ))
    }
}
