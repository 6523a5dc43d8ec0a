//! The certificate authorities autofed's HTTPS clients trust, settled once per process.
//!
//! A function holds two TLS stacks: the AWS SDK's and reqwest's (Okta, SAML metadata). Left to
//! themselves, each reads and parses the system's certificate store when it is built: 3-5 ms of
//! file reads and PEM decoding apiece at every cold start on the machines we measured, before
//! a single call is made. Every peer autofed trusts this way (AWS endpoints, Okta, a metadata
//! URL) chains to Mozilla's root program, which `webpki-root-certs` compiles in: the same set
//! the operating system's `ca-certificates` package ships, with no file to read, and whose
//! trust anchors are extracted when autofed is built (`shared/build.rs`). A deployment
//! whose traffic passes a TLS-inspecting proxy names its own bundle instead with
//! [`CERT_FILE_ENV`], the variable OpenSSL and the SDK's default store already read; both
//! stacks then trust exactly that file.
//!
//! A cluster's Kubernetes API is the exception: it is trusted through the cluster's own
//! certificate authority only (see [`crate::kube`]).

use std::{
    path::Path,
    sync::{Arc, OnceLock},
};

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::{
    connector_metadata::ConnectorMetadata,
    http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector},
    runtime_components::RuntimeComponents,
};
use base64::Engine;
use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, Der, TrustAnchor, pem::PemObject},
};

use crate::config::ConfigError;

/// The environment variable naming a PEM bundle to trust instead of Mozilla's roots.
pub const CERT_FILE_ENV: &str = "SSL_CERT_FILE";

/// The trust anchors of [`webpki_root_certs::TLS_SERVER_ROOT_CERTS`], in the same order,
/// extracted when the library was built (`shared/build.rs`).
static MOZILLA_ANCHORS: &[TrustAnchor<'static>] =
    include!(concat!(env!("OUT_DIR"), "/mozilla_anchors.rs"));

/// The certificate authorities to trust, shared by every HTTPS client a function builds.
#[derive(Clone)]
pub struct TrustRoots {
    /// As certificates, for the SDK (which takes them as PEM).
    certs: Arc<[CertificateDer<'static>]>,
    /// As trust anchors, for reqwest's rustls.
    anchors: Arc<RootCertStore>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots")
            .field("certs", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl TrustRoots {
    /// Mozilla's roots, or the bundle [`CERT_FILE_ENV`] names (read and checked now).
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var_os(CERT_FILE_ENV) {
            None => Ok(Self::mozilla()),
            Some(path) => {
                Self::from_pem_file(Path::new(&path)).map_err(|reason| ConfigError::Env {
                    var: CERT_FILE_ENV,
                    reason,
                })
            }
        }
    }

    /// The roots of Mozilla's program, as compiled in.
    pub fn mozilla() -> Self {
        Self {
            certs: webpki_root_certs::TLS_SERVER_ROOT_CERTS.into(),
            anchors: Arc::new(RootCertStore {
                roots: MOZILLA_ANCHORS.to_vec(),
            }),
        }
    }

    /// The certificates of a PEM bundle file; what is wrong with it otherwise.
    pub fn from_pem_file(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read {}: {e}",
                crate::ids::quote(&path.display().to_string())
            )
        })?;
        Self::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The certificates of a PEM bundle, each checked to be usable as a trust anchor: the SDK
    /// parses them again when it first connects and cannot report a bad one then.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let mut store = RootCertStore::empty();
        let mut certs = Vec::new();
        for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert = cert.map_err(|e| format!("certificate {}: not valid PEM ({e})", i + 1))?;
            store
                .add(cert.clone())
                .map_err(|e| format!("certificate {}: not a usable CA certificate ({e})", i + 1))?;
            certs.push(cert);
        }
        if certs.is_empty() {
            return Err("no CERTIFICATE in the file".into());
        }
        Ok(Self {
            certs: certs.into(),
            anchors: Arc::new(store),
        })
    }

    /// The AWS SDK's HTTPS client (rustls with aws-lc, the SDK's own default) trusting these
    /// roots only, built by the first request (see [`FirstRequest`]): every client of a
    /// function shares it and its timeouts.
    pub fn aws_http_client(&self) -> SharedHttpClient {
        let roots = self.clone();
        SharedHttpClient::new(FirstRequest::new(move || roots.sdk_https_client()))
    }

    /// The SDK's hyper client over rustls. The SDK takes a custom store as PEM, so the
    /// certificates are written out here, and parsed by the SDK when it builds its connector.
    fn sdk_https_client(&self) -> SharedHttpClient {
        let context = TlsContext::builder()
            .with_trust_store(
                TrustStore::empty()
                    .with_native_roots(false)
                    .with_pem_certificate(self.to_pem()),
            )
            .build()
            .expect("a TLS context without extra server names always builds");
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https()
    }

    /// A reqwest client builder trusting these roots only.
    ///
    /// NB: its rustls configuration is the one reqwest builds itself (aws-lc, TLS 1.2 and 1.3,
    /// SNI, ALPN `http/1.1`), but over the anchors already made: given certificates, reqwest
    /// would parse every one of them as each client is built.
    pub fn reqwest(&self) -> reqwest::ClientBuilder {
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("aws-lc-rs supports TLS 1.2 and 1.3")
        .with_root_certificates(self.anchors.clone())
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        reqwest::Client::builder().tls_backend_preconfigured(tls)
    }

    /// The certificates as one PEM bundle.
    fn to_pem(&self) -> Vec<u8> {
        let mut pem = Vec::with_capacity(self.certs.len() * 2048);
        for cert in self.certs.iter() {
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            for line in body.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        pem
    }
}

