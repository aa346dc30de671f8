//! What a previous reading of the folder recorded, so that an update reads
//! only the files that may have changed: a file whose size, modification
//! time and status change time are as recorded, that was read without a
//! warning, and whose times were settled when it was read, holds the
//! documents recorded for it. Those are taken as they are; the result is
//! the corpus a full reading gives (the same documents, keys, warnings and
//! counts), which the tests below check file kind by file kind.
//!
//! The status change time (`ctime`) is what makes this safe against a file
//! rewritten with its size kept and its modification time set back (`touch
//! -r`, `cp -p`, `rsync -t` onto an edited copy): setting the times sets it
//! to now, and nothing sets it back. Git trusts the same fields.

use super::{Document, SourceFile};

/// A file whose newest time is within this of the moment the previous
/// reading began is read again: file systems stamp times from a clock
/// coarser than the one that said when reading began (a tick of 4–10 ms on
/// Linux, 2 s on FAT), so a write during the reading could carry a time
/// that a later write in the same tick repeats. Git calls such entries
/// racily clean.
pub const SETTLE_NS: u64 = 5_000_000_000;

/// A previous reading of the data folder, as an index recorded it.
pub struct Recorded<'a> {
    /// When that reading began ([`super::Scan::started_ns`]), nanoseconds
    /// since the Unix epoch; 0 when not recorded (nothing is taken).
    read_at_ns: u64,
    /// The files it read, by path, each with its documents
    /// ([`Document::source`]).
    files: foldhash::HashMap<&'a str, (&'a SourceFile, Vec<Document>)>,
}

