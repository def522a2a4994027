//! ArgoCD-compatible Lua health scripts, run as ArgoCD runs them (Lua 5.1) in a sandbox.
//!
//! ArgoCD evaluates health scripts with gopher-lua, a Lua 5.1 interpreter; Strata embeds the
//! reference Lua 5.1 (PUC-Rio 5.1.5), so `unpack`, `table.getn`, `setfenv`/`getfenv`, `#` on
//! tables and number formatting (`10/2` prints `5`, `1/3` prints `0.33333333333333`) behave as in
//! ArgoCD. gopher-lua also accepts Lua 5.2's `goto`, which ArgoCD's own scripts use to skip to
//! the end of a loop body; that use is translated to Lua 5.1 ([`goto`]), so a team
//! can point Strata at ArgoCD's `resource_customizations` library unchanged.
//!
//! A script sees the live object as the global `obj` and returns a table `{status, message}`
//! (or nothing, meaning "no opinion"). The globals are those ArgoCD gives its scripts, minus
//! what would let a script reach outside its sandbox:
//!
//! - the base library: `assert`, `error`, `ipairs`, `next`, `pairs`, `pcall`, `xpcall`,
//!   `select`, `tonumber`, `tostring`, `type`, `unpack`, `rawequal`, `rawget`, `rawset`,
//!   `getmetatable`, `setmetatable`, `getfenv`, `setfenv`, `_G`, `_VERSION`, and `print` (which
//!   prints nothing) and `collectgarbage` (which only answers `"count"`);
//! - `table`, `string` (without `string.dump`), `math`, `coroutine`;
//! - ArgoCD's safe `os`: `os.time` and `os.date` only; `require` gives the libraries above by
//!   name (`require("os")`, as ArgoCD preloads it) and nothing else.
//!
//! `io`, `debug` and `package` are absent, and `module`, `load`, `loadstring`, `loadfile`,
//! `dofile`, `newproxy` and `string.dump` are stubs: reading one of the libraries or calling one
//! of the functions (directly, through `_G`, `rawget`, `getfenv` or a string's metatable) stops
//! the script with [`LuaHealthError::Forbidden`]. Every run gets a fresh interpreter with an instruction
//! budget, a wall-clock deadline and a memory cap ([`LuaLimits`]), enforced in coroutines too;
//! once a limit is hit, `pcall`, `xpcall` and `coroutine.resume` no longer catch the error, so a
//! script cannot swallow it and go on. `string.rep` refuses results larger than the memory cap
//! before building them, and pattern matching (`string.find`, `match`, `gmatch`, `gsub`) runs in
//! a port of Lua 5.1's matcher whose steps count against the instruction budget and deadline
//! ([`patterns`]): Lua's own C matcher cannot be interrupted, and a
//! backtracking pattern would run for minutes.

pub mod goto;
pub mod patterns;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::serde::SerializeOptions;
use mlua::{HookTriggers, Lua, LuaOptions, LuaSerdeExt, StdLib, VmState};
use serde_json::Value;

use crate::status::{HealthStatus, HealthStatusCode};

/// Names a health script may not use: stubs stand in their place, and using one stops the
/// script with [`LuaHealthError::Forbidden`].
pub const FORBIDDEN_GLOBALS: [&str; 9] = [
    "io",
    "debug",
    "package",
    "module",
    "load",
    "loadstring",
    "loadfile",
    "dofile",
    "newproxy",
];

/// The forbidden names that are libraries (absent; reading one stops the script). The others
/// are functions, replaced by stubs that stop the script when called.
const FORBIDDEN_LIBRARIES: [&str; 3] = ["io", "debug", "package"];

/// The globals a health script gets (besides `obj`).
const ALLOWED_GLOBALS: [&str; 30] = [
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "xpcall",
    "select",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "rawequal",
    "rawget",
    "rawset",
    "getmetatable",
    "setmetatable",
    "getfenv",
    "setfenv",
    "_G",
    "_VERSION",
    "print",
    "collectgarbage",
    "require",
    "table",
    "string",
    "math",
    "coroutine",
    "os",
    "gcinfo",
];

