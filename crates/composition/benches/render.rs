//! Rendering the seed PostgreSQL request (already parsed): one composite per iteration.

use strata_composition::FunctionInput;
use strata_composition::render::{RenderOptions, RenderRequest, render};

// The allocator the `strata` binary and the controllers use; with glibc's malloc allocation is
// about a third of a render.
#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

fn main() {
    divan::main();
}

fn seed() -> (FunctionInput, RenderRequest) {
    let text = include_str!("../tests/data/postgresql-render-input.json");
    let request: serde_json::Value = serde_json::from_str(text).expect("seed input is JSON");
    let input = FunctionInput::parse(&request["input"]).expect("seed input is valid");
    (input, RenderRequest::from_json(&request))
}

#[divan::bench]
fn render_seed_composite(bencher: divan::Bencher) {
    let (input, req) = seed();
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .bench(|| {
            // The output is dropped inside the measurement: a render's full cost.
            render(
                divan::black_box(&input),
                divan::black_box(&req),
                RenderOptions::default(),
            )
            .expect("renders")
            .resources
            .len()
        });
}

#[divan::bench]
fn render_seed_composite_with_explain(bencher: divan::Bencher) {
    let (input, req) = seed();
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .bench(|| {
            render(
                divan::black_box(&input),
                divan::black_box(&req),
                RenderOptions::new().with_explain(true),
            )
            .expect("renders")
        });
}

#[divan::bench]
fn clone_bases_only(bencher: divan::Bencher) {
    let (input, _) = seed();
    bencher.bench(|| {
        input
            .resources
            .iter()
            .map(|t| t.base.clone())
            .collect::<Vec<_>>()
    });
}

#[divan::bench]
fn parse_and_render_seed(bencher: divan::Bencher) {
    let text = include_str!("../tests/data/postgresql-render-input.json");
    let request: serde_json::Value = serde_json::from_str(text).expect("seed input is JSON");
    bencher.bench(|| {
        strata_composition::render::run_function_request(
            divan::black_box(&request),
            RenderOptions::default(),
        )
        .expect("renders")
    });
}

#[divan::bench(args = [0, 3, 4, 7])]
fn apply_one_rds_patch(bencher: divan::Bencher, index: usize) {
    let (input, req) = seed();
    let rds = input
        .resources
        .iter()
        .find(|t| t.name == "rds-instance")
        .expect("rds template");
    let base = rds.base.clone().expect("rds base");
    let patch = &rds.patches[index];
    bencher
        .with_inputs(|| base.clone())
        .bench_local_refs(|target| {
            patch
                .apply_with(&req.composite, target, false)
                .expect("applies")
        });
}
