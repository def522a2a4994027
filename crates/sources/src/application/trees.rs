//! Adapting a core [`SourceTree`] to the ApplicationSet generators' tree traits.

use std::sync::Arc;

use strata_core::source::SourceTree;

use crate::appset::{TreeReader, TreeResolver};

/// A [`SourceTree`] seen as the git generators' [`TreeReader`], and as a [`TreeResolver`]
/// that serves it for every repository URL.
#[derive(Clone)]
pub struct SourceTreeReader(pub Arc<dyn SourceTree>);

impl TreeReader for SourceTreeReader {
    fn list_files(&self) -> Vec<String> {
        self.0.files().unwrap_or_default()
    }

    fn list_dirs(&self) -> Vec<String> {
        self.0.dirs().unwrap_or_default()
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.0.read(path).ok()
    }
}

impl TreeResolver for SourceTreeReader {
    fn resolve(&self, _repo_url: &str, _revision: &str) -> Result<Arc<dyn TreeReader>, String> {
        Ok(Arc::new(self.clone()))
    }
}
