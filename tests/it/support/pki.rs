//! Throwaway certificate authorities for tests: a CA, serving certificates
//! for 127.0.0.1, and client certificates with a chosen CN and any number of
//! O entries (Kubernetes reads CN as the user name and each O as a group).
//!
//! rcgen keeps one value per attribute type in a distinguished name, so a
//! certificate with several O entries is made by swapping in a hand-built
//! subject and signing the TBS again with the CA key.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SigningKey,
};
use std::net::{IpAddr, Ipv4Addr};

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl TestCa {
    /// A new self-signed CA named `name` (P-256).
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = dn_cn(name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// A serving certificate for 127.0.0.1 and `localhost`.
    pub fn issue_server(&self) -> Issued {
        let key = KeyPair::generate().expect("generate server key");
        let mut params = CertificateParams::default();
        params.distinguished_name = dn_cn("127.0.0.1");
        params.subject_alt_names = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into().expect("dns name")),
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign server cert");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate with subject `O=org…, CN=cn` (O first, as
    /// Kubernetes orders its own client certificates).
    pub fn issue_client(&self, cn: &str, orgs: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("generate client key");
        let mut params = CertificateParams::default();
        params.distinguished_name = dn_cn("placeholder");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let draft = params
            .signed_by(&key, &self.issuer)
            .expect("sign client cert");
        let der = with_subject(draft.der(), &subject_der(cn, orgs), self.issuer.key());
        Issued {
            cert_pem: pem_encode("CERTIFICATE", &der),
            key_pem: key.serialize_pem(),
        }
    }
}

fn dn_cn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// One RDN holding one UTF8String attribute.
fn rdn(oid: &[u8], value: &str) -> Vec<u8> {
    let mut atv = tlv(0x06, oid);
    atv.extend(tlv(0x0c, value.as_bytes()));
    tlv(0x31, &tlv(0x30, &atv))
}

fn subject_der(cn: &str, orgs: &[&str]) -> Vec<u8> {
    const OID_CN: [u8; 3] = [0x55, 0x04, 0x03];
    const OID_O: [u8; 3] = [0x55, 0x04, 0x0a];
    let mut rdns = Vec::new();
    for o in orgs {
        rdns.extend(rdn(&OID_O, o));
    }
    rdns.extend(rdn(&OID_CN, cn));
    tlv(0x30, &rdns)
}

/// Length of the tag and length bytes of the DER element at `der[0]`.
fn header_len(der: &[u8]) -> usize {
    if der[1] < 0x80 {
        2
    } else {
        2 + (der[1] & 0x7f) as usize
    }
}

fn content_len(der: &[u8]) -> usize {
    if der[1] < 0x80 {
        return der[1] as usize;
    }
    der[2..header_len(der)]
        .iter()
        .fold(0, |len, b| (len << 8) | *b as usize)
}

/// `cert` with its subject replaced by `subject`, re-signed with `key`.
fn with_subject(cert: &[u8], subject: &[u8], key: &KeyPair) -> Vec<u8> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).expect("rcgen cert parses");
    let tbs = parsed.tbs_certificate.as_ref();
    let old = parsed.tbs_certificate.subject.as_raw();
    let at = |inner: &[u8], outer: &[u8]| inner.as_ptr() as usize - outer.as_ptr() as usize;
    let subject_at = at(old, tbs);
    let mut content = tbs[header_len(tbs)..subject_at].to_vec();
    content.extend_from_slice(subject);
    content.extend_from_slice(&tbs[subject_at + old.len()..]);
    let new_tbs = tlv(0x30, &content);
    // After the TBS comes signatureAlgorithm (kept), then the signature.
    let rest = &cert[at(tbs, cert) + tbs.len()..];
    let sig_alg_der = &rest[..header_len(rest) + content_len(rest)];
    let mut bits = vec![0u8];
    bits.extend(key.sign(&new_tbs).expect("sign TBS"));
    let mut body = new_tbs;
    body.extend_from_slice(sig_alg_der);
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

#[test]
fn client_certificates_carry_every_group_and_chain_to_the_ca() {
    use x509_parser::prelude::*;
    let ca = TestCa::new("test client CA");
    let issued = ca.issue_client("alice", &["sre", "dev", "oncall"]);
    let (_, pem) = parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    let orgs: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["alice"]);
    assert_eq!(orgs, ["sre", "dev", "oncall"]);
    let (_, ca_pem) = parse_x509_pem(ca.cert_pem().as_bytes()).unwrap();
    let ca_cert = ca_pem.parse_x509().unwrap();
    cert.verify_signature(Some(ca_cert.public_key())).unwrap();
}
