//! Failpoints: `SLIPWAY_FAILPOINT=NAME` makes the code at NAME fail the way
//! the real world does (a panic, a process killed with SIGKILL), so that the
//! recovery paths have tests on the real engine rather than on mocks.
//! Unset, each check is one environment lookup on a path that is not hot.

/// Whether the failpoint `name` is armed in this process.
pub fn armed(name: &str) -> bool {
    std::env::var("SLIPWAY_FAILPOINT").is_ok_and(|armed| armed == name)
}

/// At an armed `name`, the process dies as on a power cut or `kill -9`: no
/// destructor, no flush, no report.
pub fn kill_here(name: &str) {
    if armed(name) {
        tracing::warn!(failpoint = name, "failpoint: killing this process");
        // SAFETY: getpid and kill have no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
