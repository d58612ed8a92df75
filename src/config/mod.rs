//! Client configuration (`config.yaml`).
