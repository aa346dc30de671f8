//! What reading a generation's vectors and graph into memory costs, beside
//! the memory map it replaced (issue 24: a mapped file truncated under a
//! long-lived process killed it with SIGBUS). Synthetic files of the sizes
//! an index of `--rows` rows has (384 floats a row; a layer-0 graph of 32
//! links a row plus offsets), in the page cache, as after an `index`.
//!
//! ```sh
//! cargo bench --bench open -- [--rows 100000,1000000] [--runs 5]
//! ```
//!
//! "mapped" is what `open` did before: a CRC pass over each file, then a
//! map; "read" is [`qasearch::store::read_verified`]: one pass that copies
//! and checks. Prints one JSON line a size: median ms of each, and the
//! resident memory the read copy adds (the map's pages are the page cache's).

use std::io::{Read, Write};
use std::time::Instant;

use qasearch::store::{read_verified, FileSum};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn write_file(path: &std::path::Path, bytes: usize) -> FileSum {
    let mut f = std::fs::File::create(path).unwrap();
    let mut hasher = crc32fast::Hasher::new();
    let mut x = 0x9e37_79b9u32;
    let chunk: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0x3f) as u8
        })
        .collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).unwrap();
        hasher.update(&chunk[..n]);
        left -= n;
    }
    f.sync_all().unwrap();
    FileSum {
        len: bytes as u64,
        crc32: hasher.finalize(),
    }
}

/// The old way: CRC in 1 MiB chunks through the file, then a map.
fn mapped(path: &std::path::Path, sum: &FileSum) -> memmap2::Mmap {
    let mut f = std::fs::File::open(path).unwrap();
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    assert_eq!(hasher.finalize(), sum.crc32);
    // SAFETY: a file of this bench's own, not written while mapped.
    unsafe { memmap2::Mmap::map(&f) }.unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rows: Vec<usize> = flag("--rows")
        .unwrap_or_else(|| "100000,1000000".into())
        .split(',')
        .map(|r| r.parse().expect("--rows N[,N]"))
        .collect();
    let runs: usize = flag("--runs").map_or(5, |r| r.parse().expect("--runs N"));
    let dir = tempfile::tempdir().unwrap();
    for n in rows {
        let vectors = dir.path().join("vectors.f32");
        let graph = dir.path().join("graph.bin");
        let vsum = write_file(&vectors, n * 384 * 4);
        let gsum = write_file(&graph, n * 34 * 4);
        // Warm the page cache, as after an index build.
        drop(mapped(&vectors, &vsum));
        drop(mapped(&graph, &gsum));
        let (mut old, mut new, mut added) = (vec![], vec![], vec![]);
        for _ in 0..runs {
            let t = Instant::now();
            let maps = (mapped(&vectors, &vsum), mapped(&graph, &gsum));
            old.push(t.elapsed().as_secs_f64() * 1e3);
            drop(maps);
            let before = rss_mb();
            let t = Instant::now();
            let v = read_verified(&vectors, &vsum).unwrap();
            let g = read_verified(&graph, &gsum).unwrap();
            new.push(t.elapsed().as_secs_f64() * 1e3);
            added.push(rss_mb() - before);
            drop((v, g));
        }
        println!(
            "{}",
            serde_json::json!({
                "rows": n,
                "bytes": vsum.len + gsum.len,
                "mapped_ms": median(old),
                "read_ms": median(new),
                "read_rss_added_mb": median(added),
            })
        );
    }
}