/// The SDK's HTTPS client, built when a request first needs it.
///
/// As each SDK client is built, the SDK asks its HTTP client to validate the configuration,
/// and the hyper client answers by building a throwaway connector, so that a system store is
/// read before the first request rather than during it. For autofed each such build parses the
/// PEM of the 118 compiled-in roots: about 0.7 ms apiece (release) for each of a function's
/// SDK clients, at every cold start. There is nothing to validate (the roots were checked when
/// they were settled), so this leaves it out. The client itself, and the PEM it is given, are
/// made by the first request, which builds the connector that every client with the same
/// timeouts then shares, as before.
struct FirstRequest {
    build: Box<dyn Fn() -> SharedHttpClient + Send + Sync>,
    client: OnceLock<SharedHttpClient>,
}

impl FirstRequest {
    fn new(build: impl Fn() -> SharedHttpClient + Send + Sync + 'static) -> Self {
        Self {
            build: Box::new(build),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> &SharedHttpClient {
        self.client.get_or_init(&self.build)
    }
}

impl std::fmt::Debug for FirstRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstRequest")
            .field("client", &self.client.get())
            .finish_non_exhaustive()
    }
}

impl HttpClient for FirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP client that counts the SDK's requests to validate it, and sends nothing.
    #[derive(Debug, Clone, Default)]
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is sent")
        }

        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    /// How many times building two SDK clients on `http` asked it to validate (for the hyper
    /// client, to build a connector and parse the roots).
    fn validations_building_clients(http: SharedHttpClient, counting: &Counting) -> usize {
        let conf = aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .http_client(http)
            .build();
        let _sts = aws_sdk_sts::Client::new(&conf);
        let _sts_again = aws_sdk_sts::Client::new(&conf);
        counting.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn building_sdk_clients_builds_no_connector() {
        let counting = Counting::default();
        // The SDK asks at every client it builds...
        assert_eq!(
            validations_building_clients(SharedHttpClient::new(counting.clone()), &counting),
            2
        );
        // ...and FirstRequest neither passes the question on nor builds its client.
        let counting = Counting::default();
        let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let first_request = {
            let (counting, builds) = (counting.clone(), builds.clone());
            FirstRequest::new(move || {
                builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                SharedHttpClient::new(counting.clone())
            })
        };
        assert_eq!(
            validations_building_clients(SharedHttpClient::new(first_request), &counting),
            0
        );
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn the_compiled_in_anchors_are_those_of_the_compiled_in_roots() {
        let mut parsed = RootCertStore::empty();
        let (added, ignored) = parsed
            .add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        assert_eq!((added, ignored), (MOZILLA_ANCHORS.len(), 0));
        assert_eq!(parsed.roots, TrustRoots::mozilla().anchors.roots);
        let bundle = TrustRoots::from_pem(&TrustRoots::mozilla().to_pem()).unwrap();
        assert_eq!(bundle.anchors.roots, parsed.roots);
    }

    #[test]
    fn mozilla_roots_are_compiled_in_and_round_trip_through_pem() {
        let roots = TrustRoots::mozilla();
        assert!(roots.certs.len() > 100, "{} roots", roots.certs.len());
        let again = TrustRoots::from_pem(&roots.to_pem()).unwrap();
        assert_eq!(again.certs, roots.certs);
    }

    #[test]
    fn a_bad_bundle_is_named_with_what_is_wrong() {
        assert_eq!(
            TrustRoots::from_pem(b"nothing here").unwrap_err(),
            "no CERTIFICATE in the file"
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = TrustRoots::from_pem(garbage).unwrap_err();
        assert!(
            err.starts_with("certificate 1: not a usable CA certificate"),
            "{err}"
        );
        let truncated = b"-----BEGIN CERTIFICATE-----\nMIIB";
        let err = TrustRoots::from_pem(truncated).unwrap_err();
        assert!(err.starts_with("certificate 1: not valid PEM"), "{err}");
        let err = TrustRoots::from_pem_file(Path::new("/nonexistent/bundle.pem")).unwrap_err();
        assert!(
            err.starts_with("cannot read \"/nonexistent/bundle.pem\""),
            "{err}"
        );
    }
}
