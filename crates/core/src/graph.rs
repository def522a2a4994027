//! The dependency graph of a desired set.
//!
//! Edges come from three places:
//! - explicit `strata.dev/depends-on` annotations (`[group/]Kind/[namespace/]name`, comma-separated);
//! - implicit references: Crossplane-style `*Ref` / `*Refs` fields (`{name: …}`) and `*Selector`
//!   fields (`{matchLabels: …}`) naming other resources of the set;
//! - sync waves (`argocd.argoproj.io/sync-wave`): every resource of a wave waits for every
//!   resource of the previous wave, through one barrier node per wave so the edge count stays
//!   linear.
//!
//! An edge `a → b` means "`a` must be done before `b`".

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::model::{
    ANNOTATION_DEPENDS_ON, ANNOTATION_SYNC_WAVE, Resource, ResourceKey, SourceLocation,
};

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Node {
    /// A resource of the desired set.
    Resource(ResourceKey),
    /// The barrier before a sync wave: done when every resource of earlier waves is.
    WaveBarrier(i64),
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Resource(key) => key.fmt(f),
            Node::WaveBarrier(wave) => write!(f, "wave {wave}"),
        }
    }
}

/// Why an edge exists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EdgeReason {
    /// A `strata.dev/depends-on` entry.
    Explicit,
    /// A reference field (its dotted path).
    Reference(String),
    /// A sync-wave barrier.
    Wave,
}

/// What is wrong with an annotation that orders resources.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnnotationProblem {
    /// The entry cannot be read as `[group/]Kind/[namespace/]name`.
    Malformed,
    /// The entry names nothing in the desired set.
    Unknown,
    /// The entry matches several resources (listed).
    Ambiguous(String),
    /// A sync wave is not an integer.
    NotAnInteger,
}

/// An annotation that cannot be honoured, with the resource and file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationError {
    /// The resource carrying the annotation.
    pub key: ResourceKey,
    /// Where it was declared (`file (document n, line m): `), empty when unknown.
    pub location: String,
    /// The annotation.
    pub annotation: String,
    /// The offending entry or value.
    pub value: String,
    /// What is wrong.
    pub problem: AnnotationProblem,
}

impl std::fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}: annotation `{}`: ",
            self.location, self.key, self.annotation
        )?;
        match &self.problem {
            AnnotationProblem::Malformed => write!(
                f,
                "cannot read `{}`: expected [group/]Kind/[namespace/]name",
                self.value
            ),
            AnnotationProblem::Unknown => write!(f, "`{}` is not in the desired set", self.value),
            AnnotationProblem::Ambiguous(candidates) => write!(
                f,
                "`{}` is ambiguous ({candidates}); add the group or namespace",
                self.value
            ),
            AnnotationProblem::NotAnInteger => write!(f, "`{}` is not an integer", self.value),
        }
    }
}

/// Errors building the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// An ordering annotation cannot be honoured.
    #[error("{0}")]
    Annotation(Box<AnnotationError>),
    /// Two resources of the set have the same identity.
    #[error("{0} appears twice in the desired set")]
    Duplicate(String),
    /// The dependencies form a cycle; every node on it is listed in order.
    #[error("dependency cycle: {}", display_cycle(.0))]
    Cycle(Vec<String>),
}

fn annotation_error(
    resource: &Resource,
    annotation: &str,
    value: &str,
    problem: AnnotationProblem,
) -> GraphError {
    GraphError::Annotation(Box::new(AnnotationError {
        key: resource.key.clone(),
        location: location_prefix(resource.source.as_ref()),
        annotation: annotation.to_owned(),
        value: value.to_owned(),
        problem,
    }))
}

fn display_cycle(nodes: &[String]) -> String {
    let mut out = nodes.join(" -> ");
    if let Some(first) = nodes.first() {
        let _ = write!(out, " -> {first}");
    }
    out
}

/// The dependency graph of a desired set.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    graph: DiGraph<Node, EdgeReason>,
    index: KeyIndex,
    /// The value-bearing reference fields (see [`ReferenceField`]) of each resource that has
    /// any, by position in the slice given to [`Graph::build`], in ascending position order.
    reference_fields: Vec<(usize, Vec<ReferenceField>)>,
    /// The name lookups references resolve through, kept so that [`Graph::update`] resolves
    /// a changed resource's references without reading the whole set again.
    tables: Tables,
    /// For each resource, the names (hashed) its `depends-on` entries and named references
    /// mention: who may gain or lose a dependency when a resource of that name comes or goes.
    mentions_of: Vec<Mentions>,
    /// The resources' positions in topological order (see [`Graph::topological_positions`]).
    order: Vec<usize>,
}

/// How a desired set changed since its graph was built (or last updated), for
/// [`Graph::update`]. The resources kept keep their relative order; positions of `removed` are
/// in the old set, those of `added` and `changed` in the new one; each list is ascending.
#[derive(Debug, Clone, Copy, Default)]
pub struct GraphEdit<'a> {
    /// Positions (in the old set) of the resources no longer in the set.
    pub removed: &'a [usize],
    /// Positions (in the new set) of the resources new to the set.
    pub added: &'a [usize],
    /// Positions (in the new set) of kept resources changed in what the graph reads from them
    /// (see [`Graph::same_inputs`]).
    pub changed: &'a [usize],
}

impl GraphEdit<'_> {
    /// For each position of the old set (of `old_len` resources), its position in the new set;
    /// `None` for a removed resource. A linear pass over positions, nothing hashed.
    pub fn kept_positions(&self, old_len: usize) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(old_len);
        let (mut removed, mut added) =
            (self.removed.iter().peekable(), self.added.iter().peekable());
        let mut next = 0;
        for old in 0..old_len {
            if removed.next_if(|&&r| r == old).is_some() {
                out.push(None);
                continue;
            }
            while added.next_if(|&&a| a == next).is_some() {
                next += 1;
            }
            out.push(Some(next));
            next += 1;
        }
        out
    }
}

/// How [`Graph::update`] followed an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphUpdate {
    /// Only the changed resources and their neighbours were read again.
    Incremental,
    /// The graph was built again from the whole set (sync waves, or an edit the incremental
    /// update does not follow, such as one that makes the set invalid).
    Rebuilt,
}

/// How a reference field names what it points at (Crossplane's three shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceForm {
    /// `xRef: {name: …}`: one named resource.
    Single,
    /// `xRefs: [{name: …}, …]`: a list of named resources.
    List,
    /// `xSelector: {matchLabels: …}`: the resources whose labels match.
    Selector,
}

/// One target a reference field names, as the graph resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferenceItem {
    /// The name written in the reference (`None` for a selector).
    pub name: Option<String>,
    /// The reference object itself (`{name, policy …}`, or the selector), kept for its policy.
    pub reference: Value,
    /// Positions (in the slice given to [`Graph::build`]) of the resources it names; empty when
    /// nothing in the desired set matches.
    pub matches: Vec<usize>,
}

/// A reference field whose resolved value belongs in a sibling field: a `*Ref`, `*Refs` or
/// `*Selector` under `spec.forProvider` or `spec.initProvider`, except secret and connection
/// references (`passwordSecretRef`, `writeConnectionSecretToRef` …), which name Kubernetes
/// objects rather than cloud resources.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferenceField {
    /// Dotted path of the reference field (`spec.forProvider.bucketRef`).
    pub path: String,
    /// JSON pointer of the object holding the reference field (`/spec/forProvider`).
    pub parent_pointer: String,
    /// The reference field's name (`bucketRef`).
    pub field: String,
    /// The field name without its `Ref` / `Refs` / `Selector` suffix (`bucket`).
    pub base: String,
    /// Which shape the reference has.
    pub form: ReferenceForm,
    /// What it names: one item for `Single` and `Selector`, one per list entry for `List`.
    pub items: Vec<ReferenceItem>,
}