impl<'a> Recorded<'a> {
    /// A reading that began at `read_at_ns` (0: unknown, nothing is taken),
    /// read `files` and gave `documents` (in any order; a clean file
    /// without any held none; a document of no file listed is dropped).
    pub fn new(
        read_at_ns: u64,
        files: &'a [SourceFile],
        documents: impl IntoIterator<Item = Document>,
    ) -> Recorded<'a> {
        let mut by_path: foldhash::HashMap<&'a str, (&'a SourceFile, Vec<Document>)> = files
            .iter()
            .map(|f| (f.path.as_str(), (f, Vec::new())))
            .collect();
        for d in documents {
            if let Some((_, of_file)) = by_path.get_mut(d.source.as_str()) {
                of_file.push(d);
            }
        }
        Recorded {
            read_at_ns,
            files: by_path,
        }
    }

    /// The record of `file` and its documents, taken out, when they can be
    /// taken without reading it: see the module's documentation.
    pub(super) fn take_unchanged(
        &mut self,
        file: &SourceFile,
    ) -> Option<(&'a SourceFile, Vec<Document>)> {
        let (then, documents) = self.files.get_mut(file.path.as_str())?;
        let settled = (file.mtime_ns.max(file.ctime_ns)).saturating_add(SETTLE_NS);
        let unchanged = then.clean
            && !then.sha256.is_empty()
            && file.ctime_ns != 0
            && (file.size, file.mtime_ns, file.ctime_ns)
                == (then.size, then.mtime_ns, then.ctime_ns)
            && settled < self.read_at_ns;
        unchanged.then(|| (*then, std::mem::take(documents)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// A reading that began `later` after now: every file written so far is
    /// settled for it.
    fn began_in(later: Duration) -> u64 {
        (SystemTime::now() + later)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    /// The reading of `root` that takes what `then` recorded, as if `then`
    /// had begun `later` after now.
    fn read_since(root: &Path, then: &Corpus, later: Duration) -> Corpus {
        let recorded = Recorded::new(began_in(later), &then.files, then.documents.clone());
        read(scan(root).unwrap(), Some(recorded))
    }

    fn assert_same_reading(got: &Corpus, want: &Corpus) {
        assert_eq!(got.documents, want.documents);
        assert_eq!(got.files, want.files);
        assert_eq!(got.warnings, want.warnings);
        assert_eq!(got.skipped, want.skipped);
        assert_eq!(got.formats, want.formats);
        assert_eq!(got.unsupported, want.unsupported);
    }

    const TXT: &str = "A paragraph.\nWho built it?\nAnn built it. In May.\n";

    /// Every kind of file, clean or warned, added, changed and removed
    /// between two readings: taking the unchanged clean files from the
    /// first gives the full second reading, and takes exactly those.
    #[test]
    fn taking_unchanged_files_gives_the_full_reading() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |name: &str, text: &[u8]| {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("a.txt", TXT.as_bytes());
        write("sub/b.jsonl", br#"{"id": "1", "passage": "P.", "qa": [{"question": "Q1?", "answer": "A1.", "topic": "x"}]}
{"id": "2", "qa": [{"question": "Q2?", "answer": "A2."}]}
"#);
        write("c.csv", b"question,answer,tag\nHow long?,Two days.,t\n");
        write("d.md", b"# FAQ\n\n## Why?\n\nBecause.\n");
        write("warned.txt", b"P.\nA question without an answer?\n");
        write(
            "dup.jsonl",
            br#"{"id": "1", "qa": [{"question": "Q?", "answer": "A."}]}
{"id": "1", "qa": [{"question": "R?", "answer": "B."}]}
"#,
        );
        write("bad.txt", b"P.\nQ?\n\xff\n");
        write("empty.jsonl", b"\n\n");
        // Its key, until a document read before it claims the same one.
        write("x.jsonl#1.txt", TXT.as_bytes());
        let first = load(root).unwrap();
        let clean: Vec<&str> = (first.files.iter())
            .filter(|f| f.clean)
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            clean,
            [
                "a.txt",
                "c.csv",
                "d.md",
                "empty.jsonl",
                "sub/b.jsonl",
                "x.jsonl#1.txt"
            ]
        );

        // Nothing changed: every clean file taken, the reading the same.
        let again = read_since(root, &first, Duration::from_secs(60));
        assert_eq!(again.files_taken, clean.len());
        assert_same_reading(&again, &first);

        std::thread::sleep(Duration::from_millis(50));
        write("c.csv", b"question,answer,tag\nHow long?,Three days.,t\n");
        std::fs::remove_file(root.join("d.md")).unwrap();
        write("new.txt", TXT.as_bytes());
        // Read before x.jsonl#1.txt, with its key: that one is renamed now.
        write(
            "x.jsonl",
            br#"{"id": "1.txt", "qa": [{"question": "Q?", "answer": "A."}]}"#,
        );
        let full = load(root).unwrap();
        let taken = read_since(root, &first, Duration::from_secs(60));
        assert_same_reading(&taken, &full);
        // a.txt, empty.jsonl, sub/b.jsonl and x.jsonl#1.txt (renamed now,
        // and so no longer clean).
        assert_eq!(taken.files_taken, 4);
        let renamed = taken.files.iter().find(|f| f.path == "x.jsonl#1.txt");
        assert!(!renamed.unwrap().clean);
    }

    /// What is taken is the record, not the file (so the tests above could
    /// not pass by reading everything); and a file is read again when its
    /// times may hide a change.
    #[test]
    fn a_file_is_read_again_unless_its_record_can_be_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), TXT).unwrap();
        let first = load(root).unwrap();
        let mut planted = first.clone();
        planted.documents[0].pairs[0].answer = "Recorded, not read.".into();
        let answer = |c: &Corpus| c.documents[0].pairs[0].answer.clone();
        let taken = |later| answer(&read_since(root, &planted, later));
        assert_eq!(taken(Duration::from_secs(60)), "Recorded, not read.");
        // Its times within SETTLE_NS of when the reading began: read.
        assert_eq!(taken(Duration::from_secs(1)), "Ann built it. In May.");
        // A reading that did not record when it began: read.
        let unknown = Recorded::new(0, &planted.files, planted.documents.clone());
        let read_anyway = read(scan(root).unwrap(), Some(unknown));
        assert_eq!(answer(&read_anyway), "Ann built it. In May.");

        // Rewritten with the same size and its modification time set back:
        // the status change time gives it away.
        let mtime = std::fs::metadata(root.join("a.txt"))
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(root.join("a.txt"), TXT.replace("Ann", "Bob")).unwrap();
        let file = std::fs::File::options()
            .write(true)
            .open(root.join("a.txt"))
            .unwrap();
        file.set_modified(mtime).unwrap();
        let now = scan(root).unwrap().files.remove(0);
        assert_eq!(
            (now.size, now.mtime_ns),
            (first.files[0].size, first.files[0].mtime_ns)
        );
        if cfg!(unix) {
            assert_eq!(taken(Duration::from_secs(60)), "Bob built it. In May.");
        }

        // A file read with a warning is always read again.
        std::fs::write(root.join("a.txt"), "P.\nWho?\nAnn.\nAnd then?\n").unwrap();
        let warned = load(root).unwrap();
        assert!(!warned.files[0].clean);
        let mut planted = warned.clone();
        planted.documents[0].pairs[0].answer = "Recorded, not read.".into();
        assert_eq!(
            answer(&read_since(root, &planted, Duration::from_secs(60))),
            "Ann."
        );
    }
}
