//! Provider metadata from `<issuer>/.well-known/openid-configuration`.
