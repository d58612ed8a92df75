use super::*;
use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};

/// A throwaway CA (cert PEM, key PEM).
pub fn test_ca() -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub fn csr_with(alg: &'static rcgen::SignatureAlgorithm, cn: &str, o: &str) -> String {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.distinguished_name.push(DnType::OrganizationName, o);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn pem_der(pem_text: &str) -> Vec<u8> {
    match rustls_pemfile::read_one_from_slice(pem_text.as_bytes())
        .unwrap()
        .unwrap()
        .0
    {
        rustls_pemfile::Item::X509Certificate(d) => d.to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn subject_comes_from_policy_and_the_chain_verifies() {
    let (ca_pem, ca_key) = test_ca();
    let ca = ClusterCa::from_pem(&ca_pem, &ca_key).unwrap();
    let csr = check_csr(&csr_with(&PKCS_ECDSA_P256_SHA256, "root", "system:masters")).unwrap();
    let now = OffsetDateTime::now_utc();
    let not_after = now + TimeDuration::minutes(10);
    let groups = vec!["kaccess:prod:sre".to_string(), "kaccess:all".to_string()];
    let issued = ca
        .sign(&csr, "alice@example.com", &groups, now, not_after)
        .unwrap();
    let der = pem_der(&issued.pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    let o: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["alice@example.com"]);
    assert_eq!(o, ["kaccess:prod:sre", "kaccess:all"]);
    let ca_der = pem_der(&ca_pem);
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    cert.verify_signature(Some(ca_cert.public_key())).unwrap();
    assert_eq!(cert.issuer(), ca_cert.subject());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth && !eku.any);
    assert!(!cert.is_ca());
    assert_eq!(hex::encode(cert.raw_serial()), issued.serial);
    assert_eq!(cert.raw_serial().len(), 16);
    assert_eq!(
        cert.validity().not_after.timestamp(),
        not_after.unix_timestamp()
    );
    assert_eq!(
        cert.validity().not_before.timestamp(),
        (now - TimeDuration::minutes(1)).unix_timestamp()
    );
}

#[test]
fn a_pkcs1_ca_key_gets_a_conversion_hint() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, _) = test_ca();
    let (cert, key) = (dir.path().join("ca.crt"), dir.path().join("ca.key"));
    std::fs::write(&cert, ca_pem).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = ClusterCa::load(&cert, &key).unwrap_err();
    let f = err.downcast_ref::<crate::error::Failure>().unwrap();
    assert!(f.message.contains("PKCS#8"), "{}", f.message);
    assert!(f.help.as_deref().unwrap().contains("openssl pkcs8 -topk8"));
}

#[test]
fn serials_are_random() {
    let (ca_pem, ca_key) = test_ca();
    let ca = ClusterCa::from_pem(&ca_pem, &ca_key).unwrap();
    let csr = check_csr(&csr_with(&PKCS_ED25519, "x", "y")).unwrap();
    let now = OffsetDateTime::now_utc();
    let a = ca
        .sign(&csr, "a", &[], now, now + TimeDuration::minutes(1))
        .unwrap();
    let b = ca
        .sign(&csr, "a", &[], now, now + TimeDuration::minutes(1))
        .unwrap();
    assert_ne!(a.serial, b.serial);
}

#[test]
fn weak_or_unknown_keys_are_refused() {
    let err = check_csr(&csr_with(&PKCS_ECDSA_P384_SHA384, "x", "y")).unwrap_err();
    assert!(matches!(err, CsrError::WeakKey(_)), "{err:?}");
    assert!(check_csr(&csr_with(&PKCS_ED25519, "x", "y")).is_ok());
}

