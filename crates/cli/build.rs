//! Link settings for the `strata` binary.
//!
//! On Linux the binary is linked as a fixed-address executable (`-no-pie`), as Go links its
//! tools (`helm`, `kubectl`) by default. A position-independent `strata` spends most of a short
//! command's time in the dynamic loader: about 130 000 relocations of the Rust and SDK code
//! rewritten at every start (4.1 ms of CPU and 1 160 page faults for `strata --version`,
//! against 1.9 ms and 440 without them). CI jobs run `strata` thousands of times, so that start
//! is what they pay. Set `STRATA_PIE=1` when building to keep a position-independent
//! executable (address-space randomisation of the binary itself).
//!
//! With glibc, the unwinder is linked in statically (`libgcc_eh.a`, whole) instead of loading
//! `libgcc_s.so.1`: that library's constructor probes the CPU's features with a few dozen
//! `cpuid` instructions, each of which traps to the hypervisor in a virtual machine (about 6 %
//! of a one-chart `strata graph` when measured), and loading it costs the dynamic loader a
//! library to map and relocate. Set `STRATA_LIBGCC_S=1` when building to link it as before.

fn main() {
    println!("cargo:rerun-if-env-changed=STRATA_PIE");
    println!("cargo:rerun-if-env-changed=STRATA_LIBGCC_S");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    let pie_wanted = std::env::var("STRATA_PIE").is_ok_and(|v| v == "1");
    if linux && !pie_wanted {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    let libgcc_s_wanted = std::env::var("STRATA_LIBGCC_S").is_ok_and(|v| v == "1");
    if linux && gnu && !libgcc_s_wanted {
        // Whole, so its unwinder is defined before the standard library's `-lgcc_s` is
        // reached; `--as-needed` (rustc's default) then leaves `libgcc_s.so.1` out.
        println!("cargo:rustc-link-lib=static:+whole-archive=gcc_eh");
    }
}
