//! ArgoCD-compatible Lua health scripts, run in a sandboxed embedded Lua 5.4.
//!
//! A script sees the live object as the global `obj` and returns a table `{status, message}`
//! (or nothing, meaning "no opinion"). The sandbox loads only the `table`, `string` and `math`
//! libraries and the safe parts of the base library: no `io`, `os`, `require`, `load`,
//! `loadfile` or `dofile`; touching any of them stops the script with
//! [`LuaHealthError::Forbidden`]. Every run gets a fresh interpreter with an instruction budget,
//! a wall-clock deadline and a memory cap ([`LuaLimits`]). `table.getn` is provided, as the Lua
//! 5.1 interpreter ArgoCD embeds has it.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::serde::SerializeOptions;
use mlua::{HookTriggers, Lua, LuaOptions, LuaSerdeExt, StdLib, VmState};
use serde_json::Value;

use crate::status::{HealthStatus, HealthStatusCode};

/// Names a health script may not use.
pub const FORBIDDEN_GLOBALS: [&str; 10] = [
    "os",
    "io",
    "require",
    "package",
    "debug",
    "load",
    "loadfile",
    "dofile",
    "collectgarbage",
    "print",
];

/// How often (in VM instructions) the limit hook runs.
const HOOK_EVERY: u32 = 1_000;

/// Resource limits for one script run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaLimits {
    /// Maximum number of Lua VM instructions (checked every 1 000 instructions).
    pub max_instructions: u64,
    /// Maximum wall-clock time.
    pub timeout: Duration,
    /// Maximum memory the interpreter may allocate, in bytes.
    pub max_memory_bytes: usize,
}

