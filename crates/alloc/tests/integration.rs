//! Every integration test of this package, as modules of one test binary. The binary
//! allocates as Strata's binaries do, through [`strata_alloc::Allocator`].

#[global_allocator]
static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;

mod freed_memory;