/// How often (in VM instructions) the limit hook runs.
const HOOK_EVERY: u32 = 1_000;

/// Resource limits for one script run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LuaLimits {
    /// Maximum number of Lua VM instructions (checked every 1 000 instructions, coroutines
    /// included).
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

impl LuaLimits {
    /// Sets [`max_instructions`](Self::max_instructions).
    pub fn with_max_instructions(mut self, max_instructions: u64) -> Self {
        self.max_instructions = max_instructions;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`max_memory_bytes`](Self::max_memory_bytes).
    pub fn with_max_memory_bytes(mut self, max_memory_bytes: usize) -> Self {
        self.max_memory_bytes = max_memory_bytes;
        self
    }
}

/// Why a Lua health script did not produce a health.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LuaHealthError {
    /// The script does not parse (or uses a `goto` Lua 5.1 cannot express).
    #[error("health script does not compile: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
        /// The parser's error (Lua's, or the `goto` translation's).
        #[source]
        source: Option<SharedCause>,
    },
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
    /// The script tried to allocate more memory than it may.
    #[error("health script stopped after exceeding its memory limit of {} bytes ({} MiB)", .limit, .limit / (1024 * 1024))]
    MemoryLimit {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The script's calls nested deeper than Lua allows (runaway recursion).
    #[error(
        "health script stopped after exceeding Lua's call depth limit (stack overflow): {message}"
    )]
    StackOverflow {
        /// What overflowed (the first line of Lua's message, or the protected calls' depth).
        message: String,
        /// Lua's error, when Lua overflowed (not when the sandbox's own depth limit stopped
        /// protected calls).
        #[source]
        source: Option<SharedCause>,
    },
    /// The script raised an error or returned something that is not a health table.
    #[error("health script failed: {message}")]
    Runtime {
        /// Lua's message, or what is wrong with the returned value.
        message: String,
        /// Lua's error, when Lua raised one.
        #[source]
        source: Option<SharedCause>,
    },
}

impl LuaHealthError {
    /// A [`LuaHealthError::Syntax`] raised from `source`, with its message.
    pub(crate) fn syntax(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        LuaHealthError::Syntax {
            message: source.to_string(),
            source: Some(SharedCause::new(source)),
        }
    }

    /// A [`LuaHealthError::Runtime`] with `message`, raised from `source`.
    fn runtime_from(message: String, source: mlua::Error) -> Self {
        LuaHealthError::Runtime {
            message,
            source: Some(SharedCause::new(source)),
        }
    }
}

pub use strata_core::cause::SharedCause;

const STOP_NONE: u8 = 0;
const STOP_INSTRUCTIONS: u8 = 1;
const STOP_TIMEOUT: u8 = 2;
const STOP_MEMORY: u8 = 3;
const STOP_FORBIDDEN: u8 = 4;
const STOP_DEPTH: u8 = 5;

/// How deep `pcall` and `xpcall` may nest (and, separately, `coroutine.resume`). Lua 5.1 stops C recursion at 200 levels; protected
/// calls are stopped well before, with a clear error, so that they never meet Lua's own limit
/// (whose error, caught by Lua 5.1's `pcall`, can leave the stack inconsistent).
pub const MAX_PROTECTED_CALL_DEPTH: usize = 64;

/// A compile-checked Lua health script with its limits.
#[derive(Debug, Clone)]
pub struct LuaHealthScript {
    source: String,
    /// The source as Lua 5.1 runs it (`goto continue` translated).
    runnable: String,
    limits: LuaLimits,
}

impl LuaHealthScript {
    /// Checks the script's syntax; it runs with the default [`LuaLimits`].
    pub fn new(source: &str) -> Result<Self, LuaHealthError> {
        Self::with_limits(source, LuaLimits::default())
    }

