//! NATS over TLS: a real nats-server with certificates each test generates (a CA, a server
//! certificate for 127.0.0.1/localhost, a client certificate), and the bus configured with
//! `NATS_TLS_*` settings.
//!
//! Certificates come from the `openssl` command-line tool, so no certificate crate is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard::bus::{BusSettings, TlsSettings};
use switchboard::testing::NatsServer;
use switchboard::{Bus, BusError};

use crate::helpers::{round_trip, within};

/// A CA and the certificates it signed, in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn generate() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let pki = Self { dir };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=switchboard-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki.issue(
            "server",
            "localhost",
            "IP:127.0.0.1,DNS:localhost",
            "serverAuth",
        );
        pki.issue("client", "tests", "DNS:tests", "clientAuth");
        pki
    }

    /// `<name>.key` and `<name>.pem`, signed by the CA.
    fn issue(&self, name: &str, common_name: &str, alt_names: &str, usage: &str) {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(
            self.path(&ext),
            format!(
                "subjectAltName={alt_names}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
            ),
        )
        .expect("writes the extensions");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={common_name}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &fastrand::u32(1..).to_string(),
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ]);
    }

    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the `openssl` command runs (the TLS tests need it to make certificates)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A server that requires TLS with the server certificate, and with `verify_clients`
    /// also a client certificate signed by the CA.
    fn server(&self, verify_clients: bool) -> NatsServer {
        let config = self.path("server.conf");
        let quoted = |p: &Path| format!("{:?}", p.display().to_string());
        let mut tls = format!(
            "tls {{\n  cert_file: {}\n  key_file: {}\n  timeout: 10\n",
            quoted(&self.path("server.pem")),
            quoted(&self.path("server.key")),
        );
        if verify_clients {
            tls.push_str(&format!(
                "  ca_file: {}\n  verify: true\n",
                quoted(&self.path("ca.pem"))
            ));
        }
        tls.push_str("}\n");
        std::fs::write(&config, tls).expect("writes the server config");
        NatsServer::start_with(&["-c", &config.display().to_string()])
    }

    /// TLS settings trusting this CA.
    fn trusting(&self) -> TlsSettings {
        TlsSettings {
            ca_file: Some(self.path("ca.pem")),
            ..Default::default()
        }
    }
}

async fn connect(server: &NatsServer, tls: TlsSettings) -> Result<Bus, BusError> {
    let mut settings = BusSettings::new(server.url());
    settings.nats.tls = tls;
    within("the TLS connection", Bus::connect(&settings, "tests")).await
}

#[tokio::test]
async fn a_bus_trusting_the_ca_round_trips_over_tls() {
    let pki = Pki::generate();
    let server = pki.server(false);
    let required = TlsSettings {
        required: true,
        ..pki.trusting()
    };

    let service = connect(&server, pki.trusting())
        .await
        .expect("the service connects");
    let caller = connect(&server, required)
        .await
        .expect("the caller connects");

    round_trip(service, caller, "over tls").await;
}

#[tokio::test]
async fn a_bus_that_does_not_trust_the_ca_is_refused_with_a_clear_error() {
    let pki = Pki::generate();
    let server = pki.server(false);

    let refused = connect(&server, TlsSettings::default()).await;

    match refused {
        Err(BusError::Connect { reason, .. }) => assert!(
            reason.to_lowercase().contains("certificate"),
            "the reason names the certificate problem: {reason}"
        ),
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_signed_by_the_ca() {
    let pki = Pki::generate();
    let server = pki.server(true);
    let with_certificate = TlsSettings {
        cert_file: Some(pki.path("client.pem")),
        key_file: Some(pki.path("client.key")),
        ..pki.trusting()
    };

    let service = connect(&server, with_certificate.clone())
        .await
        .expect("a client with a certificate connects");
    let caller = connect(&server, with_certificate)
        .await
        .expect("a client with a certificate connects");
    round_trip(service, caller, "over tls").await;

    let without = connect(&server, pki.trusting()).await;
    assert!(
        matches!(without, Err(BusError::Connect { .. })),
        "a client without a certificate is refused: {without:?}"
    );
}

#[tokio::test]
async fn tls_required_refuses_a_server_without_tls() {
    let pki = Pki::generate();
    let plain = NatsServer::start();
    let required = TlsSettings {
        required: true,
        ..pki.trusting()
    };

    let refused = connect(&plain, required).await;

    assert!(
        matches!(refused, Err(BusError::Connect { .. })),
        "{refused:?}"
    );
    connect(&plain, TlsSettings::default())
        .await
        .expect("the same server is reachable without TLS");
}
