//! amqp-client over TLS (feature `tls`, enabled for this crate's tests only, in its
//! `[dev-dependencies]`), against a private RabbitMQ node with a TLS listener, a throwaway CA and
//! the EXTERNAL mechanism (`PrivateNode::builder().tls()`): round trips verified against that CA
//! (`amqps://` URI with `cacertfile`, and the builder with PEM in memory), 16 MiB messages,
//! EXTERNAL login as the client certificate's CN, recovery of a consumer after an operator closed
//! the TLS connection, and every refusal as its typed error, within the connect timeout: unknown
//! CA, wrong name, expired certificate (from a TLS server of this test's own, with a certificate
//! of the node's CA whose validity ended in 2020), TLS on the plain port and plain on the TLS
//! port, EXTERNAL without a certificate (403), a client certificate of another CA, and bad files.
//!
//! One node for the whole binary, started by the first test that asks for it (in a `static`,
//! removed by the kit's clean-up when the process ends). Nothing changes its state, so no lock.
//! Without RabbitMQ or `openssl` the tests fail loudly, never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use amqp_client::{
    BasicProperties, Connection, ConnectionConfig, ConnectionEvent, Error, FieldTable,
    QueueDeclareOptions, ReplyCode, SaslMechanism, TlsConfig, TlsFailure,
};
use amqp_testkit::{unique_name, PrivateNode, TlsCertificates};
use common::*;

// ===== the shared node =====

static NODE: OnceLock<PrivateNode> = OnceLock::new();

/// The TLS node of this binary (started on first use; blocks while it starts).
fn node() -> &'static PrivateNode {
    blocking(|| {
        NODE.get_or_init(|| {
            let started = Instant::now();
            let node = PrivateNode::builder()
                .tls()
                .start()
                .unwrap_or_else(|e| panic!("a private RabbitMQ node with TLS: {e}"));
            println!("TLS node started in {:?}", started.elapsed());
            node
        })
    })
}

fn certs() -> &'static TlsCertificates {
    node().tls().expect("the node was started with TLS")
}

fn tls_port() -> u16 {
    node().tls_port().expect("the node was started with TLS")
}

/// Every connect here is given this; a refusal must come well within it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(8);

/// The 16 MiB message of the round trips.
const LARGE: usize = 16 << 20;

/// `amqps://` to the TLS port, by the name in the server's certificate, with `query`.
fn amqps(userinfo: &str, query: &str) -> String {
    format!("amqps://{userinfo}localhost:{}/%2f?{query}", tls_port())
}

/// `cacertfile=` the node's CA.
fn cacertfile() -> String {
    format!("cacertfile={}", certs().ca_cert_path().display())
}

/// The settings of `uri`, with the connect timeout and a unique connection name.
fn tls_config(uri: &str) -> ConnectionConfig {
    ConnectionConfig::from_uri(uri)
        .unwrap_or_else(|e| panic!("{uri} parses: {e}"))
        .with_connection_timeout(CONNECT_TIMEOUT)
        .with_connection_name(unique_name("tls-test"))
}

/// Connects with `config`, expecting a failure: the error, after checking that it came within
/// the connect timeout (no hang) and not as the timeout itself.
async fn refused(config: ConnectionConfig) -> Error {
    let shown = config.to_string();
    let limit = config.connection_timeout;
    let started = Instant::now();
    let result = within(
        limit + Duration::from_secs(5),
        &format!("a refusal from {shown}"),
        Connection::connect(config),
    )
    .await;
    let took = started.elapsed();
    let error = match result {
        Ok(conn) => panic!("{shown}: connected ({conn:?}), expected a refusal"),
        Err(e) => e,
    };
    assert!(
        took < limit,
        "{shown}: the refusal took {took:?}, over the connect timeout {limit:?}: {error:?}"
    );
    assert!(
        !matches!(error, Error::ConnectTimeout(_)),
        "{shown}: a timeout instead of the reason: {error:?}"
    );
    error
}

/// Asserts that `error` is a TLS failure of kind `want`; returns its detail.
#[track_caller]
fn expect_tls(error: Error, want: TlsFailure) -> String {
    match error {
        Error::Tls { failure, detail } if failure == want => {
            // The advice is there, and names the kind of trouble.
            let shown = Error::Tls { failure, detail }.to_string();
            assert!(shown.starts_with("TLS: "), "{shown}");
            shown
        }
        other => panic!("expected Error::Tls {{ failure: {want:?}, .. }}, got {other:?}"),
    }
}

