//! Where refresh tokens are kept: OS keyring, else a 0600 file.
