//! One pipeline step, two ways: a `RunFunction` round trip to the real Crossplane function
//! (function-patch-and-transform, function-go-templating or function-auto-ready on 127.0.0.1,
//! plain HTTP/2, a connection kept open) against Strata's in-process render of the same step
//! (a one-step composition rendering the same request). The requests are the ones Crossplane
//! would send each step of the differential test compositions (`tests/data/functions/` and the
//! shared corpus), built by running the real pipeline up to that step.
//!
//! Each benchmark's argument is `<composition>/<step number>`. The functions are built or found
//! as in the differential tests (`FUNCTION_PATCH_AND_TRANSFORM`, `FUNCTION_GO_TEMPLATING`,
//! `FUNCTION_AUTO_READY`, else the Go module proxy) and killed when the benchmarks end.

use std::sync::{Mutex, PoisonError};

use strata_composition::Composition;
use strata_composition::render::{RenderOptions, RenderRequest};

#[path = "../tests/support/functions.rs"]
mod support;

use support::{Case, Functions, RunFunctionRequest, all_cases, request_json, run_real_pipeline};

#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

/// Every step of every compared composition.
const STEPS: &[&str] = &[
    "shared-crossplane/1",
    "shared-crossplane-multistep/1",
    "shared-crossplane-multistep/2",
    "shared-crossplane-multistep/3",
    "autoready-observed/1",
    "autoready-observed/2",
    "gt-inline-basics/1",
    "gt-meta-kinds/1",
    "gt-meta-kinds/2",
    "gt-sprig-data/1",
    "gt-status-readiness/1",
    "mixed-four-steps/1",
    "mixed-four-steps/2",
    "mixed-four-steps/3",
    "mixed-four-steps/4",
    "mixed-gt-then-pt-environment/1",
    "mixed-gt-then-pt-environment/2",
    "mixed-pt-gt-autoready/1",
    "mixed-pt-gt-autoready/2",
    "mixed-pt-gt-autoready/3",
    "pt-connection-readiness/1",
    "pt-network-patchsets/1",
    "pt-numbers-arrays/1",
    "pt-patchsets-transforms/1",
    "pt-required-policy/1",
    "pt-string-math-convert/1",
];

/// The running functions; taken (and so killed) when `main` ends.
static FUNCTIONS: Mutex<Option<Functions>> = Mutex::new(None);

fn main() {
    divan::main();
    drop(
        FUNCTIONS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(),
    );
}

fn with_functions<T>(f: impl FnOnce(&mut Functions) -> T) -> T {
    let mut guard = FUNCTIONS.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(Functions::start))
}

/// The case, the step's index, and the request Crossplane sends that step.
fn step(arg: &str) -> (Case, usize, RunFunctionRequest) {
    let (name, number) = arg.rsplit_once('/').expect("<composition>/<step>");
    let number: usize = number.parse().expect("a step number");
    let case = all_cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no composition {name}"));
    let run = with_functions(|f| run_real_pipeline(f, &case, number))
        .unwrap_or_else(|e| panic!("{arg}: {e}"));
    let request = run.requests[number - 1].clone();
    (case, number - 1, request)
}

#[divan::bench(args = STEPS)]
fn real_function_round_trip(bencher: divan::Bencher, arg: &str) {
    let (case, index, request) = step(arg);
    let function_ref = case.steps()[index]["functionRef"]["name"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    with_functions(|functions| {
        let function = functions.for_step(&function_ref);
        bencher
            .with_inputs(|| request.clone())
            .bench_local_values(|request| function.client.run(request).expect("RunFunction"));
    });
}

#[divan::bench(args = STEPS)]
fn strata_in_process(bencher: divan::Bencher, arg: &str) {
    let (case, index, request) = step(arg);
    let mut one_step = case.composition.clone();
    one_step["spec"]["pipeline"] = serde_json::json!([case.steps()[index].clone()]);
    let composition = Composition::parse(&one_step).expect("a composition");
    let req = RenderRequest::from_json(&request_json(&request));
    bencher.bench_local(|| {
        composition
            .render(divan::black_box(&req), RenderOptions::new())
            .expect("renders")
    });
}
