//! The `netchaos` binary: parse flags, run the subcommand, turn errors into exit codes.

fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_system();
    netchaos::cli::main()
}

/// glibc's malloc serves a freed buffer's size from its arenas from then on (its mmap threshold
/// rises to the largest buffer freed, up to 32 MiB), and arena memory is rarely given back: the
/// sink's multi-MiB batch buffers, allocated and freed on several threads, then pile up. Measured
/// around a 20 s store outage with `--memory-budget 160MiB`: 248 MB resident at peak, 124 MiB with
/// the threshold pinned at 1 MiB (mimalloc instead: 213 MB). Pinned, every large buffer is mapped
/// on its own and unmapped when freed, so resident memory follows the buffers alive.
#[allow(unsafe_code)]
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning, and runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