/// A parsed `[group/]Kind/[namespace/]name` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Group, when given.
    pub group: Option<String>,
    /// Kind.
    pub kind: String,
    /// Namespace, when given.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl Reference {
    /// Parses `[group/]Kind/[namespace/]name`. The kind is the first segment starting with an
    /// upper-case letter; a segment before it is the group.
    pub fn parse(text: &str) -> Option<Self> {
        let (group, kind, namespace, name) = split_reference(text)?;
        Some(Self {
            group: group.map(str::to_owned),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }
}

/// `[group/]Kind/[namespace/]name` split into borrowed parts, without allocating.
fn split_reference(text: &str) -> Option<(Option<&str>, &str, Option<&str>, &str)> {
    let mut parts = text.trim().split('/');
    let mut segments: [&str; 4] = [""; 4];
    let mut count = 0;
    for part in parts.by_ref() {
        if part.is_empty() || count == 4 {
            return None;
        }
        segments[count] = part;
        count += 1;
    }
    let segments = &segments[..count];
    let kind_at = segments
        .iter()
        .position(|p| p.chars().next().is_some_and(char::is_uppercase))?;
    if kind_at > 1 {
        return None;
    }
    let group = (kind_at == 1).then_some(segments[0]);
    match &segments[kind_at + 1..] {
        [name] => Some((group, segments[kind_at], None, name)),
        [ns, name] => Some((group, segments[kind_at], Some(ns), name)),
        _ => None,
    }
}

/// Lookup tables used while resolving references.
/// Positions in the desired set; names are nearly always unique, so one is held inline.
type Positions = smallvec::SmallVec<[usize; 1]>;

struct Lookup<'a> {
    resources: &'a [Resource],
    tables: &'a Tables,
}

/// Names (hashed) a resource's dependencies and references mention.
type Mentions = smallvec::SmallVec<[u64; 2]>;

/// The set's resources by kind and name, by name and by kind. Names are kept as hashes (the
/// keys are read from the set), so the tables hold no copy of any string but the kinds.
#[derive(Debug, Clone, Default)]
struct Tables {
    by_kind_name: FxHashMap<u64, Positions>,
    by_name: FxHashMap<u64, Positions>,
    /// Positions by kind (ascending), so a selector looks only at the kinds it can point at.
    by_kind: FxHashMap<String, Vec<usize>>,
    /// Positions of the resources mentioning a name (by its hash). Only [`Graph::update`]
    /// reads it, so [`Graph::build`] leaves it empty and the first update fills it from the
    /// graph's `mentions_of` (`Tables::index_mentions`): a plan made once (`strata plan`)
    /// never pays for it, about 0.14 s of a 1 000 000-resource graph's 1.1 s.
    mentions: FxHashMap<u64, Positions>,
    /// Whether `mentions` holds every resource's mentions.
    mentions_indexed: bool,
    /// Positions of the resources with a label selector, ascending.
    selectors: Vec<usize>,
    /// How many resources carry a sync-wave annotation.
    waved: usize,
}

fn name_hash(name: &str) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one(name)
}

fn kind_name_hash(kind: &str, name: &str) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one((kind, name))
}

/// Inserts `position` into an ascending list.
fn insert_sorted<A: smallvec::Array<Item = usize>>(
    list: &mut smallvec::SmallVec<A>,
    position: usize,
) {
    if let Err(at) = list.binary_search(&position) {
        list.insert(at, position);
    }
}

fn remove_sorted<A: smallvec::Array<Item = usize>>(
    list: &mut smallvec::SmallVec<A>,
    position: usize,
) {
    if let Ok(at) = list.binary_search(&position) {
        list.remove(at);
    }
}

/// Renumbers an ascending list of positions by `map`, dropping removed ones.
fn remap_positions(list: &mut [usize], map: &[Option<usize>]) -> usize {
    let (mut read, mut kept) = (0, 0);
    while read < list.len() {
        if let Some(Some(new)) = map.get(list[read]) {
            list[kept] = *new;
            kept += 1;
        }
        read += 1;
    }
    kept
}

/// What [`Graph::build`] reads of a resource before any lookup: its node (the key, copied),
/// the hashes the tables file it under, and its sync-wave annotation. Read on any thread.
struct KeyReading<'a> {
    node: Node,
    /// [`key_hash`] of the key.
    key: u64,
    /// [`kind_name_hash`] of its kind and name.
    kind_name: u64,
    /// [`name_hash`] of its name.
    name: u64,
    wave: Option<&'a str>,
}

impl<'a> KeyReading<'a> {
    fn read(resource: &'a Resource) -> Self {
        let key = &resource.key;
        KeyReading {
            node: Node::Resource(key.clone()),
            key: key_hash(key),
            kind_name: kind_name_hash(&key.kind, &key.name),
            name: name_hash(&key.name),
            wave: resource.annotation(ANNOTATION_SYNC_WAVE),
        }
    }
}

impl Tables {
    /// The tables of `resources`, given each one's kind-and-name and name hashes and its
    /// sync-wave annotation.
    fn with_hashes(resources: &[Resource], hashes: &[(u64, u64)], waves: &[Option<&str>]) -> Self {
        let mut tables = Tables {
            by_kind_name: FxHashMap::with_capacity_and_hasher(resources.len(), Default::default()),
            by_name: FxHashMap::with_capacity_and_hasher(resources.len(), Default::default()),
            ..Tables::default()
        };
        for (i, ((r, &(kind_name, name)), wave)) in
            resources.iter().zip(hashes).zip(waves).enumerate()
        {
            tables.add_hashed(i, &r.key.kind, kind_name, name, wave.is_some());
        }
        tables
    }

    /// Adds the resource at `position` (kept ascending wherever it lands).
    fn add(&mut self, position: usize, resource: &Resource) {
        let key = &resource.key;
        self.add_hashed(
            position,
            &key.kind,
            kind_name_hash(&key.kind, &key.name),
            name_hash(&key.name),
            resource.annotation(ANNOTATION_SYNC_WAVE).is_some(),
        );
    }

    /// [`Tables::add`] with the key's hashes and whether it has a sync wave already read.
    fn add_hashed(&mut self, position: usize, kind: &str, kind_name: u64, name: u64, waved: bool) {
        insert_sorted(self.by_kind_name.entry(kind_name).or_default(), position);
        insert_sorted(self.by_name.entry(name).or_default(), position);
        // One lookup for a kind already seen (nearly every resource).
        if let Some(list) = self.by_kind.get_mut(kind) {
            if list.last().is_none_or(|&last| last < position) {
                list.push(position);
            } else if let Err(at) = list.binary_search(&position) {
                list.insert(at, position);
            }
        } else {
            self.by_kind.insert(kind.to_owned(), vec![position]);
        }
        if waved {
            self.waved += 1;
        }
    }

    /// Renumbers every position by `map` (old position → new), dropping removed resources.
    fn remap(&mut self, map: &[Option<usize>]) {
        for table in [
            &mut self.by_kind_name,
            &mut self.by_name,
            &mut self.mentions,
        ] {
            table.retain(|_, list| {
                let kept = remap_positions(list, map);
                list.truncate(kept);
                !list.is_empty()
            });
        }
        self.by_kind.retain(|_, list| {
            let kept = remap_positions(list, map);
            list.truncate(kept);
            !list.is_empty()
        });
        let kept = remap_positions(&mut self.selectors, map);
        self.selectors.truncate(kept);
    }

    /// Fills `mentions` from each resource's mentions (by position), unless it is filled.
    fn index_mentions(&mut self, mentions_of: &[Mentions]) {
        if self.mentions_indexed {
            return;
        }
        // Most resources mention a name or two, few of them shared.
        self.mentions.reserve(mentions_of.len());
        for (i, mentions) in mentions_of.iter().enumerate() {
            for h in mentions {
                self.mentions.entry(*h).or_default().push(i);
            }
        }
        self.mentions_indexed = true;
    }

    fn set_mentions(&mut self, position: usize, old: &Mentions, new: &Mentions) {
        for h in old {
            if !new.contains(h)
                && let Some(list) = self.mentions.get_mut(h)
            {
                remove_sorted(list, position);
                if list.is_empty() {
                    self.mentions.remove(h);
                }
            }
        }
        for h in new {
            insert_sorted(self.mentions.entry(*h).or_default(), position);
        }
    }

