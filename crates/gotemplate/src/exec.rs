//! Executes a parsed template against JSON data with Go `text/template` semantics.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use crate::data::CopyError;
pub(crate) use crate::data::Data;

use super::MissingKey;
use super::ast::{Arg, Branch, BranchKind, Cmd, Define, Node, Pipe};
use super::error::TemplateError;
use super::funcs;
use crate::gofmt::GoFmt;
use crate::limits::{LimitExceeded, Meter};

/// Result of evaluating an operand: `None` is Go's invalid value (a missing map key), which
/// prints as `<no value>`.
pub(crate) type Val = Option<Value>;

/// Like [`Val`], inside the executor (maps shared as Go shares them, see [`Data`]): `None` is
/// Go's invalid value.
type SVal = Option<Data>;

/// The functions whose result is a new map even when they are given maps (only the maps inside
/// it may be shared with the arguments).
const FRESH_TOP: &[&str] = &[
    "pick",
    "omit",
    "dict",
    "set",
    "unset",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
];

/// The functions that work on the executor's shared values themselves rather than on copies:
/// those that change a map in place, hold their arguments or return one of them.
const SHARING: &[&str] = &[
    "set",
    "unset",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "dict",
    "list",
    "tuple",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "index",
    "get",
    "hasKey",
    "first",
    "last",
    "deepCopy",
    "mustDeepCopy",
    "len",
    "append",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "concat",
    "rest",
    "mustRest",
    "initial",
    "mustInitial",
    "reverse",
    "mustReverse",
    "mustFirst",
    "mustLast",
];

/// Go's `fmt` as the template engine sees values: JSON integers are Go `int`s.
pub(crate) const FMT: GoFmt = GoFmt::TEMPLATE;

/// Helm's maximum nesting of `include` calls.
const HELM_MAX_DEPTH: usize = 1000;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Execution state of one template run.
pub(crate) struct Exec<'a> {
    /// The file whose text is being executed (changes when a template defined elsewhere runs).
    pub file: Arc<str>,
    /// That file's source.
    pub src: Arc<str>,
    /// The name of the template being executed (Go's `executing "NAME"`).
    pub executing: Arc<str>,
    pub defines: &'a BTreeMap<String, Arc<Define>>,
    pub missing: MissingKey,
    /// Which functions beyond Go's and Sprig's are available.
    pub functions: crate::FunctionSet,
    vars: Vec<(String, Data)>,
    depth: usize,
    /// What the execution has consumed, against its limits.
    meter: &'a Meter,
}

/// Go truthiness: false, 0, nil, and empty strings, lists and maps are false.
pub(crate) fn truth(v: &Val) -> bool {
    truth_of(v.as_ref())
}

/// [`truth`] of a borrowed value.
pub(crate) fn truth_of(v: Option<&Value>) -> bool {
    match v {
        None => false,
        Some(v) => match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(_) if crate::helm::files_of(v).is_some() => {
                crate::helm::files_of(v).is_some_and(|files| !files.is_empty())
            }
            Value::Object(_) if crate::helm::as_int64(v).is_some() => {
                crate::helm::as_int64(v) != Some(0)
            }
            Value::Object(m) => match crate::helm::go_view(v).map(|view| view.elements()) {
                // A Helm object that is a Go slice is true when it has elements, a struct
                // always.
                Some(Some(elements)) => !elements.is_empty(),
                Some(None) => true,
                None => !m.is_empty(),
            },
        },
    }
}

impl<'a> Exec<'a> {
    /// A fresh execution with `$` bound to `data`.
    pub(crate) fn new(
        define: (&str, &Define),
        defines: &'a BTreeMap<String, Arc<Define>>,
        missing: MissingKey,
        functions: crate::FunctionSet,
        data: Data,
        meter: &'a Meter,
    ) -> Self {
        Exec {
            file: define.1.file.clone(),
            src: define.1.src.clone(),
            executing: Arc::from(define.0),
            defines,
            missing,
            functions,
            vars: vec![("$".to_string(), data)],
            depth: 0,
            meter,
        }
    }

    /// An error for a limit reached while evaluating the node written as `ctx` at `pos`.
    fn limit_err(&self, pos: usize, ctx: &str, limit: LimitExceeded) -> TemplateError {
        TemplateError::limit_in(&self.file, &self.executing, &self.src, pos, ctx, limit)
    }

    /// Counts one evaluation step of the node at `pos`, written as `ctx()`.
    fn step(&self, pos: usize, ctx: impl FnOnce() -> String) -> Result<(), TemplateError> {
        self.meter
            .step()
            .map_err(|l| self.limit_err(pos, &ctx(), l))
    }

    pub(crate) fn err(&self, pos: usize, ctx: &str, msg: impl Into<String>) -> TemplateError {
        TemplateError::exec_in(&self.file, &self.executing, &self.src, pos, ctx, msg)
    }