impl Default for LuaLimits {
    fn default() -> Self {
        Self {
            max_instructions: 10_000_000,
            timeout: Duration::from_secs(1),
            max_memory_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a Lua health script did not produce a health.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LuaHealthError {
    /// The script does not parse.
    #[error("health script does not compile: {0}")]
    Syntax(String),
    /// The script used a library or function the sandbox does not offer.
    #[error("health script used `{name}`, which is not available in the health-script sandbox")]
    Forbidden {
        /// The forbidden global the script touched.
        name: String,
    },
    /// The script ran past its instruction budget (an endless loop, for instance).
    #[error("health script stopped after exceeding its budget of {limit} instructions")]
    InstructionLimit {
        /// The budget.
        limit: u64,
    },
    /// The script ran past its deadline.
    #[error("health script stopped after exceeding its time limit of {timeout:?}")]
    Timeout {
        /// The deadline.
        timeout: Duration,
    },
    /// The script raised an error or returned something that is not a health table.
    #[error("health script failed: {0}")]
    Runtime(String),
}

const STOP_NONE: u8 = 0;
const STOP_INSTRUCTIONS: u8 = 1;
const STOP_TIMEOUT: u8 = 2;

/// A compiled-checked Lua health script with its limits.
#[derive(Debug, Clone)]
pub struct LuaHealthScript {
    source: String,
    limits: LuaLimits,
}

impl LuaHealthScript {
    /// Checks the script's syntax; it runs with the default [`LuaLimits`].
    pub fn new(source: &str) -> Result<Self, LuaHealthError> {
        Self::with_limits(source, LuaLimits::default())
    }

    /// Checks the script's syntax; it runs with the given limits.
    pub fn with_limits(source: &str, limits: LuaLimits) -> Result<Self, LuaHealthError> {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::new())
            .map_err(|e| LuaHealthError::Runtime(e.to_string()))?;
        lua.load(source)
            .set_name("health.lua")
            .into_function()
            .map_err(|e| LuaHealthError::Syntax(e.to_string()))?;
        Ok(Self {
            source: source.to_string(),
            limits,
        })
    }

    /// The script's source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The limits every run gets.
    pub fn limits(&self) -> &LuaLimits {
        &self.limits
    }

    /// Runs the script against a live object.
    ///
    /// `Ok(None)` when the script returns nothing or an empty table; a status outside ArgoCD's six
    /// values gives Unknown "Lua returned an invalid health status", as in ArgoCD.
    pub fn evaluate(&self, obj: &Value) -> Result<Option<HealthStatus>, LuaHealthError> {
        let sandbox = Sandbox::new(&self.limits)?;
        sandbox.run(&self.source, obj)
    }
}

struct Sandbox {
    lua: Lua,
    stop_reason: Arc<AtomicU8>,
    forbidden: Arc<Mutex<Option<String>>>,
    limits: LuaLimits,
}

impl Sandbox {
    fn new(limits: &LuaLimits) -> Result<Self, LuaHealthError> {
        let runtime = |e: mlua::Error| LuaHealthError::Runtime(e.to_string());
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )
        .map_err(runtime)?;
        lua.set_memory_limit(limits.max_memory_bytes)
            .map_err(runtime)?;
        let forbidden = Arc::new(Mutex::new(None));
        let globals = lua.globals();
        for name in FORBIDDEN_GLOBALS {
            globals.raw_set(name, mlua::Nil).map_err(runtime)?;
        }
        let string: mlua::Table = globals.get("string").map_err(runtime)?;
        string.raw_set("dump", mlua::Nil).map_err(runtime)?;
        lua.load("table.getn = function(t) return #t end")
            .exec()
            .map_err(runtime)?;

        // Reading a forbidden global stops the script with a clear error.
        let seen = Arc::clone(&forbidden);
        let guard = lua
            .create_function(move |_, (_table, key): (mlua::Value, mlua::Value)| {
                if let mlua::Value::String(key) = key {
                    let key = key.to_string_lossy();
                    if FORBIDDEN_GLOBALS.contains(&key.as_str()) {
                        if let Ok(mut slot) = seen.lock() {
                            *slot = Some(key.clone());
                        }
                        return Err(mlua::Error::runtime(format!(
                            "`{key}` is not available in the health-script sandbox"
                        )));
                    }
                }
                Ok(mlua::Nil)
            })
            .map_err(runtime)?;
        let meta = lua.create_table().map_err(runtime)?;
        meta.set("__index", guard).map_err(runtime)?;
        globals.set_metatable(Some(meta)).map_err(runtime)?;

        let stop_reason = Arc::new(AtomicU8::new(STOP_NONE));
        let executed = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + limits.timeout;
        let max_instructions = limits.max_instructions;
        let reason = Arc::clone(&stop_reason);
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                let count = executed.fetch_add(u64::from(HOOK_EVERY), Ordering::Relaxed)
                    + u64::from(HOOK_EVERY);
                if count > max_instructions {
                    reason.store(STOP_INSTRUCTIONS, Ordering::Relaxed);
                    return Err(mlua::Error::runtime("instruction budget exceeded"));
                }
                if Instant::now() >= deadline {
                    reason.store(STOP_TIMEOUT, Ordering::Relaxed);
                    return Err(mlua::Error::runtime("time limit exceeded"));
                }
                Ok(VmState::Continue)
            },
        )
        .map_err(runtime)?;
        Ok(Self {
            lua,
            stop_reason,
            forbidden,
            limits: limits.clone(),
        })
    }

    fn run(&self, source: &str, obj: &Value) -> Result<Option<HealthStatus>, LuaHealthError> {
        let options = SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false)
            .set_array_metatable(false);
        let lua_obj = self
            .lua
            .to_value_with(obj, options)
            .map_err(|e| LuaHealthError::Runtime(e.to_string()))?;
        self.lua
            .globals()
            .raw_set("obj", lua_obj)
            .map_err(|e| LuaHealthError::Runtime(e.to_string()))?;
        let chunk = self
            .lua
            .load(source)
            .set_name("health.lua")
            .into_function()
            .map_err(|e| LuaHealthError::Syntax(e.to_string()))?;
        match chunk.call::<mlua::Value>(()) {
            Ok(value) => health_from_lua(value),
            Err(err) => Err(self.classify(err)),
        }
    }

    fn classify(&self, err: mlua::Error) -> LuaHealthError {
        match self.stop_reason.load(Ordering::Relaxed) {
            STOP_INSTRUCTIONS => {
                return LuaHealthError::InstructionLimit {
                    limit: self.limits.max_instructions,
                };
            }
            STOP_TIMEOUT => {
                return LuaHealthError::Timeout {
                    timeout: self.limits.timeout,
                };
            }
            _ => {}
        }
        if let Ok(slot) = self.forbidden.lock()
            && let Some(name) = slot.clone()
        {
            return LuaHealthError::Forbidden { name };
        }
        LuaHealthError::Runtime(err.to_string())
    }
}

