//! ID-token validation shared by client and broker.
