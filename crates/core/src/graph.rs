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
    by_kind_name: FxHashMap<(&'a str, &'a str), Positions>,
    by_name: FxHashMap<&'a str, Positions>,
    /// Positions by kind, so a selector looks only at the kinds it can point at.
    by_kind: FxHashMap<&'a str, Vec<usize>>,
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
        match self.table.entry(
            key_hash(key),
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
    pub fn build(resources: &[Resource]) -> Result<Self, GraphError> {
        let mut graph = Graph::default();
        graph.graph.reserve_nodes(resources.len());
        graph.index.reserve(&graph.graph, resources.len());
        for resource in resources {
            let idx = graph.graph.add_node(Node::Resource(resource.key.clone()));
            if !graph.index.insert(&graph.graph, idx) {
                return Err(GraphError::Duplicate(resource.key.to_string()));
            }
        }
        let lookup = Lookup::new(resources);
        // Finding each resource's dependencies only reads the set: done in parallel for large
        // sets. Resource nodes were added first, in input order: node i is resources[i].
        let found = crate::par::map(resources.iter().collect(), |resource| {
            explicit_dependencies(resource, &lookup)
                .map(|explicit| (explicit, implicit_references(resource, &lookup)))
        });
        for (i, deps) in found.into_iter().enumerate() {
            let (explicit, implicit) = deps?;
            let to = NodeIndex::new(i);
            for dep in explicit {
                graph.add_edge(NodeIndex::new(dep), to, EdgeReason::Explicit);
            }
            for found in &implicit {
                for item in &found.field.items {
                    for &dep in &item.matches {
                        graph.add_edge(
                            NodeIndex::new(dep),
                            to,
                            EdgeReason::Reference(found.field.path.clone()),
                        );
                    }
                }
            }
            let value_bearing: Vec<ReferenceField> = implicit
                .into_iter()
                .filter(|found| found.bears_value)
                .map(|found| found.field)
                .collect();
            if !value_bearing.is_empty() {
                graph.reference_fields.push((i, value_bearing));
            }
        }
        graph.add_waves(resources)?;
        graph.check_acyclic()?;
        Ok(graph)
    }

    fn add_edge(&mut self, from: NodeIndex, to: NodeIndex, reason: EdgeReason) {
        if self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, reason);
        }
    }

    fn add_waves(&mut self, resources: &[Resource]) -> Result<(), GraphError> {
        let mut waves: BTreeMap<i64, Vec<NodeIndex>> = BTreeMap::new();
        // Resource nodes were added first, in input order: node i is resources[i].
        for (position, resource) in resources.iter().enumerate() {
            let wave = match resource.annotation(ANNOTATION_SYNC_WAVE) {
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
    fn check_acyclic(&self) -> Result<(), GraphError> {
        if self.topological_nodes().len() == self.graph.node_count() {
            return Ok(());
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
        self.topological_nodes()
            .into_iter()
            .filter_map(|idx| match &self.graph[idx] {
                Node::Resource(key) => Some(key.clone()),
                Node::WaveBarrier(_) => None,
            })
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
        let n = self.index.len();
        self.topological_nodes()
            .into_iter()
            .filter(|idx| idx.index() < n)
            .map(NodeIndex::index)
            .collect()
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
        let Some(start) = self.index.get(&self.graph, key) else {
            return Vec::new();
        };
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
        let mut keys: Vec<ResourceKey> = direct
            .into_iter()
            .filter_map(|n| match &self.graph[n] {
                Node::Resource(k) => Some(k.clone()),
                Node::WaveBarrier(_) => None,
            })
            .collect();
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
            r.manifest.get("metadata")?.get("labels")
        }
        old.key == new.key
            && old.annotation(ANNOTATION_DEPENDS_ON) == new.annotation(ANNOTATION_DEPENDS_ON)
            && old.annotation(ANNOTATION_SYNC_WAVE) == new.annotation(ANNOTATION_SYNC_WAVE)
            && labels(old) == labels(new)
            && reference_like_fields(&old.manifest) == reference_like_fields(&new.manifest)
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
    fn new(resources: &'a [Resource]) -> Self {
        let mut by_kind_name: FxHashMap<(&str, &str), Positions> =
            FxHashMap::with_capacity_and_hasher(resources.len(), Default::default());
        let mut by_name: FxHashMap<&str, Positions> =
            FxHashMap::with_capacity_and_hasher(resources.len(), Default::default());
        let mut by_kind: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, r) in resources.iter().enumerate() {
            by_kind_name
                .entry((r.key.kind.as_str(), r.key.name.as_str()))
                .or_default()
                .push(i);
            by_name.entry(r.key.name.as_str()).or_default().push(i);
            by_kind.entry(r.key.kind.as_str()).or_default().push(i);
        }
        Self {
            resources,
            by_kind_name,
            by_name,
            by_kind,
        }
    }

    fn key(&self, i: usize) -> &'a ResourceKey {
        &self.resources[i].key
    }

    fn labels(&self, i: usize) -> Option<&'a serde_json::Map<String, Value>> {
        self.resources[i]
            .manifest
            .get("metadata")?
            .get("labels")?
            .as_object()
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
            .by_kind_name
            .get(&(kind, name))
            .into_iter()
            .flatten()
            .copied()
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
        (value.is_object() && value.get("name").is_some_and(Value::is_string)).then(|| {
            (
                base,
                ReferenceForm::Single,
                vec![named_item(resource, base, value, lookup)],
            )
        })
    } else if let Some(base) = field.strip_suffix("Selector")
        && let Some(labels) = value.get("matchLabels").and_then(Value::as_object)
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
    for &i in name
        .and_then(|n| lookup.by_name.get(n))
        .into_iter()
        .flatten()
    {
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
    for (kind, positions) in &lookup.by_kind {
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
