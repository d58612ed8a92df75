//! The kubectl exec credential plugin (`kaccess credential`).
