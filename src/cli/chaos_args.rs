//! The chaos flags of the commands that generate: each anomaly kind's `--…-prob` (the kinds that
//! have one), `--…-per-hour` and parameters, read from the kinds' specs
//! ([`crate::chaos::KINDS`]), so that a new kind brings its flags along; then `--difficulty` and
//! `--lookalikes`.
//!
//! Built with clap's builder API: derive needs one struct field per flag, and the flags come from
//! a list. Each flag reads as a derived one would (`--port-scan-prob <PORT_SCAN_PROB>`, its
//! variable, its default, its help), in kind order: every probability, every rate per hour, then
//! every parameter.

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

use crate::chaos::{ChaosSettings, Difficulty, KINDS, Parameter, ParameterUnit};
use crate::records::PerKind;

/// The flag's id and name: each kind's form.
const DIFFICULTY: &str = "difficulty";
/// The look-alikes' switch.
const LOOKALIKES: &str = "lookalikes";
/// Most episodes per logical hour a kind may have: one a second.
const MAX_PER_HOUR: f64 = 3_600.0;

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
    let flags: Vec<String> = KINDS.values().filter_map(|spec| spec.probability).map(|flag| format!("--{}", flag.flag)).collect();
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
        let probabilities = KINDS.values().filter_map(|spec| spec.probability).map(|flag| {
            Arg::new(flag.name)
                .long(flag.flag)
                .env(flag.env)
                .value_name(flag.env)
                .default_value(flag.default)
                .value_parser(parse_probability)
                .allow_negative_numbers(true)
                .help(flag.help)
        });
        let per_hour = KINDS.values().map(|spec| {
            let flag = spec.per_hour;
            Arg::new(flag.name)
                .long(flag.flag)
                .env(flag.env)
                .value_name(flag.env)
                .default_value(flag.default)
                .value_parser(parse_per_hour)
                .allow_negative_numbers(true)
                .help(flag.help)
        });
        let parameters = KINDS.values().flat_map(|spec| spec.parameters).map(parameter_arg);
        let difficulty = Arg::new(DIFFICULTY)
            .long(DIFFICULTY)
            .env("CHAOS_DIFFICULTY")
            .value_name("CHAOS_DIFFICULTY")
            .default_value("overt")
            .value_parser(|text: &str| Difficulty::parse_list(text, PerKind::default()))
            .help("The form of every kind, or of some: overt, subtle or mixed; `port_scan=subtle`; a comma list (`mixed,port_scan=overt`)");
        let lookalikes = Arg::new(LOOKALIKES)
            .long(LOOKALIKES)
            .env("CHAOS_LOOKALIKES")
            .value_name("on|off")
            .default_value("on")
            .value_parser(parse_switch)
            .help("Benign look-alikes (nightly backups, internal scanners, health checks, deploy bursts): unlabelled records, `benign: true` episodes");
        command
            .args(probabilities.collect::<Vec<_>>())
            .args(per_hour.collect::<Vec<_>>())
            .args(parameters.collect::<Vec<_>>())
            .arg(difficulty)
            .arg(lookalikes)
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
            if let Some(probability) = spec.probability.and_then(|flag| matches.get_one::<f64>(flag.name)) {
                self.settings.probability[kind] = *probability;
            }
            if let Some(rate) = matches.get_one::<f64>(spec.per_hour.name) {
                self.settings.per_hour[kind] = *rate;
            }
        }
        if let Some(forms) = matches.get_one::<PerKind<Difficulty>>(DIFFICULTY) {
            self.settings.difficulty = *forms;
        }
        if let Some(on) = matches.get_one::<bool>(LOOKALIKES) {
            self.settings.lookalikes = *on;
        }
        for parameter in KINDS.values().flat_map(|spec| spec.parameters) {
            if let Some(value) = matches.get_one::<u64>(parameter.name) {
                self.settings = self.settings.clone().with(parameter, *value);
            }
        }
        Ok(())
    }
}

/// Episodes per logical hour: 0 up to one a second.
fn parse_per_hour(text: &str) -> Result<f64, String> {
    let rate: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of episodes per hour"))?;
    if !(0.0..=MAX_PER_HOUR).contains(&rate) {
        return Err(format!("{rate} is outside 0-{MAX_PER_HOUR}: give episodes per logical hour (0.5 is one every two hours)"));
    }
    Ok(rate)
}

/// `on` or `off` (also `true`/`false`, `1`/`0`).
fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{text}` is not on or off")),
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
        assert_eq!(
            defaults.probability,
            PerKind::of(&[
                (crate::records::AnomalyKind::LatencySpike, 0.01),
                (crate::records::AnomalyKind::PortScan, 0.01),
                (crate::records::AnomalyKind::DataExfiltration, 0.005),
                (crate::records::AnomalyKind::ConnectionReset, 0.01)
            ])
        );
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
