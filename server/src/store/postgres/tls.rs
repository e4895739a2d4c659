//! TLS to PostgreSQL with rustls: Mozilla's public roots (what managed
//! databases' certificates chain to) plus an optional CA file, the URL's
//! `sslmode` honoured, and errors that say what to do.
//!
//! When TLS is used the certificate and the host name are always verified
//! (what libpq calls `verify-full`). `sslmode=prefer`, the default, uses TLS
//! when the server offers it and its certificate verifies, and otherwise
//! connects without TLS (logging once why); `require` never connects
//! without TLS; `disable` never tries it.

use std::error::Error as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use postgres::config::SslMode;
use postgres::{Client, Config};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::connect::describe;

/// Opens connections with the URL's `sslmode`, over TLS when it applies.
pub struct Connector {
    tls: MakeRustlsConnect,
    /// Set once `prefer` fell back to a plain connection, so the log says
    /// it once rather than for every pooled connection.
    warned: AtomicBool,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl Connector {
    /// Trusts Mozilla's roots and, when given, the certificates of the PEM
    /// file `ca_file` (for a private CA). The error says what to fix.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = ca_file {
            for cert in read_ca_file(path)? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "--database-ca-file {}: a certificate in it is not usable as a CA ({e})",
                        path.display()
                    )
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector {
            tls: MakeRustlsConnect::new(config),
            warned: AtomicBool::new(false),
        })
    }

    /// Connects as `config` says, falling back to a plain connection under
    /// `sslmode=prefer` when the TLS handshake fails (libpq's `prefer` does
    /// not check certificates at all, so a server with a self-signed
    /// certificate, such as Debian's default, keeps working).
    pub fn connect(&self, config: &Config) -> Result<Client, postgres::Error> {
        let error = match config.connect(self.tls.clone()) {
            Ok(client) => return Ok(client),
            Err(error) => error,
        };
        if config.get_ssl_mode() != SslMode::Prefer || rustls_error(&error).is_none() {
            return Err(error);
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %describe(&error),
                "PostgreSQL offers TLS but the handshake failed{}; connecting without TLS, \
                 as sslmode=prefer (the default) allows. Add sslmode=require to the URL to \
                 refuse plain connections, or sslmode=disable to skip trying TLS",
                hint(&error).unwrap_or_default()
            );
        }
        let mut plain = config.clone();
        plain.ssl_mode(SslMode::Disable);
        plain.connect(self.tls.clone())
    }
}

/// The certificates of a PEM file; an error when it cannot be read or holds
/// none.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read --database-ca-file {shown} ({e})"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--database-ca-file {shown} is not a valid PEM file ({e})"))?;
    if certs.is_empty() {
        return Err(format!(
            "--database-ca-file {shown} holds no certificate: give the CA's certificate in \
             PEM form (a -----BEGIN CERTIFICATE----- block)"
        ));
    }
    Ok(certs)
}

/// The rustls error behind a failed TLS handshake, if that is what failed.
fn rustls_error(error: &postgres::Error) -> Option<&rustls::Error> {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if let Some(found) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return Some(found);
            }
        }
        cause = current.source();
    }
    None
}

/// What to do about a connection error that TLS caused (`"; …"`), or
/// `None` when TLS is not the cause.
pub fn hint(error: &postgres::Error) -> Option<String> {
    if let Some(tls) = rustls_error(error) {
        return Some(explain(tls));
    }
    let text = error.to_string();
    if text.contains("server does not support TLS") {
        return Some(
            "; the URL asks for sslmode=require but this PostgreSQL does not accept TLS: \
             turn on ssl in postgresql.conf (ssl_cert_file, ssl_key_file), or remove \
             sslmode=require on a network you trust"
                .to_owned(),
        );
    }
    if text.contains("no hostname provided for TLS") {
        return Some(
            "; TLS needs a host name or address to verify: give host in --database-url, \
             not only hostaddr"
                .to_owned(),
        );
    }
    None
}

/// A rustls handshake failure in words, with what to do.
fn explain(error: &rustls::Error) -> String {
    let certificate = match error {
        rustls::Error::InvalidCertificate(certificate) => certificate,
        other => {
            return format!(
                "; the TLS handshake failed ({other}): check that this is PostgreSQL and that \
                 it allows TLS 1.2 or 1.3, or add sslmode=disable to the URL on a network \
                 you trust"
            )
        }
    };
    match certificate {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            "; the server's certificate is not signed by a known CA: pass \
             --database-ca-file (or OUTBOX_SYNC_DATABASE_CA_FILE) with your CA's \
             certificate in PEM form"
                .to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "; the server's certificate does not name the host in --database-url: connect \
             by a host name or address that the certificate lists, or have it reissued \
             for this one"
                .to_owned()
        }
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => {
            "; the server's certificate is expired or not yet valid: renew it, and check \
             this machine's clock"
                .to_owned()
        }
        other => format!(
            "; the server's certificate was refused ({other:?}): check it, or pass \
             --database-ca-file with the CA that issued it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_say_what_to_do() {
        let unknown = explain(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(unknown.contains("not signed by a known CA"), "{unknown}");
        assert!(unknown.contains("--database-ca-file"), "{unknown}");
        let name = explain(&rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert!(name.contains("does not name the host"), "{name}");
        let expired = explain(&rustls::Error::InvalidCertificate(
            CertificateError::Expired,
        ));
        assert!(expired.contains("expired"), "{expired}");
    }

    #[test]
    fn a_ca_file_must_hold_a_pem_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = Connector::new(Some(&missing)).unwrap_err();
        assert!(error.contains("cannot read --database-ca-file"), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Connector::new(Some(&empty)).unwrap_err();
        assert!(error.contains("holds no certificate"), "{error}");
        assert!(Connector::new(None).is_ok(), "the public roots alone");
    }
}
