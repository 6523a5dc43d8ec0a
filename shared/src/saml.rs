//! The IdP's SAML metadata that each account's SAML provider is created from.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::{
    config::SamlConfig,
    error::{Error, Result},
};

/// IAM's bounds on `SAMLMetadataDocument`
/// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html).
const MIN_LEN: usize = 1000;
const MAX_LEN: usize = 10_000_000;

/// Where the metadata comes from. A file is read once at init; a URL is fetched on first use
/// and kept for the life of the function instance (a failed fetch is tried again next time).
#[derive(Debug)]
pub enum MetadataSource {
    /// Loaded from a file at init.
    Loaded(Arc<str>),
    /// Fetched from a URL on first use.
    Url {
        /// The URL.
        url: String,
        /// The HTTP client, built once.
        http: reqwest::Client,
        /// The document, once fetched.
        cached: OnceCell<Arc<str>>,
    },
}

impl MetadataSource {
    /// Prepares the configured source; a file is read and checked now.
    pub fn from_config(saml: &SamlConfig, base_dir: &std::path::Path) -> Result<Self> {
        if let Some(file) = &saml.metadata_file {
            let path = base_dir.join(file);
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Metadata {
                source_name: name.clone(),
                problem: e.to_string(),
            })?;
            return Ok(Self::Loaded(check(&name, text)?.into()));
        }
        let url = saml.metadata_url.clone().unwrap_or_default();
        Ok(Self::Url {
            url,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| Error::Metadata {
                    source_name: "metadata_url".into(),
                    problem: e.to_string(),
                })?,
            cached: OnceCell::new(),
        })
    }

    /// The metadata document.
    pub async fn get(&self) -> Result<Arc<str>> {
        match self {
            Self::Loaded(doc) => Ok(doc.clone()),
            Self::Url { url, http, cached } => cached
                .get_or_try_init(|| async {
                    let fail = |problem: String| Error::Metadata {
                        source_name: url.clone(),
                        problem,
                    };
                    let resp = http
                        .get(url)
                        .send()
                        .await
                        .map_err(|e| fail(e.without_url().to_string()))?;
                    if !resp.status().is_success() {
                        return Err(fail(format!("HTTP {}", resp.status())));
                    }
                    let text = resp
                        .text()
                        .await
                        .map_err(|e| fail(e.without_url().to_string()))?;
                    Ok(check(url, text)?.into())
                })
                .await
                .cloned(),
        }
    }
}

/// Checks that a document is SAML IdP metadata that IAM will accept.
pub fn check(source_name: &str, text: String) -> Result<String> {
    let fail = |problem: &str| Error::Metadata {
        source_name: source_name.to_string(),
        problem: problem.to_string(),
    };
    let text = text.trim().to_string();
    if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
        return Err(fail(&format!(
            "{} characters; IAM accepts {MIN_LEN} to {MAX_LEN}",
            text.len()
        )));
    }
    if !text.contains("EntityDescriptor") || !text.contains("IDPSSODescriptor") {
        return Err(fail(
            "not SAML IdP metadata (no EntityDescriptor/IDPSSODescriptor)",
        ));
    }
    if !text.contains("X509Certificate") {
        return Err(fail("no signing certificate (X509Certificate)"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_foreign_documents_are_refused() {
        assert!(
            check("x", "<EntityDescriptor/>".into())
                .unwrap_err()
                .to_string()
                .contains("characters")
        );
        let html = format!("<html>{}</html>", "x".repeat(2000));
        assert!(
            check("x", html)
                .unwrap_err()
                .to_string()
                .contains("not SAML")
        );
    }

    #[test]
    fn the_sandbox_metadata_is_accepted() {
        let path = format!(
            "{}/../tests/sandbox/okta-metadata.xml",
            env!("CARGO_MANIFEST_DIR")
        );
        check(&path, std::fs::read_to_string(&path).unwrap()).unwrap();
    }
}