    fn set_selector(&mut self, position: usize, selector: bool) {
        match (self.selectors.binary_search(&position), selector) {
            (Err(at), true) => self.selectors.insert(at, position),
            (Ok(at), false) => {
                self.selectors.remove(at);
            }
            _ => {}
        }
    }
}

/// Resource nodes by key. The keys are read from the nodes themselves, so each key is stored
/// once (a second copy of every key was a third of the cost of building a large graph).
#[derive(Debug, Clone, Default)]
struct KeyIndex {
    table: hashbrown::HashTable<NodeIndex>,
}

fn key_hash(key: &ResourceKey) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one(key)
}

fn node_key(graph: &DiGraph<Node, EdgeReason>, index: NodeIndex) -> Option<&ResourceKey> {
    match graph.node_weight(index)? {
        Node::Resource(key) => Some(key),
        Node::WaveBarrier(_) => None,
    }
}

impl KeyIndex {
    fn reserve(&mut self, graph: &DiGraph<Node, EdgeReason>, additional: usize) {
        self.table
            .reserve(additional, |&i| node_key(graph, i).map_or(0, key_hash));
    }

    fn get(&self, graph: &DiGraph<Node, EdgeReason>, key: &ResourceKey) -> Option<NodeIndex> {
        self.table
            .find(key_hash(key), |&i| node_key(graph, i) == Some(key))
            .copied()
    }

    /// Adds the resource node `index` (its key read from the graph); `false` when a node with
    /// that key is indexed already.
    fn insert(&mut self, graph: &DiGraph<Node, EdgeReason>, index: NodeIndex) -> bool {
        let Some(key) = node_key(graph, index) else {
            return false;
        };
        self.insert_hashed(graph, index, key_hash(key))
    }

    /// [`KeyIndex::insert`] given the key's [`key_hash`].
    fn insert_hashed(
        &mut self,
        graph: &DiGraph<Node, EdgeReason>,
        index: NodeIndex,
        hash: u64,
    ) -> bool {
        let Some(key) = node_key(graph, index) else {
            return false;
        };
        match self.table.entry(
            hash,
            |&i| node_key(graph, i) == Some(key),
            |&i| node_key(graph, i).map_or(0, key_hash),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(index);
                true
            }
        }
    }

    fn remove(&mut self, graph: &DiGraph<Node, EdgeReason>, key: &ResourceKey) {
        if let Ok(entry) = self
            .table
            .find_entry(key_hash(key), |&i| node_key(graph, i) == Some(key))
        {
            entry.remove();
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.table.iter().copied()
    }
}

impl Graph {
    /// Builds the graph of `resources`, failing on unknown explicit dependencies and on cycles.
    ///
    /// What each resource contributes (its key's hashes, its annotations, the targets of its
    /// dependencies and references) is read on every core for large sets (see
    /// [`crate::par`]); the graph, its tables and its edges are then filled in input order,
    /// so the result and the first error (by input order) are those of a serial build.
    pub fn build(resources: &[Resource]) -> Result<Self, GraphError> {
        let mut graph = Graph::default();
        let keys = crate::par::map(resources.iter().collect(), KeyReading::read);
        graph.graph.reserve_nodes(resources.len());
        graph.index.reserve(&graph.graph, resources.len());
        let waves: Vec<Option<&str>> = keys.iter().map(|k| k.wave).collect();
        let hashes: Vec<(u64, u64)> = keys.iter().map(|k| (k.kind_name, k.name)).collect();
        // The nodes with their key index, and the kind-and-name tables, are two serial builds
        // of the same readings: for a large set the tables are built on a second thread.
        let add_nodes = |graph: &mut Graph| {
            for (resource, reading) in resources.iter().zip(keys) {
                let idx = graph.graph.add_node(reading.node);
                if !graph.index.insert_hashed(&graph.graph, idx, reading.key) {
                    return Err(GraphError::Duplicate(resource.key.to_string()));
                }
            }
            Ok(())
        };
        if resources.len() >= crate::par::PARALLEL_THRESHOLD {
            let (added, tables) = std::thread::scope(|scope| {
                let tables = scope.spawn(|| Tables::with_hashes(resources, &hashes, &waves));
                let added = add_nodes(&mut graph);
                (added, tables.join())
            });
            added?;
            graph.tables = tables.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        } else {
            add_nodes(&mut graph)?;
            graph.tables = Tables::with_hashes(resources, &hashes, &waves);
        }
        drop(hashes);
        let lookup = Lookup {
            resources,
            tables: &graph.tables,
        };
        // Finding each resource's dependencies only reads the set: done in parallel for large
        // sets. Resource nodes were added first, in input order: node i is resources[i].
        let found = crate::par::map(resources.iter().collect(), |resource| {
            let explicit = explicit_dependencies(resource, &lookup)?;
            let implicit = implicit_references(resource, &lookup);
            Ok::<_, GraphError>(read_connections(&explicit, implicit, &lookup))
        });
        let mut mentions_of = Vec::with_capacity(resources.len());
        let mut selectors = Vec::new();
        for (i, read) in found.into_iter().enumerate() {
            let (edges, connected) = read?;
            add_incoming(&mut graph.graph, i, edges);
            if !connected.value_bearing.is_empty() {
                graph.reference_fields.push((i, connected.value_bearing));
            }
            if connected.selector {
                selectors.push(i);
            }
            mentions_of.push(connected.mentions);
        }
        graph.tables.selectors = selectors;
        // The mentions table is left to the first update (see `Tables::mentions`).
        graph.mentions_of = mentions_of;
        graph.add_waves(resources, &waves)?;
        let order = graph.check_acyclic()?;
        let n = resources.len();
        graph.order = order
            .into_iter()
            .map(NodeIndex::index)
            .filter(|&i| i < n)
            .collect();
        Ok(graph)
    }

    /// Follows `edit` (how `resources` differs from the set the graph was built from): only
    /// the changed resources, and the resources whose dependencies they can change (those
    /// depending on a removed or changed resource, those mentioning an added resource's name,
    /// those with label selectors), are read again, and the topological order is patched where
    /// no kept resource's dependencies changed. Renumbering positions after a removal or an
    /// insertion before the end is a pass over the graph's positions (nothing hashed or read
    /// from manifests). Sets with sync waves, and edits that make the set invalid, are built
    /// again from scratch, so errors are [`Graph::build`]'s. On an error the graph is empty.
    /// The first update after a build also indexes who mentions each name (a pass over every
    /// resource's mentions, which the build leaves to it).
    pub fn update(
        &mut self,
        resources: &[Resource],
        edit: &GraphEdit<'_>,
    ) -> Result<GraphUpdate, GraphError> {
        if self.try_update(resources, edit).is_some() {
            debug_assert!(self.matches(resources));
            return Ok(GraphUpdate::Incremental);
        }
        *self = Graph::default();
        *self = Graph::build(resources)?;
        Ok(GraphUpdate::Rebuilt)
    }

    /// Whether the graph's nodes are `resources`' keys, in order (a check for tests).
    fn matches(&self, resources: &[Resource]) -> bool {
        self.index.len() == resources.len()
            && resources
                .iter()
                .enumerate()
                .all(|(i, r)| self.key_at(i) == Some(&r.key))
    }