/// Asserts that `error` is a TLS configuration error naming `file`.
#[track_caller]
fn expect_tls_config(error: Error, file: &Path) -> String {
    match &error {
        Error::TlsConfig {
            file: Some(named), ..
        } if named == file => {
            let shown = error.to_string();
            assert!(shown.contains(&file.display().to_string()), "{shown}");
            shown
        }
        other => panic!(
            "expected Error::TlsConfig naming {}, got {other:?}",
            file.display()
        ),
    }
}

/// A fresh folder under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `openssl ARGS...` in `dir`, panicking with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    amqp_testkit::run_command(&mut cmd, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"))
}

/// The broker's view of the connection the client named `name` (user, TLS, protocol), from
/// `rabbitmqctl list_connections`: proof of what the client did, seen from the other side.
fn broker_view(name: &str) -> String {
    let quoted = format!("\"{name}\"");
    let listed = blocking(|| {
        node().ctl(&[
            "-q",
            "list_connections",
            "--no-table-headers",
            "user",
            "ssl",
            "ssl_protocol",
            "auth_mechanism",
            "client_properties",
        ])
    })
    .expect("rabbitmqctl list_connections");
    listed
        .lines()
        .find(|l| l.contains(&quoted))
        .map(|l| {
            // user, ssl, protocol, mechanism: the client properties are long.
            l.split('\t').take(4).collect::<Vec<_>>().join(" ")
        })
        .unwrap_or_else(|| panic!("the broker does not list connection {name}:\n{listed}"))
}

// ===== round trips =====

