//! [`TlsCertificates`]: a throwaway certificate authority and the server and client
//! certificates it signed, for a private node's TLS listener.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::names::random_hex;
use crate::process;

/// How long one `openssl` command may take (an RSA key takes well under a second).
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the certificates are valid: long enough for any test run, short enough not to
/// matter if one leaks.
const VALID_DAYS: &str = "7";

/// The `openssl` configuration: the extensions of the CA, server and client certificates.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
";

/// A throwaway certificate authority (CA), a server certificate for `localhost` and
/// `127.0.0.1`, and a client certificate, all signed by the CA: PEM files in one folder, made
/// with the `openssl` command (2048-bit RSA keys, unencrypted, PKCS#8; valid for 7 days).
///
/// A TLS client trusts [`ca_cert_pem`](Self::ca_cert_pem), checks the server's name against
/// [`server_name`](Self::server_name), and may present
/// [`client_cert_pem`](Self::client_cert_pem) with [`client_key_pem`](Self::client_key_pem),
/// e.g. to log in with the EXTERNAL mechanism as the user [`client_name`](Self::client_name).
#[derive(Debug, Clone)]
pub struct TlsCertificates {
    dir: PathBuf,
    client_name: String,
    ca_cert_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl TlsCertificates {
    /// The name in the server certificate (also valid: the address `127.0.0.1`).
    pub const SERVER_NAME: &'static str = "localhost";

    /// The common name (CN) of the client certificate: the user EXTERNAL logs in as.
    pub const CLIENT_NAME: &'static str = "amqp-testkit-client";

    /// Makes a CA and certificates in `dir` (created if needed): `ca.pem` (and its key
    /// `ca.key`), `server.pem` and `server.key`, `client.pem` and `client.key`.
    ///
    /// Needs the `openssl` command ([`Error::NotInstalled`] says how to install it).
    pub fn generate(dir: &Path) -> Result<Self> {
        let openssl = process::find_program("openssl").ok_or_else(|| Error::NotInstalled {
            program: "openssl".into(),
            looked: process::program_search_path(),
            hint: "install it with `apt-get install openssl`",
        })?;
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let cnf = dir.join("openssl.cnf");
        fs::write(&cnf, OPENSSL_CNF).map_err(|e| Error::io("write", &cnf, e))?;
        // Every argument is a word without spaces (file names are relative to `dir`).
        let openssl = |args: String| {
            let mut cmd = Command::new(&openssl);
            cmd.current_dir(dir).args(args.split_whitespace());
            process::run(cmd, OPENSSL_TIMEOUT)
        };
        openssl(format!(
            "req -x509 -new -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days {VALID_DAYS} \
             -subj /CN=amqp-testkit-ca-{} -config openssl.cnf -extensions ca",
            random_hex(8)
        ))?;
        for (name, cn) in [("server", Self::SERVER_NAME), ("client", Self::CLIENT_NAME)] {
            openssl(format!(
                "req -new -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr \
                 -subj /CN={cn} -config openssl.cnf"
            ))?;
            openssl(format!(
                "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial 0x{} \
                 -out {name}.pem -days {VALID_DAYS} -extfile openssl.cnf -extensions {name}",
                random_hex(16)
            ))?;
            let _ = fs::remove_file(dir.join(format!("{name}.csr")));
        }
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|e| Error::io("read", path, e))
        };
        Ok(Self {
            dir: dir.to_owned(),
            client_name: Self::CLIENT_NAME.to_owned(),
            ca_cert_pem: read("ca.pem")?,
            server_cert_pem: read("server.pem")?,
            server_key_pem: read("server.key")?,
            client_cert_pem: read("client.pem")?,
            client_key_pem: read("client.key")?,
        })
    }

    /// The folder of the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name a client must expect in the server's certificate: `localhost`.
    pub fn server_name(&self) -> &str {
        Self::SERVER_NAME
    }

    /// The common name of the client certificate, which is also the name of the user the
    /// EXTERNAL mechanism logs in as.
    pub fn client_name(&self) -> &str {
        &self.client_name
    }

    /// `ca.pem`: the CA's certificate, which a client trusts.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA's certificate (PEM).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// `server.pem`: the server's certificate.
    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's certificate (PEM).
    pub fn server_cert_pem(&self) -> &str {
        &self.server_cert_pem
    }

    /// `server.key`: the server's private key.
    pub fn server_key_path(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The server's private key (PEM, PKCS#8).
    pub fn server_key_pem(&self) -> &str {
        &self.server_key_pem
    }

    /// `client.pem`: the client's certificate.
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    /// The client's certificate (PEM).
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// `client.key`: the client's private key.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// The client's private key (PEM, PKCS#8).
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_ca_and_certificates_it_signed() {
        let dir = std::env::temp_dir().join(crate::unique_name("amqp-testkit-tls"));
        let certs = TlsCertificates::generate(&dir).expect("openssl makes certificates");
        for pem in [
            certs.ca_cert_pem(),
            certs.server_cert_pem(),
            certs.client_cert_pem(),
        ] {
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        }
        for pem in [certs.server_key_pem(), certs.client_key_pem()] {
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        assert_eq!(
            fs::read_to_string(certs.client_key_path()).unwrap(),
            certs.client_key_pem()
        );
        let openssl = process::find_program("openssl").unwrap();
        let mut verify = Command::new(&openssl);
        verify
            .arg("verify")
            .arg("-CAfile")
            .arg(certs.ca_cert_path())
            .arg(certs.server_cert_path())
            .arg(certs.client_cert_path());
        let out = process::run(verify, OPENSSL_TIMEOUT).expect("both verify against the CA");
        assert_eq!(out.matches(": OK").count(), 2, "{out}");
        let mut show = Command::new(&openssl);
        show.args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(certs.server_cert_path());
        let out = process::run(show, OPENSSL_TIMEOUT).unwrap();
        assert!(out.contains("CN = localhost"), "{out}");
        assert!(out.contains("DNS:localhost, IP Address:127.0.0.1"), "{out}");
        let mut show = Command::new(&openssl);
        show.args(["x509", "-noout", "-subject", "-in"])
            .arg(certs.client_cert_path());
        let out = process::run(show, OPENSSL_TIMEOUT).unwrap();
        assert!(
            out.contains(&format!("CN = {}", certs.client_name())),
            "{out}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
