//! Hostile Lua health scripts, probed from outside as a user of `argocd-cm` could write them:
//! each makes its own object Unknown, with a message naming the limit it met, within 5 s and
//! without crashing the process; the other objects are still assessed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_health::{HealthRegistry, HealthStatus, HealthStatusCode};

/// What the message of a stopped script must say.
enum Limit {
    Forbidden(&'static str),
    Instructions,
    Memory,
    CallDepth,
}

impl Limit {
    fn check(&self, message: &str) -> bool {
        match self {
            Limit::Forbidden(name) => {
                message.contains(&format!("`{name}`"))
                    && message.contains("not available in the health-script sandbox")
            }
            Limit::Instructions => {
                message.contains("budget of 10000000 instructions")
                    || message.contains("time limit")
            }
            Limit::Memory => message.contains("memory limit of 33554432 bytes (32 MiB)"),
            Limit::CallDepth => message.contains("call depth limit (stack overflow)"),
        }
    }
}

const PROBES: &[(&str, &str, Limit)] = &[
    // The string metatable: its __index is the string library, `dump` included.
    (
        "string metatable dump",
        "return {status = 'Healthy', message = getmetatable('').__index.dump(print)}",
        Limit::Forbidden("string.dump"),
    ),
    (
        "string metatable pointed at _G",
        "getmetatable('').__index = _G return {status = 'Healthy', message = tostring(('x').io)}",
        Limit::Forbidden("io"),
    ),
    (
        "method call on a string reaching dump",
        "local f = ('x').dump return {status = 'Healthy', message = f(print)}",
        Limit::Forbidden("string.dump"),
    ),
    // Coroutines: the limits follow the script into them, and resume does not swallow them.
    (
        "endless loop in a coroutine",
        "local co = coroutine.wrap(function() while true do end end) co() return {status = 'Healthy'}",
        Limit::Instructions,
    ),
    (
        "resume swallowing the limit",
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
        Limit::Instructions,
    ),
    (
        "coroutine yielding forever",
        "local co = coroutine.create(function() while true do coroutine.yield() end end) while true do coroutine.resume(co) end",
        Limit::Instructions,
    ),
    // The debug library.
    (
        "debug.getregistry",
        "return {status = 'Healthy', message = tostring(debug.getregistry())}",
        Limit::Forbidden("debug"),
    ),
    (
        "debug through _G",
        "local d = _G['de' .. 'bug'] return {status = 'Healthy', message = tostring(d.sethook)}",
        Limit::Forbidden("debug"),
    ),
    (
        "require debug",
        "local d = require('debug') return {status = 'Healthy'}",
        Limit::Forbidden("require(\"debug\")"),
    ),
    (
        "require io",
        "local io = require('io') return {status = 'Healthy'}",
        Limit::Forbidden("require(\"io\")"),
    ),
    // Loaders and their variants.
    (
        "load",
        "return load(function() return nil end)",
        Limit::Forbidden("load"),
    ),
    (
        "loadstring",
        "return loadstring('return {status = \"Healthy\"}')()",
        Limit::Forbidden("loadstring"),
    ),
    (
        "loadstring through rawget",
        "return rawget(_G, 'loadstring')('return 1')()",
        Limit::Forbidden("loadstring"),
    ),
    (
        "loadstring through getfenv",
        "return getfenv(0)['load' .. 'string']('return 1')()",
        Limit::Forbidden("loadstring"),
    ),
    (
        "loadstring in pcall",
        "local ok, f = pcall(loadstring, 'return 1') return {status = 'Healthy', message = tostring(ok)}",
        Limit::Forbidden("loadstring"),
    ),
    (
        "dofile",
        "return dofile('/etc/passwd')",
        Limit::Forbidden("dofile"),
    ),
    (
        "loadfile",
        "return loadfile('/etc/passwd')()",
        Limit::Forbidden("loadfile"),
    ),
    (
        "io.open",
        "local f = io.open('/etc/passwd') return {status = 'Healthy'}",
        Limit::Forbidden("io"),
    ),
    (
        "package.loadlib",
        "return package.loadlib('libc.so.6', 'system')",
        Limit::Forbidden("package"),
    ),
    // Memory bombs.
    (
        "string.rep bomb",
        "return {status = 'Healthy', message = string.rep('x', 2 ^ 31)}",
        Limit::Memory,
    ),
    (
        "string.rep bomb through a string method",
        "return {status = 'Healthy', message = ('xxxxxxxx'):rep(1e9)}",
        Limit::Memory,
    ),
    (
        "string.rep bomb in pcall",
        "local ok = pcall(string.rep, 'x', 1e10) while true do end",
        Limit::Memory,
    ),
    (
        "doubling a string",
        "local s = 'x' for i = 1, 40 do s = s .. s end return {status = 'Healthy', message = s}",
        Limit::Memory,
    ),
    (
        "table.concat of big strings",
        "local t = {} for i = 1, 64 do t[i] = string.rep('x', 1024 * 1024) end return {status = 'Healthy', message = table.concat(t)}",
        Limit::Memory,
    ),
    // Deep recursion.
    (
        "unbounded recursion",
        "local function f(n) return 1 + f(n + 1) end return {status = 'Healthy', message = f(1)}",
        Limit::CallDepth,
    ),
    (
        "recursion through a metamethod",
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return {status = 'Healthy', message = t.x}",
        Limit::CallDepth,
    ),
    (
        "recursion through pcall",
        "local function f() return pcall(f) end f() return {status = 'Healthy'}",
        Limit::CallDepth,
    ),
    (
        "recursion through xpcall",
        "local function f() return xpcall(f, print) end f() return {status = 'Healthy'}",
        Limit::CallDepth,
    ),
    (
        "recursion through coroutines",
        "local function f() return coroutine.resume(coroutine.create(f)) end f() return {status = 'Healthy'}",
        Limit::CallDepth,
    ),
    (
        "recursion through string.gsub",
        "local function f(s) return (string.gsub(s, '.', f)) end return {status = 'Healthy', message = f('x')}",
        Limit::CallDepth,
    ),
    (
        "recursion through table.sort",
        "local function f(a, b) table.sort({3, 2, 1}, f) return a < b end table.sort({3, 2, 1}, f) return {status = 'Healthy'}",
        Limit::CallDepth,
    ),
    // Endless loops.
    ("while true", "while true do end", Limit::Instructions),
    (
        "repeat until false",
        "repeat until false",
        Limit::Instructions,
    ),
    (
        "numeric for to infinity",
        "for i = 1, math.huge do end",
        Limit::Instructions,
    ),
    (
        "tail calls forever",
        "local function f() return f() end return f()",
        Limit::Instructions,
    ),
    (
        "pcall swallowing the limit",
        "while true do pcall(function() while true do end end) end",
        Limit::Instructions,
    ),
    (
        "xpcall swallowing the limit",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        Limit::Instructions,
    ),
    (
        "error value whose tostring loops",
        "error(setmetatable({}, {__tostring = function() while true do end end}))",
        Limit::Instructions,
    ),
    (
        "error handler looping",
        "xpcall(function() error('x') end, function() while true do end end)",
        Limit::Instructions,
    ),
    // Pattern matching that backtracks without end (Lua's C matcher cannot be interrupted).
    (
        "backtracking pattern",
        "return {status = 'Healthy', message = tostring(string.find(string.rep('a', 5000), '.-.-.-.-.-b'))}",
        Limit::Instructions,
    ),
    (
        "backtracking gsub",
        "return {status = 'Healthy', message = (string.gsub(string.rep('a', 5000), '(.-)(.-)(.-)b', '%3'))}",
        Limit::Instructions,
    ),
    (
        "quadratic plain find",
        "local s = string.rep('a', 1e7) return {status = 'Healthy', message = tostring(s:find(string.rep('a', 1e6) .. 'b', 1, true))}",
        Limit::Instructions,
    ),
    // Huge tables.
    (
        "huge table",
        "local t = {} for i = 1, 1e9 do t[i] = i end return {status = 'Healthy'}",
        Limit::Memory,
    ),
    (
        "huge table of tables",
        "local t = {} for i = 1, 1e9 do t[i] = {i, i, i, i} end return {status = 'Healthy'}",
        Limit::Memory,
    ),
];

fn registry_with(script: &str) -> HealthRegistry {
    let mut data = BTreeMap::new();
    data.insert(
        "resource.customizations.health.probe.example.org_Hostile".to_string(),
        script.to_string(),
    );
    data.insert(
        "resource.customizations.health.probe.example.org_Friendly".to_string(),
        "if obj.status ~= nil and obj.status.ready then return {status = 'Healthy', message = 'ready'} end return {status = 'Progressing', message = 'waiting'}".to_string(),
    );
    let mut registry = HealthRegistry::new();
    let loaded = registry.add_argocd_cm(&data);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    registry
}

fn hostile() -> Value {
    json!({"apiVersion": "probe.example.org/v1", "kind": "Hostile", "metadata": {"name": "h"}})
}

fn friendly() -> Value {
    json!({"apiVersion": "probe.example.org/v1", "kind": "Friendly", "metadata": {"name": "f"},
        "status": {"ready": true}})
}

fn certificate() -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "message": "Certificate is up to date"}]}})
}