    /// Runs the named template `name` with dot `data`, appending to `out` (`{{template}}`,
    /// `include`).
    pub(crate) fn call_template(
        &mut self,
        pos: usize,
        name: &str,
        data: Data,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let Some(define) = self.defines.get(name).cloned() else {
            return Err(self.undefined_template(pos, name));
        };
        self.depth += 1;
        if self.depth > self.max_depth() {
            self.depth -= 1;
            return Err(self.too_deep(pos, name));
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), data.clone())]);
        let saved_file = std::mem::replace(&mut self.file, define.file.clone());
        let saved_src = std::mem::replace(&mut self.src, define.src.clone());
        let saved_exec = std::mem::replace(&mut self.executing, Arc::from(name));
        let r = self.walk(&define.body, &data, out);
        self.vars = saved_vars;
        self.file = saved_file;
        self.src = saved_src;
        self.executing = saved_exec;
        self.depth -= 1;
        r.map(|_| ())
    }

    #[cold]
    #[inline(never)]
    fn undefined_template(&self, pos: usize, name: &str) -> TemplateError {
        self.err(
            pos,
            &format!("template {name:?}"),
            format!("template {name:?} not defined"),
        )
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, pos: usize, name: &str) -> TemplateError {
        self.limit_err(
            pos,
            &format!("template {name:?}"),
            LimitExceeded::Depth(self.max_depth()),
        )
    }

    fn max_depth(&self) -> usize {
        let limit = self.meter.limits.max_depth;
        match self.functions {
            // Helm stops `include` recursion at 1000 levels.
            crate::FunctionSet::Helm | crate::FunctionSet::Crossplane => limit.min(HELM_MAX_DEPTH),
            crate::FunctionSet::Sprig => limit,
        }
    }

    /// Runs `nodes` with dot bound to `dot`, appending output to `out`.
    pub(crate) fn run(
        &mut self,
        nodes: &[Node],
        dot: &Data,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        self.walk(nodes, dot, out).map(|_| ())
    }

    /// Runs `nodes`, on a new stack segment when the thread's stack runs low (template calls
    /// and control structures recurse through here).
    fn walk(
        &mut self,
        nodes: &[Node],
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        let meter = self.meter;
        meter
            .grow(|| self.walk_nodes(nodes, dot, out))
            .map_err(|l| self.limit_err(0, "template", l))?
    }

    /// Whether `out` is still within the output limit.
    /// An error once `out` passes the output limit, at the node at `pos`, written as `ctx()`
    /// (built only then: describing a pipeline costs more than the check).
    fn check_output(
        &self,
        pos: usize,
        ctx: impl FnOnce() -> String,
        out: &str,
    ) -> Result<(), TemplateError> {
        let limit = self.meter.limits.max_output_bytes;
        if out.len() > limit {
            return Err(self.limit_err(pos, &ctx(), LimitExceeded::Output { limit }));
        }
        Ok(())
    }

    fn walk_nodes(
        &mut self,
        nodes: &[Node],
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        // Template calls and control structures recurse through this loop: it keeps its own
        // frame small and leaves the work to the functions it calls.
        for node in nodes {
            match self.node(node, dot, out)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs one node.
    #[inline(never)]
    fn node(&mut self, node: &Node, dot: &Data, out: &mut String) -> Result<Flow, TemplateError> {
        match node {
            Node::Text(t) => self.text(t, out),
            Node::Action(pipe) => self.action(pipe, dot, out),
            Node::Branch(b) => self.branch_node(b, dot, out),
            Node::Break => self.flow(Flow::Break),
            Node::Continue => self.flow(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                self.template_node(*pos, name, pipe.as_ref(), dot, out)
            }
        }
    }

    /// Literal text.
    #[inline(never)]
    fn text(&mut self, t: &str, out: &mut String) -> Result<Flow, TemplateError> {
        self.step(0, || "text".to_string())?;
        out.push_str(t);
        self.check_output(0, || "text".to_owned(), out)?;
        Ok(Flow::Normal)
    }

    /// `{{break}}` or `{{continue}}`.
    #[inline(never)]
    fn flow(&mut self, flow: Flow) -> Result<Flow, TemplateError> {
        self.step(0, || "text".to_string())?;
        Ok(flow)
    }

    /// `{{if}}`, `{{with}}` or `{{range}}`, whose variables end with it.
    #[inline(never)]
    fn branch_node(
        &mut self,
        b: &Branch,
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        self.step(b.pipe.pos, || b.pipe.describe())?;
        let mark = self.vars.len();
        let flow = self.branch(b, dot, out);
        self.vars.truncate(mark);
        flow
    }

    /// `{{pipeline}}`: evaluates it and prints the value unless it declares variables.
    #[inline(never)]
    fn action(&mut self, pipe: &Pipe, dot: &Data, out: &mut String) -> Result<Flow, TemplateError> {
        self.step(pipe.pos, || pipe.describe())?;
        let v = self.pipe(pipe, dot)?;
        if pipe.decl.is_empty() {
            match v.as_ref().map(|d| (d, d.as_plain())) {
                None | Some((_, Some(Value::Null))) => out.push_str("<no value>"),
                Some((_, Some(Value::String(s)))) => out.push_str(s),
                Some((_, Some(v))) => out.push_str(&FMT.sprint_v(v)),
                Some((d, None)) => {
                    let v = self.copy_data(pipe.pos, &pipe.describe(), d)?;
                    out.push_str(&FMT.sprint_v(&v));
                }
            }
            self.check_output(pipe.pos, || pipe.describe(), out)?;
        }
        Ok(Flow::Normal)
    }

    /// `{{template "name" pipeline}}`.
    #[inline(never)]
    fn template_node(
        &mut self,
        pos: usize,
        name: &str,
        pipe: Option<&Pipe>,
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        self.step(pos, || format!("template {name:?}"))?;
        let new_dot = match pipe {
            Some(p) => self.pipe(p, dot)?.unwrap_or_else(Data::null),
            None => Data::null(),
        };
        self.call_template(pos, name, new_dot, out)
            .map(|()| Flow::Normal)
    }

    fn branch(&mut self, b: &Branch, dot: &Data, out: &mut String) -> Result<Flow, TemplateError> {
        let v = self.pipe(&b.pipe, dot)?;
        match b.kind {
            BranchKind::If => {
                if v.as_ref().is_some_and(Data::truth) {
                    self.walk(&b.body, dot, out)
                } else if let Some(e) = &b.else_body {
                    self.walk(e, dot, out)
                } else {
                    Ok(Flow::Normal)
                }
            }
            BranchKind::With => {
                if v.as_ref().is_some_and(Data::truth) {
                    let inner = v.unwrap_or_else(Data::null);
                    self.walk(&b.body, &inner, out)
                } else if let Some(e) = &b.else_body {
                    self.walk(e, dot, out)
                } else {
                    Ok(Flow::Normal)
                }
            }
            BranchKind::Range => self.range(b, v, dot, out),
        }
    }

    /// `{{range}}` over the value `v` of its pipeline.
    #[inline(never)]
    fn range(
        &mut self,
        b: &Branch,
        v: SVal,
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        let items: Vec<(Data, Data)> = match v {
            None => Vec::new(),
            Some(Data::Map(m)) => m
                .entries()
                .into_iter()
                .map(|(k, e)| (Data::plain(Value::String(k)), e))
                .collect(),
            Some(Data::List(items)) => items
                .iter()
                .enumerate()
                .map(|(i, e)| (Data::plain(Value::from(i)), e.clone()))
                .collect(),
            Some(Data::Plain(p)) => self.plain_items(b, p)?,
        };
        if items.is_empty() {
            if let Some(e) = &b.else_body {
                return self.walk(e, dot, out);
            }
            return Ok(Flow::Normal);
        }
        // The pipeline's declared variables were pushed by `pipe`; rebind them per element.
        let decl_base = self.vars.len() - b.pipe.decl.len().min(self.vars.len());
        for (k, e) in items {
            self.step(b.pipe.pos, || b.pipe.describe())?;
            match b.pipe.decl.len() {
                1 => self.vars[decl_base].1 = e.clone(),
                2 => {
                    self.vars[decl_base].1 = k;
                    self.vars[decl_base + 1].1 = e.clone();
                }
                _ => {}
            }
            let mark = self.vars.len();
            let flow = self.walk(&b.body, &e, out);
            self.vars.truncate(mark);
            match flow? {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        Ok(Flow::Normal)
    }

    /// The pairs `range` goes through for a plain value (a list without maps, a number, a
    /// Helm object that is a Go slice: `.Capabilities.APIVersions`, a `[]byte`).
    fn plain_items(&self, b: &Branch, v: Rc<Value>) -> Result<Vec<(Data, Data)>, TemplateError> {
        if let Some(files) = crate::helm::files_of(&v) {
            // `.Files` is a `map[string][]byte`: its paths and their contents as bytes.
            return Ok(files
                .iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .map(|(path, content)| {
                    (
                        Data::plain(Value::String(path.clone())),
                        Data::plain(crate::helm::bytes_object(
                            content.as_str().unwrap_or("").to_string(),
                        )),
                    )
                })
                .collect());
        }
        if let Some(n) = crate::helm::as_int64(&v) {
            return Ok(Self::count(n));
        }
        let v = match crate::helm::go_view(&v).and_then(|view| view.elements()) {
            Some(elements) => Rc::new(Value::Array(elements)),
            None => v,
        };
        // The elements are moved out of a value nobody else holds, copied otherwise.
        Ok(match Rc::try_unwrap(v) {
            Ok(Value::Null) => Vec::new(),
            Err(shared) if shared.is_null() => Vec::new(),
            Ok(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Data::plain(Value::from(i)), Data::from_value(e, None)))
                .collect(),
            Err(shared) if shared.is_array() => shared
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, e)| {
                    (
                        Data::plain(Value::from(i)),
                        Data::from_value(e.clone(), None),
                    )
                })
                .collect(),
            Ok(Value::Object(m)) => m
                .into_iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .map(|(k, e)| (Data::plain(Value::String(k)), Data::from_value(e, None)))
                .collect(),
            Err(shared) if shared.is_object() => shared
                .as_object()
                .into_iter()
                .flatten()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .map(|(k, e)| {
                    (
                        Data::plain(Value::String(k.clone())),
                        Data::from_value(e.clone(), None),
                    )
                })
                .collect(),
            Ok(Value::Number(n)) if n.as_i64().is_some() => Self::count(n.as_i64().unwrap_or(0)),
            Err(shared) if shared.as_i64().is_some() => Self::count(shared.as_i64().unwrap_or(0)),
            Ok(other) => {
                return Err(self.err(
                    b.pipe.pos,
                    &b.pipe.describe(),
                    format!("range can't iterate over {}", FMT.sprint_v(&other)),
                ));
            }
            Err(other) => {
                return Err(self.err(
                    b.pipe.pos,
                    &b.pipe.describe(),
                    format!("range can't iterate over {}", FMT.sprint_v(&other)),
                ));
            }
        })
    }

    /// `range N`: the pairs `(i, i)` for `i` in `0..N`.
    fn count(n: i64) -> Vec<(Data, Data)> {
        (0..n.max(0))
            .map(|i| {
                let i = Data::plain(Value::from(i));
                (i.clone(), i)
            })
            .collect()
    }

    fn lookup_var(&self, name: &str) -> SVal {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// Evaluates a pipeline, binding any declared variables (on a new stack segment when the
    /// thread's stack runs low: parenthesised pipelines recurse through here).
    fn pipe(&mut self, pipe: &Pipe, dot: &Data) -> Result<SVal, TemplateError> {
        let meter = self.meter;
        meter
            .grow(|| self.pipe_cmds(pipe, dot))
            .map_err(|l| self.limit_err(pipe.pos, &pipe.describe(), l))?
    }

    fn pipe_cmds(&mut self, pipe: &Pipe, dot: &Data) -> Result<SVal, TemplateError> {
        let mut value: Option<SVal> = None;
        for cmd in &pipe.cmds {
            let v = self.cmd(cmd, dot, value.take())?;
            value = Some(v);
        }
        let mut v = value.unwrap_or(None);
        if v.as_ref().is_some_and(Data::is_null) {
            v = None;
        }
        if !pipe.decl.is_empty() {
            let bound = v.clone().unwrap_or_else(Data::null);
            if pipe.is_assign {
                for name in &pipe.decl {
                    if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                        slot.1 = bound.clone();
                    }
                }
            } else {
                for name in &pipe.decl {
                    self.vars.push((name.clone(), bound.clone()));
                }
            }
        }
        Ok(v)
    }

    fn cmd(&mut self, cmd: &Cmd, dot: &Data, fin: Option<SVal>) -> Result<SVal, TemplateError> {
        let first = &cmd.args[0];
        if let Arg::Ident(pos, name) = first {
            return self.call(*pos, name, &cmd.args[1..], dot, fin);
        }
        if self.functions == crate::FunctionSet::Helm
            && (cmd.args.len() > 1 || fin.is_some())
            && let Some((pos, recv, method)) = self.method_receiver(first, dot)?
        {
            let name = first.describe();
            let mut vals = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                let v = self.operand(a, dot)?;
                vals.push(self.copy_arg(pos, &name, v)?);
            }
            if let Some(f) = fin {
                vals.push(self.copy_arg(pos, &name, f)?);
            }
            if let Some((random, _)) = &self.meter.random
                && random.any()
                && vals.iter().flatten().any(holds_marker)
            {
                return Err(self.func_err(
                    pos,
                    &name,
                    crate::helm::unsupported(&name, "its argument holds random output"),
                ));
            }
            return crate::helm::call_method(&recv, &method, &vals)
                .map(|v| Some(Data::from_value(v, None)))
                .map_err(|e| self.func_err(pos, &name, e));
        }
        if cmd.args.len() > 1 || fin.is_some() {
            return Err(self.err(
                first.pos(),
                &first.describe(),
                format!("can't give argument to non-function {}", first.describe()),
            ));
        }
        match first {
            Arg::Nil(pos) => Err(self.err(*pos, "nil", "nil is not a command")),
            other => self.operand(other, dot),
        }
    }

    /// Evaluates an operand that is not a function call.
    fn operand(&mut self, arg: &Arg, dot: &Data) -> Result<SVal, TemplateError> {
        match arg {
            Arg::Dot(_) => Ok(Some(dot.clone())),
            Arg::Field(pos, path) => self.chain(*pos, arg, Some(dot.clone()), path),
            Arg::Variable(pos, name, path) => {
                let v = self.lookup_var(name);
                if v.is_none() {
                    return Err(self.err(*pos, name, format!("undefined variable: {name}")));
                }
                self.chain(*pos, arg, v, path)
            }
            Arg::Chain(pos, pipe, path) => {
                let v = self.pipe(pipe, dot)?;
                if path.is_empty() {
                    Ok(v)
                } else {
                    self.chain(*pos, arg, v, path)
                }
            }
            Arg::Ident(pos, name) => self.call(*pos, name, &[], dot, None),
            Arg::Str(s) => Ok(Some(Data::plain(Value::String(s.clone())))),
            Arg::Int(i) => Ok(Some(Data::plain(Value::from(*i)))),
            Arg::Float(f) => Ok(Some(Data::plain(
                serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            ))),
            Arg::Bool(b) => Ok(Some(Data::plain(Value::Bool(*b)))),
            Arg::Nil(_) => Ok(Some(Data::null())),
        }
    }

    /// For a field chain whose last element names a method of a Helm object (`.Files.Get`,
    /// `$.Capabilities.APIVersions.Has`, `(.Files.Glob "x").AsConfig`): the position, the
    /// object and the method.
    fn method_receiver(
        &mut self,
        arg: &Arg,
        dot: &Data,
    ) -> Result<Option<(usize, Rc<Value>, String)>, TemplateError> {
        let (pos, recv, path) = match arg {
            Arg::Field(pos, path) if !path.is_empty() => (*pos, Some(dot.clone()), path),
            Arg::Variable(pos, name, path) if !path.is_empty() => {
                (*pos, self.lookup_var(name), path)
            }
            Arg::Chain(pos, pipe, path) if !path.is_empty() => {
                let v = self.pipe(pipe, dot)?;
                (*pos, v, path)
            }
            _ => return Ok(None),
        };
        let (method, prefix) = match path.split_last() {
            Some(split) => split,
            None => return Ok(None),
        };
        let Ok(Some(Data::Plain(recv))) = self.chain(pos, arg, recv, prefix) else {
            return Ok(None);
        };
        if crate::helm::has_method(&recv, method) {
            Ok(Some((pos, recv, method.clone())))
        } else {
            Ok(None)
        }
    }

    /// Helm's functions that need the engine: `include`, `tpl`, `required`, `fail`, `lookup`.
    fn helm_call(
        &mut self,
        pos: usize,
        name: &str,
        vals: &mut [SVal],
    ) -> Option<Result<SVal, TemplateError>> {
        let arity = |want: usize| -> Result<(), TemplateError> {
            if vals.len() == want {
                Ok(())
            } else {
                Err(self.func_err(
                    pos,
                    name,
                    crate::FuncError::ArgCount {
                        func: name.to_string(),
                        want,
                        got: vals.len(),
                    },
                ))
            }
        };
        let limits = &self.meter.limits;
        let text = |v: &SVal| match v.as_ref().map(|d| (d, d.as_plain())) {
            Some((_, Some(Value::String(s)))) => s.clone(),
            Some((_, Some(Value::Null))) | None => String::new(),
            Some((_, Some(other))) => FMT.sprint_v(other),
            Some((d, None)) => FMT.sprint_v(&d.to_value(limits).unwrap_or(Value::Null)),
        };
        Some(match name {
            "include" => arity(2).and_then(|()| {
                let template = text(&vals[0]);
                // Taken, not copied: the call's arguments are not used after it.
                let data = vals[1].take().unwrap_or_else(Data::null);
                let mut out = String::new();
                self.call_template(pos, &template, data, &mut out)
                    .map(|()| Some(Data::plain(Value::String(out))))
                    .map_err(|e| {
                        self.func_err(
                            pos,
                            name,
                            crate::FuncError::Template {
                                func: "include",
                                text: None,
                                source: Box::new(e),
                            },
                        )
                    })
            }),
            "tpl" => arity(2).and_then(|()| {
                let source = text(&vals[0]);
                let data = vals[1].take().unwrap_or_else(Data::null);
                self.tpl(&source, data)
                    .map(|out| Some(Data::plain(Value::String(out.replace("<no value>", "")))))
                    .map_err(|e| {
                        self.func_err(
                            pos,
                            name,
                            crate::FuncError::Template {
                                func: "tpl",
                                text: Some(source),
                                source: Box::new(e),
                            },
                        )
                    })
            }),
            "required" => arity(2).and_then(|()| match vals[1].as_ref().map(Data::as_plain) {
                None | Some(Some(Value::Null)) => {
                    Err(self.stopped(pos, "required", text(&vals[0])))
                }
                Some(Some(Value::String(s))) if s.is_empty() => {
                    Err(self.stopped(pos, "required", text(&vals[0])))
                }
                Some(_) => Ok(vals[1].take()),
            }),
            "fail" => arity(1).and_then(|()| Err(self.stopped(pos, "fail", text(&vals[0])))),
            "lookup" => arity(4).map(|()| Some(Data::new_map(BTreeMap::new()))),
            // Helm's own `fromJson`: always a map, `{"Error": …}` when the text is not a JSON
            // object, numbers as float64.
            "fromJson" if self.functions == crate::FunctionSet::Helm => arity(1).and_then(|()| {
                let text = match vals[0].as_ref().and_then(Data::as_plain) {
                    Some(Value::String(t)) => t.clone(),
                    Some(other) => {
                        return Err(self.func_err(pos, name, funcs::wrong_type("string", other)));
                    }
                    None => {
                        return Err(self.func_err(
                            pos,
                            name,
                            crate::FuncError::MissingValue { expected: "string" },
                        ));
                    }
                };
                let value = crate::helm::from_json_map(&text);
                self.checked(pos, name, Some(value), None)
            }),
            // sigs.k8s.io/yaml's layout, byte for byte (charts hash it).
            "toYaml" => arity(1).and_then(|()| {
                let v = self.copy_arg(pos, name, vals[0].take())?;
                Ok(Some(Data::plain(Value::String(crate::goyaml::to_yaml(
                    v.as_ref().unwrap_or(&Value::Null),
                )))))
            }),
            _ => return None,
        })
    }

    fn stopped(&self, pos: usize, func: &'static str, message: String) -> TemplateError {
        self.func_err(
            pos,
            func,
            crate::FuncError::Stopped {
                func,
                message,
                source: None,
            },
        )
    }

    /// Helm's `tpl`: `source` parsed as the template named by `data.Template.Name`, beside every
    /// template of the set, and run with dot `data`.
    fn tpl(&mut self, source: &str, data: Data) -> Result<String, TemplateError> {
        let name = template_name(&data).unwrap_or_else(|| self.file.to_string());
        let (main, defines) = crate::parse_file(&name, source, self.functions)?;
        let mut templates = self.defines.clone();
        crate::add_defines(&mut templates, &name, main.clone(), defines);
        let mut ex = Exec::new(
            (&name, &main),
            &templates,
            self.missing,
            self.functions,
            data.clone(),
            self.meter,
        );
        ex.depth = self.depth + 1;
        let mut out = String::new();
        ex.run(&main.body, &data, &mut out)?;
        Ok(out)
    }

    /// Walks a field chain from `recv`, applying the missing-key policy: maps are followed as
    /// the shared maps they are; inside a plain value the chain is followed through borrowed
    /// values, and only the value it reaches is copied.
    fn chain(
        &self,
        pos: usize,
        node: &Arg,
        recv: SVal,
        path: &[String],
    ) -> Result<SVal, TemplateError> {
        let Some((seg, _)) = path.split_first() else {
            return Ok(recv);
        };
        let Some(mut cur) = recv else {
            if self.missing == MissingKey::Error {
                return Err(self.err(
                    pos,
                    &node.describe(),
                    format!("nil data; no entry for key {seg:?}"),
                ));
            }
            return Ok(None);
        };
        for (i, seg) in path.iter().enumerate() {
            let rest = &path[i + 1..];
            cur = match cur {
                Data::Map(m) => match m.get(seg) {
                    Some(v) => v,
                    None => return self.missing_entry(pos, node, seg, rest),
                },
                Data::Plain(v) => return self.chain_plain(pos, node, &v, &path[i..]),
                Data::List(_) => {
                    return Err(self.err(
                        pos,
                        &node.describe(),
                        format!("can't evaluate field {seg} in type []interface {{}}"),
                    ));
                }
            };
        }
        Ok(Some(cur))
    }

    /// A field chain at a map without the entry `seg`: the missing-key policy, then the rest
    /// of the chain from the value it gives.
    fn missing_entry(
        &self,
        pos: usize,
        node: &Arg,
        seg: &str,
        rest: &[String],
    ) -> Result<SVal, TemplateError> {
        match self.missing {
            MissingKey::Error => Err(self.err(
                pos,
                &node.describe(),
                format!("map has no entry for key {seg:?}"),
            )),
            MissingKey::Zero => self.chain(pos, node, Some(Data::null()), rest),
            MissingKey::Default => self.chain(pos, node, None, rest),
        }
    }

    /// [`Exec::chain`] inside a plain value.
    fn chain_plain(
        &self,
        pos: usize,
        node: &Arg,
        root: &Value,
        path: &[String],
    ) -> Result<SVal, TemplateError> {
        let mut cur: &Value = root;
        for (i, seg) in path.iter().enumerate() {
            let rest = &path[i + 1..];
            cur = match cur {
                Value::Object(m) if crate::helm::is_method(m, seg) => {
                    let v = crate::helm::call_method(cur, seg, &[])
                        .map_err(|e| self.func_err(pos, &node.describe(), e))?;
                    return self.chain(pos, node, Some(Data::from_value(v, None)), rest);
                }
                Value::Object(m) if crate::helm::as_int64(cur).is_none() => match m.get(seg) {
                    Some(v) => v,
                    None => return self.missing_entry(pos, node, seg, rest),
                },
                Value::Null => {
                    return Err(self.err(
                        pos,
                        &node.describe(),
                        format!("nil pointer evaluating interface {{}}.{seg}"),
                    ));
                }
                other => {
                    return Err(self.err(
                        pos,
                        &node.describe(),
                        format!(
                            "can't evaluate field {seg} in type {}",
                            FMT.type_name(other)
                        ),
                    ));
                }
            };
        }
        Ok(Some(Data::from_value(cur.clone(), None)))
    }

    fn call(
        &mut self,
        pos: usize,
        name: &str,
        args: &[Arg],
        dot: &Data,
        fin: Option<SVal>,
    ) -> Result<SVal, TemplateError> {
        // `and` / `or` evaluate their arguments lazily.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                return Err(self.err(
                    pos,
                    name,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last: SVal = None;
            for a in args {
                let v = self.operand(a, dot)?;
                let t = v.as_ref().is_some_and(Data::truth);
                last = v;
                if (name == "and" && !t) || (name == "or" && t) {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.operand(a, dot)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        self.step(pos, || name.to_string())?;
        if let Some((random, file)) = &self.meter.random {
            if self.functions == crate::FunctionSet::Helm
                && let Some(reason) = crate::helm::nondeterministic(name)
            {
                let placeholder = random.record(
                    file,
                    self.func_err(pos, name, crate::helm::unsupported(name, reason)),
                );
                return Ok(Some(Data::plain(crate::helm::random_placeholder(
                    name,
                    placeholder,
                ))));
            }
            let tainted = if !matches!(name, "include" | "tpl") && random.any() {
                vals.iter().flatten().find_map(|d| {
                    d.to_value(&self.meter.limits)
                        .ok()
                        .and_then(|v| marker_in(&v))
                })
            } else {
                None
            };
            if let Some(placeholder) = tainted {
                let result = self.dispatch(pos, name, vals)?;
                return match result.as_ref().and_then(Data::as_plain) {
                    Some(Value::String(text)) => Ok(Some(Data::plain(Value::String(
                        crate::RandomPlaceholders::first_placeholder(text)
                            .map_or(placeholder, str::to_string),
                    )))),
                    _ if matches!(result, Some(Data::Map(_) | Data::List(_)))
                        || matches!(
                            result.as_ref().and_then(Data::as_plain),
                            Some(Value::Array(_) | Value::Object(_))
                        ) =>
                    {
                        Ok(result)
                    }
                    _ => Err(self.func_err(
                        pos,
                        name,
                        crate::helm::unsupported(
                            name,
                            "its argument holds random output (a random, clock or generated-key function's result)",
                        ),
                    )),
                };
            }
        }
        self.dispatch(pos, name, vals)
    }

    /// Calls the function `name` with its evaluated arguments.
    fn dispatch(
        &mut self,
        pos: usize,
        name: &str,
        mut vals: Vec<SVal>,
    ) -> Result<SVal, TemplateError> {
        let helm_calls = match self.functions {
            crate::FunctionSet::Helm => true,
            crate::FunctionSet::Crossplane => name == "include",
            crate::FunctionSet::Sprig => false,
        };
        if helm_calls && let Some(result) = self.helm_call(pos, name, &mut vals) {
            return result.and_then(|v| self.checked_data(pos, name, v));
        }
        if SHARING.contains(&name)
            && let Some(result) = self.sharing_call(pos, name, &mut vals)
        {
            return result;
        }
        // The functions work on plain values of their own: an argument still held elsewhere is
        // copied, one nobody else holds is moved.
        let shared = vals.iter().flatten().any(|d| !d.is_plain());
        let mut plain: Vec<Val> = Vec::with_capacity(vals.len());
        for v in vals {
            plain.push(self.copy_arg(pos, name, v)?);
        }
        let limits = &self.meter.limits;
        if !funcs::is_observer(name) {
            // The result holds (a copy of) its arguments: refuse to build it if they alone
            // are over the limit.
            limits
                .check_values(plain.iter().flatten())
                .map_err(|l| self.func_err(pos, name, funcs::over(name)(l)))?;
        }
        // A result holding maps is a copy: where Go's would share maps with the arguments,
        // changing it in place is refused (see `crate::data`).
        let copied_by: Option<Rc<str>> = shared.then(|| Rc::from(name));
        let plain = if self.functions == crate::FunctionSet::Crossplane {
            crate::helm::int64_arguments(name, plain).map_err(|e| self.func_err(pos, name, e))?
        } else {
            plain
        };
        if self.functions == crate::FunctionSet::Crossplane
            && let Some(result) = crate::crossplane::call(name, &plain)
        {
            let value = result.map_err(|e| self.func_err(pos, name, e))?;
            return self.checked(pos, name, Some(value), copied_by.as_ref());
        }
        let result = funcs::call(name, plain, limits).map_err(|e| self.func_err(pos, name, e))?;
        self.checked(pos, name, result, copied_by.as_ref())
    }

    /// `result` of the function `name`, if it is within the limits of one value and of all
    /// the values built so far, as the executor holds it.
    fn checked(
        &self,
        pos: usize,
        name: &str,
        result: Val,
        copied_by: Option<&Rc<str>>,
    ) -> Result<SVal, TemplateError> {
        if let Some(v) = &result {
            self.meter
                .limits
                .check_value(v)
                .and_then(|bytes| self.meter.built(bytes))
                .map_err(|l| self.func_err(pos, name, funcs::over(name)(l)))?;
        }
        let fresh_top = FRESH_TOP.contains(&name);
        Ok(result.map(|v| Data::from_result(v, copied_by, fresh_top)))
    }

    /// [`Exec::checked`] for a result already held as the executor holds values: a plain one
    /// is measured, a shared map built nothing new.
    fn checked_data(&self, pos: usize, name: &str, result: SVal) -> Result<SVal, TemplateError> {
        if let Some(Data::Plain(v)) = &result {
            self.meter
                .limits
                .check_value(v)
                .and_then(|bytes| self.meter.built(bytes))
                .map_err(|l| self.func_err(pos, name, funcs::over(name)(l)))?;
        }
        Ok(result)
    }

    /// The functions of [`SHARING`] on shared maps: `None` when the arguments are plain (or
    /// not what the function takes), which the plain functions then handle, with their errors.
    fn sharing_call(
        &mut self,
        pos: usize,
        name: &str,
        vals: &mut [SVal],
    ) -> Option<Result<SVal, TemplateError>> {
        if matches!(name, "dict" | "list" | "tuple") {
            // The result holds its plain arguments: refuse to build it if they alone are over
            // the limit of one value (shared maps are held, not copied).
            let limits = &self.meter.limits;
            if let Err(l) = limits
                .check_values(vals.iter().flatten().filter_map(Data::as_plain))
                .and_then(|bytes| self.meter.built(bytes))
            {
                return Some(Err(self.func_err(pos, name, funcs::over(name)(l))));
            }
        }
        let arg = |i: usize| vals.get(i).cloned().flatten().unwrap_or_else(Data::null);
        let key = |i: usize| vals.get(i).and_then(|v| v.as_ref()).and_then(Data::as_str);
        let n = vals.len();
        let result = match name {
            "dict" => {
                let mut entries = BTreeMap::new();
                for pair in vals.chunks(2) {
                    let k = match pair[0].as_ref().map(|k| (k, k.as_plain())) {
                        Some((_, Some(k))) => funcs::strval(k),
                        None => funcs::strval(&Value::Null),
                        Some((k, None)) => match self.copy_data(pos, name, k) {
                            Ok(k) => funcs::strval(&k),
                            Err(e) => return Some(Err(e)),
                        },
                    };
                    let v = match pair.get(1) {
                        Some(v) => v.clone().unwrap_or_else(Data::null),
                        None => Data::plain(Value::String(String::new())),
                    };
                    entries.insert(k, v);
                }
                Data::new_map(entries)
            }
            "list" | "tuple" => Data::new_list(
                vals.iter()
                    .map(|v| v.clone().unwrap_or_else(Data::null))
                    .collect(),
            ),
            "set" | "unset" => {
                let (Some(Data::Map(m)), Some(k)) = (vals[0].as_ref(), key(1)) else {
                    return None;
                };
                if n != if name == "set" { 3 } else { 2 } {
                    return None;
                }
                if m.copied_by().is_some() {
                    return Some(Err(self.copied_map(pos, name)));
                }
                if name == "set" {
                    m.insert(k.to_string(), arg(2));
                } else {
                    m.remove(k);
                }
                Data::Map(m.clone())
            }
            "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
                let Some(Some(Data::Map(dst))) = vals.first() else {
                    return None;
                };
                let mut srcs = Vec::new();
                for v in &vals[1..] {
                    match v {
                        Some(Data::Map(m)) => srcs.push(m.clone()),
                        None if name == "merge" => {}
                        Some(d) if name == "merge" && d.is_null() => {}
                        _ => return None,
                    }
                }
                if dst.copied_by().is_some() {
                    return Some(Err(self.copied_map(pos, name)));
                }
                let overwrite = name.contains("Overwrite");
                for src in &srcs {
                    if !dst.merge_from(src, overwrite, 0) {
                        return Some(Err(self.func_err(
                            pos,
                            name,
                            crate::FuncError::Unsupported {
                                func: name.to_string(),
                                reason: "the maps are nested too deeply (or contain themselves)",
                            },
                        )));
                    }
                }
                Data::Map(dst.clone())
            }
            "default" => {
                if !(1..=2).contains(&n) {
                    return None;
                }
                match vals.get(1) {
                    Some(Some(given)) if !given.is_empty() => given.clone(),
                    _ => arg(0),
                }
            }
            "empty" if n == 1 => {
                Data::plain(Value::Bool(vals[0].as_ref().is_none_or(Data::is_empty)))
            }
            "coalesce" => vals
                .iter()
                .flatten()
                .find(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(Data::null),
            "ternary" if n == 3 => {
                if vals[2].as_ref().is_some_and(Data::truth) {
                    arg(0)
                } else {
                    arg(1)
                }
            }
            "index" if n >= 1 => return self.index(pos, vals),
            "get" if n == 2 => match (vals[0].as_ref(), key(1)) {
                (Some(Data::Map(m)), Some(k)) => m
                    .get(k)
                    .unwrap_or_else(|| Data::plain(Value::String(String::new()))),
                _ => return None,
            },
            "hasKey" if n == 2 => match (vals[0].as_ref(), key(1)) {
                (Some(Data::Map(m)), Some(k)) => Data::plain(Value::Bool(m.contains_key(k))),
                _ => return None,
            },
            "first" | "last" | "mustFirst" | "mustLast" if n == 1 => match vals[0].as_ref() {
                Some(Data::List(items)) => if name.ends_with("irst") {
                    items.first()
                } else {
                    items.last()
                }
                .cloned()
                .unwrap_or_else(Data::null),
                _ => return None,
            },
            "deepCopy" | "mustDeepCopy" if n == 1 => match vals[0].as_ref() {
                Some(d @ (Data::Map(_) | Data::List(_))) => match self.copy_data(pos, name, d) {
                    Ok(v) => Data::from_value(v, None),
                    Err(e) => return Some(Err(e)),
                },
                _ => return None,
            },
            // New lists of the same elements: the maps among them stay shared.
            "append" | "push" | "mustAppend" | "mustPush" | "prepend" | "mustPrepend"
                if n == 2 && vals.iter().flatten().any(|v| !v.is_plain()) =>
            {
                let mut items = list_items(vals[0].as_ref()?)?;
                let item = arg(1);
                if name.contains("repend") {
                    items.insert(0, item);
                } else {
                    items.push(item);
                }
                Data::new_list(items)
            }
            "concat" if vals.iter().flatten().any(|v| !v.is_plain()) => {
                let mut items = Vec::new();
                for v in vals.iter() {
                    items.extend(list_items(v.as_ref()?)?);
                }
                Data::new_list(items)
            }
            "rest" | "mustRest" | "initial" | "mustInitial" | "reverse" | "mustReverse"
                if n == 1 && matches!(vals[0], Some(Data::List(_))) =>
            {
                let mut items = list_items(vals[0].as_ref()?)?;
                match name {
                    "rest" | "mustRest" => {
                        if !items.is_empty() {
                            items.remove(0);
                        }
                    }
                    "initial" | "mustInitial" => {
                        items.pop();
                    }
                    _ => items.reverse(),
                }
                Data::new_list(items)
            }
            "len" if n == 1 => match vals[0].as_ref() {
                Some(Data::Map(m)) => Data::plain(Value::from(m.len())),
                Some(Data::List(items)) => Data::plain(Value::from(items.len())),
                _ => return None,
            },
            _ => return None,
        };
        Some(Ok(Some(result)))
    }

    /// `index` through shared maps and lists; what remains after a plain value is reached
    /// (and every error) is the plain `index`'s.
    fn index(&mut self, pos: usize, vals: &mut [SVal]) -> Option<Result<SVal, TemplateError>> {
        let mut cur = vals[0].clone()?;
        let mut at = 1;
        while at < vals.len() {
            let next = match (&cur, vals[at].as_ref().and_then(Data::as_plain)) {
                (Data::Map(m), Some(Value::String(k))) => m.get(k).unwrap_or_else(Data::null),
                (Data::List(items), Some(k @ Value::Number(_))) => {
                    match usize::try_from(funcs::to_i64(k))
                        .ok()
                        .and_then(|i| items.get(i))
                    {
                        Some(item) => item.clone(),
                        None => break,
                    }
                }
                _ => break,
            };
            cur = next;
            at += 1;
        }
        if at == vals.len() {
            return Some(Ok(Some(cur)));
        }
        if at == 1 && cur.is_plain() {
            return None;
        }
        // The plain `index` takes over from the value reached.
        let mut rest: Vec<Val> = Vec::with_capacity(vals.len() - at + 1);
        for v in std::iter::once(Some(cur)).chain(vals[at..].iter_mut().map(Option::take)) {
            match self.copy_arg(pos, "index", v) {
                Ok(v) => rest.push(v),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(
            funcs::call("index", rest, &self.meter.limits)
                .map_err(|e| self.func_err(pos, "index", e))
                .map(|v| v.map(|v| Data::from_value(v, None))),
        )
    }

    /// The error for changing in place a map that is a function's copy (see `crate::data`).
    fn copied_map(&self, pos: usize, name: &str) -> TemplateError {
        self.func_err(
            pos,
            name,
            crate::FuncError::Unsupported {
                func: name.to_string(),
                reason: "changing a map that a function such as `pick`, `values` or `dig` \
                         returned is not supported: in Go it shares the maps it holds with \
                         the function's arguments, which Strata copied",
            },
        )
    }

    /// A function's argument as a plain value of its own.
    fn copy_arg(&self, pos: usize, name: &str, v: SVal) -> Result<Val, TemplateError> {
        match v {
            None => Ok(None),
            Some(Data::Plain(v)) => Ok(Some(Rc::unwrap_or_clone(v))),
            Some(d) => d
                .to_value(&self.meter.limits)
                .map(Some)
                .map_err(|e| self.copy_err(pos, name, e, true)),
        }
    }

    /// A plain copy of `d`, for printing or for a function.
    fn copy_data(&self, pos: usize, ctx: &str, d: &Data) -> Result<Value, TemplateError> {
        d.to_value(&self.meter.limits)
            .map_err(|e| self.copy_err(pos, ctx, e, false))
    }

    fn copy_err(&self, pos: usize, ctx: &str, e: CopyError, in_call: bool) -> TemplateError {
        match e {
            CopyError::Limit(l) if in_call => self.func_err(pos, ctx, funcs::over(ctx)(l)),
            CopyError::Limit(l) => self.limit_err(pos, ctx, l),
            CopyError::Cycle => self.func_err(
                pos,
                ctx,
                crate::FuncError::Unsupported {
                    func: ctx.to_string(),
                    reason: "a map that contains itself cannot be copied or printed",
                },
            ),
        }
    }

    pub(crate) fn func_err(&self, pos: usize, name: &str, e: crate::FuncError) -> TemplateError {
        TemplateError::function_in(&self.file, &self.executing, &self.src, pos, name, e)
    }
}

/// The first random placeholder (see [`crate::RandomPlaceholders`]) `v` holds in a string, a
/// map key or an element.
fn marker_in(v: &Value) -> Option<String> {
    let found = |s: &str| crate::RandomPlaceholders::first_placeholder(s).map(str::to_string);
    match v {
        Value::String(s) => found(s),
        Value::Array(items) => items.iter().find_map(marker_in),
        Value::Object(m) => m
            .iter()
            .find_map(|(k, v)| found(k).or_else(|| marker_in(v))),
        _ => None,
    }
}

fn holds_marker(v: &Value) -> bool {
    marker_in(v).is_some()
}

/// The elements of a list as the executor holds them; `None` for anything else.
fn list_items(d: &Data) -> Option<Vec<Data>> {
    match d {
        Data::List(items) => Some(items.to_vec()),
        Data::Plain(v) => v
            .as_array()
            .map(|items| items.iter().map(|e| Data::plain(e.clone())).collect()),
        Data::Map(_) => None,
    }
}

/// The `.Template.Name` of a template's data, which `tpl` names its template after.
fn template_name(data: &Data) -> Option<String> {
    let template = match data {
        Data::Map(m) => m.get("Template")?,
        Data::Plain(v) => return v.pointer("/Template/Name")?.as_str().map(str::to_string),
        Data::List(_) => return None,
    };
    match template {
        Data::Map(m) => m.get("Name")?.as_str().map(str::to_string),
        Data::Plain(v) => v.get("Name")?.as_str().map(str::to_string),
        Data::List(_) => None,
    }
}
