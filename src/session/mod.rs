//! Sessions on disk: the runtime dir, the session kubeconfig, expiry.
