//! The key pair and CSR for a certificate credential. The key is made here,
//! on the user's machine, and only the CSR (public key + self-signature)
//! goes to the broker; the broker ignores the CSR's subject and takes the
//! identity from policy.

use crate::secret::Secret;
use anyhow::{Context, Result};

/// A fresh ECDSA P-256 key and a CSR for it.
pub struct KeyAndCsr {
    pub key_pem: Secret,
    pub csr_pem: String,
}

pub fn generate(common_name: &str) -> Result<KeyAndCsr> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("cannot generate a P-256 key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .context("cannot prepare the certificate request")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let csr = params
        .serialize_request(&key)
        .context("cannot sign the certificate request")?;
    Ok(KeyAndCsr {
        key_pem: Secret::new(key.serialize_pem()),
        csr_pem: csr.pem().context("cannot encode the certificate request")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn csr_verifies_and_carries_a_p256_key() {
        let k = generate("alice").unwrap();
        assert!(k.key_pem.expose().contains("PRIVATE KEY"));
        let parsed = rcgen::CertificateSigningRequestParams::from_pem(&k.csr_pem).unwrap();
        assert!(parsed.public_key.der_bytes().len() > 60);
    }
}