    /// The incremental update; `None` when it cannot follow the edit (the graph is then in an
    /// unspecified state and built again).
    fn try_update(&mut self, resources: &[Resource], edit: &GraphEdit<'_>) -> Option<()> {
        let old_len = self.index.len();
        if self.has_waves()
            || self.tables.waved > 0
            || old_len + edit.added.len() != resources.len() + edit.removed.len()
            || edit.removed.iter().any(|&p| p >= old_len)
            || edit
                .added
                .iter()
                .chain(edit.changed)
                .any(|&p| p >= resources.len())
            || edit
                .added
                .iter()
                .chain(edit.changed)
                .any(|&p| resources[p].annotation(ANNOTATION_SYNC_WAVE).is_some())
        {
            return None;
        }
        self.tables.index_mentions(&self.mentions_of);
        // Kept resources depending on a removed one: their dependencies change.
        let mut reread: Vec<usize> = Vec::new();
        for &p in edit.removed {
            reread.extend(
                self.graph
                    .neighbors_directed(NodeIndex::new(p), Direction::Outgoing)
                    .map(NodeIndex::index),
            );
        }
        // A kept resource depending on a removed one loses a dependency: the order may change.
        let removed_dependents = reread
            .iter()
            .any(|p| edit.removed.binary_search(p).is_err());
        let appended_only =
            edit.removed.is_empty() && edit.added.first().is_none_or(|&p| p >= old_len);
        if appended_only {
            for &p in edit.added {
                let idx = self
                    .graph
                    .add_node(Node::Resource(resources[p].key.clone()));
                if idx.index() != p || !self.index.insert(&self.graph, idx) {
                    return None;
                }
                self.mentions_of.push(Mentions::new());
            }
        } else {
            let map = edit.kept_positions(old_len);
            if map.len() != old_len {
                return None;
            }
            reread = reread.iter().filter_map(|&p| map[p]).collect();
            self.renumber(resources, edit, &map)?;
        }
        for &p in edit.added {
            self.tables.add(p, &resources[p]);
        }
        // Who may now depend on an added resource: those mentioning its name, and selectors.
        for &p in edit.added {
            if let Some(list) = self.tables.mentions.get(&name_hash(&resources[p].key.name)) {
                reread.extend(list.iter().copied());
            }
        }
        if !edit.added.is_empty() || !edit.changed.is_empty() {
            reread.extend(self.tables.selectors.iter().copied());
        }
        reread.extend(edit.changed);
        reread.sort_unstable();
        reread.dedup();
        // Added resources' dependencies are read too (they have none yet).
        let mut added_set: Vec<usize> = edit.added.to_vec();
        added_set.sort_unstable();
        let mut all = reread.clone();
        all.extend(edit.added);
        all.sort_unstable();
        all.dedup();
        let mut kept_changed = removed_dependents;
        for p in all {
            let is_added = added_set.binary_search(&p).is_ok();
            let changed = self.reconnect(resources, p)?;
            kept_changed |= changed && !is_added;
        }
        // Placing each added resource is a pass over the order: many are ordered from scratch.
        if kept_changed || added_set.len() > 64 {
            let order = self.topological_nodes();
            if order.len() != self.graph.node_count() {
                return None;
            }
            self.order = order.into_iter().map(NodeIndex::index).collect();
        } else {
            self.insert_in_order(&added_set)?;
        }
        Some(())
    }