    /// Checks the script's syntax; it runs with the given limits.
    pub fn with_limits(source: &str, limits: LuaLimits) -> Result<Self, LuaHealthError> {
        let runnable = goto::translate(source)
            .map_err(LuaHealthError::syntax)?
            .into_owned();
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::new()).map_err(runtime)?;
        lua.load(runnable.as_str())
            .set_name("health.lua")
            .into_function()
            .map_err(LuaHealthError::syntax)?;
        Ok(Self {
            source: source.to_string(),
            runnable,
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
    /// values (or none, in a table that has other fields) gives Unknown "Lua returned an invalid
    /// health status", as in ArgoCD.
    pub fn evaluate(&self, obj: &Value) -> Result<Option<HealthStatus>, LuaHealthError> {
        let sandbox = Sandbox::new(&self.limits)?;
        sandbox.run(&self.runnable, obj)
    }
}

struct Sandbox {
    lua: Lua,
    stop_reason: Arc<AtomicU8>,
    forbidden: Arc<Mutex<Option<String>>>,
    limits: LuaLimits,
}

fn runtime(e: mlua::Error) -> LuaHealthError {
    LuaHealthError::runtime_from(e.to_string(), e)
}

/// The Lua part of the sandbox's setup: `pcall`, `xpcall` (made in Rust) and
/// `coroutine.resume` that let a stopped script's error through, and the safe `os` and
/// `require`.
const PRELUDE: &str = r#"
local rawresume, error = coroutine.resume, error
local stopped = __strata_stopped
local function check(ok, ...)
  if not ok and stopped() then error((...), 0) end
  return ok, ...
end
pcall = __strata_pcall
xpcall = __strata_xpcall
local resumes, max_resumes, too_deep = 0, __strata_max_depth, __strata_too_deep
local function leave(...)
  resumes = resumes - 1
  return ...
end
coroutine.resume = function(...)
  if resumes >= max_resumes then return too_deep() end
  resumes = resumes + 1
  return leave(check(rawresume(...)))
end
local safe_os = {time = os.time, date = os.date}
os = safe_os
local libraries = {os = safe_os, string = string, table = table, math = math, coroutine = coroutine}
local forbid = __strata_forbid
require = function(name)
  local library = libraries[name]
  if library == nil then return forbid('require("' .. tostring(name) .. '")') end
  return library
end
__strata_stopped = nil
__strata_forbid = nil
__strata_pcall = nil
__strata_xpcall = nil
__strata_max_depth = nil
__strata_too_deep = nil
"#;

impl Sandbox {
    fn new(limits: &LuaLimits) -> Result<Self, LuaHealthError> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS,
            LuaOptions::new(),
        )
        .map_err(runtime)?;
        let stop_reason = Arc::new(AtomicU8::new(STOP_NONE));
        let forbidden = Arc::new(Mutex::new(None));
        let globals = lua.globals();

        // Only the allowed globals stay.
        let mut present = Vec::new();
        for pair in globals.clone().pairs::<mlua::Value, mlua::Value>() {
            let (key, _) = pair.map_err(runtime)?;
            present.push(key);
        }
        for key in present {
            let keep = matches!(&key, mlua::Value::String(s)
                if ALLOWED_GLOBALS.contains(&s.to_string_lossy().as_str()));
            if !keep {
                globals.raw_set(key, mlua::Nil).map_err(runtime)?;
            }
        }
        let string: mlua::Table = globals.get("string").map_err(runtime)?;

        // `print` prints nothing; `collectgarbage` only counts.
        let print = lua
            .create_function(|_, _: mlua::MultiValue| Ok(()))
            .map_err(runtime)?;
        globals.raw_set("print", print).map_err(runtime)?;
        let count = lua
            .create_function(|lua, option: Option<String>| match option.as_deref() {
                None | Some("count") => Ok(lua.used_memory() as f64 / 1024.0),
                Some(_) => Ok(0.0),
            })
            .map_err(runtime)?;
        globals.raw_set("collectgarbage", count).map_err(runtime)?;

        // `string.rep` refuses to build more than the memory cap.
        let rep: mlua::Function = string.get("rep").map_err(runtime)?;
        let cap = limits.max_memory_bytes;
        let reason = Arc::clone(&stop_reason);
        let guarded_rep = lua
            .create_function(move |lua, (s, n): (mlua::LuaString, f64)| {
                let len = s.as_bytes().len();
                if len == 0 || n < 1.0 || n.is_nan() {
                    return lua.create_string("");
                }
                if (len as f64) * n.floor() > cap as f64 {
                    reason.store(STOP_MEMORY, Ordering::Relaxed);
                    return Err(mlua::Error::runtime(format!(
                        "string.rep would build {} bytes, over the memory limit of {cap} bytes",
                        (len as f64) * n.floor()
                    )));
                }
                rep.call::<mlua::LuaString>((s, n))
            })
            .map_err(runtime)?;
        string.raw_set("rep", guarded_rep).map_err(runtime)?;

        // A forbidden name stops the script however it is reached: reading it from the globals
        // (`io`, `_G.debug`), calling the stub left in its place (`rawget(_G, "loadstring")(…)`,
        // `string.dump`), or indexing a forbidden library's stub table (`io.open`).
        let forbid = {
            let seen = Arc::clone(&forbidden);
            let reason = Arc::clone(&stop_reason);
            move |name: String| -> mlua::Error {
                if let Ok(mut slot) = seen.lock() {
                    slot.get_or_insert_with(|| name.clone());
                }
                reason.store(STOP_FORBIDDEN, Ordering::Relaxed);
                mlua::Error::runtime(format!(
                    "`{name}` is not available in the health-script sandbox"
                ))
            }
        };
        let stub_function = |name: &'static str| {
            let forbid = forbid.clone();
            lua.create_function(move |_, _: mlua::MultiValue| {
                Err::<(), _>(forbid(name.to_string()))
            })
        };
        for name in FORBIDDEN_GLOBALS {
            if FORBIDDEN_LIBRARIES.contains(&name) {
                continue;
            }
            let stub = stub_function(name).map_err(runtime)?;
            globals.raw_set(name, stub).map_err(runtime)?;
        }
        // The forbidden libraries are absent; reading one (directly, through `_G`, or through a
        // table whose `__index` is `_G`) stops the script.
        let guard = {
            let forbid = forbid.clone();
            lua.create_function(move |_, (_table, key): (mlua::Value, mlua::Value)| {
                if let mlua::Value::String(key) = key {
                    let key = key.to_string_lossy();
                    if FORBIDDEN_LIBRARIES.contains(&key.as_str()) {
                        return Err::<mlua::Value, _>(forbid(key));
                    }
                }
                Ok(mlua::Nil)
            })
            .map_err(runtime)?
        };
        let meta = lua.create_table().map_err(runtime)?;
        meta.set("__index", guard).map_err(runtime)?;
        globals.set_metatable(Some(meta)).map_err(runtime)?;
        string
            .raw_set("dump", stub_function("string.dump").map_err(runtime)?)
            .map_err(runtime)?;

