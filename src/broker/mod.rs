//! The broker: `kaccess serve`.
