//! Cluster names for shell completion (`kaccess login <TAB>`), from the
//! `clusters:` keys of the user's configuration. The shells ask kaccess
//! itself through clap's dynamic completion (`COMPLETE=bash kaccess -- …`,
//! see `completions/`), so this is the one place the CLI definition reads
//! a file, and only when a shell asks.

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use std::ffi::OsStr;
use std::path::PathBuf;

/// The completer every `CLUSTER` argument carries.
pub fn clusters() -> ArgValueCompleter {
    ArgValueCompleter::new(cluster_candidates)
}

fn cluster_candidates(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let explicit = std::env::var_os("KACCESS_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let Ok(path) = crate::config::path(explicit.as_deref()) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    cluster_names(&text)
        .into_iter()
        .filter(|name| name.starts_with(current))
        .map(CompletionCandidate::new)
        .collect()
}

/// The names under `clusters:`, read leniently: a file with a mistake
/// elsewhere still completes (`config check` is where mistakes are shown),
/// and a file that is not YAML completes nothing.
pub fn cluster_names(text: &str) -> Vec<String> {
    if crate::config::yaml_limits::check_yaml_shape(text).is_err() {
        return Vec::new();
    }
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Vec::new();
    };
    let Some(clusters) = doc.get("clusters").and_then(|c| c.as_mapping()) else {
        return Vec::new();
    };
    clusters
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| crate::config::file::valid_cluster_name(k))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_clusters_table_even_when_another_key_is_wrong() {
        let text = "defaults: {oidc: {issuer: 42}}\nclusters:\n  prod: {}\n  staging-eu: {}\n  Bad_Name: {}\n";
        assert_eq!(cluster_names(text), ["prod", "staging-eu"]);
    }

    #[test]
    fn a_file_that_is_not_yaml_or_has_no_clusters_completes_nothing() {
        assert!(cluster_names("clusters: [").is_empty());
        assert!(cluster_names("defaults: {}\n").is_empty());
        assert!(cluster_names("").is_empty());
    }
}
