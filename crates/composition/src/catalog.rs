//! Finding what a render needs in a source tree or a directory: the
//! CompositeResourceDefinitions, the Compositions, the kinds declared cluster-scoped, and the
//! claims and composites to render.

use std::path::Path;

use serde_json::Value;
use strata_core::loader::LoadError;
use strata_core::source::{SourceError, SourceTree, is_manifest_file};
use strata_core::{Resource, SourceLocation};

use crate::composition::Composition;
use crate::error::Error;
use crate::xrd::Xrd;

/// The API group of Crossplane's own kinds (XRDs and Compositions).
pub const CROSSPLANE_GROUP: &str = "apiextensions.crossplane.io";

const XRD_KIND: &str = "CompositeResourceDefinition";
const COMPOSITION_KIND: &str = "Composition";
const CRD_KIND: &str = "CustomResourceDefinition";

/// The XRDs and Compositions found in a tree or directory, and the kinds it declares
/// cluster-scoped.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Every CompositeResourceDefinition found.
    pub xrds: Vec<Xrd>,
    /// Every Composition found.
    pub compositions: Vec<Composition>,
    /// `(group, kind)` of the composite kinds of the XRDs and of the CRDs with
    /// `scope: Cluster`.
    pub cluster_kinds: Vec<(String, String)>,
}

/// A [`Catalog`] and the claims and composites found beside it.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The XRDs, Compositions and cluster-scoped kinds.
    pub catalog: Catalog,
    /// The claims and composites of the catalog's XRDs, and the composites of a Composition's
    /// type that no XRD defines (rendered as `crossplane render` does, without schema), in
    /// file order.
    pub claims: Vec<Resource>,
}

/// Why the finder failed. Messages name the file and document at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A file could not be read or parsed as manifests.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The source tree could not be listed or read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An XRD or Composition is not valid.
    #[error("{location}: {kind}/{name}: {source}")]
    Definition {
        /// Where it is (its file and document).
        location: String,
        /// `CompositeResourceDefinition` or `Composition`.
        kind: String,
        /// Its `metadata.name`.
        name: String,
        /// Why it is not valid.
        #[source]
        source: Box<Error>,
    },
}

impl Catalog {
    /// Adds `resource` when it is an XRD, a Composition or a CustomResourceDefinition; says
    /// whether it was one.
    pub fn add(&mut self, resource: &Resource) -> Result<bool, CatalogError> {
        let manifest = &resource.manifest;
        let definition_error = |source| CatalogError::Definition {
            source: Box::new(source),
            location: resource
                .source
                .as_ref()
                .map_or_else(|| String::from("(generated)"), SourceLocation::to_string),
            kind: resource.key.kind.clone(),
            name: resource.key.name.clone(),
        };
        match (resource.key.group.as_str(), resource.key.kind.as_str()) {
            (CROSSPLANE_GROUP, XRD_KIND) => {
                let xrd = Xrd::parse(manifest).map_err(definition_error)?;
                self.cluster_kinds
                    .push((xrd.group.clone(), xrd.kind.clone()));
                self.xrds.push(xrd);
            }
            (CROSSPLANE_GROUP, COMPOSITION_KIND) => {
                let composition = Composition::parse(manifest).map_err(definition_error)?;
                self.compositions.push(composition);
            }
            (_, CRD_KIND) => {
                if text_at(manifest, "/spec/scope") == "Cluster" {
                    self.cluster_kinds.push((
                        text_at(manifest, "/spec/group").to_owned(),
                        text_at(manifest, "/spec/names/kind").to_owned(),
                    ));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The catalog of `resources`.
    pub fn from_resources<'a>(
        resources: impl IntoIterator<Item = &'a Resource>,
    ) -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        for resource in resources {
            catalog.add(resource)?;
        }
        Ok(catalog)
    }

    /// The catalog of every manifest file of `tree`. Only files that mention an XRD, a
    /// Composition or a CRD are parsed.
    pub fn scan_tree(tree: &dyn SourceTree) -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        for file in tree.files()? {
            if !is_manifest_file(&file) {
                continue;
            }
            let text = tree.read_to_string(&file)?;
            if !(text.contains(XRD_KIND)
                || text.contains("kind: Composition")
                || text.contains(CRD_KIND))
            {
                continue;
            }
            let shown = tree.origin().display_path(&file);
            for resource in strata_core::loader::parse_documents(&shown, &text)? {
                catalog.add(&resource)?;
            }
        }
        Ok(catalog)
    }

    /// Whether `resource` is a claim or a composite of one of the catalog's XRDs.
    pub fn is_claim_or_composite(&self, resource: &Resource) -> bool {
        self.xrds.iter().any(|xrd| {
            xrd.group == resource.key.group && xrd.is_claim(&resource.manifest).is_some()
        })
    }

    /// Whether `resource` is of a Composition's composite type that none of the catalog's XRDs
    /// defines.
    pub fn is_composite_without_xrd(&self, resource: &Resource) -> bool {
        !self.is_claim_or_composite(resource)
            && !self
                .xrds
                .iter()
                .any(|x| x.group == resource.key.group && x.kind == resource.key.kind)
            && self
                .compositions
                .iter()
                .any(|c| c.matches_type(&resource.manifest))
    }

    /// Whether the catalog declares `(group, kind)` cluster-scoped.
    pub fn declares_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        self.cluster_kinds
            .iter()
            .any(|(g, k)| g == group && k == kind)
    }
}

