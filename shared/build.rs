//! Extracts the trust anchors of the compiled-in Mozilla roots (`webpki-root-certs`) when the
//! library is built, into `$OUT_DIR/mozilla_anchors.rs`.
//!
//! A TLS verifier wants each root as a trust anchor (its subject, public key and name
//! constraints), not as a certificate. reqwest makes them by parsing every certificate when its
//! client is built: 118 certificates, 7.6 % of the account onboarder's instructions at init.
//! The roots are fixed at build time, so their anchors are too. `webpki-roots` ships anchors
//! made this way, but from its own Mozilla snapshot, which can differ from the certificates the
//! AWS SDK is given; these come from the very same certificates.

use std::{env, fmt::Write, fs, path::PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut out = String::from("&[\n");
    for (i, cert) in webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().enumerate() {
        let anchor = webpki::anchor_from_trusted_cert(cert)
            .unwrap_or_else(|e| panic!("Mozilla root {i} is not a usable trust anchor: {e:?}"));
        let constraints = match &anchor.name_constraints {
            Some(nc) => format!("Some(Der::from_slice(&{:?}))", nc.as_ref()),
            None => "None".into(),
        };
        writeln!(
            out,
            "    TrustAnchor {{ subject: Der::from_slice(&{:?}), \
             subject_public_key_info: Der::from_slice(&{:?}), name_constraints: {constraints} }},",
            anchor.subject.as_ref(),
            anchor.subject_public_key_info.as_ref(),
        )
        .expect("writing to a String");
    }
    out.push_str("]\n");
    let dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(dir.join("mozilla_anchors.rs"), out).expect("writing mozilla_anchors.rs");
}
