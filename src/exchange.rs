//! Client side of the broker protocol.
