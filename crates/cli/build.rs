//! Link settings for the `strata` binary.
//!
//! On Linux the binary is linked as a fixed-address executable (`-no-pie`), as Go links its
//! tools (`helm`, `kubectl`) by default. A position-independent `strata` spends most of a short
//! command's time in the dynamic loader: about 130 000 relocations of the Rust and SDK code
//! rewritten at every start (4.1 ms of CPU and 1 160 page faults for `strata --version`,
//! against 1.9 ms and 440 without them). CI jobs run `strata` thousands of times, so that start
//! is what they pay. Set `STRATA_PIE=1` when building to keep a position-independent
//! executable (address-space randomisation of the binary itself).

fn main() {
    println!("cargo:rerun-if-env-changed=STRATA_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie_wanted = std::env::var("STRATA_PIE").is_ok_and(|v| v == "1");
    if linux && !pie_wanted {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
