//! TLS for `amqps://` (feature `tls`): rustls with the ring provider chosen
//! explicitly (rustls 0.23 panics at first use when several providers are
//! compiled in and none was chosen), verification on unless turned off by
//! a method named for the danger, client certificates for SASL EXTERNAL.
//!
//! Trust roots: Mozilla's, compiled in (webpki-roots), so a scratch or
//! distroless image with no CA bundle still verifies a hosted broker; plus
//! the system bundle on request ([`TlsConfig::with_system_roots`]) and any
//! CA of your own ([`TlsConfig::with_ca_file`], `cacertfile=`).
//!
//! The server name is each endpoint's host (so a cluster's nodes are each
//! verified under their own name), unless overridden
//! (`server_name_indication=`); an IP address is verified against the
//! certificate's IP SANs and never sent as SNI (RFC 6066 forbids it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::driver::{tcp_connector, Connector};
use crate::error::{Error, TlsFailure};
use crate::recovery::Endpoint;

/// Where the system's CA bundle is on common distributions (after
/// `SSL_CERT_FILE`): Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, macOS.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// How to speak TLS to the broker. Built from an `amqps://` URI's query
/// (`cacertfile`, `certfile`, `keyfile`, `verify`, `server_name_indication`)
/// or with the methods here; [`crate::ConnectionConfig::with_tls`] sets it.
///
/// ```no_run
/// use amqp_client::{Connection, ConnectionConfig, SaslMechanism, TlsConfig, DEFAULT_TLS_PORT};
///
/// # async fn demo() -> Result<(), amqp_client::Error> {
/// // A private CA, a client certificate, and a login as its subject (SASL EXTERNAL).
/// let tls = TlsConfig::new()
///     .with_ca_file("/etc/amqp/ca.pem")?
///     .with_client_cert_files("/etc/amqp/client.pem", "/etc/amqp/client.key")?;
/// let config = ConnectionConfig::default()
///     .with_address("broker.internal", DEFAULT_TLS_PORT)
///     .with_mechanism(SaslMechanism::External)
///     .with_tls(tls);
/// let connection = Connection::connect(config).await?;
/// # connection.close().await
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    webpki_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    server_name: Option<String>,
    sni: bool,
    verify: bool,
    custom: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for TlsConfig {
    /// Never shows key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("webpki_roots", &self.webpki_roots)
            .field("extra_roots", &self.extra_roots.len())
            .field("client_certificate", &self.client_auth.is_some())
            .field("server_name", &self.server_name)
            .field("sni", &self.sni)
            .field("verify", &self.verify)
            .field("custom_rustls_config", &self.custom.is_some())
            .finish()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            webpki_roots: true,
            extra_roots: Vec::new(),
            client_auth: None,
            server_name: None,
            sni: true,
            verify: true,
            custom: None,
        }
    }
}

impl TlsConfig {
    /// Verifies the broker against Mozilla's roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CAs added (no compiled-in roots): for a private CA.
    pub fn without_public_roots(mut self) -> Self {
        self.webpki_roots = false;
        self
    }