fn health_from_lua(value: mlua::Value) -> Result<Option<HealthStatus>, LuaHealthError> {
    let table = match value {
        mlua::Value::Nil => return Ok(None),
        mlua::Value::Table(table) => table,
        other => {
            return Err(LuaHealthError::Runtime(format!(
                "expected a table with status and message, got a {}",
                other.type_name()
            )));
        }
    };
    let field = |name: &str| -> Result<Option<String>, LuaHealthError> {
        table
            .get::<Option<String>>(name)
            .map_err(|e| LuaHealthError::Runtime(format!("field `{name}`: {e}")))
    };
    let status = field("status")?;
    let message = field("message")?.unwrap_or_default();
    let Some(status) = status.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(match HealthStatusCode::parse(&status) {
        Some(code) => HealthStatus::new(code, message),
        None => HealthStatus::unknown("Lua returned an invalid health status"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CERT_SCRIPT: &str = r#"
local hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for " .. obj.kind .. " (" .. table.getn(obj.spec.items) .. " items)"
return hs
"#;

    #[test]
    fn working_script_reads_the_object() {
        let script = LuaHealthScript::new(CERT_SCRIPT).expect("compiles");
        let ready = json!({"kind": "Widget", "spec": {"items": []}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "message": "all good"}]}});
        assert_eq!(
            script.evaluate(&ready),
            Ok(Some(HealthStatus::healthy("all good")))
        );
        let waiting = json!({"kind": "Widget", "spec": {"items": [1, 2]}, "status": null});
        assert_eq!(
            script.evaluate(&waiting),
            Ok(Some(HealthStatus::progressing(
                "Waiting for Widget (2 items)"
            )))
        );
    }

    #[test]
    fn looping_script_is_stopped_by_the_instruction_budget() {
        let script = LuaHealthScript::new("while true do end").expect("compiles");
        let err = script.evaluate(&json!({})).expect_err("must stop");
        assert_eq!(err, LuaHealthError::InstructionLimit { limit: 10_000_000 });
        assert!(err.to_string().contains("exceeding its budget"));
    }

    #[test]
    fn slow_script_is_stopped_by_the_deadline() {
        let limits = LuaLimits {
            max_instructions: u64::MAX,
            timeout: Duration::from_millis(50),
            ..LuaLimits::default()
        };
        let script =
            LuaHealthScript::with_limits("local x = 0 while true do x = x + 1 end", limits)
                .expect("compiles");
        let started = Instant::now();
        let err = script.evaluate(&json!({})).expect_err("must stop");
        assert!(matches!(err, LuaHealthError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn os_and_io_and_loaders_are_forbidden() {
        for (source, name) in [
            (
                "os.execute('touch /tmp/strata-pwned') return {status='Healthy'}",
                "os",
            ),
            (
                "local f = io.open('/etc/passwd') return {status='Healthy'}",
                "io",
            ),
            ("require('socket')", "require"),
            ("dofile('/etc/passwd')", "dofile"),
            ("load('return 1')()", "load"),
        ] {
            let script = LuaHealthScript::new(source).expect("compiles");
            let err = script.evaluate(&json!({})).expect_err("must be refused");
            assert_eq!(
                err,
                LuaHealthError::Forbidden {
                    name: name.to_string()
                },
                "{source}"
            );
            assert!(
                err.to_string()
                    .contains("not available in the health-script sandbox")
            );
        }
    }

    #[test]
    fn memory_hungry_script_fails() {
        let limits = LuaLimits {
            max_memory_bytes: 1024 * 1024,
            ..LuaLimits::default()
        };
        let script = LuaHealthScript::with_limits(
            "local t = {} for i = 1, 1000000 do t[i] = string.rep('x', 100) .. i end",
            limits,
        )
        .expect("compiles");
        assert!(matches!(
            script.evaluate(&json!({})),
            Err(LuaHealthError::Runtime(_))
        ));
    }

    #[test]
    fn results_follow_argocd_rules() {
        let run = |src: &str| {
            LuaHealthScript::new(src)
                .expect("compiles")
                .evaluate(&json!({}))
        };
        assert_eq!(run("return nil"), Ok(None));
        assert_eq!(run("return {}"), Ok(None));
        assert_eq!(
            run("return {status = 'Great'}"),
            Ok(Some(HealthStatus::unknown(
                "Lua returned an invalid health status"
            )))
        );
        assert!(
            matches!(run("error('boom')"), Err(LuaHealthError::Runtime(m)) if m.contains("boom"))
        );
        assert!(matches!(
            LuaHealthScript::new("if then"),
            Err(LuaHealthError::Syntax(_))
        ));
    }
}