    /// Renumbers every position after resources were removed or inserted before the end:
    /// the petgraph graph is rebuilt by moving its nodes and edges (keys are not copied).
    fn renumber(
        &mut self,
        resources: &[Resource],
        edit: &GraphEdit<'_>,
        map: &[Option<usize>],
    ) -> Option<()> {
        for &p in edit.removed {
            let key = node_key(&self.graph, NodeIndex::new(p))?.clone();
            self.index.remove(&self.graph, &key);
        }
        for slot in self.index.table.iter_mut() {
            *slot = NodeIndex::new(map.get(slot.index()).copied().flatten()?);
        }
        let (nodes, edges) = std::mem::take(&mut self.graph).into_nodes_edges();
        let mut graph: DiGraph<Node, EdgeReason> =
            DiGraph::with_capacity(resources.len(), edges.len());
        let mut old_nodes = nodes.into_iter().enumerate();
        let mut added = edit.added.iter().peekable();
        let mut mentions_of = Vec::with_capacity(resources.len());
        let mut old_mentions = std::mem::take(&mut self.mentions_of).into_iter();
        for (new, resource) in resources.iter().enumerate() {
            if added.next_if(|&&a| a == new).is_some() {
                graph.add_node(Node::Resource(resource.key.clone()));
                mentions_of.push(Mentions::new());
                continue;
            }
            loop {
                let (old, node) = old_nodes.next()?;
                let mentions = old_mentions.next()?;
                if map.get(old).copied().flatten() == Some(new) {
                    graph.add_node(node.weight);
                    mentions_of.push(mentions);
                    break;
                }
            }
        }
        for edge in edges {
            let (Some(Some(from)), Some(Some(to))) = (
                map.get(edge.source().index()).copied(),
                map.get(edge.target().index()).copied(),
            ) else {
                continue;
            };
            graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), edge.weight);
        }
        self.graph = graph;
        for &p in edit.added {
            if !self.index.insert(&self.graph, NodeIndex::new(p)) {
                return None;
            }
        }
        self.mentions_of = mentions_of;
        self.tables.remap(map);
        self.reference_fields.retain_mut(|(position, fields)| {
            let Some(Some(new)) = map.get(*position) else {
                return false;
            };
            *position = *new;
            for item in fields.iter_mut().flat_map(|f| f.items.iter_mut()) {
                let kept = remap_positions(&mut item.matches, map);
                item.matches.truncate(kept);
            }
            true
        });
        let kept = remap_positions(&mut self.order, map);
        self.order.truncate(kept);
        Some(())
    }

    /// Reads the dependencies and references of the resource at `position` again; whether its
    /// dependencies changed. `None` when they cannot be read (the full build reports why).
    fn reconnect(&mut self, resources: &[Resource], position: usize) -> Option<bool> {
        let to = NodeIndex::new(position);
        let mut before: Vec<usize> = self
            .graph
            .neighbors_directed(to, Direction::Incoming)
            .map(NodeIndex::index)
            .collect();
        before.sort_unstable();
        while let Some(edge) = self.graph.first_edge(to, Direction::Incoming) {
            self.graph.remove_edge(edge);
        }
        let lookup = Lookup {
            resources,
            tables: &self.tables,
        };
        let resource = resources.get(position)?;
        let explicit = explicit_dependencies(resource, &lookup).ok()?;
        let implicit = implicit_references(resource, &lookup);
        let (edges, connected) = read_connections(&explicit, implicit, &lookup);
        // Every incoming edge was removed above.
        add_incoming(&mut self.graph, position, edges);
        let fields = &mut self.reference_fields;
        match (
            fields.binary_search_by_key(&position, |(p, _)| *p),
            connected.value_bearing.is_empty(),
        ) {
            (Ok(at), true) => {
                fields.remove(at);
            }
            (Ok(at), false) => fields[at].1 = connected.value_bearing,
            (Err(at), false) => fields.insert(at, (position, connected.value_bearing)),
            (Err(_), true) => {}
        }
        let old_mentions = std::mem::take(self.mentions_of.get_mut(position)?);
        self.tables
            .set_mentions(position, &old_mentions, &connected.mentions);
        self.mentions_of[position] = connected.mentions;
        self.tables.set_selector(position, connected.selector);
        let mut after: Vec<usize> = self
            .graph
            .neighbors_directed(to, Direction::Incoming)
            .map(NodeIndex::index)
            .collect();
        after.sort_unstable();
        Some(before != after)
    }

    /// Places the added resources in the topological order, when no kept resource's
    /// dependencies changed. The order is the one Kahn's algorithm gives taking the smallest
    /// ready position first; a resource nothing kept depends on does not change when the others
    /// are taken, so it goes in at the first place, after its last dependency, where a larger
    /// position would be taken next (or last). Added resources go in dependencies first.
    fn insert_in_order(&mut self, added: &[usize]) -> Option<()> {
        let mut waiting: Vec<usize> = added.to_vec();
        while !waiting.is_empty() {
            // The smallest added resource whose added dependencies are all placed.
            let at = waiting.iter().position(|&p| {
                self.graph
                    .neighbors_directed(NodeIndex::new(p), Direction::Incoming)
                    .all(|d| waiting.binary_search(&d.index()).is_err())
            })?;
            let p = waiting.remove(at);
            let mut deps: Vec<usize> = self
                .graph
                .neighbors_directed(NodeIndex::new(p), Direction::Incoming)
                .map(NodeIndex::index)
                .collect();
            deps.sort_unstable();
            deps.dedup();
            let mut remaining = deps.len();
            let mut from = 0;
            if remaining > 0 {
                for (i, q) in self.order.iter().enumerate() {
                    if deps.binary_search(q).is_ok() {
                        remaining -= 1;
                        if remaining == 0 {
                            from = i + 1;
                            break;
                        }
                    }
                }
                if remaining > 0 {
                    return None;
                }
            }
            let place = self.order[from..]
                .iter()
                .position(|&q| q > p)
                .map_or(self.order.len(), |i| from + i);
            self.order.insert(place, p);
        }
        Some(())
    }

    fn add_edge(&mut self, from: NodeIndex, to: NodeIndex, reason: EdgeReason) {
        if self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, reason);
        }
    }

    /// Adds the wave barriers; `annotations` holds each resource's sync-wave annotation.
    fn add_waves(
        &mut self,
        resources: &[Resource],
        annotations: &[Option<&str>],
    ) -> Result<(), GraphError> {
        let mut waves: BTreeMap<i64, Vec<NodeIndex>> = BTreeMap::new();
        // Resource nodes were added first, in input order: node i is resources[i].
        for (position, (resource, annotation)) in resources.iter().zip(annotations).enumerate() {
            let wave = match *annotation {
                None => 0,
                Some(text) => text.trim().parse::<i64>().map_err(|_| {
                    annotation_error(
                        resource,
                        ANNOTATION_SYNC_WAVE,
                        text,
                        AnnotationProblem::NotAnInteger,
                    )
                })?,
            };
            waves
                .entry(wave)
                .or_default()
                .push(NodeIndex::new(position));
        }
        if waves.len() < 2 {
            return Ok(());
        }
        let mut previous: Option<(Option<NodeIndex>, Vec<NodeIndex>)> = None;
        for (wave, members) in waves {
            if let Some((prev_barrier, prev_members)) = previous.take() {
                let barrier = self.graph.add_node(Node::WaveBarrier(wave));
                if let Some(prev_barrier) = prev_barrier {
                    self.add_edge(prev_barrier, barrier, EdgeReason::Wave);
                }
                for m in prev_members {
                    self.add_edge(m, barrier, EdgeReason::Wave);
                }
                for &m in &members {
                    self.add_edge(barrier, m, EdgeReason::Wave);
                }
                previous = Some((Some(barrier), members));
            } else {
                previous = Some((None, members));
            }
        }
        Ok(())
    }

    /// Fails on a cycle, naming one. Iterative throughout (Kahn's count, Kosaraju's
    /// components): petgraph's `is_cyclic_directed` and `tarjan_scc` recurse once per node of
    /// a dependency chain and overflowed the stack on a million-resource set.
    fn check_acyclic(&self) -> Result<Vec<NodeIndex>, GraphError> {
        let order = self.topological_nodes();
        if order.len() == self.graph.node_count() {
            return Ok(order);
        }
        let sccs = petgraph::algo::kosaraju_scc(&self.graph);
        let mut cycles: Vec<Vec<String>> = Vec::new();
        for scc in sccs {
            if scc.len() == 1 && self.graph.find_edge(scc[0], scc[0]).is_none() {
                continue;
            }
            cycles.push(self.cycle_path(&scc));
        }
        cycles.sort();
        Err(GraphError::Cycle(
            cycles.into_iter().next().unwrap_or_default(),
        ))
    }

    /// Finds one cycle through the smallest node of a strongly connected component.
    fn cycle_path(&self, scc: &[NodeIndex]) -> Vec<String> {
        let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc
            .iter()
            .min_by_key(|&&n| self.graph[n].to_string())
            .expect("a component is never empty");
        // Breadth-first search for the shortest way back to `start`.
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(node, Direction::Outgoing)
                .filter(|n| members.contains(n))
                .collect();
            next.sort_by_key(|&n| self.graph[n].to_string());
            for n in next {
                if n == start {
                    let mut path = vec![node];
                    let mut cur = node;
                    while cur != start {
                        cur = parent[&cur];
                        path.push(cur);
                    }
                    path.reverse();
                    return path.iter().map(|&n| self.graph[n].to_string()).collect();
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(n) {
                    e.insert(node);
                    queue.push_back(n);
                }
            }
        }
        scc.iter().map(|&n| self.graph[n].to_string()).collect()
    }

    /// Resources in an order where every resource comes after all its dependencies; ties are
    /// broken by the order the resources were given in, so the order is deterministic.
    pub fn topological_order(&self) -> Vec<ResourceKey> {
        self.order
            .iter()
            .filter_map(|&i| self.key_at(i).cloned())
            .collect()
    }

    fn topological_nodes(&self) -> Vec<NodeIndex> {
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| {
                self.graph
                    .neighbors_directed(n, Direction::Incoming)
                    .count()
            })
            .collect();
        // Ties are broken by input position: the loader reads files in sorted order, so the
        // order is deterministic without comparing keys.
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = self
            .graph
            .node_indices()
            .filter(|n| indegree[n.index()] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(Reverse(idx)) = ready.pop() {
            order.push(idx);
            for next in self.graph.neighbors_directed(idx, Direction::Outgoing) {
                indegree[next.index()] -= 1;
                if indegree[next.index()] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        order
    }

    /// The topological order as positions in the slice given to [`Graph::build`], so callers
    /// holding that slice can order it without cloning or hashing keys.
    pub fn topological_positions(&self) -> Vec<usize> {
        self.order.clone()
    }

    /// The position of `key` in the set the graph was built from (or last updated to).
    pub fn position(&self, key: &ResourceKey) -> Option<usize> {
        self.index
            .get(&self.graph, key)
            .map(NodeIndex::index)
            .filter(|&i| i < self.index.len())
    }

    /// The key of the resource at `position` in the slice given to [`Graph::build`].
    pub fn key_at(&self, position: usize) -> Option<&ResourceKey> {
        if position >= self.index.len() {
            return None;
        }
        match self.graph.node_weight(NodeIndex::new(position))? {
            Node::Resource(key) => Some(key),
            Node::WaveBarrier(_) => None,
        }
    }

    /// The resources `key` directly depends on (through explicit and reference edges, and
    /// through wave barriers).
    pub fn dependencies(&self, key: &ResourceKey) -> Vec<ResourceKey> {
        self.position(key)
            .map_or_else(Vec::new, |position| self.dependencies_at(position))
    }

    /// [`Graph::dependencies`] of the resource at `position` in the slice given to
    /// [`Graph::build`] (or last updated to), without looking its key up; empty past the end of
    /// the set.
    pub fn dependencies_at(&self, position: usize) -> Vec<ResourceKey> {
        if position >= self.index.len() {
            return Vec::new();
        }
        let start = NodeIndex::new(position);
        let mut direct: Vec<NodeIndex> = Vec::new();
        for n in self.graph.neighbors_directed(start, Direction::Incoming) {
            match self.graph[n] {
                Node::Resource(_) => direct.push(n),
                // A barrier stands for the previous wave's members.
                Node::WaveBarrier(_) => direct.extend(
                    self.graph
                        .neighbors_directed(n, Direction::Incoming)
                        .filter(|m| matches!(self.graph[*m], Node::Resource(_))),
                ),
            }
        }
        // Node indices are deduplicated first: comparing keys costs more.
        direct.sort_unstable();
        direct.dedup();
        // Sized exactly: every planned change keeps this list.
        let mut keys: Vec<ResourceKey> = Vec::with_capacity(direct.len());
        keys.extend(direct.into_iter().filter_map(|n| match &self.graph[n] {
            Node::Resource(k) => Some(k.clone()),
            Node::WaveBarrier(_) => None,
        }));
        keys.sort_unstable();
        keys
    }

    /// The resources that depend on `key` directly (through explicit and reference edges, and
    /// through wave barriers).
    pub fn direct_dependents(&self, key: &ResourceKey) -> Vec<ResourceKey> {
        self.resource_neighbours(key, Direction::Outgoing, false)
    }

    /// Every resource that depends on `key`, directly or transitively (its blast radius).
    pub fn dependents(&self, key: &ResourceKey) -> Vec<ResourceKey> {
        self.resource_neighbours(key, Direction::Outgoing, true)
    }

    fn resource_neighbours(
        &self,
        key: &ResourceKey,
        direction: Direction,
        transitive: bool,
    ) -> Vec<ResourceKey> {
        let Some(start) = self.index.get(&self.graph, key) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::from([start]);
        let mut out = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for n in self.graph.neighbors_directed(node, direction) {
                if !seen.insert(n) {
                    continue;
                }
                // A barrier stands for the members of the wave on its far side; earlier
                // (or later) barriers are reached through those members when walking on.
                let reached: Vec<NodeIndex> = match &self.graph[n] {
                    Node::Resource(_) => vec![n],
                    Node::WaveBarrier(_) => self
                        .graph
                        .neighbors_directed(n, direction)
                        .filter(|m| matches!(self.graph[*m], Node::Resource(_)))
                        .collect(),
                };
                for m in reached {
                    if m != n && !seen.insert(m) {
                        continue;
                    }
                    if let Node::Resource(k) = &self.graph[m] {
                        out.insert(k.clone());
                    }
                    if transitive {
                        stack.push(m);
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// The direct dependency pairs `(dependency, dependent)` between resources, with wave
    /// barriers resolved into edges to the previous wave.
    pub fn resource_edges(&self) -> Vec<(ResourceKey, ResourceKey)> {
        let mut edges = Vec::new();
        for node in self.index.nodes() {
            let Some(key) = node_key(&self.graph, node) else {
                continue;
            };
            for dep in self.dependencies(key) {
                edges.push((dep, key.clone()));
            }
        }
        edges.sort();
        edges
    }

    /// The value-bearing reference fields of every resource that has any, as `(position,
    /// fields)` with positions in the slice given to [`Graph::build`], in ascending order. This is
    /// the one reading of reference fields: ordering (the graph's edges) and value resolution
    /// ([`crate::references`]) both use it.
    pub fn reference_fields(&self) -> &[(usize, Vec<ReferenceField>)] {
        &self.reference_fields
    }

    /// Whether the set has more than one sync wave (the graph then orders whole waves).
    pub fn has_waves(&self) -> bool {
        self.graph.node_count() > self.index.len()
    }

    /// Whether [`Graph::build`] reads the same from `new` as from `old`, so that replacing one
    /// by the other in a set leaves the graph as it was: the same key, dependency and wave
    /// annotations, labels (which selectors match) and reference fields. Conservative: any
    /// field whose name could make a reference counts, whether or not it does.
    pub fn same_inputs(old: &Resource, new: &Resource) -> bool {
        fn labels(r: &Resource) -> Option<&Value> {
            crate::object::member(crate::object::member(&r.manifest, "metadata")?, "labels")
        }
        old.key == new.key
            && old.annotation(ANNOTATION_DEPENDS_ON) == new.annotation(ANNOTATION_DEPENDS_ON)
            && old.annotation(ANNOTATION_SYNC_WAVE) == new.annotation(ANNOTATION_SYNC_WAVE)
            && labels(old) == labels(new)
            && reference_like_fields(&old.manifest) == reference_like_fields(&new.manifest)
    }

    /// `resource`'s reference-like fields outside `metadata` and `status` (names ending in
    /// `Ref`, `Refs` or `Selector`), with their paths, in document order: with the metadata,
    /// all the graph reads from a resource ([`Graph::same_inputs`] compares them).
    pub fn reference_like_fields(resource: &Resource) -> Vec<(String, &Value)> {
        reference_like_fields(&resource.manifest)
    }

    /// Whether planning may fill some of `resource`'s fields with another resource's values:
    /// whether it has reference-like fields among its provider parameters (`spec.forProvider`,
    /// `spec.initProvider`), the only references whose target's value is written into the
    /// manifest. Other references are edges of the graph only.
    pub fn may_take_reference_values(resource: &Resource) -> bool {
        let spec = crate::object::member(&resource.manifest, "spec");
        ["forProvider", "initProvider"].iter().any(|parameters| {
            spec.and_then(|spec| crate::object::member(spec, parameters))
                .is_some_and(holds_reference_like_field)
        })
    }

    /// Whether `resource` has reference-like fields (names ending in `Ref`, `Refs` or
    /// `Selector`), which the graph reads as edges and planning resolves from other resources.
    pub fn has_reference_fields(resource: &Resource) -> bool {
        // What `reference_like_fields` finds, without building its paths.
        resource.manifest.as_object().is_some_and(|object| {
            object.iter().any(|(field, value)| {
                field != "metadata"
                    && field != "status"
                    && (is_reference_like(field) || holds_reference_like_field(value))
            })
        })
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the graph has no resources.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Graphviz DOT rendering.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph strata {\n  rankdir=LR;\n  node [shape=box];\n");
        for n in self.sorted_nodes() {
            let node = &self.graph[n];
            let shape = if matches!(node, Node::WaveBarrier(_)) {
                " [shape=diamond]"
            } else {
                ""
            };
            let _ = writeln!(out, "  \"{}\"{shape};", escape_dot(&node.to_string()));
        }
        for (a, b) in self.sorted_edges() {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\";",
                escape_dot(&self.graph[a].to_string()),
                escape_dot(&self.graph[b].to_string())
            );
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart rendering.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let ids: HashMap<NodeIndex, String> = self
            .sorted_nodes()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, format!("n{i}")))
            .collect();
        for n in self.sorted_nodes() {
            let label = self.graph[n].to_string().replace('"', "#quot;");
            match self.graph[n] {
                Node::WaveBarrier(_) => {
                    let _ = writeln!(out, "  {}{{\"{label}\"}}", ids[&n]);
                }
                Node::Resource(_) => {
                    let _ = writeln!(out, "  {}[\"{label}\"]", ids[&n]);
                }
            }
        }
        for (a, b) in self.sorted_edges() {
            let _ = writeln!(out, "  {} --> {}", ids[&a], ids[&b]);
        }
        out
    }

    fn sorted_nodes(&self) -> Vec<NodeIndex> {
        let mut nodes: Vec<NodeIndex> = self.graph.node_indices().collect();
        nodes.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        nodes
    }

    fn sorted_edges(&self) -> Vec<(NodeIndex, NodeIndex)> {
        let mut edges: Vec<(NodeIndex, NodeIndex)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .collect();
        edges.sort_by(|x, y| {
            (&self.graph[x.0], &self.graph[x.1]).cmp(&(&self.graph[y.0], &self.graph[y.1]))
        });
        edges
    }
}

fn escape_dot(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn location_prefix(source: Option<&SourceLocation>) -> String {
    source.map(|s| format!("{s}: ")).unwrap_or_default()
}

impl<'a> Lookup<'a> {
    /// Positions of the resources of that kind and name, ascending.
    fn kind_name<'s>(&'s self, kind: &'s str, name: &'s str) -> impl Iterator<Item = usize> + 's {
        let resources = self.resources;
        self.tables
            .by_kind_name
            .get(&kind_name_hash(kind, name))
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&i| resources[i].key.kind == kind && resources[i].key.name == name)
    }

    /// Positions of the resources of that name, ascending.
    fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        let resources = self.resources;
        self.tables
            .by_name
            .get(&name_hash(name))
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&i| resources[i].key.name == name)
    }

    fn key(&self, i: usize) -> &'a ResourceKey {
        &self.resources[i].key
    }

    fn labels(&self, i: usize) -> Option<&'a serde_json::Map<String, Value>> {
        let metadata = crate::object::member(&self.resources[i].manifest, "metadata")?;
        crate::object::member(metadata, "labels")?.as_object()
    }
}

