//! What an opening reads of a generation beside its vectors: the
//! metadata, the graphs, the lexical and sparse arms and the probes, each
//! checked against the manifest's sums, decoded and checked against the
//! others ([`read_rest`]; the vectors are read on a thread of their own
//! meanwhile, `folder::open_once_with`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checked::{Checked, KeptFile};
use super::*;
use crate::error::{Error, Result};
use crate::index::lexical_delta::Lexical;
use crate::index::mmap_graph::{MmapGraph, Words};

/// What a generation holds beside its vectors.
pub(super) struct Rest {
    meta: Meta,
    meta_base: Option<super::meta_delta::MetaBase>,
    lexical: Lexical,
    probes: Option<crate::index::probes::Probes>,
    sparse: Option<crate::index::sparse::SparseIndex>,
    graph: MmapGraph,
    question_graph: Option<MmapGraph>,
    passage_graph: Option<MmapGraph>,
    kept: Vec<Arc<KeptFile>>,
}

/// Where an opening's graphs are searched: copied into memory of their own
/// (a generation that answers for long: a copy cannot change under it), or
/// where their files lie (a process that asks and exits,
/// `folder::open_mapped`: no copy to make, and each answer asks whether the
/// files stayed as checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GraphsIn {
    Memory,
    Place,
}

impl Rest {
    /// The generation in `dir` that `manifest` describes, with its `vectors`.
    pub(super) fn with_vectors(
        self,
        dir: PathBuf,
        manifest: Manifest,
        vectors: Matrix,
    ) -> Snapshot {
        let Rest {
            meta,
            meta_base,
            lexical,
            probes,
            sparse,
            graph,
            question_graph,
            passage_graph,
            kept,
        } = self;
        Snapshot {
            dir,
            manifest,
            meta,
            graph,
            question_graph,
            passage_graph,
            lexical,
            sparse,
            probes,
            meta_base,
            vectors,
            kept,
            remote: None,
        }
    }
}

/// Reads and checks the generation in `dir` but its vectors: the metadata
/// (`meta_bytes`, already checked) on this thread, while the graphs and the
/// lexical arm are read, checked and decoded on one of their own (neither
/// needs the metadata until it is checked against it); then the probes and
/// the sparse arm. Errors are told in the order a reading of one file after
/// the other meets them: the graphs' files, the metadata, the lexical arm,
/// the probes, the sparse arm, the graphs' structure.
pub(super) fn read_rest(
    dir: &Path,
    manifest: &Manifest,
    meta_bytes: Checked,
    graphs: GraphsIn,
    abandon: &super::Abandon,
) -> Result<Rest> {
    let t = std::time::Instant::now();
    let beside = || Beside::read(dir, manifest, graphs, abandon);
    // Unless the opening was abandoned meanwhile.
    let decode_meta = |meta_bytes: Checked| {
        abandon
            .check(dir)
            .and_then(|()| read_checked_meta(dir, manifest, meta_bytes))
    };
    let (beside, meta) = std::thread::scope(|s| {
        let thread = std::thread::Builder::new().name("qasearch-graphs".into());
        match thread.spawn_scoped(s, beside) {
            Ok(reading) => {
                let meta = decode_meta(meta_bytes);
                let beside = reading.join();
                (
                    beside.unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    meta,
                )
            }
            Err(_) => (beside(), decode_meta(meta_bytes)),
        }
    });
    let Beside { graphs, lexical } = beside;
    let graphs = graphs?;
    let (meta, meta_base) = meta?;
    let lexical = lexical?.arm(meta.pairs.len())?;
    let probes = read_probes(dir, manifest)?;
    let sparse = read_sparse(dir, manifest, meta.pairs.len())?;
    let ((graph, question_graph, passage_graph), kept) = graphs?;
    log::debug!(
        "metadata, graphs and lexical arm decoded and checked in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(Rest {
        meta,
        meta_base,
        lexical,
        probes,
        sparse,
        graph,
        question_graph,
        passage_graph,
        kept,
    })
}