        let forbid_fn = {
            let forbid = forbid.clone();
            lua.create_function(move |_, name: String| Err::<(), _>(forbid(name)))
                .map_err(runtime)?
        };
        let reason = Arc::clone(&stop_reason);
        let stopped = lua
            .create_function(move |_, ()| Ok(reason.load(Ordering::Relaxed) != STOP_NONE))
            .map_err(runtime)?;
        globals
            .raw_set("__strata_stopped", stopped)
            .map_err(runtime)?;
        globals
            .raw_set("__strata_forbid", forbid_fn)
            .map_err(runtime)?;
        let depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let executed = Arc::new(AtomicU64::new(0));
        let budget = patterns::Budget {
            executed: Arc::clone(&executed),
            max_instructions: limits.max_instructions,
            deadline: Instant::now() + limits.timeout,
            stop_reason: Arc::clone(&stop_reason),
            instructions_reason: STOP_INSTRUCTIONS,
            timeout_reason: STOP_TIMEOUT,
            depth_reason: STOP_DEPTH,
            none_reason: STOP_NONE,
            nesting: Arc::clone(&depth),
            max_nesting: MAX_PROTECTED_CALL_DEPTH,
        };
        patterns::install(&lua, &string, &budget).map_err(runtime)?;
        let pcall = protected_call(&lua, &stop_reason, &depth, false).map_err(runtime)?;
        let xpcall = protected_call(&lua, &stop_reason, &depth, true).map_err(runtime)?;
        globals.raw_set("__strata_pcall", pcall).map_err(runtime)?;
        globals
            .raw_set("__strata_xpcall", xpcall)
            .map_err(runtime)?;
        globals
            .raw_set("__strata_max_depth", MAX_PROTECTED_CALL_DEPTH)
            .map_err(runtime)?;
        let reason = Arc::clone(&stop_reason);
        let too_deep = lua
            .create_function(move |_, ()| {
                let _ = reason.compare_exchange(
                    STOP_NONE,
                    STOP_DEPTH,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                Err::<(), _>(mlua::Error::runtime(
                    "stack overflow (protected calls nested too deep)",
                ))
            })
            .map_err(runtime)?;
        globals
            .raw_set("__strata_too_deep", too_deep)
            .map_err(runtime)?;
        lua.load(PRELUDE)
            .set_name("sandbox")
            .exec()
            .map_err(runtime)?;

        lua.set_memory_limit(limits.max_memory_bytes)
            .map_err(runtime)?;
        let deadline = Instant::now() + limits.timeout;
        let max_instructions = limits.max_instructions;
        let reason = Arc::clone(&stop_reason);
        let executed = Arc::clone(&executed);
        // A global hook: coroutines the script creates run under it too.
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                let count = executed.fetch_add(u64::from(HOOK_EVERY), Ordering::Relaxed)
                    + u64::from(HOOK_EVERY);
                if count > max_instructions {
                    let _ = reason.compare_exchange(
                        STOP_NONE,
                        STOP_INSTRUCTIONS,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    return Err(mlua::Error::runtime("instruction budget exceeded"));
                }
                if Instant::now() >= deadline {
                    let _ = reason.compare_exchange(
                        STOP_NONE,
                        STOP_TIMEOUT,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    return Err(mlua::Error::runtime("time limit exceeded"));
                }
                if reason.load(Ordering::Relaxed) != STOP_NONE {
                    return Err(mlua::Error::runtime("health script stopped"));
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
            .map_err(|e| self.classify(e))?;
        self.lua
            .globals()
            .raw_set("obj", lua_obj)
            .map_err(|e| self.classify(e))?;
        let chunk = self
            .lua
            .load(source)
            .set_name("health.lua")
            .into_function()
            .map_err(LuaHealthError::syntax)?;
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
            STOP_MEMORY => {
                return LuaHealthError::MemoryLimit {
                    limit: self.limits.max_memory_bytes,
                };
            }
            STOP_DEPTH => {
                return LuaHealthError::StackOverflow {
                    message: format!(
                        "protected calls (pcall, xpcall, coroutine.resume) nested more than {MAX_PROTECTED_CALL_DEPTH} deep"
                    ),
                    // The error is the sandbox's own (raised by its `pcall`), not Lua's.
                    source: None,
                };
            }
            STOP_FORBIDDEN => {
                if let Ok(slot) = self.forbidden.lock()
                    && let Some(name) = slot.clone()
                {
                    return LuaHealthError::Forbidden { name };
                }
            }
            _ => {}
        }
        let text = err.to_string();
        if matches!(err, mlua::Error::MemoryError(_)) || text.contains("not enough memory") {
            return LuaHealthError::MemoryLimit {
                limit: self.limits.max_memory_bytes,
            };
        }
        if text.contains("stack overflow") {
            return LuaHealthError::StackOverflow {
                message: first_line(&text),
                source: Some(SharedCause::new(err)),
            };
        }
        LuaHealthError::runtime_from(text, err)
    }
}

/// `pcall(f, ...)` (or `xpcall(f, handler)` when `with_handler`) made in Rust: the call runs in
/// mlua's own protected call, an error is returned as `false, message` unless the script has been
/// stopped (then it goes on up), and nesting is bounded by [`MAX_PROTECTED_CALL_DEPTH`].
fn protected_call(
    lua: &Lua,
    stop_reason: &Arc<AtomicU8>,
    depth: &Arc<std::sync::atomic::AtomicUsize>,
    with_handler: bool,
) -> mlua::Result<mlua::Function> {
    let reason = Arc::clone(stop_reason);
    let depth = Arc::clone(depth);
    lua.create_function(move |lua, mut args: mlua::MultiValue| {
        let callee = args.pop_front().unwrap_or(mlua::Nil);
        let (handler, args) = if with_handler {
            // Lua 5.1's xpcall takes no arguments for the function.
            (args.pop_front(), mlua::MultiValue::new())
        } else {
            (None, args)
        };
        let failed = |message: mlua::Value| {
            let mut out = mlua::MultiValue::new();
            out.push_back(mlua::Value::Boolean(false));
            out.push_back(message);
            out
        };
        let mlua::Value::Function(function) = callee else {
            let message = format!("attempt to call a {} value", callee.type_name());
            return Ok(failed(mlua::Value::String(lua.create_string(&message)?)));
        };
        if depth.fetch_add(1, Ordering::Relaxed) >= MAX_PROTECTED_CALL_DEPTH {
            depth.fetch_sub(1, Ordering::Relaxed);
            let _ = reason.compare_exchange(
                STOP_NONE,
                STOP_DEPTH,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return Err(mlua::Error::runtime(
                "stack overflow (protected calls nested too deep)",
            ));
        }
        let result = function.call::<mlua::MultiValue>(args);
        depth.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(values) => {
                let mut out = values;
                out.push_front(mlua::Value::Boolean(true));
                Ok(out)
            }
            Err(error) if reason.load(Ordering::Relaxed) != STOP_NONE => Err(error),
            Err(error) => {
                let message = mlua::Value::String(lua.create_string(error_message(&error))?);
                match handler {
                    Some(mlua::Value::Function(handler)) => {
                        let handled = handler.call::<mlua::Value>(message);
                        match handled {
                            Ok(value) => Ok(failed(value)),
                            Err(error) if reason.load(Ordering::Relaxed) != STOP_NONE => Err(error),
                            Err(error) => Ok(failed(mlua::Value::String(
                                lua.create_string(error_message(&error))?,
                            ))),
                        }
                    }
                    _ => Ok(failed(message)),
                }
            }
        }
    })
}

/// The message a Lua error carries, as Lua's own `pcall` would give it.
fn error_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) | mlua::Error::MemoryError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::WithContext { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

fn health_from_lua(value: mlua::Value) -> Result<Option<HealthStatus>, LuaHealthError> {
    let table = match value {
        mlua::Value::Nil => return Ok(None),
        mlua::Value::Table(table) => table,
        other => {
            return Err(LuaHealthError::Runtime {
                message: format!(
                    "expect table output from Lua script, not {}",
                    other.type_name()
                ),
                source: None,
            });
        }
    };
    let field = |name: &str| -> Result<Option<String>, LuaHealthError> {
        table.get::<Option<String>>(name).map_err(|source| {
            LuaHealthError::runtime_from(format!("field `{name}`: {source}"), source)
        })
    };
    let status = field("status")?;
    let message = field("message")?.unwrap_or_default();
    let empty = table
        .clone()
        .pairs::<mlua::Value, mlua::Value>()
        .next()
        .is_none();
    if empty {
        return Ok(None);
    }
    let Some(status) = status else {
        return Ok(Some(HealthStatus::unknown(
            "Lua returned an invalid health status",
        )));
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
    fn lua_51_semantics() {
        let run = |src: &str| {
            LuaHealthScript::new(src)
                .expect("compiles")
                .evaluate(&json!({"spec": {"replicas": 4, "items": [1, 2, 3]}}))
                .expect("runs")
                .expect("health")
                .message
        };
        assert_eq!(
            run("return {status='Healthy', message=tostring(obj.spec.replicas / 2)}"),
            "2"
        );
        assert_eq!(
            run("return {status='Healthy', message=tostring(1/3) .. ' ' .. 10/4}"),
            "0.33333333333333 2.5"
        );
        assert_eq!(
            run(
                "local a, b = unpack(obj.spec.items) return {status='Healthy', message=a .. b .. #obj.spec.items .. table.getn(obj.spec.items)}"
            ),
            "1233"
        );
        assert_eq!(
            run(
                "local f = function() return x end setfenv(f, {x = 'env'}) return {status='Healthy', message=f()}"
            ),
            "env"
        );
        assert_eq!(
            run(
                "local os = require('os') return {status='Healthy', message=type(os.time()) .. type(os.date) .. type(os.execute)}"
            ),
            "numberfunctionnil"
        );
        assert_eq!(
            run("return {status='Healthy', message=_VERSION}"),
            "Lua 5.1"
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
                "",
            ),
            (
                "local f = io.open('/etc/passwd') return {status='Healthy'}",
                "io",
            ),
            ("require('socket')", "require(\"socket\")"),
            ("dofile('/etc/passwd')", "dofile"),
            ("load('return 1')()", "load"),
            ("loadstring('return 1')()", "loadstring"),
            ("return string.dump(print)", "string.dump"),
        ] {
            let script = LuaHealthScript::new(source).expect("compiles");
            let err = script.evaluate(&json!({})).expect_err("must be refused");
            if name.is_empty() {
                // `os.execute` is simply absent from ArgoCD's safe `os`.
                assert!(
                    matches!(err, LuaHealthError::Runtime { .. }),
                    "{source}: {err:?}"
                );
                continue;
            }
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
            limits.clone(),
        )
        .expect("compiles");
        assert_eq!(
            script.evaluate(&json!({})),
            Err(LuaHealthError::MemoryLimit { limit: 1024 * 1024 })
        );
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
        assert_eq!(
            run("return {message = 'no status'}"),
            Ok(Some(HealthStatus::unknown(
                "Lua returned an invalid health status"
            )))
        );
        assert!(
            matches!(run("error('boom')"), Err(LuaHealthError::Runtime { message, .. }) if message.contains("boom"))
        );
        assert!(matches!(
            LuaHealthScript::new("if then"),
            Err(LuaHealthError::Syntax { .. })
        ));
    }

    #[test]
    fn lua_errors_are_kept_as_sources() {
        let err = LuaHealthScript::new("if then").unwrap_err();
        let source = std::error::Error::source(&err).expect("the parser's error");
        let lua = source.downcast_ref::<mlua::Error>().expect("an mlua error");
        assert!(matches!(lua, mlua::Error::SyntaxError { .. }), "{lua:?}");
        assert_eq!(
            err.to_string(),
            format!("health script does not compile: {lua}")
        );

        let err = LuaHealthScript::new("error('boom')")
            .unwrap()
            .evaluate(&json!({}))
            .unwrap_err();
        let source = std::error::Error::source(&err).expect("Lua's error");
        assert!(source.downcast_ref::<mlua::Error>().is_some(), "{source:?}");
        assert!(
            err.to_string().starts_with("health script failed: "),
            "{err}"
        );
        assert!(err.to_string().contains("boom"), "{err}");
        assert_eq!(err.clone(), err);

        let err = LuaHealthScript::new("goto continue\n::continue").unwrap_err();
        let source = std::error::Error::source(&err).expect("the translation's error");
        let translate = source
            .downcast_ref::<goto::TranslateError>()
            .expect("a translation error");
        assert_eq!(
            err.to_string(),
            format!("health script does not compile: {translate}")
        );
    }

    #[test]
    fn goto_continue_runs() {
        let script = LuaHealthScript::new(
            r#"
local n = 0
for _, c in ipairs(obj.status.conditions) do
  if c.status ~= "True" then goto continue end
  n = n + 1
  ::continue::
end
return {status = "Healthy", message = n .. " true"}
"#,
        )
        .expect("translates and compiles");
        let obj = json!({"status": {"conditions": [{"status": "True"}, {"status": "False"}, {"status": "True"}]}});
        assert_eq!(
            script.evaluate(&obj),
            Ok(Some(HealthStatus::healthy("2 true")))
        );
    }
}
