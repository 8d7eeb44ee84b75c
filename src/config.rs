//! Configuration files: each command's defaults live in its config struct (and, identically, in configs/*.toml);
//! a `--config` file overrides them, command-line flags override that, and the effective config is saved with the run.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{IoContext, Result, SynthError};

/// Reads a TOML config, or the defaults when no file is given. Unknown keys are an error (a typo must not be
/// silently ignored).
pub fn load<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path).at(path, "reading config")?;
    toml::from_str(&text).map_err(|e| SynthError::bad_input(format!("config {}: {}", path.display(), e.message())))
}

/// The config as TOML text, for saving beside the run.
pub fn to_toml<T: Serialize>(config: &T) -> Result<String> {
    toml::to_string_pretty(config).map_err(|e| SynthError::internal(format!("serialising config: {e}")))
}

/// The config as JSON, for origin.json and reports.
pub fn to_json<T: Serialize>(config: &T) -> serde_json::Value {
    serde_json::to_value(config).unwrap_or(serde_json::Value::Null)
}

/// Pretty-printed JSON of a record (origin.json, fit.json, report.json, split.json).
pub fn pretty_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| SynthError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::AugmentConfig;

    /// configs/*.toml must say exactly what the code's defaults are.
    #[test]
    fn shipped_configs_equal_the_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let augment: AugmentConfig = load(Some(&root.join("augment.toml"))).unwrap();
        assert_eq!(augment, AugmentConfig::default());
        let classifier: crate::classifier::ClassifierConfig = load(Some(&root.join("classifier.toml"))).unwrap();
        assert_eq!(classifier, crate::classifier::ClassifierConfig::default());
        let gan: crate::gan::GanConfig = load(Some(&root.join("gan.toml"))).unwrap();
        assert_eq!(gan, crate::gan::GanConfig::default());
        let adversarial: crate::adversarial::AdversarialConfig = load(Some(&root.join("adversarial.toml"))).unwrap();
        assert_eq!(adversarial, crate::adversarial::AdversarialConfig::default());
        let style: crate::style::StyleConfig = load(Some(&root.join("style.toml"))).unwrap();
        assert_eq!(style, crate::style::StyleConfig::default());
        let eval: crate::eval::EvalGainConfig = load(Some(&root.join("eval-gain.toml"))).unwrap();
        assert_eq!(eval, crate::eval::EvalGainConfig::default());
        let policy: crate::policy::PolicyConfig = load(Some(&root.join("policy.toml"))).unwrap();
        assert_eq!(policy, crate::policy::PolicyConfig::default());
    }

    #[test]
    fn unknown_keys_are_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "copiez = 3\n").unwrap();
        let err = load::<AugmentConfig>(Some(&path)).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("copiez"), "{err}");
    }
}
