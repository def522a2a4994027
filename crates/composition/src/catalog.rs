//! Finding what a render needs in a source tree or a directory: the
//! CompositeResourceDefinitions, the Compositions (with the template directories of their
//! `source: FileSystem` go-templating steps, read relative to the composition's file), the
//! EnvironmentConfigs, the kinds declared cluster-scoped, and the claims and composites to
//! render.

use std::path::Path;

use serde_json::Value;
use strata_core::loader::LoadError;
use strata_core::source::{SourceError, SourceTree, is_manifest_file};
use strata_core::{Resource, SourceLocation};

use crate::composition::Composition;
use crate::environment_configs::ENVIRONMENT_CONFIG_KIND;
use crate::error::Error;
use crate::gotemplating::{DiskTemplateFiles, TemplateFiles, TreeTemplateFiles};
use crate::render::RenderRequest;
use crate::xrd::Xrd;

/// The API group of Crossplane's own kinds (XRDs and Compositions).
pub const CROSSPLANE_GROUP: &str = "apiextensions.crossplane.io";

const XRD_KIND: &str = "CompositeResourceDefinition";
const COMPOSITION_KIND: &str = "Composition";
const CRD_KIND: &str = "CustomResourceDefinition";

/// The XRDs, Compositions and EnvironmentConfigs found in a tree or directory, and the kinds
/// it declares cluster-scoped.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Every CompositeResourceDefinition found.
    pub xrds: Vec<Xrd>,
    /// Every Composition found.
    pub compositions: Vec<Composition>,
    /// Every `apiextensions.crossplane.io` `EnvironmentConfig` found (what the compositions'
    /// function-environment-configs steps select from).
    pub environment_configs: Vec<Value>,
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
    /// An XRD or Composition is not valid (or a Composition's template directory cannot be
    /// read).
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
    /// Adds `resource` when it is an XRD, a Composition, an EnvironmentConfig or a
    /// CustomResourceDefinition; says whether it was one. A Composition's `source:
    /// FileSystem` template directories are read from disk, relative to the directory of the
    /// file it was read from.
    pub fn add(&mut self, resource: &Resource) -> Result<bool, CatalogError> {
        let base = resource
            .source
            .as_ref()
            .and_then(|s| s.file.parent())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        self.add_with(resource, &DiskTemplateFiles { base })
    }

    /// [`Catalog::add`], reading template directories through `files`.
    pub fn add_with(
        &mut self,
        resource: &Resource,
        files: &dyn TemplateFiles,
    ) -> Result<bool, CatalogError> {
        let manifest = &resource.manifest;
        let definition_error = |source| CatalogError::Definition {
            source: Box::new(source),
            location: resource
                .source
                .as_ref()
                .map_or_else(|| String::from("(generated)"), SourceLocation::to_string),
            kind: resource.key.kind.to_string(),
            name: resource.key.name.to_string(),
        };
        match (resource.key.group.as_str(), resource.key.kind.as_str()) {
            (CROSSPLANE_GROUP, XRD_KIND) => {
                let xrd = Xrd::parse(manifest).map_err(definition_error)?;
                self.cluster_kinds
                    .push((xrd.group.clone(), xrd.kind.clone()));
                self.xrds.push(xrd);
            }
            (CROSSPLANE_GROUP, COMPOSITION_KIND) => {
                let mut composition = Composition::parse(manifest).map_err(definition_error)?;
                composition
                    .read_template_files(files)
                    .map_err(definition_error)?;
                self.compositions.push(composition);
            }
            (CROSSPLANE_GROUP, ENVIRONMENT_CONFIG_KIND) => {
                self.environment_configs.push(manifest.clone());
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
    /// Composition, an EnvironmentConfig or a CRD are parsed; template directories are read
    /// from `tree`.
    pub fn scan_tree(tree: &dyn SourceTree) -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        for file in tree.files()? {
            if !is_manifest_file(&file) {
                continue;
            }
            let text = tree.read_text_shared(&file)?;
            if !(text.contains(XRD_KIND)
                || text.contains("kind: Composition")
                || text.contains(ENVIRONMENT_CONFIG_KIND)
                || text.contains(CRD_KIND))
            {
                continue;
            }
            let shown = tree.origin().display_path(&file);
            let files = TreeTemplateFiles {
                tree,
                base: strata_core::source::parent(&file).to_owned(),
            };
            for resource in strata_core::loader::parse_documents(&shown, &text)? {
                catalog.add_with(&resource, &files)?;
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

    /// The request a render of this catalog's claims starts from: the EnvironmentConfigs
    /// found, for function-environment-configs steps to select from.
    pub fn render_request(&self) -> RenderRequest {
        RenderRequest {
            environment_configs: self.environment_configs.clone(),
            ..RenderRequest::default()
        }
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
        Ok(Self::split(catalog, resources))
    }

    /// [`Found::from_resources`] for resources read from `tree`: template directories are
    /// read from `tree` too.
    pub fn from_tree_resources(
        tree: &dyn SourceTree,
        resources: Vec<Resource>,
    ) -> Result<Self, CatalogError> {
        let root = tree
            .origin()
            .display_path("")
            .to_string_lossy()
            .into_owned();
        let mut catalog = Catalog::default();
        for resource in &resources {
            let shown = resource
                .source
                .as_ref()
                .map(|s| s.file.to_string_lossy().into_owned())
                .unwrap_or_default();
            let in_tree = shown
                .strip_prefix(&root)
                .map(|p| p.trim_start_matches('/'))
                .unwrap_or_default();
            let files = TreeTemplateFiles {
                tree,
                base: strata_core::source::parent(in_tree).to_owned(),
            };
            catalog.add_with(resource, &files)?;
        }
        Ok(Self::split(catalog, resources))
    }

    fn split(catalog: Catalog, resources: Vec<Resource>) -> Self {
        let claims = resources
            .into_iter()
            .filter(|r| catalog.is_claim_or_composite(r) || catalog.is_composite_without_xrd(r))
            .collect();
        Self { catalog, claims }
    }
}

/// Finds the XRDs, Compositions, claims and composites in the file or directory `path`
/// (every `*.yaml`, `*.yml` and `*.json` below it, Strata's own directories skipped).
pub fn find_in_path(path: &Path) -> Result<Found, CatalogError> {
    Found::from_resources(strata_core::loader::load_path(path)?)
}

/// Finds the XRDs, Compositions, claims and composites below `dir` of `tree`.
pub fn find_in_tree(tree: &dyn SourceTree, dir: &str) -> Result<Found, CatalogError> {
    Found::from_tree_resources(tree, strata_core::source::load_manifests(tree, dir)?)
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
    use serde_json::json;
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

    #[test]
    fn finds_environment_configs_and_reads_template_directories_from_the_tree() {
        let composition = "apiVersion: apiextensions.crossplane.io/v1\nkind: Composition\nmetadata:\n  name: xdatabases.example.org\nspec:\n  compositeTypeRef:\n    apiVersion: example.org/v1\n    kind: XDatabase\n  mode: Pipeline\n  pipeline:\n    - step: templates\n      functionRef:\n        name: function-go-templating\n      input:\n        apiVersion: gotemplating.fn.crossplane.io/v1beta1\n        kind: GoTemplate\n        source: FileSystem\n        fileSystem:\n          dirPath: templates\n";
        let config = "apiVersion: apiextensions.crossplane.io/v1beta1\nkind: EnvironmentConfig\nmetadata:\n  name: shared\ndata:\n  team: storage\n";
        let tree = MemoryTree::new()
            .with_file("platform/composition.yaml", composition)
            .with_file("platform/templates/db.yaml.tmpl", "{{ .context }}\n")
            .with_file("config/environment.yaml", config);
        for catalog in [
            Catalog::scan_tree(&tree).unwrap(),
            find_in_tree(&tree, "").unwrap().catalog,
        ] {
            assert_eq!(catalog.environment_configs.len(), 1);
            assert_eq!(
                catalog.render_request().environment_configs[0]["data"]["team"],
                json!("storage")
            );
            let crate::composition::StepFunction::GoTemplating(t) =
                &catalog.compositions[0].steps[0].run
            else {
                panic!("not a go-templating step");
            };
            assert_eq!(t.text.as_deref(), Some("{{ .context }}\n\n---\n"));
        }
        let tree = MemoryTree::new().with_file("platform/composition.yaml", composition);
        let err = Catalog::scan_tree(&tree).unwrap_err().to_string();
        assert!(err.starts_with("memory/platform/composition.yaml (document 0, line 1): Composition/xdatabases.example.org: pipeline step \"templates\": invalid function input: cannot read tmpl from the folder {templates}: "), "{err}");
    }
}