/// Made with `openssl req -new -newkey rsa:1024 -subj /CN=x/O=system:masters`
/// (ring cannot make RSA keys, nor sign with one this short).
const RSA_1024_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBZDCBzgIBADAlMQowCAYDVQQDDAF4MRcwFQYDVQQKDA5zeXN0ZW06bWFzdGVy\nczCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEAo/7UsWWPG0lG+O5ZrM/fAZ8+\nF8qOvNEedOt2uoAbY+hQba9WKB1mpiEj47pLvX6+LR7M3+YZucNuN/YKGRxnTrJn\nV9efmwQCHVBGYUeByYfTptOQmFoQNpu7jRVfOGYqc8tpSF6ErjfZ/6Lpfkl/en13\nb9ISbB/8No39tLK0c/ECAwEAAaAAMA0GCSqGSIb3DQEBCwUAA4GBAFmZ5/XTxswD\ncFuyM+JeO0Xu0tPZ2hgXWB1kImYLksA/75c4iYrq+ar4Lh1+bOi0eKIH4VBsI3LI\nMPh1Kty25gaH22UKk59UxdY7GQba4VCbLfqui2DUXbBIsE5dOFPLQaDoDCmPCexB\n8t7btUjR787soFiHaL5M9ssBJ+EFdGks\n-----END CERTIFICATE REQUEST-----";
/// The same with `rsa:2048 -subj /CN=x`.
const RSA_2048_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIICUTCCATkCAQAwDDEKMAgGA1UEAwwBeDCCASIwDQYJKoZIhvcNAQEBBQADggEP\nADCCAQoCggEBANDNAGr7+BAK22+KZRDEjElnEYzewd/gqogrCf5YVfZmskJZsfOG\nChMnzVS3CEoZ7vq+WHQReXoNAlFnvR338Z0qK0F8ANVcmFL8SchzJN3W05z1xEZP\nF1kTSIEMn3dhmRNwHT8XQw5ZIefRMZ5tFn2l0Pi6l1C2MOTFf/2sSqtStvic8+LS\njhbHmLmjboDLgcrnd8L6W3tNQuHZdHQ9rRNyxxiF20eu4PoSfqL7ijdTzIPIKsJO\n5X5Cym3VIXNCeuOFBo2AgXU9IwsNFXiWv26/ewlsD93DUZwj8kc5hIIUH3y7QxfG\noIwB03ok4RZVTGGFP3CeowdZ3XyKVGzdHlkCAwEAAaAAMA0GCSqGSIb3DQEBCwUA\nA4IBAQAoyhy8+liHEiXQEQbIJSELlFwD0qUXOV32QpMyr3zMPgvI4V3TbVh2yEyY\nTNbFtbD1Brf6emYgV99/OeCMOhSWiG/RtMi5P1+SxyU3f7rlR5tqfH5ItOe8Qd4I\nbA+GL8Ytp20I43JLKeZYsePbCkLdunaKD7HiOkbuLtFYT/OBxXVdcjdQv6XIosoR\n1abjmgkUPMwH/enBxI5G9TFZFNCXHQlnwpetbi0mbanHNRdZfhOoJvfb8mvd6+eQ\nyhu/EYTcct5IG3QiQPpF8cQUJhMDYHRuD8ksRQcvcP68QBog/L3ZPrrxyJZuUSyi\nFldJvtf6F2yjsBrlQ42b7Hmoy7R5\n-----END CERTIFICATE REQUEST-----";

#[test]
fn rsa_below_2048_bits_is_weak_and_2048_passes() {
    let err = check_csr(RSA_1024_CSR).unwrap_err();
    assert!(err.to_string().contains("RSA with 1024 bits"), "{err}");
    assert!(check_csr(RSA_2048_CSR).is_ok());
}

#[test]
fn a_tampered_csr_does_not_verify() {
    let pem_text = csr_with(&PKCS_ECDSA_P256_SHA256, "alice", "sre");
    let der = match rustls_pemfile::read_one_from_slice(pem_text.as_bytes())
        .unwrap()
        .unwrap()
        .0
    {
        rustls_pemfile::Item::Csr(d) => d.to_vec(),
        other => panic!("{other:?}"),
    };
    // Flip one byte of the CN ("alice" → "blice") inside the signed part.
    let at = der.windows(5).position(|w| w == b"alice").unwrap();
    let mut bad = der.clone();
    bad[at] = b'b';
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bad);
    let bad_pem =
        format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n");
    assert_eq!(check_csr(&bad_pem).unwrap_err(), CsrError::BadSignature);
}

#[test]
fn garbage_is_not_a_csr() {
    assert_eq!(check_csr("hello").unwrap_err(), CsrError::NotPem);
    let junk = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    assert_eq!(check_csr(junk).unwrap_err(), CsrError::Malformed);
}

#[test]
fn der_lengths_encode_long_forms() {
    assert_eq!(der_len(5), [5]);
    assert_eq!(der_len(200), [0x81, 200]);
    assert_eq!(der_len(300), [0x82, 1, 44]);
    assert_eq!(read_header(&[0x30, 0x82, 1, 44]), Some((4, 300)));
}

#[test]
fn an_elevated_certificate_names_its_access_request_and_still_verifies() {
    let (ca_pem, ca_key) = test_ca();
    let ca = ClusterCa::from_pem(&ca_pem, &ca_key).unwrap();
    let csr = check_csr(&csr_with(&PKCS_ECDSA_P256_SHA256, "alice", "x")).unwrap();
    let now = OffsetDateTime::now_utc();
    let groups = vec!["kaccess:prod:admin".to_string()];
    let issued = ca
        .sign_for_request(
            &csr,
            "alice@example.com",
            &groups,
            now,
            now + TimeDuration::minutes(10),
            Some("prod:0123456789abcdef"),
        )
        .unwrap();
    let der = pem_der(&issued.pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    let uris: Vec<String> = san
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(uris, ["urn:kaccess:request:prod:0123456789abcdef"]);
    let o: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(o, ["kaccess:prod:admin"]);
    let ca_der = pem_der(&ca_pem);
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    cert.verify_signature(Some(ca_cert.public_key())).unwrap();
}