    /// Also trusts the CA certificates in PEM file `path` (`cacertfile=`).
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let certs = read_certs(path)?;
        Ok(self.with_cas(certs))
    }

    /// Also trusts the CA certificates in `pem`.
    pub fn with_ca_pem(self, pem: &[u8]) -> Result<Self, Error> {
        let certs = parse_certs(pem, "the CA PEM given")?;
        Ok(self.with_cas(certs))
    }

    fn with_cas(mut self, certs: Vec<CertificateDer<'static>>) -> Self {
        self.extra_roots.extend(certs);
        self
    }

    /// Also trusts the system's CA bundle (`SSL_CERT_FILE`, else the
    /// distribution's usual file).
    pub fn with_system_roots(self) -> Result<Self, Error> {
        let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let found = from_env
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
            .find(|p| p.is_file());
        match found {
            Some(path) => self.with_ca_file(path),
            None => Err(config_error(
                None,
                "no system CA bundle found (set SSL_CERT_FILE)".into(),
            )),
        }
    }

    /// Presents a client certificate (mutual TLS; with
    /// [`crate::SaslMechanism::External`] the broker logs in as its
    /// subject): a PEM chain and its PEM private key (`certfile=`,
    /// `keyfile=`).
    pub fn with_client_cert_files(
        mut self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let chain = read_certs(cert_chain.as_ref())?;
        let key = read_key(key.as_ref())?;
        self.client_auth = Some((chain, Arc::new(key)));
        Ok(self)
    }

    /// [`TlsConfig::with_client_cert_files`] from PEM in memory.
    pub fn with_client_cert_pem(mut self, cert_chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let chain = parse_certs(cert_chain, "the client certificate PEM given")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
            config_error(
                None,
                format!("the private key PEM given: {}", pem_reason(&e)),
            )
        })?;
        self.client_auth = Some((chain, Arc::new(key)));
        Ok(self)
    }

    /// Verifies (and sends as SNI) `name` instead of each endpoint's host
    /// (`server_name_indication=NAME`): for a broker reached by an address
    /// its certificate does not list.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Sends no SNI (`server_name_indication=disable`); the certificate is
    /// still verified against the host.
    pub fn without_sni(mut self) -> Self {
        self.sni = false;
        self
    }

    /// DANGER: accepts any certificate the broker shows (`verify=verify_none`):
    /// anyone on the path can read and change the traffic. For a test
    /// broker with a certificate you cannot get trusted, never production.
    pub fn dangerous_accept_any_certificate(mut self) -> Self {
        self.verify = false;
        self
    }

    /// Uses a rustls config of your own (anything not covered here); the
    /// other settings but the server name are then ignored.
    pub fn with_rustls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.custom = Some(config);
        self
    }

    /// Whether a client certificate is configured.
    pub fn has_client_certificate(&self) -> bool {
        self.client_auth.is_some()
    }

    /// The rustls config this describes.
    fn build(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(custom) = &self.custom {
            return Ok(custom.clone());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(None, e.to_string()))?;
        let builder = if self.verify {
            let mut roots = RootCertStore::empty();
            if self.webpki_roots {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            let (_, unusable) = roots.add_parsable_certificates(self.extra_roots.iter().cloned());
            if unusable > 0 && roots.is_empty() {
                return Err(config_error(None, "no usable CA certificate".into()));
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        };
        let mut config = match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| config_error(None, format!("the client certificate or key: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni;
        Ok(Arc::new(config))
    }
}

/// A connector that opens TCP, then TLS, to each endpoint, naming it by
/// its own host (or the configured server name). The config is built
/// once, here, so a bad one fails `connect` before any socket is opened.
pub(crate) fn tls_connector(tls: &TlsConfig) -> Result<Connector<TlsStream<TcpStream>>, Error> {
    let config = tls.build()?;
    let server_name = tls.server_name.clone();
    let tcp = tcp_connector();
    Ok(Arc::new(move |endpoint: Endpoint| {
        let config = config.clone();
        let name = server_name.clone().unwrap_or_else(|| endpoint.host.clone());
        let tcp = tcp(endpoint);
        Box::pin(async move {
            let name = ServerName::try_from(name.clone())
                .map_err(|_| config_error(None, format!("{name:?} is not a valid server name")))?;
            let stream = tcp.await?;
            tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(handshake_error)
        })
    }))
}

/// A failed handshake, classified, with what to do about it.
fn handshake_error(e: std::io::Error) -> Error {
    match e.kind() {
        // EOF from a peer that is no TLS server.
        std::io::ErrorKind::UnexpectedEof => Error::Tls {
            failure: TlsFailure::NotTls,
            detail: e.to_string(),
        },
        _ => io_error(e),
    }
}

/// A socket error, or the TLS error inside it. In TLS 1.3 the broker
/// checks our certificate after our side of the handshake is done, so its
/// refusal comes on the first read of the AMQP handshake, not in `connect`.
pub(crate) fn io_error(e: std::io::Error) -> Error {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return Error::io(e);
    };
    let failure = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer | Cert::BadSignature => TlsFailure::UnknownIssuer,
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => TlsFailure::NameMismatch,
            Cert::Expired | Cert::ExpiredContext { .. } => TlsFailure::Expired,
            _ => TlsFailure::BadServerCertificate,
        },
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateRequired
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::DecryptError
            | Alert::AccessDenied,
        ) => TlsFailure::ClientCertificateRefused,
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsFailure::NotTls
        }
        _ => TlsFailure::Other,
    };
    Error::Tls {
        failure,
        detail: tls.to_string(),
    }
}

fn config_error(file: Option<&Path>, reason: String) -> Error {
    Error::TlsConfig {
        file: file.map(Path::to_path_buf),
        reason,
    }
}

fn pem_reason(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind in it".into(),
        other => other.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| config_error(Some(path), pem_reason(&e)))?
        .collect();
    let certs = certs.map_err(|e| config_error(Some(path), pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(config_error(Some(path), "no CERTIFICATE in it".into()));
    }
    Ok(certs)
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| config_error(None, format!("{what}: {}", pem_reason(&e))))?;
    if certs.is_empty() {
        return Err(config_error(None, format!("{what}: no CERTIFICATE in it")));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| config_error(Some(path), pem_reason(&e)))
}

/// `verify=verify_none`: accepts any certificate, but still checks that the
/// handshake is signed by the key of the certificate shown.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