fn explicit_dependencies(
    resource: &Resource,
    lookup: &Lookup<'_>,
) -> Result<Vec<usize>, GraphError> {
    let Some(text) = resource.annotation(ANNOTATION_DEPENDS_ON) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (group, kind, namespace, name) = split_reference(entry).ok_or_else(|| {
            annotation_error(
                resource,
                ANNOTATION_DEPENDS_ON,
                entry,
                AnnotationProblem::Malformed,
            )
        })?;
        let candidates: smallvec::SmallVec<[usize; 2]> = lookup
            .kind_name(kind, name)
            .filter(|&i| {
                let k = lookup.key(i);
                group.is_none_or(|g| k.group == g)
                    && match namespace {
                        Some(ns) => k.namespace.as_deref() == Some(ns),
                        None => k.namespace.is_none() || k.namespace == resource.key.namespace,
                    }
            })
            .collect();
        match candidates.as_slice() {
            [one] => out.push(*one),
            [] => {
                return Err(annotation_error(
                    resource,
                    ANNOTATION_DEPENDS_ON,
                    entry,
                    AnnotationProblem::Unknown,
                ));
            }
            many => {
                let candidates = many
                    .iter()
                    .map(|&i| lookup.key(i).to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(annotation_error(
                    resource,
                    ANNOTATION_DEPENDS_ON,
                    entry,
                    AnnotationProblem::Ambiguous(candidates),
                ));
            }
        }
    }
    Ok(out)
}