/// The metadata, checked against the manifest and indexed by row.
fn read_checked_meta(
    dir: &Path,
    manifest: &Manifest,
    meta_bytes: Checked,
) -> Result<(Meta, Option<super::meta_delta::MetaBase>)> {
    let t = std::time::Instant::now();
    let meta_path = dir.join(META);
    let (mut meta, meta_base) = read_meta(dir, manifest, meta_bytes)?;
    let (rows, dim) = (manifest.counts.rows, manifest.model.settings.dimension);
    let file_rows: usize = manifest.vector_files().iter().map(|f| f.rows).sum();
    if dim == 0 || file_rows != rows || meta.rows as usize != rows {
        return Err(Error::corrupt(
            dir.join(VECTORS),
            format!("{file_rows} rows in the vector files for {rows} rows of {dim} floats"),
        ));
    }
    check_meta(&meta).map_err(|reason| Error::corrupt(&meta_path, reason))?;
    meta.index_rows();
    let sentences = meta.occurrences.iter().filter(|o| o.is_sentence()).count();
    if meta.live_rows() != manifest.counts.vectors || sentences != manifest.counts.sentences {
        return Err(Error::corrupt(
            &meta_path,
            "row counts disagree with the manifest",
        ));
    }
    log::debug!(
        "metadata decoded and checked in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok((meta, meta_base))
}

/// The main graph, the stored questions' and the passages'.
type Graphs = (MmapGraph, Option<MmapGraph>, Option<MmapGraph>);

/// The graphs, and the files they are searched in where those lie.
type Parsed = (Graphs, Vec<Arc<KeptFile>>);

/// The graphs (their files read and checked, then the graphs parsed: the
/// two errors told apart, in the order [`read_rest`] tells them) and the
/// lexical arm, read beside the metadata.
struct Beside {
    graphs: Result<Result<Parsed>>,
    lexical: Result<LexicalFiles>,
}

impl Beside {
    fn read(dir: &Path, manifest: &Manifest, graphs: GraphsIn, abandon: &super::Abandon) -> Beside {
        let t = std::time::Instant::now();
        let graphs = abandon
            .check(dir)
            .and_then(|()| read_graph_files(dir, manifest, graphs));
        let graphs = graphs.map(|(main, sides)| {
            log::debug!(
                "graphs read and checked in {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
            parse_graphs(main, sides, manifest.counts.rows)
        });
        Beside {
            graphs,
            lexical: abandon
                .check(dir)
                .and_then(|()| LexicalFiles::read(dir, manifest)),
        }
    }
}

/// The files of the main graph and of the side graphs the generation has.
fn read_graph_files(
    dir: &Path,
    manifest: &Manifest,
    graphs: GraphsIn,
) -> Result<(GraphFiles, Vec<(Side, GraphFiles)>)> {
    let main_files = GraphFiles::read(dir, manifest, GRAPH, graphs)?
        .ok_or_else(|| Error::corrupt(dir.join(MANIFEST), format!("lists no {GRAPH}")))?;
    let side_files: Vec<_> = Side::ALL
        .into_iter()
        .filter_map(|side| {
            let files = GraphFiles::read(dir, manifest, side.file(), graphs).transpose()?;
            Some(files.map(|files| (side, files)))
        })
        .collect::<Result<_>>()?;
    Ok((main_files, side_files))
}

/// The main graph, the stored questions' and the passages', over `rows`.
fn parse_graphs(main: GraphFiles, sides: Vec<(Side, GraphFiles)>, rows: usize) -> Result<Parsed> {
    let kept = std::iter::once(&main)
        .chain(sides.iter().map(|(_, files)| files))
        .filter_map(|files| files.kept.clone())
        .collect();
    let graph = main.graph(rows)?;
    let (mut question_graph, mut passage_graph) = (None, None);
    for (side, files) in sides {
        let graph = Some(files.graph(rows)?);
        match side {
            Side::Questions => question_graph = graph,
            Side::Passages => passage_graph = graph,
        }
    }
    Ok(((graph, question_graph, passage_graph), kept))
}

/// The metadata: `meta.bin` (`bytes`, already checked) and, where the
/// generation lists one, the delta over it; unindexed. With where its
/// documents lie in `meta.bin`, when that is in columns.
fn read_meta(
    dir: &Path,
    manifest: &Manifest,
    bytes: Checked,
) -> Result<(Meta, Option<super::meta_delta::MetaBase>)> {
    use super::meta_delta::{self, MetaBase};
    let path = dir.join(META);
    let delta = manifest.files.get(META_DELTA);
    if delta.is_some() && !manifest.meta_columns {
        return Err(Error::corrupt(
            dir.join(MANIFEST),
            format!("lists {META_DELTA} over a {META} not in columns"),
        ));
    }
    let meta: Meta = bytes.decode(&path, |b| match manifest.meta_columns {
        true => super::meta_columns::decode(b),
        false => decode(b),
    })?;
    drop(bytes);
    let sum = &manifest.files[META];
    let file = (sum.len, sum.crc32);
    let Some(delta_sum) = delta else {
        let base = manifest.meta_columns.then(|| MetaBase::whole(&meta, file));
        return Ok((meta, base));
    };
    let delta_path = dir.join(META_DELTA);
    let (meta, base) = Checked::read(&delta_path, delta_sum)?
        .decode(&delta_path, |b| meta_delta::apply(meta, file, b))?;
    Ok((meta, Some(base)))
}

/// The lexical arm's files, each checked against its sum, decoded and
/// checked in itself; [`LexicalFiles::arm`] checks them against the
/// generation's pairs.
enum LexicalFiles {
    /// `lexical.bin` alone, and whether its postings are consistent.
    Whole {
        path: PathBuf,
        base: crate::index::lexical::LexicalIndex,
        file: (u64, u32),
        consistent: std::result::Result<(), String>,
    },
    /// `lexical.bin` and the delta over it, checked against each other.
    WithDelta {
        delta_path: PathBuf,
        lexical: Lexical,
    },
}

impl LexicalFiles {
    fn read(dir: &Path, manifest: &Manifest) -> Result<LexicalFiles> {
        let path = dir.join(LEXICAL);
        let sum = &manifest.files[LEXICAL];
        let base = Checked::read(&path, sum)?.decode(&path, decode_lexical)?;
        let consistent = base.validate(base.len());
        let file = (sum.len, sum.crc32);
        let Some(delta_sum) = manifest.files.get(LEXICAL_DELTA) else {
            return Ok(LexicalFiles::Whole {
                path,
                base,
                file,
                consistent,
            });
        };
        consistent.map_err(|e| Error::corrupt(&path, e))?;
        let delta_path = dir.join(LEXICAL_DELTA);
        let delta = Checked::read(&delta_path, delta_sum)?.decode(&delta_path, decode)?;
        let lexical =
            Lexical::read(base, file, Some(delta)).map_err(|e| Error::corrupt(&delta_path, e))?;
        Ok(LexicalFiles::WithDelta {
            delta_path,
            lexical,
        })
    }

    /// The lexical arm, once it holds the generation's `pairs`.
    fn arm(self, pairs: usize) -> Result<Lexical> {
        match self {
            LexicalFiles::Whole {
                path,
                base,
                file,
                consistent,
            } => {
                // As `validate(pairs)` tells it: the count first.
                if base.len() != pairs {
                    let e = format!("{} documents, expected {pairs}", base.len());
                    return Err(Error::corrupt(&path, e));
                }
                consistent.map_err(|e| Error::corrupt(&path, e))?;
                Ok(Lexical::read(base, file, None).expect("no delta to refuse"))
            }
            LexicalFiles::WithDelta {
                delta_path,
                lexical,
            } if lexical.len() != pairs => Err(Error::corrupt(
                &delta_path,
                format!("{} pairs, expected {pairs}", lexical.len()),
            )),
            LexicalFiles::WithDelta { lexical, .. } => Ok(lexical),
        }
    }
}

/// The graphs' probes, when the generation lists them.
fn read_probes(dir: &Path, manifest: &Manifest) -> Result<Option<crate::index::probes::Probes>> {
    let Some(sum) = manifest.files.get(PROBES) else {
        return Ok(None);
    };
    let path = dir.join(PROBES);
    let mut probes: crate::index::probes::Probes =
        Checked::read(&path, sum)?.decode(&path, decode)?;
    if let Some(sum) = manifest.files.get(PASSAGE_PROBES) {
        let path = dir.join(PASSAGE_PROBES);
        probes.passages = Checked::read(&path, sum)?.decode(&path, decode)?;
    }
    probes
        .validate(manifest.counts.rows)
        .map_err(|e| Error::corrupt(&path, e))?;
    Ok(Some(probes))
}

/// The sparse arm's index, when the generation has one.
fn read_sparse(
    dir: &Path,
    manifest: &Manifest,
    pairs: usize,
) -> Result<Option<crate::index::sparse::SparseIndex>> {
    let Some(sum) = manifest.files.get(SPARSE) else {
        return Ok(None);
    };
    let path = dir.join(SPARSE);
    let mut sparse: crate::index::sparse::SparseIndex =
        Checked::read(&path, sum)?.decode(&path, decode)?;
    sparse
        .validate(pairs)
        .map_err(|e| Error::corrupt(&path, e))?;
    Ok(Some(sparse))
}

/// A graph's files as read and checked against their sums: the base file
/// and its patch, when the generation lists one.
struct GraphFiles {
    path: PathBuf,
    words: Words,
    /// The file `words` maps where it lies, when it does.
    kept: Option<Arc<KeptFile>>,
    crc: u32,
    patch: Option<(PathBuf, Option<memmap2::Mmap>)>,
}

impl GraphFiles {
    /// The graph `name` of the generation in `dir` (None when it lists
    /// none): its file mapped where it lies (`graphs`), or copied.
    fn read(
        dir: &Path,
        manifest: &Manifest,
        name: &str,
        graphs: GraphsIn,
    ) -> Result<Option<GraphFiles>> {
        let Some(sum) = manifest.files.get(name) else {
            return Ok(None);
        };
        let path = dir.join(name);
        let kept = match graphs {
            GraphsIn::Place => KeptFile::map(&path, sum)?.map(Arc::new),
            GraphsIn::Memory => None,
        };
        let words = match &kept {
            Some(kept) => Words::File(kept.clone()),
            None => read_verified(&path, sum)?.map_or(Words::Owned(Vec::new()), Words::Mapped),
        };
        let patch = match manifest.files.get(&patch_of(name)) {
            Some(sum) => {
                let path = dir.join(patch_of(name));
                Some((path.clone(), read_verified(&path, sum)?))
            }
            None => None,
        };
        Ok(Some(GraphFiles {
            path,
            words,
            kept,
            crc: sum.crc32,
            patch,
        }))
    }

    /// The graph, over `rows` rows.
    fn graph(self, rows: usize) -> Result<MmapGraph> {
        let words = |w: Option<memmap2::Mmap>| w.map_or(Words::Owned(Vec::new()), Words::Mapped);
        let base = MmapGraph::parse(self.words).map_err(|e| Error::corrupt(&self.path, e))?;
        base.know_base_crc(self.crc);
        let (graph, path) = match self.patch {
            Some((path, patch)) => {
                let graph = base
                    .with_patch(words(patch))
                    .map_err(|e| Error::corrupt(&path, e))?;
                (graph, path)
            }
            None => (base, self.path),
        };
        if graph.rows() != rows {
            return Err(Error::corrupt(
                path,
                format!("{} rows, expected {rows}", graph.rows()),
            ));
        }
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata is decoded while the graphs and the lexical arm are
    /// read beside it, but a generation with several damaged files is told
    /// by the first a reading of one file after the other meets (the
    /// metadata's sum is taken before the rest is read).
    #[test]
    fn of_several_damaged_files_the_first_in_reading_order_is_told() {
        let mut text = String::from("Town services.\n");
        for i in 0..30 {
            text += &format!("What does office {i} do?\nOffice {i} issues permit {i}.\n");
        }
        let (dir, snapshot) = crate::indexer::testing::built(&[("a.txt", &text)]);
        let (index, gen) = (dir.path().join("index"), snapshot.dir.clone());
        drop(snapshot);
        let damage = |name: &str| {
            let path = gen.join(name);
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x20;
            std::fs::write(&path, &bytes).unwrap();
        };
        let told = || open(&index).unwrap_err().to_string();
        let order = [META, GRAPH, LEXICAL, PROBES];
        for name in order {
            assert!(gen.join(name).is_file(), "{name}");
        }
        let originals: Vec<Vec<u8>> = order
            .iter()
            .map(|name| std::fs::read(gen.join(name)).unwrap())
            .collect();
        for (first, later) in order.iter().zip(&order[1..]) {
            damage(later);
            damage(first);
            let e = told();
            assert!(e.contains(first) && !e.contains(later), "{first}: {e}");
            for (name, bytes) in order.iter().zip(&originals) {
                std::fs::write(gen.join(name), bytes).unwrap();
            }
        }
        assert!(open(&index).is_ok());

        // A `meta.bin` whose sum is right but whose bytes do not decode (the
        // manifest and `CURRENT` say so): told after the graphs' files and
        // before the lexical arm, though decoded beside both.
        let garbage = vec![0xffu8; 64];
        std::fs::write(gen.join(META), &garbage).unwrap();
        let manifest_path = gen.join(MANIFEST);
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        m["files"][META] = serde_json::json!({"len": 64, "crc32": crc32fast::hash(&garbage)});
        let bytes = serde_json::to_vec(&m).unwrap();
        std::fs::write(&manifest_path, &bytes).unwrap();
        let name = gen.file_name().unwrap().to_string_lossy().to_string();
        let pointer = format!("{name} {:08x}\n", crc32fast::hash(&bytes));
        std::fs::write(index.join("CURRENT"), pointer).unwrap();
        damage(LEXICAL);
        let e = told();
        assert!(e.contains(META) && !e.contains(LEXICAL), "{e}");
        damage(GRAPH);
        let e = told();
        assert!(e.contains(GRAPH) && !e.contains(META), "{e}");
    }
}
