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
//!
//! On x86-64 Linux, where rustc links with its own LLD, the functions a short command runs are
//! laid out together (`link-order.txt`, LLD's `--symbol-ordering-file`). The binary's code is
//! mapped from the file a 64 KiB window per page fault; spread over 46 MB of code, one
//! `strata graph` of a chart touched about 130 such windows, each a fault (a trap to the
//! hypervisor in a virtual machine). The list holds the functions `strata graph`, `validate`,
//! `plan` and `--version` ran on the Helm bench's charts, in that order; a name it lists that
//! the binary no longer has is skipped, so a stale list costs start-up time, never
//! correctness. `link-order.txt` says how to regenerate it. Set `STRATA_LINK_ORDER=0` when
//! building to link without it; it is also left out when a linker is configured (the list
//! needs LLD).

fn main() {
    println!("cargo:rerun-if-env-changed=STRATA_PIE");
    println!("cargo:rerun-if-env-changed=STRATA_LIBGCC_S");
    println!("cargo:rerun-if-env-changed=STRATA_LINK_ORDER");
    println!("cargo:rerun-if-changed=link-order.txt");
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
    if linux && gnu && link_order_wanted() {
        let list = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(|dir| std::path::PathBuf::from(dir).join("link-order.txt"));
        if let Some(list) = list.filter(|list| list.is_file()) {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                list.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Whether the binary is linked with `link-order.txt`: on x86-64 (where rustc links with its
/// own LLD by default), unless `STRATA_LINK_ORDER=0` or a linker or linker flavour is
/// configured, which may not be LLD.
fn link_order_wanted() -> bool {
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    let refused = std::env::var("STRATA_LINK_ORDER").is_ok_and(|v| v == "0");
    let linker_configured = std::env::var_os("RUSTC_LINKER").is_some()
        || std::env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|flags| {
            flags
                .split('\x1f')
                .any(|flag| flag.contains("linker") || flag.contains("link-self-contained"))
        });
    x86_64 && !refused && !linker_configured
}
