//! ONNX Runtime: its library, loaded once per process from the pinned file,
//! and the one environment every session is made in.

use std::path::Path;

use crate::error::{Error, ModelFix, Result};

/// Loads the ONNX Runtime shared library once per process.
pub(crate) fn load(path: &Path) -> Result<()> {
    match ort::init_from(path) {
        // Only the library is loaded here; sessions are made in `environment()`.
        Ok(_environment_builder) => Ok(()),
        Err(e) => Err(Error::Model {
            fix: ModelFix::FixSuppliedFile,
            message: format!(
                "cannot load ONNX Runtime from {} ({e}): qasearch needs ONNX Runtime >= 1.24",
                path.display()
            ),
        }),
    }
}

/// The process's ONNX Runtime environment (a process may have one): every
/// session, the dense models' and the sparse arm's, is made in it, and so
/// must any other session the process makes once qasearch has loaded a
/// model (fastembed's own, for one: `InitOptionsUserDefined::with_environment`),
/// or ONNX Runtime refuses a second environment.
pub fn environment() -> Result<ort::environment::Environment> {
    static ENVIRONMENT: std::sync::Mutex<Option<ort::environment::Environment>> =
        std::sync::Mutex::new(None);
    let mut env = ENVIRONMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = env.as_ref() {
        return Ok(e.clone());
    }
    let made = ort::init().build().map_err(|e| Error::Model {
        fix: ModelFix::None,
        message: format!("cannot start ONNX Runtime: {e}"),
    })?;
    *env = Some(made.clone());
    Ok(made)
}
