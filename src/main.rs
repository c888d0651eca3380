//! The `netchaos` binary: parse flags, run the subcommand, turn errors into exit codes.

fn main() -> std::process::ExitCode {
    netchaos::cli::main()
}