/// Publishes 100 small messages and one of 16 MiB with confirms, consumes them with manual acks,
/// and checks every body; then checks that the broker saw a TLS connection.
async fn round_trip(config: ConnectionConfig, what: &str) {
    let name = config
        .connection_name
        .clone()
        .expect("tls_config() names the connection");
    let conn = connect_with(config).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "tls-round-trip").await;
    let mut confirms = Vec::new();
    for i in 0..100 {
        let confirm = step(
            "basic.publish",
            ch.basic_publish(
                "",
                &q,
                Default::default(),
                BasicProperties::default(),
                format!("{what} #{i}"),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: publish #{i}: {e}"));
        confirms.push(confirm);
    }
    let large = pseudo_random_body(LARGE, 0x7154);
    let confirm = step(
        "basic.publish 16 MiB",
        ch.basic_publish(
            "",
            &q,
            Default::default(),
            BasicProperties::default().persistent(),
            large.clone(),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: publish 16 MiB: {e}"));
    confirms.push(confirm);
    for (i, confirm) in confirms.into_iter().enumerate() {
        within(
            Duration::from_secs(30),
            "a publisher confirm",
            confirm.wait(),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: confirm of #{i}: {e}"));
    }
    step("basic.qos", ch.basic_qos(10, Default::default()))
        .await
        .expect("basic.qos");
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    for i in 0..100 {
        let d = next_delivery(&mut consumer, &format!("{what}: delivery #{i}")).await;
        assert_eq!(&d.body[..], format!("{what} #{i}").as_bytes());
        step("basic.ack", d.ack()).await.expect("basic.ack");
    }
    let d = within(
        Duration::from_secs(30),
        "the 16 MiB delivery",
        consumer.next(),
    )
    .await
    .unwrap_or_else(|| panic!("{what}: the consumer ended before the 16 MiB message"))
    .unwrap_or_else(|e| panic!("{what}: the 16 MiB delivery: {e}"));
    assert_eq!(d.body.len(), LARGE);
    assert_eq!(
        first_difference(&d.body, &large),
        None,
        "{what}: 16 MiB body"
    );
    step("basic.ack", d.ack()).await.expect("basic.ack");
    // Every ack arrived: nothing ready, nothing unacked once the consumer is gone.
    step("basic.cancel", consumer.cancel())
        .await
        .expect("basic.cancel");
    assert_eq!(counts(&ch, &q).await, (0, 0), "{what}: all acked");
    let seen = broker_view(&name);
    assert!(seen.starts_with("guest true tlsv1."), "{what}: {seen}");
    delete(&ch, &q).await;
    step("connection.close", conn.close())
        .await
        .expect("connection.close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_over_tls_verified_against_the_nodes_ca_with_an_amqps_uri() {
    let uri = amqps("guest:guest@", &cacertfile());
    let config = tls_config(&uri);
    assert!(config.is_tls());
    assert!(config.to_string().starts_with("amqps://guest@localhost:"));
    round_trip(config, "uri").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_over_tls_through_the_builder_with_pem_in_memory() {
    let certs = certs();
    // Only the node's CA (no compiled-in roots), and mutual TLS with a PLAIN login.
    let tls = TlsConfig::new()
        .without_public_roots()
        .with_ca_pem(certs.ca_cert_pem().as_bytes())
        .expect("the CA's PEM")
        .with_client_cert_pem(
            certs.client_cert_pem().as_bytes(),
            certs.client_key_pem().as_bytes(),
        )
        .expect("the client certificate's PEM");
    assert!(tls.has_client_certificate());
    let config = ConnectionConfig::default()
        .with_address(certs.server_name(), tls_port())
        .with_tls(tls)
        .with_connection_timeout(CONNECT_TIMEOUT)
        .with_connection_name(unique_name("tls-test-builder"));
    round_trip(config, "builder").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_address_the_certificate_lists_is_verified_without_sni() {
    // The server certificate lists IP 127.0.0.1: connecting by that address verifies (an IP
    // is never sent as SNI); so does a name with SNI turned off.
    for query in [
        cacertfile(),
        format!("{}&server_name_indication=disable", cacertfile()),
    ] {
        let uri = format!("amqps://guest:guest@127.0.0.1:{}/%2f?{query}", tls_port());
        let conn = connect_with(tls_config(&uri)).await;
        let ch = channel(&conn).await;
        let q = fresh_queue(&ch, "tls-by-ip").await;
        delete(&ch, &q).await;
        step("connection.close", conn.close())
            .await
            .expect("connection.close");
    }
}

// ===== EXTERNAL =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_logs_in_as_the_client_certificates_common_name() {
    let certs = certs();
    // No user or password in the URI: the certificate says who we are.
    let uri = amqps(
        "",
        &format!(
            "{}&certfile={}&keyfile={}&auth_mechanism=external",
            cacertfile(),
            certs.client_cert_path().display(),
            certs.client_key_path().display()
        ),
    );
    let config = tls_config(&uri);
    assert_eq!(config.mechanism, SaslMechanism::External);
    let name = config.connection_name.clone().unwrap();
    let conn = connect_with(config).await;
    // The broker's user may do anything on `/`: a declare, a confirmed publish, a get.
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "tls-external").await;
    publish_plain(&ch, "", &q, "as the certificate's CN").await;
    assert_eq!(
        take_body(&ch, &q).await.as_deref(),
        Some("as the certificate's CN")
    );
    let seen = broker_view(&name);
    assert!(
        seen.starts_with(&format!("{} true tlsv1.", certs.client_name())),
        "{seen}"
    );
    assert!(seen.ends_with("EXTERNAL"), "{seen}");
    delete(&ch, &q).await;
    step("connection.close", conn.close())
        .await
        .expect("connection.close");

    // The same through the builder, with the certificate in memory.
    let tls = TlsConfig::new()
        .with_ca_file(certs.ca_cert_path())
        .expect("the CA file")
        .with_client_cert_pem(
            certs.client_cert_pem().as_bytes(),
            certs.client_key_pem().as_bytes(),
        )
        .expect("the client certificate's PEM");
    let config = ConnectionConfig::default()
        .with_address(certs.server_name(), tls_port())
        .with_credentials("", "")
        .with_tls(tls)
        .with_mechanism(SaslMechanism::External)
        .with_connection_timeout(CONNECT_TIMEOUT)
        .with_connection_name(unique_name("tls-test-external"));
    let name = config.connection_name.clone().unwrap();
    let conn = connect_with(config).await;
    let seen = broker_view(&name);
    assert!(
        seen.starts_with(&format!("{} true", certs.client_name())),
        "{seen}"
    );
    step("connection.close", conn.close())
        .await
        .expect("connection.close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_without_a_client_certificate_is_refused_with_403() {
    let uri = amqps("", &format!("{}&auth_mechanism=external", cacertfile()));
    let error = refused(tls_config(&uri)).await;
    let text = expect_connection_closed::<()>(Err(error), ReplyCode::ACCESS_REFUSED);
    assert!(text.contains("EXTERNAL"), "{text}");
}

// ===== refusals by the client =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_of_a_ca_not_trusted_is_an_unknown_issuer() {
    // No cacertfile: only Mozilla's roots, which do not include the throwaway CA.
    let error = refused(tls_config(&amqps("guest:guest@", ""))).await;
    let shown = expect_tls(error, TlsFailure::UnknownIssuer);
    assert!(shown.contains("cacertfile="), "the advice: {shown}");
    // The builder, with only another throwaway CA trusted.
    let other = TempDir::new("tls-other-ca");
    let other_certs = blocking(|| TlsCertificates::generate(&other.0)).expect("another CA");
    let tls = TlsConfig::new()
        .without_public_roots()
        .with_ca_file(other_certs.ca_cert_path())
        .expect("the other CA's file");
    let config = tls_config(&amqps("guest:guest@", "")).with_tls(tls);
    expect_tls(refused(config).await, TlsFailure::UnknownIssuer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_broker_certificate_does_not_list_is_a_name_mismatch() {
    // The URI's server_name_indication, verified instead of the host.
    let uri = amqps(
        "guest:guest@",
        &format!("{}&server_name_indication=rabbit.example.com", cacertfile()),
    );
    let shown = expect_tls(refused(tls_config(&uri)).await, TlsFailure::NameMismatch);
    assert!(
        shown.contains("server_name_indication="),
        "the advice: {shown}"
    );
    // The builder's with_server_name.
    let tls = TlsConfig::new()
        .with_ca_file(certs().ca_cert_path())
        .expect("the CA file")
        .with_server_name("not-the-broker.invalid");
    let config = tls_config(&amqps("guest:guest@", "")).with_tls(tls);
    expect_tls(refused(config).await, TlsFailure::NameMismatch);
    // An address the certificate does not list (it lists 127.0.0.1 only).
    let tls = TlsConfig::new()
        .with_ca_file(certs().ca_cert_path())
        .expect("the CA file")
        .with_server_name("127.0.0.2");
    let config = tls_config(&amqps("guest:guest@", "")).with_tls(tls);
    expect_tls(refused(config).await, TlsFailure::NameMismatch);
}

/// Makes, in `dir`, a server certificate for `localhost` and 127.0.0.1 signed by the node's CA
/// whose validity ended in 2020: (`expired.pem`, `expired.key`).
fn expired_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let ca = certs().dir();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\n\
         default_ca = expired\n\
         [expired]\n\
         database = index.txt\n\
         new_certs_dir = .\n\
         serial = serial\n\
         default_md = sha256\n\
         policy = any\n\
         [any]\n\
         commonName = supplied\n\
         [req]\n\
         distinguished_name = dn\n\
         [dn]\n\
         [server]\n\
         basicConstraints = critical, CA:false\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n\
         authorityKeyIdentifier = keyid\n",
    )
    .expect("write ca.cnf");
    std::fs::write(dir.join("index.txt"), "").expect("write index.txt");
    std::fs::write(dir.join("serial"), "1000\n").expect("write serial");
    blocking(|| {
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "expired.key",
                "-out",
                "expired.csr",
                "-subj",
                "/CN=localhost",
                "-config",
                "ca.cnf",
            ],
        );
        let ca_cert = ca.join("ca.pem").display().to_string();
        let ca_key = ca.join("ca.key").display().to_string();
        openssl(
            dir,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                &ca_cert,
                "-keyfile",
                &ca_key,
                "-in",
                "expired.csr",
                "-out",
                "expired.pem",
                "-notext",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200201000000Z",
                "-extensions",
                "server",
            ],
        );
        let dates = openssl(dir, &["x509", "-noout", "-enddate", "-in", "expired.pem"]);
        assert!(dates.contains("2020"), "{dates}");
    });
    (dir.join("expired.pem"), dir.join("expired.key"))
}

/// A TLS server on 127.0.0.1 showing `cert` (with `key`) to every client, speaking nothing after
/// the handshake; its port. Ends with the test's runtime.
async fn tls_server(cert: &Path, key: &Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("the certificate file")
        .collect::<Result<_, _>>()
        .expect("the certificate's PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("the key's PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a TLS server");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client refuses the certificate: the handshake fails here too.
                let _ = acceptor.accept(socket).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_broker_certificate_is_expired() {
    let dir = TempDir::new("tls-expired");
    let (cert, key) = expired_certificate(&dir.0);
    let port = tls_server(&cert, &key).await;
    let uri = format!("amqps://guest:guest@localhost:{port}/%2f?{}", cacertfile());
    let shown = expect_tls(refused(tls_config(&uri)).await, TlsFailure::Expired);
    assert!(shown.contains("expired"), "{shown}");
}

// ===== the wrong port =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_on_the_plain_port_is_told_it_is_not_tls() {
    let uri = format!(
        "amqps://guest:guest@localhost:{}/%2f?{}",
        node().port(),
        cacertfile()
    );
    let shown = expect_tls(refused(tls_config(&uri)).await, TlsFailure::NotTls);
    assert!(shown.contains("5672"), "the advice: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_on_the_tls_port_is_told_to_use_amqps() {
    let uri = format!("amqp://guest:guest@localhost:{}/%2f", tls_port());
    let shown = expect_tls(
        refused(tls_config(&uri)).await,
        TlsFailure::PlainClientOnTlsPort,
    );
    assert!(shown.contains("amqps://"), "the advice: {shown}");
}

// ===== refusals by the broker =====

/// A rustls client config of this test's own: only TLS `version`, trusting the node's CA,
/// presenting the client certificate `cert` with `key` (PEM files).
fn rustls_client_config(
    version: &'static rustls::SupportedProtocolVersion,
    cert: &Path,
    key: &Path,
) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(certs().ca_cert_path()).expect("the CA file") {
        roots.add(ca.expect("the CA's PEM")).expect("a usable CA");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("the certificate file")
        .collect::<Result<_, _>>()
        .expect("the certificate's PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("the key's PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("the TLS version")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("a client config");
    Arc::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_of_a_ca_the_broker_does_not_trust_is_refused() {
    let other = TempDir::new("tls-other-client");
    let other_certs = blocking(|| TlsCertificates::generate(&other.0)).expect("another CA");
    let (cert, key) = (
        other_certs.client_cert_path(),
        other_certs.client_key_path(),
    );
    // TLS 1.2: the broker refuses the certificate within the handshake.
    let tls12 = TlsConfig::new().with_rustls_config(rustls_client_config(
        &rustls::version::TLS12,
        &cert,
        &key,
    ));
    let config = tls_config(&amqps("guest:guest@", "")).with_tls(tls12);
    expect_tls(refused(config).await, TlsFailure::ClientCertificateRefused);
    // TLS 1.3 (what the client and RabbitMQ agree on by default): the client has finished its
    // handshake when the broker's alert comes, at the first read of the AMQP handshake.
    for mechanism in ["plain", "external"] {
        let uri = amqps(
            "guest:guest@",
            &format!(
                "{}&certfile={}&keyfile={}&auth_mechanism={mechanism}",
                cacertfile(),
                cert.display(),
                key.display()
            ),
        );
        let shown = expect_tls(
            refused(tls_config(&uri)).await,
            TlsFailure::ClientCertificateRefused,
        );
        assert!(shown.contains("certfile="), "the advice: {shown}");
    }
}

// ===== bad settings =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_are_named_in_the_error_before_any_socket_is_opened() {
    let dir = TempDir::new("tls-bad-files");
    let certs = certs();
    let started = Instant::now();

    // A CA file that is not there: in the URI, and to the builder.
    let missing = dir.path("no-such-ca.pem");
    let uri = amqps("guest:guest@", &format!("cacertfile={}", missing.display()));
    match ConnectionConfig::from_uri(&uri) {
        Err(e) => expect_tls_config(e, &missing),
        Ok(c) => panic!("{uri} parsed: {c:?}"),
    };
    match step("connect", amqp_client::connect(&uri)).await {
        Err(e) => expect_tls_config(e, &missing),
        Ok(c) => panic!("{uri} connected: {c:?}"),
    };
    match TlsConfig::new().with_ca_file(&missing) {
        Err(e) => expect_tls_config(e, &missing),
        Ok(t) => panic!("a missing CA file was taken: {t:?}"),
    };

    // A key file that holds no key: garbage, then a certificate instead of a key.
    let garbage = dir.path("garbage.key");
    std::fs::write(&garbage, "this is not a private key\n").unwrap();
    let a_cert = dir.path("cert-as.key");
    std::fs::write(&a_cert, certs.client_cert_pem()).unwrap();
    for key in [&garbage, &a_cert] {
        let uri = amqps(
            "",
            &format!(
                "{}&certfile={}&keyfile={}&auth_mechanism=external",
                cacertfile(),
                certs.client_cert_path().display(),
                key.display()
            ),
        );
        match ConnectionConfig::from_uri(&uri) {
            Err(e) => expect_tls_config(e, key),
            Ok(c) => panic!("{uri} parsed: {c:?}"),
        };
        match TlsConfig::new().with_client_cert_files(certs.client_cert_path(), key) {
            Err(e) => expect_tls_config(e, key),
            Ok(t) => panic!("{} was taken as a key: {t:?}", key.display()),
        };
    }
    // A CA file that holds no certificate (a key).
    let key_as_ca = dir.path("key-as-ca.pem");
    std::fs::write(&key_as_ca, certs.client_key_pem()).unwrap();
    match TlsConfig::new().with_ca_file(&key_as_ca) {
        Err(e) => expect_tls_config(e, &key_as_ca),
        Ok(t) => panic!("a key was taken as a CA: {t:?}"),
    };
    // In-memory PEM that is not: an error without a file.
    match TlsConfig::new().with_ca_pem(b"not PEM") {
        Err(Error::TlsConfig { file: None, reason }) => assert!(!reason.is_empty()),
        other => panic!("expected TlsConfig without a file, got {other:?}"),
    }
    // All of it without touching the network.
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
}

// ===== recovery =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resumes_after_the_broker_closes_the_tls_connection() {
    let uri = amqps("guest:guest@", &cacertfile());
    let config = tls_config(&uri).with_recovery(
        amqp_client::Recovery::enabled().with_initial_delay(Duration::from_millis(100)),
    );
    let name = config.connection_name.clone().unwrap();
    let conn = connect_with(config).await;
    let ch = confirm_channel(&conn).await;
    // A durable queue: it outlives the connection, so the consumer resumes on the same one.
    let q = unique_name("tls-recovery");
    declare(&ch, &q, QueueDeclareOptions::durable(), FieldTable::new()).await;
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    publish_plain(&ch, "", &q, "before").await;
    let d = next_delivery(&mut consumer, "the message before the close").await;
    assert_eq!(&d.body[..], b"before");
    step("basic.ack", d.ack()).await.expect("basic.ack");

    let mut events = conn.events();
    blocking(|| node().close_connection(&name, "test: closed over TLS"))
        .expect("rabbitmqctl close_connection");
    let mut seen = Vec::new();
    let (mut lost, mut recovered, mut restored) = (None, false, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(recovered && restored) {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(event)) => event,
            other => panic!("waiting for recovery: {other:?}; the events: {seen:#?}"),
        };
        match &event {
            ConnectionEvent::Disconnected { error } => lost = Some(error.clone()),
            ConnectionEvent::Recovered { .. } => recovered = true,
            ConnectionEvent::ConsumerRestored { queue, .. } => {
                assert_eq!(queue, &q);
                restored = true;
            }
            ConnectionEvent::GaveUp { .. } => panic!("gave up: {event}; before: {seen:#?}"),
            _ => {}
        }
        seen.push(event.to_string());
    }
    match lost {
        Some(Error::ConnectionClosed(r)) => {
            assert_eq!(r.reply_code, ReplyCode::CONNECTION_FORCED, "{r}");
            assert!(r.reply_text.contains("test: closed over TLS"), "{r}");
        }
        other => panic!("expected the operator's close, got {other:?}; {seen:#?}"),
    }

    // The same consumer, over a new TLS connection.
    publish_plain(&ch, "", &q, "after").await;
    let d = next_delivery(&mut consumer, "the message after the recovery").await;
    assert_eq!(&d.body[..], b"after");
    step("basic.ack", d.ack()).await.expect("basic.ack");
    let seen_by_broker = broker_view(&name);
    assert!(
        seen_by_broker.starts_with("guest true tlsv1."),
        "{seen_by_broker}"
    );
    delete(&ch, &q).await;
    step("connection.close", conn.close())
        .await
        .expect("connection.close");
}