/// What [`read_connections`] found of one resource.
struct Connections {
    value_bearing: Vec<ReferenceField>,
    mentions: Mentions,
    selector: bool,
}

/// The edges into one resource, each source once with the reason it was first found for
/// (explicit dependencies first, then references, in the order they were read).
type IncomingEdges = Vec<(usize, EdgeReason)>;

/// Reads the edges into a resource from its explicit dependencies and references (each
/// source once, the first reason kept), its value-bearing reference fields and what it
/// mentions. A pure function of the resource's readings and the lookup tables, so it runs on
/// any thread; [`add_incoming`] adds the edges to the graph.
fn read_connections(
    explicit: &[usize],
    implicit: Vec<FoundReference>,
    lookup: &Lookup<'_>,
) -> (IncomingEdges, Connections) {
    let mut edges: IncomingEdges = Vec::with_capacity(explicit.len() + implicit.len());
    // Sources seen, hashed once there are more than a few (a selector can match thousands).
    let mut seen: rustc_hash::FxHashSet<usize> = rustc_hash::FxHashSet::default();
    let mut is_new = |edges: &IncomingEdges, from: usize| {
        const LINEAR: usize = 16;
        if edges.len() < LINEAR {
            return !edges.iter().any(|(f, _)| *f == from);
        }
        if seen.is_empty() {
            seen.extend(edges.iter().map(|(f, _)| *f));
        }
        seen.insert(from)
    };
    let mut mentions = Mentions::new();
    let mut mention = |name: &str| {
        let h = name_hash(name);
        if !mentions.contains(&h) {
            mentions.push(h);
        }
    };
    for &dep in explicit {
        if is_new(&edges, dep) {
            edges.push((dep, EdgeReason::Explicit));
        }
        mention(&lookup.key(dep).name);
    }
    let mut selector = false;
    let mut value_bearing = Vec::new();
    for found in implicit {
        for item in &found.field.items {
            for &dep in &item.matches {
                if is_new(&edges, dep) {
                    edges.push((dep, EdgeReason::Reference(found.field.path.clone())));
                }
            }
            if let Some(name) = &item.name {
                mention(name);
            }
        }
        selector |= found.field.form == ReferenceForm::Selector;
        if found.bears_value {
            value_bearing.push(found.field);
        }
    }
    (
        edges,
        Connections {
            value_bearing,
            mentions,
            selector,
        },
    )
}

/// Adds the edges [`read_connections`] read into the resource at `to`, in their order. The
/// resource must have no incoming edges yet (the sources are distinct, so none is looked up).
fn add_incoming(graph: &mut DiGraph<Node, EdgeReason>, to: usize, edges: IncomingEdges) {
    let to = NodeIndex::new(to);
    for (from, reason) in edges {
        graph.add_edge(NodeIndex::new(from), to, reason);
    }
}

/// Reference fields that point away from the resource (outputs) or at configuration that is
/// not part of a desired set.
const NON_DEPENDENCY_FIELDS: &[&str] = &[
    "writeConnectionSecretToRef",
    "publishConnectionDetailsTo",
    "providerConfigRef",
    "compositionRevisionRef",
    "ownerReferences",
];

/// A reference field found in a manifest.
struct FoundReference {
    field: ReferenceField,
    /// Whether its resolved value belongs in a sibling field (see [`ReferenceField`]).
    bears_value: bool,
}

/// Where the walk is in the manifest.
struct WalkPosition {
    /// Dotted path (`spec.forProvider.rule[0].bucketRef`).
    path: String,
    /// JSON pointer (`/spec/forProvider/rule/0/bucketRef`).
    pointer: String,
}

impl WalkPosition {
    fn push_key(&mut self, key: &str) -> (usize, usize) {
        let lengths = (self.path.len(), self.pointer.len());
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
        self.pointer.push('/');
        // JSON pointer escaping (`~` → `~0`, `/` → `~1`) without a copy of the key.
        let mut rest = key;
        while let Some(at) = rest.find(['~', '/']) {
            self.pointer.push_str(&rest[..at]);
            self.pointer.push_str(if rest.as_bytes()[at] == b'~' {
                "~0"
            } else {
                "~1"
            });
            rest = &rest[at + 1..];
        }
        self.pointer.push_str(rest);
        lengths
    }

    fn push_index(&mut self, index: usize) -> (usize, usize) {
        let lengths = (self.path.len(), self.pointer.len());
        let _ = write!(self.path, "[{index}]");
        let _ = write!(self.pointer, "/{index}");
        lengths
    }

    fn truncate(&mut self, (path, pointer): (usize, usize)) {
        self.path.truncate(path);
        self.pointer.truncate(pointer);
    }

    /// Whether the position is inside `spec.forProvider` or `spec.initProvider`.
    fn in_provider_parameters(&self) -> bool {
        ["/spec/forProvider/", "/spec/initProvider/"]
            .iter()
            .any(|prefix| self.pointer.starts_with(prefix))
    }

    /// The pointer of the object holding the current field.
    fn parent_pointer(&self) -> &str {
        self.pointer.rfind('/').map_or("", |at| &self.pointer[..at])
    }
}

fn implicit_references(resource: &Resource, lookup: &Lookup<'_>) -> Vec<FoundReference> {
    let mut out = Vec::new();
    if let Some(object) = resource.manifest.as_object() {
        let mut position = WalkPosition {
            path: String::new(),
            pointer: String::new(),
        };
        for (field, value) in object {
            if field != "metadata" && field != "status" {
                let saved = position.push_key(field);
                walk_references(resource, field, value, &mut position, lookup, &mut out);
                position.truncate(saved);
            }
        }
    }
    out
}

/// Whether a field's name reads as a reference (`…Ref`, `…Refs`, `…Selector`).
fn is_reference_like(field: &str) -> bool {
    field.ends_with("Ref") || field.ends_with("Refs") || field.ends_with("Selector")
}

/// Whether `value` holds, at any depth, a field whose name reads as a reference.
fn holds_reference_like_field(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| is_reference_like(k) || holds_reference_like_field(v)),
        Value::Array(items) => items.iter().any(holds_reference_like_field),
        _ => false,
    }
}

