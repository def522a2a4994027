//! jq path expressions for ignoreDifferences, run with the `jaq` interpreter.
//!
//! An expression `X` is compiled as `del(X)`. Compiling happens once when the rules are built
//! (a parse error is a configuration error); running caches the compiled filter per thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

use crate::error::DriftError;

/// Why a jq path expression could not be compiled or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JqError {
    /// The program does not parse or compile (jaq's diagnostics).
    #[error("{0}")]
    Compile(String),
    /// The document could not be handed to jq.
    #[error("the document could not be read by jq: {0}")]
    Input(String),
    /// The program failed while running (jaq's error).
    #[error("{0}")]
    Runtime(String),
    /// The program produced no document.
    #[error("did not return any data")]
    NoOutput,
    /// The program produced more than one document.
    #[error("returned multiple objects")]
    MultipleOutputs,
    /// The document could not be converted between JSON and jq values.
    #[error("the document could not be converted: {0}")]
    Json(#[from] serde_json::Error),
}

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<Filter>>> = RefCell::new(HashMap::new());
}

fn compile(code: &str) -> Result<Filter, JqError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| JqError::Compile(format!("{errs:?}")))?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| JqError::Compile(format!("{errs:?}")))
}

/// A validated jq path expression whose deletion can be applied to documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqDelete {
    expression: String,
    program: String,
}

impl JqDelete {
    /// Compiles `del(expression)`; a parse or compile error is a configuration error.
    pub fn new(expression: &str) -> Result<Self, DriftError> {
        let program = format!("del({expression})");
        let filter = compile(&program).map_err(|source| DriftError::InvalidJq {
            expression: expression.to_string(),
            source,
        })?;
        CACHE.with(|c| c.borrow_mut().insert(program.clone(), Rc::new(filter)));
        Ok(Self {
            expression: expression.to_string(),
            program,
        })
    }

    /// The expression as configured.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Runs the deletion; it must yield exactly one document.
    pub fn apply(&self, doc: &Value) -> Result<Value, JqError> {
        let filter = CACHE.with(|c| c.borrow().get(&self.program).cloned());
        let filter = match filter {
            Some(f) => f,
            None => {
                let f = Rc::new(compile(&self.program)?);
                CACHE.with(|c| c.borrow_mut().insert(self.program.clone(), f.clone()));
                f
            }
        };
        let text = serde_json::to_string(doc)?;
        let input = jaq_json::read::parse_single(text.as_bytes())
            .map_err(|e| JqError::Input(format!("{e:?}")))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
        let mut outputs = filter.id.run((ctx, input)).map(unwrap_valr);
        let first = match outputs.next() {
            None => return Err(JqError::NoOutput),
            Some(Err(e)) => return Err(JqError::Runtime(format!("{e:?}"))),
            Some(Ok(v)) => v,
        };
        if outputs.next().is_some() {
            return Err(JqError::MultipleOutputs);
        }
        Ok(serde_json::from_str(&first.to_string())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_selected_fields() {
        let jq =
            JqDelete::new(".spec.template.spec.containers[] | select(.name == \"a\") | .image")
                .expect("valid");
        let doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
        let out = jq.apply(&doc).expect("runs");
        assert_eq!(
            out,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a"}, {"name": "b", "image": "y"}]}}}})
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(JqDelete::new(".spec | select(.name == \"missing-quote)").is_err());
    }
}
