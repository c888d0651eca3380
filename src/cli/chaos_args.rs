//! The chaos flags of the commands that generate: each anomaly kind's `--…-prob` and parameters,
//! read from the kinds' specs ([`crate::chaos::KINDS`]), so that a new kind brings its flags along.
//!
//! Built with clap's builder API: derive needs one struct field per flag, and the flags come from
//! a list. Each flag reads as a derived one would (`--port-scan-prob <PORT_SCAN_PROB>`, its
//! variable, its default, its help), in kind order: every probability, then every parameter.

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

use crate::chaos::{ChaosSettings, KINDS, Parameter, ParameterUnit};
use crate::records::PerKind;

use super::UsageError;
use super::args::{parse_bytes, parse_probability};

/// Raw chaos flags: the settings as given, not yet checked together.
#[derive(Debug, Clone)]
pub(crate) struct ChaosArgs {
    pub(crate) settings: ChaosSettings,
}

impl ChaosArgs {
    /// The settings, or one clear usage error: probabilities that sum past 1, a parameter of 0.
    pub(crate) fn resolve(&self) -> Result<ChaosSettings, UsageError> {
        let total = self.settings.total();
        if total > 1.0 + 1e-9 {
            return Err(UsageError(format!("the anomaly probabilities sum to {total}, more than 1: lower {}", probability_flags())));
        }
        if let Some((parameter, _)) = self.settings.parameters().find(|(_, value)| *value == 0) {
            return Err(UsageError(format!("--{} must be more than 0", parameter.flag)));
        }
        Ok(self.settings.clone())
    }
}

/// `--a-prob, --b-prob or --c-prob`.
fn probability_flags() -> String {
    let flags: Vec<String> = KINDS.values().map(|spec| format!("--{}", spec.probability.flag)).collect();
    match flags.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn parameter_arg(parameter: &'static Parameter) -> Arg {
    let arg = Arg::new(parameter.name)
        .long(parameter.flag)
        .env(parameter.env)
        .value_name(parameter.env)
        .default_value(parameter.default_text)
        .help(parameter.help);
    match parameter.unit {
        ParameterUnit::Bytes => arg.value_parser(parse_bytes),
    }
}

impl Args for ChaosArgs {
    fn augment_args(command: Command) -> Command {
        let probabilities = KINDS.values().map(|spec| {
            let flag = &spec.probability;
            Arg::new(flag.name)
                .long(flag.flag)
                .env(flag.env)
                .value_name(flag.env)
                .default_value(flag.default)
                .value_parser(parse_probability)
                .allow_negative_numbers(true)
                .help(flag.help)
        });
        let parameters = KINDS.values().flat_map(|spec| spec.parameters).map(parameter_arg);
        command.args(probabilities.collect::<Vec<_>>()).args(parameters.collect::<Vec<_>>())
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for ChaosArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ChaosArgs { settings: ChaosSettings::new(PerKind::default()) };
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for (kind, spec) in KINDS.iter() {
            if let Some(probability) = matches.get_one::<f64>(spec.probability.name) {
                self.settings.probability[kind] = *probability;
            }
        }
        for parameter in KINDS.values().flat_map(|spec| spec.parameters) {
            if let Some(value) = matches.get_one::<u64>(parameter.name) {
                self.settings = self.settings.clone().with(parameter, *value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Probe {
        #[command(flatten)]
        chaos: ChaosArgs,
    }

    fn parse(flags: &[&str]) -> Result<ChaosSettings, String> {
        use clap::Parser;
        let probe = Probe::try_parse_from(std::iter::once("probe").chain(flags.iter().copied())).map_err(|error| error.to_string())?;
        probe.chaos.resolve().map_err(|error| error.0)
    }

    #[test]
    fn every_kind_has_its_flag_and_default() {
        let defaults = parse(&[]).unwrap();
        assert_eq!(defaults.probability, PerKind::new([0.01, 0.01, 0.005, 0.01]));
        assert_eq!(defaults.parameter(&crate::chaos::data_exfiltration::EXFIL_BYTES), 10_000_000);
        let set = parse(&["--port-scan-prob", "0.2", "--exfil-bytes", "1MiB"]).unwrap();
        assert_eq!(set.probability[crate::records::AnomalyKind::PortScan], 0.2);
        assert_eq!(set.parameter(&crate::chaos::data_exfiltration::EXFIL_BYTES), 1_048_576);
    }

    #[test]
    fn a_parameter_default_reads_as_its_value() {
        for parameter in KINDS.values().flat_map(|spec| spec.parameters) {
            let parsed = match parameter.unit {
                ParameterUnit::Bytes => parse_bytes(parameter.default_text),
            };
            assert_eq!(parsed, Ok(parameter.default), "{}", parameter.name);
        }
    }

    #[test]
    fn probabilities_past_one_and_empty_parameters_are_refused() {
        let error = parse(&["--latency-spike-prob", "0.6", "--conn-reset-prob", "0.6"]).unwrap_err();
        assert!(
            error.starts_with("the anomaly probabilities sum to ")
                && error.ends_with(", more than 1: lower --latency-spike-prob, --port-scan-prob, --data-exfil-prob or --conn-reset-prob"),
            "{error}"
        );
        assert_eq!(parse(&["--exfil-bytes", "0"]).unwrap_err(), "--exfil-bytes must be more than 0");
        assert!(parse(&["--port-scan-prob", "1.5"]).unwrap_err().contains("outside 0-1"));
    }
}