impl Found {
    /// Splits `resources` into the catalog and the claims and composites to render (those of
    /// its XRDs, and composites of a Composition's type without an XRD).
    pub fn from_resources(resources: Vec<Resource>) -> Result<Self, CatalogError> {
        let catalog = Catalog::from_resources(&resources)?;
        let claims = resources
            .into_iter()
            .filter(|r| catalog.is_claim_or_composite(r) || catalog.is_composite_without_xrd(r))
            .collect();
        Ok(Self { catalog, claims })
    }
}

/// Finds the XRDs, Compositions, claims and composites in the file or directory `path`
/// (every `*.yaml`, `*.yml` and `*.json` below it, Strata's own directories skipped).
pub fn find_in_path(path: &Path) -> Result<Found, CatalogError> {
    Found::from_resources(strata_core::loader::load_path(path)?)
}

/// Finds the XRDs, Compositions, claims and composites below `dir` of `tree`.
pub fn find_in_tree(tree: &dyn SourceTree, dir: &str) -> Result<Found, CatalogError> {
    Found::from_resources(strata_core::source::load_manifests(tree, dir)?)
}

fn text_at<'a>(manifest: &'a Value, pointer: &str) -> &'a str {
    manifest
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use strata_core::source::MemoryTree;

    const XRD: &str = "apiVersion: apiextensions.crossplane.io/v1\nkind: CompositeResourceDefinition\nmetadata:\n  name: xdatabases.example.org\nspec:\n  group: example.org\n  names:\n    kind: XDatabase\n    plural: xdatabases\n  claimNames:\n    kind: Database\n    plural: databases\n  versions:\n    - name: v1\n      served: true\n      referenceable: true\n      schema:\n        openAPIV3Schema:\n          type: object\n";
    const CLAIM: &str = "apiVersion: example.org/v1\nkind: Database\nmetadata:\n  name: orders\n  namespace: shop\n";
    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.org\nspec:\n  group: example.org\n  scope: Cluster\n  names:\n    kind: Widget\n";

    #[test]
    fn finds_definitions_claims_and_cluster_kinds_in_a_tree() {
        let tree = MemoryTree::new()
            .with_file("platform/xrd.yaml", XRD)
            .with_file("platform/crd.yaml", CRD)
            .with_file("apps/claim.yaml", CLAIM);
        let found = find_in_tree(&tree, "").unwrap();
        assert_eq!(found.catalog.xrds.len(), 1);
        assert_eq!(found.claims.len(), 1);
        assert_eq!(found.claims[0].key.name, "orders");
        assert!(
            found
                .catalog
                .declares_cluster_scoped("example.org", "XDatabase")
        );
        assert!(
            found
                .catalog
                .declares_cluster_scoped("example.org", "Widget")
        );
        let scanned = Catalog::scan_tree(&tree).unwrap();
        assert_eq!(scanned.xrds.len(), 1);
        assert_eq!(scanned.cluster_kinds, found.catalog.cluster_kinds);
    }

    #[test]
    fn an_invalid_definition_names_its_file() {
        let bad = XRD.replace("  group: example.org\n", "");
        let tree = MemoryTree::new().with_file("platform/xrd.yaml", bad);
        let err = Catalog::scan_tree(&tree).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("platform/xrd.yaml"), "{message}");
        assert!(
            message.contains("CompositeResourceDefinition/xdatabases.example.org"),
            "{message}"
        );
    }
}