#[test]
fn each_hostile_script_fails_its_own_object_with_the_limit_it_met() {
    let mut failures = Vec::new();
    for (name, script, limit) in PROBES {
        let registry = registry_with(script);
        let started = Instant::now();
        let health = registry.assess(&hostile());
        let elapsed = started.elapsed();
        match &health {
            Some(HealthStatus {
                status: HealthStatusCode::Unknown,
                message,
            }) if limit.check(message) => {}
            other => failures.push(format!("{name}: got {other:?}")),
        }
        if elapsed > Duration::from_secs(5) {
            failures.push(format!("{name}: took {elapsed:?}"));
        }
        println!("{name}: {elapsed:?}: {:?}", health.map(|h| h.message));
        // The other objects are still assessed, by Lua and by the built-in rules.
        assert_eq!(
            registry.assess(&friendly()),
            Some(HealthStatus::healthy("ready")),
            "{name}"
        );
        assert_eq!(
            registry.assess(&certificate()),
            Some(HealthStatus::healthy("Certificate is up to date")),
            "{name}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hostile_scripts_run_in_parallel_without_disturbing_each_other() {
    let handles: Vec<_> = PROBES
        .iter()
        .take(8)
        .map(|(name, script, _)| {
            let registry = registry_with(script);
            std::thread::spawn(move || {
                let health = registry.assess(&hostile()).expect("assessed");
                assert_eq!(health.status, HealthStatusCode::Unknown, "{name}");
                assert_eq!(
                    registry.assess(&friendly()),
                    Some(HealthStatus::healthy("ready"))
                );
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("no panic");
    }
}
