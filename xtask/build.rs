//! With PYMACCOUNTER_SKIP_ENGINE_TESTS=1 the tests that need a container
//! engine are compiled as ignored, so test runners show them as skipped
//! rather than passed; those that need root are, where the build does not run as root.

fn main() {
    println!("cargo::rerun-if-env-changed=PYMACCOUNTER_SKIP_ENGINE_TESTS");
    println!("cargo::rustc-check-cfg=cfg(skip_engine_tests)");
    println!("cargo::rustc-check-cfg=cfg(not_root)");
    // Tests that start a second engine daemon need root: elsewhere (a CI
    // runner's user in the docker group) they are compiled as ignored.
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    });
    if uid.as_deref().is_some_and(|uid| uid != "0") {
        println!("cargo::rustc-cfg=not_root");
    }
    if std::env::var("PYMACCOUNTER_SKIP_ENGINE_TESTS").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=skip_engine_tests");
    }
}
