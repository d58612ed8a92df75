//! A cluster's certificate authority: checks a client's CSR (self-signature
//! must verify; key P-256, Ed25519 or RSA ≥ 2048) and signs a clientAuth
//! certificate whose subject comes from policy alone: CN = username, one
//! O per Kubernetes group. Nothing of the CSR but its public key is used.
//!
//! rcgen keeps one value per name attribute, and Kubernetes reads groups
//! from *repeated* O attributes, so the certificate is made by rcgen with
//! a placeholder subject, the subject is replaced in the TBS bytes, and the
//! TBS is signed again with the CA key.

use anyhow::{Context, Result};
use rand::RngCore;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, SigningKey, SubjectPublicKeyInfo,
};
use std::path::Path;
use time::{Duration as TimeDuration, OffsetDateTime};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// How an elevated certificate names its access request.
pub const REQUEST_URN_PREFIX: &str = "urn:kaccess:request:";

/// Why a CSR was refused; shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("the CSR is not a PEM `CERTIFICATE REQUEST`")]
    NotPem,
    #[error("the CSR cannot be parsed")]
    Malformed,
    #[error("the CSR's signature does not verify")]
    BadSignature,
    #[error("the CSR's key is {0}; use ECDSA P-256, Ed25519 or RSA of 2048 bits or more")]
    WeakKey(String),
}

/// A CSR whose signature verified and whose key is acceptable.
#[derive(Debug)]
pub struct CheckedCsr {
    spki: SubjectPublicKeyInfo,
}

/// Verifies a PEM CSR. Subject, SANs and extensions in it are ignored.
pub fn check_csr(pem_text: &str) -> Result<CheckedCsr, CsrError> {
    let der = rustls_pemfile::read_one_from_slice(pem_text.as_bytes())
        .ok()
        .flatten()
        .and_then(|(item, _)| match item {
            rustls_pemfile::Item::Csr(der) => Some(der.to_vec()),
            _ => None,
        })
        .ok_or(CsrError::NotPem)?;
    let (rest, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|_| CsrError::Malformed)?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed);
    }
    let spki = &csr.certification_request_info.subject_pki;
    check_key(spki)?;
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    let spki = SubjectPublicKeyInfo::from_der(spki.raw)
        .map_err(|_| CsrError::WeakKey("of an unsupported type".into()))?;
    Ok(CheckedCsr { spki })
}

fn check_key(spki: &x509_parser::x509::SubjectPublicKeyInfo) -> Result<(), CsrError> {
    use x509_parser::oid_registry::{OID_EC_P256, OID_SIG_ED25519};
    match spki.parsed().map_err(|_| CsrError::Malformed)? {
        PublicKey::RSA(rsa) => {
            let bits = rsa.key_size();
            if bits >= 2048 {
                Ok(())
            } else {
                Err(CsrError::WeakKey(format!("RSA with {bits} bits")))
            }
        }
        PublicKey::EC(_) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            if curve.as_ref() == Some(&OID_EC_P256) {
                Ok(())
            } else {
                let name = curve.map(|c| c.to_id_string()).unwrap_or_default();
                Err(CsrError::WeakKey(format!("on the EC curve `{name}`")))
            }
        }
        _ if spki.algorithm.algorithm == OID_SIG_ED25519 => Ok(()),
        _ => Err(CsrError::WeakKey(format!(
            "of type `{}`",
            spki.algorithm.algorithm.to_id_string()
        ))),
    }
}

/// One issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    /// Lower-case hex, as it appears in the audit log.
    pub serial: String,
    pub not_after: OffsetDateTime,
}

/// A cluster CA loaded from `ca: {cert-file, key-file}`.
pub struct ClusterCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCa").finish_non_exhaustive()
    }
}