/// Every field outside `metadata` and `status` whose name ends in `Ref`, `Refs` or
/// `Selector`, with its path, in document order: a superset of what [`walk_references`] reads.
fn reference_like_fields(manifest: &Value) -> Vec<(String, &Value)> {
    fn walk<'v>(path: &mut String, value: &'v Value, out: &mut Vec<(String, &'v Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let saved = path.len();
                    path.push('.');
                    path.push_str(k);
                    if k.ends_with("Ref") || k.ends_with("Refs") || k.ends_with("Selector") {
                        out.push((path.clone(), v));
                    } else {
                        walk(path, v, out);
                    }
                    path.truncate(saved);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let saved = path.len();
                    let _ = write!(path, "[{i}]");
                    walk(path, v, out);
                    path.truncate(saved);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(object) = manifest.as_object() {
        let mut path = String::new();
        for (field, value) in object {
            if field != "metadata" && field != "status" {
                path.clear();
                path.push_str(field);
                if field.ends_with("Ref") || field.ends_with("Refs") || field.ends_with("Selector")
                {
                    out.push((path.clone(), value));
                } else {
                    walk(&mut path, value, &mut out);
                }
            }
        }
    }
    out
}

/// Whether a reference field names a Kubernetes secret rather than a cloud resource
/// (`passwordSecretRef`, `masterPasswordSecretRef` …): it orders, but has no value to fill in.
fn is_secret_reference(field: &str) -> bool {
    field.ends_with("SecretRef") || field.ends_with("SecretRefs")
}

fn walk_references(
    resource: &Resource,
    field: &str,
    value: &Value,
    position: &mut WalkPosition,
    lookup: &Lookup<'_>,
    out: &mut Vec<FoundReference>,
) {
    if NON_DEPENDENCY_FIELDS.contains(&field) {
        return;
    }
    let found = if let Some(base) = field.strip_suffix("Refs") {
        value.as_array().map(|items| {
            let items = items
                .iter()
                .map(|item| named_item(resource, base, item, lookup))
                .collect();
            (base, ReferenceForm::List, items)
        })
    } else if let Some(base) = field.strip_suffix("Ref") {
        (crate::object::member(value, "name").is_some_and(Value::is_string)).then(|| {
            (
                base,
                ReferenceForm::Single,
                vec![named_item(resource, base, value, lookup)],
            )
        })
    } else if let Some(base) = field.strip_suffix("Selector")
        && let Some(labels) = crate::object::member(value, "matchLabels").and_then(Value::as_object)
    {
        let item = ReferenceItem {
            name: None,
            reference: value.clone(),
            matches: selected(resource, base, labels, lookup),
        };
        Some((base, ReferenceForm::Selector, vec![item]))
    } else {
        None
    };
    if let Some((base, form, items)) = found {
        out.push(FoundReference {
            bears_value: !base.is_empty()
                && position.in_provider_parameters()
                && !is_secret_reference(field),
            field: ReferenceField {
                path: position.path.clone(),
                parent_pointer: position.parent_pointer().to_owned(),
                field: field.to_owned(),
                base: base.to_owned(),
                form,
                items,
            },
        });
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let saved = position.push_key(k);
                walk_references(resource, k, v, position, lookup, out);
                position.truncate(saved);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let saved = position.push_index(i);
                walk_references(resource, field, v, position, lookup, out);
                position.truncate(saved);
            }
        }
        _ => {}
    }
}

/// Whether `kind` is what a reference field called `base` points at: `dbSubnetGroupName` →
/// `SubnetGroup`, `vpcSecurityGroupId` → `SecurityGroup`, `passwordSecret` → `Secret`.
fn kind_matches_field(kind: &str, base: &str) -> bool {
    let mut stem = base.to_ascii_lowercase();
    for suffix in ["names", "name", "ids", "id", "arns", "arn"] {
        if let Some(s) = stem.strip_suffix(suffix)
            && !s.is_empty()
        {
            stem = s.to_owned();
            break;
        }
    }
    let kind = kind.to_ascii_lowercase();
    !stem.is_empty() && stem.ends_with(&kind)
}

/// The resources a `{name, kind?, namespace?}` reference names.
fn named_item(
    resource: &Resource,
    base: &str,
    reference: &Value,
    lookup: &Lookup<'_>,
) -> ReferenceItem {
    let name = reference.get("name").and_then(Value::as_str);
    let explicit_kind = reference.get("kind").and_then(Value::as_str);
    let namespace = reference.get("namespace").and_then(Value::as_str);
    let mut matches = Vec::new();
    for i in name.into_iter().flat_map(|n| lookup.named(n)) {
        let key = lookup.key(i);
        let kind_ok = match explicit_kind {
            Some(kind) => key.kind == kind,
            None => kind_matches_field(&key.kind, base),
        };
        let ns_ok = match namespace {
            Some(ns) => key.namespace.as_deref() == Some(ns),
            None => key.namespace.is_none() || key.namespace == resource.key.namespace,
        };
        if kind_ok && ns_ok && *key != resource.key {
            matches.push(i);
        }
    }
    ReferenceItem {
        name: name.map(str::to_owned),
        reference: reference.clone(),
        matches,
    }
}

/// The resources of a kind `base` can point at whose labels include `match_labels`. Only the
/// kinds that fit are looked at, so a selector costs the size of those kinds, not of the set.
fn selected(
    resource: &Resource,
    base: &str,
    match_labels: &serde_json::Map<String, Value>,
    lookup: &Lookup<'_>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for (kind, positions) in &lookup.tables.by_kind {
        if !kind_matches_field(kind, base) {
            continue;
        }
        for &i in positions {
            if lookup.key(i) == &resource.key {
                continue;
            }
            let Some(labels) = lookup.labels(i) else {
                continue;
            };
            if match_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                out.push(i);
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::WalkPosition;
    use proptest::prelude::*;
    use serde_json::Value;

    /// JSON values whose keys are sometimes reference-like, in and out of `metadata`.
    fn value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("spec".to_owned()),
            Just("metadata".to_owned()),
            Just("status".to_owned()),
            Just("secretRef".to_owned()),
            Just("itemRefs".to_owned()),
            Just("podSelector".to_owned()),
            Just("name".to_owned()),
            Just("Ref".to_owned()),
        ];
        let leaf = prop_oneof![Just(Value::Null), any::<u8>().prop_map(Value::from)];
        leaf.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn only_references_among_provider_parameters_may_take_values() {
        let resource = |manifest: Value| {
            crate::model::Resource::from_manifest(manifest).unwrap_or_else(|e| panic!("{e}"))
        };
        let deployment = resource(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"nodeSelector": {"pool": "a"},
                "containers": [{"envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}
        }));
        assert!(super::Graph::has_reference_fields(&deployment));
        assert!(!super::Graph::may_take_reference_values(&deployment));
        for parameters in ["forProvider", "initProvider"] {
            let instance = resource(serde_json::json!({
                "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
                "metadata": {"name": "db"},
                "spec": {parameters: {"dbSubnetGroupNameRef": {"name": "subnets"}}}
            }));
            assert!(
                super::Graph::may_take_reference_values(&instance),
                "{parameters}"
            );
        }
    }

    #[test]
    fn dependencies_by_position_are_those_by_key() {
        let resource = |name: &str, annotations: Value| {
            crate::model::Resource::from_manifest(serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "team", "annotations": annotations}
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let waved = |wave: &str| serde_json::json!({"argocd.argoproj.io/sync-wave": wave});
        let set = vec![
            resource("a", waved("0")),
            resource("b", waved("0")),
            resource(
                "c",
                serde_json::json!({
                    "argocd.argoproj.io/sync-wave": "1",
                    "strata.dev/depends-on": "ConfigMap/team/b"
                }),
            ),
            resource(
                "d",
                serde_json::json!({
                    "argocd.argoproj.io/sync-wave": "1",
                    "strata.dev/depends-on": "ConfigMap/team/c"
                }),
            ),
        ];
        let graph = super::Graph::build(&set).unwrap_or_else(|e| panic!("{e}"));
        for (position, r) in set.iter().enumerate() {
            assert_eq!(
                graph.dependencies_at(position),
                graph.dependencies(&r.key),
                "{}",
                r.key
            );
        }
        // Through the wave barrier, c depends on both resources of wave 0.
        assert_eq!(
            graph.dependencies_at(2),
            vec![set[0].key.clone(), set[1].key.clone()]
        );
        assert!(graph.dependencies_at(set.len()).is_empty());
        assert!(graph.dependencies_at(usize::MAX).is_empty());
    }

    proptest! {
        /// The quick test of reference fields agrees with the walk that lists them.
        #[test]
        fn has_reference_fields_is_whether_any_is_listed(manifest in value()) {
            let mut resource = crate::model::Resource::from_manifest(serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}
            }))
            .unwrap();
            resource.manifest = manifest;
            prop_assert_eq!(
                super::Graph::has_reference_fields(&resource),
                !super::reference_like_fields(&resource.manifest).is_empty()
            );
        }
    }

    #[test]
    fn walk_positions_escape_pointer_segments() {
        let mut position = WalkPosition {
            path: String::new(),
            pointer: String::new(),
        };
        let spec = position.push_key("spec");
        let odd = position.push_key("a/b~c~/d");
        assert_eq!(position.path, "spec.a/b~c~/d");
        assert_eq!(position.pointer, "/spec/a~1b~0c~0~1d");
        assert_eq!(position.parent_pointer(), "/spec");
        position.truncate(odd);
        position.push_index(3);
        assert_eq!(position.pointer, "/spec/3");
        position.truncate(spec);
        assert_eq!(
            (position.path.as_str(), position.pointer.as_str()),
            ("", "")
        );
    }
}
