//! Test PKI: certificate authorities, server certificates and client certificates generated
//! on the fly with `rcgen`, for tests that need real TLS.
//!
//! Everything here panics on failure: it is test support, and a failure to generate a key is
//! a broken test environment, not a condition to handle.

#![allow(clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

/// A certificate authority that can issue server and client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate with its private key, in PEM and DER forms.
#[derive(Clone)]
pub struct TestCert {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM encoded.
    pub key_pem: String,
    /// The certificate, DER encoded.
    pub cert_der: Vec<u8>,
    /// The private key (PKCS#8), DER encoded.
    pub key_der: Vec<u8>,
    /// The serial number the certificate was issued with (big-endian bytes).
    pub serial: Vec<u8>,
}

impl std::fmt::Debug for TestCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCert")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl TestCert {
    /// Certificate followed by key, PEM encoded: the form `reqwest::Identity::from_pem` takes.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// Writes the certificate and the key to the two paths (PEM).
    pub fn write_pem_files(&self, cert_path: &Path, key_path: &Path) {
        std::fs::write(cert_path, &self.cert_pem).expect("write certificate file");
        std::fs::write(key_path, &self.key_pem).expect("write key file");
    }
}

fn random_serial() -> Vec<u8> {
    // Positive, non-zero, 16 bytes.
    let mut serial = fastrand::u128(1..u128::MAX).to_be_bytes().to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    serial
}

impl TestCa {
    /// A new self-signed CA whose subject CN is `common_name`.
    pub fn new(common_name: &str) -> Self {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        let cert = params.self_signed(&key).expect("self-sign CA");
        let cert_pem = cert.pem();
        let cert_der = cert.der().to_vec();
        Self {
            issuer: Issuer::new(params, key),
            cert_pem,
            cert_der,
        }
    }

    /// The CA certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER encoded.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A server certificate for `localhost`, `127.0.0.1`, `::1` and the given DNS names.
    pub fn server_cert(&self, dns_names: &[&str]) -> TestCert {
        let mut names: Vec<&str> = vec!["localhost"];
        names.extend_from_slice(dns_names);
        self.server(&names, true)
    }

    /// A server certificate for exactly `dns_names` (no `localhost`, no IP address): a client
    /// that connects to `127.0.0.1` accepts it only when told which name to expect, as
    /// kubeconfig's `tls-server-name` does.
    pub fn server_cert_for_names(&self, dns_names: &[&str]) -> TestCert {
        self.server(dns_names, false)
    }

    /// A server certificate for `dns_names` (the first is the CN), and for the loopback
    /// addresses when `loopback` is set.
    fn server(&self, dns_names: &[&str], loopback: bool) -> TestCert {
        let names: Vec<String> = dns_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        if loopback {
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            params.subject_alt_names.push(SanType::IpAddress(IpAddr::V6(
                std::net::Ipv6Addr::LOCALHOST,
            )));
        }
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            dns_names.first().copied().unwrap_or("server"),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.issue(params)
    }

    /// A client certificate with subject CN `common_name` and O `organizations[0]`
    /// (Kubernetes reads CN as the user name and O as groups).
    ///
    /// # Panics
    /// With more than one organisation: rcgen keeps one value per attribute type.
    pub fn client_cert(&self, common_name: &str, organizations: &[&str]) -> TestCert {
        assert!(
            organizations.len() <= 1,
            "rcgen supports one O per certificate"
        );
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        for org in organizations {
            dn.push(DnType::OrganizationName, *org);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.issue(params)
    }

    fn issue(&self, mut params: CertificateParams) -> TestCert {
        let key = KeyPair::generate().expect("generate leaf key");
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        TestCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            serial,
        }
    }
}

/// The DNS names in `cert`'s subjectAltName extension, sorted (none without one).
pub fn dns_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_certificates_carry_distinct_serials_and_pem_blocks() {
        let ca = TestCa::new("test ca");
        let a = ca.client_cert("alice", &["team"]);
        let b = ca.server_cert(&["example.test"]);
        assert_ne!(a.serial, b.serial);
        assert!(a.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(a.key_pem.contains("PRIVATE KEY"));
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
