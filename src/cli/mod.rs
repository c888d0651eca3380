//! The command line: one module per subcommand, thin; the logic lives in the library.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
