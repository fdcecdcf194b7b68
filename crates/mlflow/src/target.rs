//! Which MLflow model version an rctgate version is.
//!
//! MLflow numbers a registered model's versions (1, 2, 3); rctgate's are any text (`v7`).
//! The link is explicit, never guessed from a name: a version whose artifact URI is MLflow's
//! own `models:/NAME/N` is version N of NAME (what `rctgate model import-mlflow` writes, and
//! what lets the rctgate model carry another name than MLflow's); otherwise a version named
//! by a bare number is that version of the registered model with the rctgate model's name.
//! `v7` with an `s3://` artifact is not linked: the sync reports it instead of moving the
//! alias to a version it merely resembles.

/// An MLflow registered model and one of its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTarget {
    pub model: String,
    pub version: String,
}

/// The MLflow version that rctgate version `version` of model `model` is, or why there is
/// none (a sentence).
pub fn registry_target(
    model: &str,
    version: &str,
    artifact_uri: Option<&str>,
) -> Result<RegistryTarget, String> {
    if let Some(rest) = artifact_uri.and_then(|uri| uri.trim().strip_prefix("models:/")) {
        return match rest.rsplit_once('/') {
            Some((name, number)) if !name.is_empty() && is_version_number(number) => Ok(RegistryTarget {
                model: name.to_string(),
                version: number.to_string(),
            }),
            _ => Err(format!(
                "version {version} of {model} has the artifact URI models:/{rest}, which names no \
                 MLflow version number (models:/NAME/N; an alias or a stage moves, a version does not)."
            )),
        };
    }
    if is_version_number(version) {
        return Ok(RegistryTarget {
            model: model.to_string(),
            version: version.to_string(),
        });
    }
    Err(format!(
        "version {version} of {model} is linked to no MLflow version: register it with the \
         artifact URI models:/NAME/N, or name it by MLflow's version number \
         (rctgate model import-mlflow does both)."
    ))
}

/// MLflow's version numbers: 1, 2, 3 (no sign, no leading zero).
fn is_version_number(text: &str) -> bool {
    !text.is_empty() && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(model: &str, version: &str) -> Result<RegistryTarget, String> {
        Ok(RegistryTarget {
            model: model.into(),
            version: version.into(),
        })
    }

    #[test]
    fn a_models_uri_names_the_version_and_the_registered_model() {
        assert_eq!(
            registry_target("ranker", "v7", Some("models:/prod.ranker/12")),
            target("prod.ranker", "12")
        );
        assert_eq!(
            registry_target("ranker", "3", Some("models:/a/b/4")),
            target("a/b", "4"),
            "the last segment is the version"
        );
    }

    #[test]
    fn a_bare_number_is_that_version_of_the_same_name() {
        assert_eq!(registry_target("ranker", "3", None), target("ranker", "3"));
        assert_eq!(
            registry_target("ranker", "3", Some("s3://bucket/ranker/3")),
            target("ranker", "3")
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (version, uri) in [
            ("v7", None),
            ("v7", Some("s3://bucket/ranker/7")),
            ("07", None),
            ("-1", None),
            ("3", Some("models:/ranker@champion")),
            ("3", Some("models:/ranker/Production")),
            ("3", Some("models:/7")),
        ] {
            let err = registry_target("ranker", version, uri).expect_err(version);
            assert!(err.contains(&format!("version {version} of ranker")), "{err}");
        }
    }
}
