//! Executes a parsed template against JSON data with Go `text/template` semantics.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use super::MissingKey;
use super::ast::{Arg, Branch, BranchKind, Cmd, Define, Node, Pipe};
use super::error::TemplateError;
use super::funcs;
use crate::gofmt::GoFmt;
use crate::limits::{LimitExceeded, Meter};

/// Result of evaluating an operand: `None` is Go's invalid value (a missing map key), which
/// prints as `<no value>`.
pub(crate) type Val = Option<Value>;

/// A value inside the executor: shared, so that `.`, `$`, variables, template calls and
/// `with`/`range` pass it on without copying it (Go passes maps by reference too). A field
/// access copies only the value it reaches; functions get their own copy of an argument only
/// when someone else still holds it.
pub(crate) type Data = Rc<Value>;

/// Like [`Val`], shared: `None` is Go's invalid value.
type SVal = Option<Data>;

/// A shared argument as the functions take it: moved out when this is the only holder.
fn owned(v: SVal) -> Val {
    v.map(Rc::unwrap_or_clone)
}

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
    fn check_output(&self, pos: usize, ctx: &str, out: &str) -> Result<(), TemplateError> {
        let limit = self.meter.limits.max_output_bytes;
        if out.len() > limit {
            return Err(self.limit_err(pos, ctx, LimitExceeded::Output { limit }));
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
        self.check_output(0, "text", out)?;
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
            match v.as_deref() {
                None | Some(Value::Null) => out.push_str("<no value>"),
                Some(Value::String(s)) => out.push_str(s),
                Some(v) => out.push_str(&FMT.sprint_v(v)),
            }
            self.check_output(pipe.pos, &pipe.describe(), out)?;
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
            Some(p) => self.pipe(p, dot)?.unwrap_or_else(null),
            None => null(),
        };
        self.call_template(pos, name, new_dot, out)
            .map(|()| Flow::Normal)
    }

    fn branch(&mut self, b: &Branch, dot: &Data, out: &mut String) -> Result<Flow, TemplateError> {
        let v = self.pipe(&b.pipe, dot)?;
        match b.kind {
            BranchKind::If => {
                if truth_of(v.as_deref()) {
                    self.walk(&b.body, dot, out)
                } else if let Some(e) = &b.else_body {
                    self.walk(e, dot, out)
                } else {
                    Ok(Flow::Normal)
                }
            }
            BranchKind::With => {
                if truth_of(v.as_deref()) {
                    let inner = v.unwrap_or_else(null);
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
        // A Helm object that is a Go slice (`.Capabilities.APIVersions`, a `[]byte`) ranges
        // over its elements.
        let v = v.map(
            |d| match crate::helm::go_view(&d).and_then(|view| view.elements()) {
                Some(elements) => Rc::new(Value::Array(elements)),
                None => d,
            },
        );
        // The elements are moved out of a value nobody else holds, copied otherwise.
        let items: Vec<(Data, Data)> = match v.map(Rc::try_unwrap) {
            None | Some(Ok(Value::Null)) => Vec::new(),
            Some(Err(shared)) if shared.is_null() => Vec::new(),
            Some(Ok(Value::Array(a))) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Rc::new(Value::from(i)), Rc::new(e)))
                .collect(),
            Some(Err(shared)) if shared.is_array() => shared
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, e)| (Rc::new(Value::from(i)), Rc::new(e.clone())))
                .collect(),
            Some(Ok(Value::Object(m))) => {
                let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries
                    .into_iter()
                    .map(|(k, e)| (Rc::new(Value::String(k)), Rc::new(e)))
                    .collect()
            }
            Some(Err(shared)) if shared.is_object() => {
                let mut entries: Vec<(&String, &Value)> =
                    shared.as_object().into_iter().flatten().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                entries
                    .into_iter()
                    .map(|(k, e)| (Rc::new(Value::String(k.clone())), Rc::new(e.clone())))
                    .collect()
            }
            Some(Ok(Value::Number(n))) if n.as_i64().is_some() => {
                Self::count(n.as_i64().unwrap_or(0))
            }
            Some(Err(shared)) if shared.as_i64().is_some() => {
                Self::count(shared.as_i64().unwrap_or(0))
            }
            Some(Ok(other)) => {
                return Err(self.err(
                    b.pipe.pos,
                    &b.pipe.describe(),
                    format!("range can't iterate over {}", FMT.sprint_v(&other)),
                ));
            }
            Some(Err(other)) => {
                return Err(self.err(
                    b.pipe.pos,
                    &b.pipe.describe(),
                    format!("range can't iterate over {}", FMT.sprint_v(&other)),
                ));
            }
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

    /// `range N`: the pairs `(i, i)` for `i` in `0..N`.
    fn count(n: i64) -> Vec<(Data, Data)> {
        (0..n.max(0))
            .map(|i| {
                let i = Rc::new(Value::from(i));
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
        if v.as_deref().is_some_and(Value::is_null) {
            v = None;
        }
        if !pipe.decl.is_empty() {
            let bound = v.clone().unwrap_or_else(null);
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
            let mut vals = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                vals.push(owned(self.operand(a, dot)?));
            }
            if let Some(f) = fin {
                vals.push(owned(f));
            }
            return crate::helm::call_method(&recv, &method, &vals)
                .map(|v| Some(Rc::new(v)))
                .map_err(|e| self.func_err(pos, &first.describe(), e));
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
            Arg::Str(s) => Ok(Some(Rc::new(Value::String(s.clone())))),
            Arg::Int(i) => Ok(Some(Rc::new(Value::from(*i)))),
            Arg::Float(f) => Ok(Some(Rc::new(
                serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            ))),
            Arg::Bool(b) => Ok(Some(Rc::new(Value::Bool(*b)))),
            Arg::Nil(_) => Ok(Some(null())),
        }
    }

    /// For a field chain whose last element names a method of a Helm object (`.Files.Get`,
    /// `$.Capabilities.APIVersions.Has`, `(.Files.Glob "x").AsConfig`): the position, the
    /// object and the method.
    fn method_receiver(
        &mut self,
        arg: &Arg,
        dot: &Data,
    ) -> Result<Option<(usize, Data, String)>, TemplateError> {
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
        let Ok(Some(recv)) = self.chain(pos, arg, recv, prefix) else {
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
        let text = |v: &SVal| match v.as_deref() {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => FMT.sprint_v(other),
        };
        Some(match name {
            "include" => arity(2).and_then(|()| {
                let template = text(&vals[0]);
                // Taken, not copied: the call's arguments are not used after it.
                let data = vals[1].take().unwrap_or_else(null);
                let mut out = String::new();
                self.call_template(pos, &template, data, &mut out)
                    .map(|()| Some(Rc::new(Value::String(out))))
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
                let data = vals[1].take().unwrap_or_else(null);
                self.tpl(&source, data)
                    .map(|out| Some(Rc::new(Value::String(out.replace("<no value>", "")))))
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
            "required" => arity(2).and_then(|()| match vals[1].as_deref() {
                None | Some(Value::Null) => Err(self.stopped(pos, "required", text(&vals[0]))),
                Some(Value::String(s)) if s.is_empty() => {
                    Err(self.stopped(pos, "required", text(&vals[0])))
                }
                Some(_) => Ok(vals[1].take()),
            }),
            "fail" => arity(1).and_then(|()| Err(self.stopped(pos, "fail", text(&vals[0])))),
            "lookup" => arity(4).map(|()| Some(Rc::new(Value::Object(serde_json::Map::new())))),
            // sigs.k8s.io/yaml's layout, byte for byte (charts hash it).
            "toYaml" => arity(1).map(|()| {
                Some(Rc::new(Value::String(crate::goyaml::to_yaml(
                    vals[0].as_deref().unwrap_or(&Value::Null),
                ))))
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
        let name = data
            .pointer("/Template/Name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.file.to_string());
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

    /// Walks a field chain from `recv`, applying the missing-key policy: the chain is followed
    /// through borrowed values, and only the value it reaches is copied.
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
        let Some(root) = recv else {
            if self.missing == MissingKey::Error {
                return Err(self.err(
                    pos,
                    &node.describe(),
                    format!("nil data; no entry for key {seg:?}"),
                ));
            }
            return Ok(None);
        };
        let mut cur: &Value = &root;
        for (i, seg) in path.iter().enumerate() {
            let rest = &path[i + 1..];
            cur = match cur {
                Value::Object(m) if crate::helm::is_method(m, seg) => {
                    let v = crate::helm::call_method(cur, seg, &[])
                        .map_err(|e| self.func_err(pos, &node.describe(), e))?;
                    return self.chain(pos, node, Some(Rc::new(v)), rest);
                }
                Value::Object(m) => match m.get(seg) {
                    Some(v) => v,
                    None => match self.missing {
                        MissingKey::Error => {
                            return Err(self.err(
                                pos,
                                &node.describe(),
                                format!("map has no entry for key {seg:?}"),
                            ));
                        }
                        MissingKey::Zero => return self.chain(pos, node, Some(null()), rest),
                        MissingKey::Default => return self.chain(pos, node, None, rest),
                    },
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
        Ok(Some(Rc::new(cur.clone())))
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
                let t = truth_of(v.as_deref());
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
        let limits = &self.meter.limits;
        if !funcs::is_observer(name) {
            // The result holds (a copy of) its arguments: refuse to build it if they alone
            // are over the limit.
            limits
                .check_values(vals.iter().flatten().map(|v| &**v))
                .map_err(|l| self.func_err(pos, name, funcs::over(name)(l)))?;
        }
        if self.functions == crate::FunctionSet::Helm
            && let Some(result) = self.helm_call(pos, name, &mut vals)
        {
            return result.and_then(|v| self.checked(pos, name, v));
        }
        if self.functions == crate::FunctionSet::Crossplane
            && name == "include"
            && let Some(result) = self.helm_call(pos, name, &mut vals)
        {
            return result.and_then(|v| self.checked(pos, name, v));
        }
        // The functions work on values of their own: an argument still held elsewhere (a
        // variable, the dot) is copied here, one nobody else holds is moved.
        let vals: Vec<Val> = vals.into_iter().map(owned).collect();
        if self.functions == crate::FunctionSet::Crossplane
            && let Some(result) = crate::crossplane::call(name, &vals)
        {
            let value = result.map_err(|e| self.func_err(pos, name, e))?;
            return self.checked(pos, name, Some(Rc::new(value)));
        }
        let mutates = matches!(
            self.functions,
            crate::FunctionSet::Helm | crate::FunctionSet::Crossplane
        ) && matches!(
            name,
            "set" | "unset" | "merge" | "mergeOverwrite" | "mustMerge" | "mustMergeOverwrite"
        );
        if mutates && self.functions == crate::FunctionSet::Helm {
            self.refuse_shared_mutation(pos, name, args.first(), dot)?;
        }
        let result =
            funcs::call(name, vals, &self.meter.limits).map_err(|e| self.func_err(pos, name, e))?;
        let result = self.checked(pos, name, result.map(Rc::new))?;
        if mutates
            && let (Some(Arg::Variable(_, var, path)), Some(updated)) = (args.first(), &result)
        {
            // Go's maps are shared: `set $ctx "k" v` changes `$ctx` itself, and every other
            // variable holding the same map (`$b := $ctx`).
            self.assign_path(var, path, updated.clone());
        }
        Ok(result)
    }

    /// `result` of the function `name`, if it is within the limits of one value and of all
    /// the values built so far.
    fn checked(&self, pos: usize, name: &str, result: SVal) -> Result<SVal, TemplateError> {
        if let Some(v) = &result {
            self.meter
                .limits
                .check_value(v)
                .and_then(|bytes| self.meter.built(bytes))
                .map_err(|l| self.func_err(pos, name, funcs::over(name)(l)))?;
        }
        Ok(result)
    }

    /// Refuses `set`, `unset` and the merges on the template's data: `.`, `$`, a field of
    /// them, or a variable holding the same map. Go changes that map in place, and every later
    /// action, `include` and template file sees the change; Strata's template data is a
    /// value each of those gets a copy of, so the result would differ silently.
    fn refuse_shared_mutation(
        &self,
        pos: usize,
        name: &str,
        first: Option<&Arg>,
        dot: &Data,
    ) -> Result<(), TemplateError> {
        let shared = match first {
            Some(Arg::Dot(_) | Arg::Field(..)) => true,
            Some(Arg::Variable(_, var, _)) if var == "$" => true,
            Some(Arg::Variable(_, var, _)) => {
                let root = self.vars.first().map(|(_, v)| v);
                self.vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == var)
                    .is_some_and(|(_, v)| {
                        Rc::ptr_eq(v, dot) || root.is_some_and(|r| Rc::ptr_eq(v, r))
                    })
            }
            _ => false,
        };
        if shared {
            return Err(self.func_err(
                pos,
                name,
                crate::FuncError::Unsupported {
                    func: name.to_string(),
                    reason: "changing the template's data (`.`, `$`, a field of them, or a \
                             variable holding them) is not supported: Go shares that map with \
                             later actions, includes and templates",
                },
            ));
        }
        Ok(())
    }

    /// Stores `value` at `$var.path…`, as an in-place change of a Go map would be seen.
    fn assign_path(&mut self, var: &str, path: &[String], value: Data) {
        if path.is_empty() {
            // Every variable holding the same map sees the change.
            let old = self
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == var)
                .map(|(_, v)| v.clone());
            if let Some(old) = old {
                for slot in self.vars.iter_mut() {
                    if Rc::ptr_eq(&slot.1, &old) {
                        slot.1 = value.clone();
                    }
                }
            }
            return;
        }
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == var) {
            let mut target = Rc::make_mut(&mut slot.1);
            for seg in path {
                match target {
                    Value::Object(m) => match m.get_mut(seg) {
                        Some(next) => target = next,
                        None => return,
                    },
                    _ => return,
                }
            }
            *target = Rc::unwrap_or_clone(value);
        }
    }

    pub(crate) fn func_err(&self, pos: usize, name: &str, e: crate::FuncError) -> TemplateError {
        TemplateError::function_in(&self.file, &self.executing, &self.src, pos, name, e)
    }
}

/// A shared null.
fn null() -> Data {
    Rc::new(Value::Null)
}
