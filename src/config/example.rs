//! The commented example that `kaccess config init` writes. A unit test
//! loads it, so the example can never drift from what the loader accepts.

pub const EXAMPLE: &str = r#"# kaccess client configuration.
# Checked with `kaccess config check`; every key is explained in `kaccess(1)`.

# Any cluster key may be set here and overridden per cluster.
defaults:
  oidc:
    # Must match the `issuer` in the provider's discovery document exactly.
    issuer: https://login.example.com
    client-id: kaccess
    # Default: [openid, offline_access, email, groups]
    # scopes: [openid, offline_access, email, groups]
    # What counts as MFA in the ID token: one of these `amr` values, or an
    # `acr` from `acr-any`. MFA is required unless `required: false`.
    mfa:
      amr-any: [mfa, otp, hwk, swk, sms, fpt, face, pin]
      # acr-any: [urn:example:mfa]

clusters:
  prod:
    server: https://prod.example.com:6443
    # The API server's CA: inline (base64 PEM, as in a kubeconfig) or a file.
    # certificate-authority-data: LS0tLS1CRUdJTi...
    # certificate-authority: /etc/kaccess/prod-ca.pem
    namespace: default
    oidc:
      # Sent as `acr_values` on every login flow, device flow included.
      # acr-values: [urn:example:mfa]
      # Sent as `max_age`; a login older than this is refused.
      max-auth-age: 15m
      # Extra trust root for the issuer's TLS certificate.
      # ca-file: /etc/kaccess/idp-ca.pem
    broker:
      url: https://broker.example.com:8443
      # ca-file: /etc/kaccess/broker-ca.pem
    # certificate (a key made on this machine) or token (revocable bearer token)
    credential: certificate
    # Wanted session length; the broker caps it.
    session-ttl: 8h
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid as written: only its placeholder values (see `placeholders`)
    /// keep `Config::load` from accepting it.
    #[test]
    fn example_is_a_valid_config() {
        let clusters = super::super::file::parse(std::path::Path::new("example.yaml"), EXAMPLE)
            .expect("the example must load");
        let prod = &clusters["prod"];
        assert_eq!(prod.oidc.issuer, "https://login.example.com");
        assert!(prod.oidc.mfa.required);
    }
}