impl ClusterCa {
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<ClusterCa> {
        let cert_pem = std::fs::read_to_string(cert_file)
            .with_context(|| format!("cannot read CA certificate `{}`", cert_file.display()))?;
        let key_pem = std::fs::read_to_string(key_file)
            .with_context(|| format!("cannot read CA key `{}`", key_file.display()))?;
        // kubeadm writes PKCS#1 (`RSA PRIVATE KEY`) and OpenSSL often SEC1
        // (`EC PRIVATE KEY`); ring reads PKCS#8 only, so say how to convert.
        if key_pem.contains("-----BEGIN RSA PRIVATE KEY-----")
            || key_pem.contains("-----BEGIN EC PRIVATE KEY-----")
        {
            let key = key_file.display();
            return Err(crate::error::Failure::usage(format!(
                "the CA key `{key}` is not in PKCS#8 form"
            ))
            .help(format!(
                "convert it: `openssl pkcs8 -topk8 -nocrypt -in {key} -out {key}.pk8` and point `key-file` at the result"
            ))
            .into());
        }
        Self::from_pem(&cert_pem, &key_pem)
            .with_context(|| format!("bad CA `{}`", cert_file.display()))
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa> {
        let key = KeyPair::from_pem(key_pem).context("the CA key is not a PKCS#8 PEM key")?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .context("the CA certificate is not a PEM certificate")?;
        Ok(ClusterCa {
            issuer,
            cert_pem: cert_pem.to_string(),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs a client certificate for `username` in `groups`, valid from a
    /// minute ago (clock skew) to `not_after`.
    pub fn sign(
        &self,
        csr: &CheckedCsr,
        username: &str,
        groups: &[String],
        now: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued> {
        self.sign_for_request(csr, username, groups, now, not_after, None)
    }

    /// [`ClusterCa::sign`] for an elevated session: the approved access
    /// request rides along as a URI SAN (`urn:kaccess:request:ID`), which
    /// Kubernetes ignores and an auditor reading the certificate sees.
    pub fn sign_for_request(
        &self,
        csr: &CheckedCsr,
        username: &str,
        groups: &[String],
        now: OffsetDateTime,
        not_after: OffsetDateTime,
        request_id: Option<&str>,
    ) -> Result<Issued> {
        let mut serial = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut serial);
        // Positive and exactly 16 bytes in DER.
        serial[0] = (serial[0] & 0x7f) | 0x40;
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = now - TimeDuration::minutes(1);
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        if let Some(id) = request_id {
            let uri = rcgen::string::Ia5String::try_from(format!("{REQUEST_URN_PREFIX}{id}"))
                .context("the access request id is not ASCII")?;
            params.subject_alt_names = vec![rcgen::SanType::URI(uri)];
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kaccess-placeholder");
        params.distinguished_name = dn;
        let draft = params
            .signed_by(&csr.spki, &self.issuer)
            .context("cannot sign the certificate")?;
        let der = replace_subject(
            draft.der(),
            &subject_der(username, groups),
            self.issuer.key(),
        )?;
        let pem = rustls_pemfile_encode(&der);
        Ok(Issued {
            pem,
            serial: hex::encode(serial),
            not_after,
        })
    }
}

fn rustls_pemfile_encode(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

// --- minimal DER, just enough to swap the subject ---

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// (header length, content length) of the DER element at the start of `buf`.
fn read_header(buf: &[u8]) -> Option<(usize, usize)> {
    let first = *buf.get(1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for b in buf.get(2..2 + n)? {
        len = (len << 8) | *b as usize;
    }
    Some((2 + n, len))
}

const OID_CN: [u8; 3] = [0x55, 0x04, 0x03];
const OID_O: [u8; 3] = [0x55, 0x04, 0x0a];

fn rdn(oid: &[u8], value: &str) -> Vec<u8> {
    let mut atv = tlv(0x06, oid);
    atv.extend(tlv(0x0c, value.as_bytes()));
    tlv(0x31, &tlv(0x30, &atv))
}

/// `O=group…, CN=username` as a DER Name (O first, as Kubernetes' own
/// certificates order it).
fn subject_der(username: &str, groups: &[String]) -> Vec<u8> {
    let mut rdns = Vec::new();
    for g in groups {
        rdns.extend(rdn(&OID_O, g));
    }
    rdns.extend(rdn(&OID_CN, username));
    tlv(0x30, &rdns)
}

/// Rebuilds `cert` with `subject` and signs the new TBS with `key`.
fn replace_subject(cert: &[u8], subject: &[u8], key: &KeyPair) -> Result<Vec<u8>> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .context("rcgen made an unparsable certificate")?;
    let tbs = parsed.tbs_certificate.as_ref();
    let old_subject = parsed.tbs_certificate.subject.as_raw();
    let offset = |inner: &[u8], outer: &[u8]| {
        let (i, o) = (inner.as_ptr() as usize, outer.as_ptr() as usize);
        (i >= o && i + inner.len() <= o + outer.len()).then_some(i - o)
    };
    let subj_at = offset(old_subject, tbs).context("subject not inside the TBS")?;
    let tbs_at = offset(tbs, cert).context("TBS not inside the certificate")?;
    let (tbs_hdr, _) = read_header(tbs).context("bad TBS header")?;
    let mut content = tbs[tbs_hdr..subj_at].to_vec();
    content.extend_from_slice(subject);
    content.extend_from_slice(&tbs[subj_at + old_subject.len()..]);
    let new_tbs = tlv(0x30, &content);
    // After the TBS: signatureAlgorithm (copied as is), then the signature.
    let rest = &cert[tbs_at + tbs.len()..];
    let (alg_hdr, alg_len) = read_header(rest).context("bad signature algorithm")?;
    let sig_alg = &rest[..alg_hdr + alg_len];
    let signature = key.sign(&new_tbs).context("cannot sign the certificate")?;
    let mut bits = vec![0u8];
    bits.extend(signature);
    let mut body = new_tbs;
    body.extend_from_slice(sig_alg);
    body.extend(tlv(0x03, &bits));
    Ok(tlv(0x30, &body))
}

#[cfg(test)]
pub(crate) mod tests;
