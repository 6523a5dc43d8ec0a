//! The IdP's SAML metadata that each account's SAML provider is created from.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use crate::{
    config::SamlConfig,
    error::{Error, Result},
    tls::TrustRoots,
};

/// IAM's bounds on `SAMLMetadataDocument`
/// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html).
const MIN_LEN: usize = 1000;
const MAX_LEN: usize = 10_000_000;

/// How long fetched metadata is used before it is fetched again, so that an IdP certificate
/// rotation reaches every account's provider within this time.
pub const REFRESH: Duration = Duration::from_secs(15 * 60);

/// Where the metadata comes from. A file is read once at init; a URL is fetched on first use
/// and again after [`REFRESH`] (a failed fetch is tried again on the next use).
#[derive(Debug)]
pub enum MetadataSource {
    /// Loaded from a file at init.
    Loaded(Arc<str>),
    /// Fetched from a URL.
    Url {
        /// The URL.
        url: String,
        /// The HTTP client, built once.
        http: reqwest::Client,
        /// The document and when it was fetched.
        cached: Mutex<Option<(Instant, Arc<str>)>>,
    },
}

impl MetadataSource {
    /// Prepares the configured source; a file is read and checked now.
    pub fn from_config(
        saml: &SamlConfig,
        base_dir: &std::path::Path,
        roots: &TrustRoots,
    ) -> Result<Self> {
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
        // NB: the metadata carries the certificate every federated role trusts; an https URL
        // may not be redirected to plain http (configuration allows http only on loopback).
        let http = roots
            .reqwest()
            .timeout(Duration::from_secs(10))
            .https_only(url.starts_with("https://"))
            .build()
            .map_err(|e| Error::Metadata {
                source_name: url.clone(),
                problem: e.to_string(),
            })?;
        Ok(Self::Url {
            url,
            http,
            cached: Mutex::new(None),
        })
    }

    /// The metadata document.
    pub async fn get(&self) -> Result<Arc<str>> {
        let (url, http, cached) = match self {
            Self::Loaded(doc) => return Ok(doc.clone()),
            Self::Url { url, http, cached } => (url, http, cached),
        };
        let mut cached = cached.lock().await;
        if let Some((at, doc)) = cached.as_ref()
            && at.elapsed() < REFRESH
        {
            return Ok(doc.clone());
        }
        let doc: Arc<str> = fetch(http, url).await?.into();
        *cached = Some((Instant::now(), doc.clone()));
        Ok(doc)
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<String> {
    let fail = |problem: String| Error::Metadata {
        source_name: url.to_string(),
        problem,
    };
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_LEN {
            return Err(fail(format!("more than {MAX_LEN} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| fail("not UTF-8 text".into()))?;
    check(url, text)
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
