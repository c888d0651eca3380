//! Reading an input into a [`Profile`]: a file (plain or gzip, told by its first bytes, not its
//! name) or stdin, holding netchaos JSON lines or the AWS text format (told by its first line),
//! or a store's landed records. One line at a time: memory stays bounded by the profile.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::FidelityError;
use super::flow::{AwsLayout, Line, parse_json_line};
use super::profile::Profile;
use crate::sink::Storage;

/// The longest line read: a flow record is a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The format of a text input, decided by its first non-blank line.
enum Format {
    Json,
    Aws(AwsLayout),
}

/// Reads the file at `path`, or stdin for `-`.
pub fn profile_file(path: &Path) -> Result<Profile, FidelityError> {
    let name = path.display().to_string();
    if path == Path::new("-") {
        return profile_reader(&name, std::io::stdin().lock());
    }
    let file = std::fs::File::open(path).map_err(|error| FidelityError::Unreadable { name: name.clone(), reason: error.to_string() })?;
    profile_reader(&name, file)
}

/// Reads one input named `name` (for messages) from `reader`.
pub fn profile_reader(name: &str, reader: impl Read) -> Result<Profile, FidelityError> {
    let mut buffered = BufReader::new(reader);
    let unreadable = |error: std::io::Error| FidelityError::Unreadable { name: name.to_owned(), reason: error.to_string() };
    let is_gzip = buffered.fill_buf().map_err(unreadable)?.starts_with(&[0x1f, 0x8b]);
    let mut profile = Profile::new();
    if is_gzip {
        read_lines(name, BufReader::new(flate2::bufread::MultiGzDecoder::new(buffered)), &mut profile)?;
    } else {
        read_lines(name, buffered, &mut profile)?;
    }
    if profile.flows == 0 {
        return Err(FidelityError::NoFlows { name: name.to_owned(), firewall: profile.firewall_skipped });
    }
    Ok(profile)
}

fn read_lines(name: &str, mut reader: impl BufRead, profile: &mut Profile) -> Result<(), FidelityError> {
    let mut format = None;
    let mut buffer = Vec::new();
    let mut number = 0u64;
    loop {
        buffer.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|error| FidelityError::Unreadable { name: name.to_owned(), reason: error.to_string() })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let at_line = |reason: String| FidelityError::Format { name: name.to_owned(), line: number, reason };
        if buffer.len() > MAX_LINE_BYTES {
            return Err(at_line(format!("a line longer than {} KiB: not flow records", MAX_LINE_BYTES >> 10)));
        }
        if format.is_none() {
            if buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (decided, is_record) = decide_format(&buffer).map_err(at_line)?;
            format = Some(decided);
            if !is_record {
                continue;
            }
        }
        let line = match &format {
            Some(Format::Json) | None => parse_json_line(&buffer),
            Some(Format::Aws(layout)) => {
                std::str::from_utf8(&buffer).map_err(|_| "not UTF-8 text".to_owned()).and_then(|text| layout.parse(text))
            }
        }
        .map_err(at_line)?;
        add(profile, line);
    }
}

/// The format a first line shows, and whether that line is itself a record (not a header).
fn decide_format(first: &[u8]) -> Result<(Format, bool), String> {
    let trimmed = first.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        return Ok((Format::Json, true));
    }
    let not_flows = || {
        "neither netchaos JSON lines nor an AWS flow log (a header line naming fields such as `srcaddr`, or version 2 records)".to_owned()
    };
    let text = std::str::from_utf8(first).map_err(|_| not_flows())?;
    if AwsLayout::is_header(text) {
        return Ok((Format::Aws(AwsLayout::from_header(text)?), false));
    }
    if AwsLayout::is_v2_record(text) {
        return Ok((Format::Aws(AwsLayout::v2_default()), true));
    }
    Err(not_flows())
}

fn add(profile: &mut Profile, line: Line) {
    match line {
        Line::Flow(flow) => profile.add(&flow),
        Line::Firewall => profile.firewall_skipped += 1,
        Line::Blank => {}
    }
}

/// Reads every landed record of a store (`crate::verify::for_each_record`).
pub async fn profile_store(name: &str, storage: &Storage) -> Result<Profile, FidelityError> {
    let mut profile = Profile::new();
    let mut failure = None;
    let mut number = 0u64;
    crate::verify::for_each_record(storage, |line| {
        number += 1;
        if failure.is_some() {
            return;
        }
        match parse_json_line(line) {
            Ok(parsed) => add(&mut profile, parsed),
            Err(reason) => failure = Some(FidelityError::StoreRecord { name: name.to_owned(), record: number, reason }),
        }
    })
    .await
    .map_err(|error| FidelityError::Store { name: name.to_owned(), reason: error.to_string() })?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    if profile.flows == 0 {
        return Err(FidelityError::NoFlows { name: name.to_owned(), firewall: profile.firewall_skipped });
    }
    Ok(profile)
}
