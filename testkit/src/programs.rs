//! What every program the tests start needs: a free loopback port, and a failure that names the
//! command installing the program when it is missing, never a skip.

/// Fails the test when a program it starts cannot run: a missing program is named with the
/// command that installs it, never skipped.
pub(crate) fn missing_program(program: &str, err: &std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::NotFound {
        panic!("{program} is not installed: run the tests with `cargo xtask test`, which installs it or says how");
    }
    panic!("{program} does not start: {err}");
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
