//! The TLS configuration of the fast clients: rustls with the aws-lc-rs provider (the crypto the
//! AWS SDK already links), the platform's root certificates, and the extra certificate
//! authorities a campaign names (`[target] ca_cert` / `--ca-cert`, and `AWS_CA_BUNDLE` for
//! SageMaker as the AWS CLI reads it). One configuration serves every connection of a target,
//! so its session cache resumes the sessions a server offers to resume.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::{TargetConfig, TargetKind};
use crate::error::{Error, Result};

/// A file of PEM certificates to trust beside the platform's, and where it was named (for
/// messages: `[target] ca_cert`, `--ca-cert`, `AWS_CA_BUNDLE`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraCa {
    pub path: PathBuf,
    pub named_by: String,
}

/// The platform's root certificates, read once per process (reading them costs tens of ms).
fn platform_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The client configuration: platform roots plus every certificate in `extra`. A file that
/// cannot be read or holds no certificate is bad input naming the file and who named it.
pub fn client_config(extra: &[ExtraCa]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    // A platform certificate rustls cannot use is skipped, as every rustls client does.
    let (_, _) = roots.add_parsable_certificates(platform_roots().iter().cloned());
    for ca in extra {
        for cert in read_certificates(ca)? {
            roots.add(cert).map_err(|e| {
                Error::input(format!(
                    "{} = {:?}: a certificate in it is not usable as a CA: {e}; give the PEM file of the CA that signed the server's certificate",
                    ca.named_by,
                    ca.path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_certificates(ca: &ExtraCa) -> Result<Vec<CertificateDer<'static>>> {
    let unreadable = |why: String| {
        Error::input(format!(
            "{} = {:?}: {why}; give a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)",
            ca.named_by,
            ca.path.display()
        ))
    };
    let bytes = std::fs::read(&ca.path).map_err(|e| unreadable(format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(format!("it is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(unreadable("it holds no certificate".into()));
    }
    Ok(certs)
}

/// The CA files a target trusts beside the platform's: `[target] ca_cert`, and for SageMaker
/// `AWS_CA_BUNDLE` as the AWS CLI reads it.
pub fn extra_ca(t: &TargetConfig) -> Vec<ExtraCa> {
    let mut v: Vec<ExtraCa> = t
        .ca_cert
        .iter()
        .map(|p| ExtraCa {
            path: p.clone(),
            named_by: "[target] ca_cert".into(),
        })
        .collect();
    if t.kind == TargetKind::Sagemaker
        && let Some(b) = aws_ca_bundle()
    {
        v.push(b);
    }
    v
}

/// `AWS_CA_BUNDLE`, when set and not empty: the extra CA the AWS CLI and SDKs trust.
pub fn aws_ca_bundle() -> Option<ExtraCa> {
    let v = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty())?;
    Some(ExtraCa {
        path: Path::new(&v).to_path_buf(),
        named_by: "AWS_CA_BUNDLE".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(path: &Path) -> ExtraCa {
        ExtraCa {
            path: path.to_path_buf(),
            named_by: "[target] ca_cert".into(),
        }
    }

    #[test]
    fn a_ca_file_that_is_missing_empty_or_not_pem_is_bad_input_naming_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (p, why) in [
            (&missing, "cannot read it"),
            (&empty, "holds no certificate"),
            (&garbage, "not valid PEM"),
        ] {
            let e = client_config(&[ca(p)]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            let m = e.to_string();
            assert!(m.starts_with("[target] ca_cert = "), "{m}");
            assert!(m.contains(&*p.to_string_lossy()), "{m}");
            assert!(m.contains(why), "{m}");
        }
    }

    #[test]
    fn a_generated_ca_is_accepted_beside_the_platform_roots() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, cert.cert.pem()).unwrap();
        let config = client_config(&[ca(&file)]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
