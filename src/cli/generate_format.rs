//! `generate --format`: the records in another format than netchaos's JSON lines.
//!
//! The generator emits JSON lines; [`Reformat`] sits between it and the output and re-encodes each
//! chunk, one record at a time, through [`LineFormat::write`]. A new format is one more
//! [`OutputFormat`] value and one more arm there. The run's manifest and metrics still count what
//! was generated; what the output receives is what the format has a form for.
//!
//! `ocsf` is OCSF Network Activity JSON, one object per record of either kind.
//!
//! `aws-text` is AWS's VPC flow log line. Firewall records have no such form: they are left out,
//! counted, and the count is printed after the run. (Writing them as something else into the same
//! stream would break every flow-log reader, which rejects lines whose field count differs from
//! the header's.)

use crate::chaos::EpisodeSummary;
use crate::formats::aws_flow::FieldList;
use crate::formats::ocsf;
use crate::generator::{Chunk, ChunkSink};
use crate::records::{Record, validate};

/// The formats `generate --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// netchaos's own JSON lines (the records' schema: `netchaos schema`).
    #[default]
    Json,
    /// AWS VPC Flow Log lines, as AWS writes them to S3 (`--fields`); flow records only.
    AwsText,
    /// OCSF 1.1.0 Network Activity (class 4001) JSON lines, flows and firewall sessions alike.
    Ocsf,
}

/// A format other than JSON, resolved with its settings.
#[derive(Debug, Clone)]
pub(crate) enum LineFormat {
    AwsText(FieldList),
    Ocsf,
}

impl LineFormat {
    /// `None` for JSON, which the generator writes itself.
    pub(crate) fn new(format: OutputFormat, fields: FieldList) -> Option<Self> {
        match format {
            OutputFormat::Json => None,
            OutputFormat::AwsText => Some(LineFormat::AwsText(fields)),
            OutputFormat::Ocsf => Some(LineFormat::Ocsf),
        }
    }

    /// The line a file or stdout starts with (AWS's header), without its newline.
    pub(crate) fn header(&self) -> Option<String> {
        match self {
            LineFormat::AwsText(fields) => Some(fields.header()),
            LineFormat::Ocsf => None,
        }
    }

    /// Appends `record`'s line (with its `\n`); false when the format has no form for it.
    fn write(&self, record: &Record<'_>, out: &mut Vec<u8>) -> bool {
        match (self, record) {
            (LineFormat::AwsText(fields), Record::VpcFlow(flow)) => {
                fields.write_line(flow, out);
                true
            }
            (LineFormat::AwsText(_), Record::Firewall(_)) => false,
            (LineFormat::Ocsf, record) => {
                ocsf::write_record(record, out);
                true
            }
        }
    }

    /// What the format leaves out, for the message after the run.
    pub(crate) fn left_out_message(&self, left_out: u64) -> Option<String> {
        match self {
            LineFormat::AwsText(_) if left_out > 0 => {
                Some(format!("netchaos: {left_out} firewall records left out: aws-text is the VPC flow log form, flow records only"))
            }
            LineFormat::AwsText(_) | LineFormat::Ocsf => None,
        }
    }
}

/// Re-encodes each chunk before `inner` takes it.
pub(crate) struct Reformat<'a> {
    inner: &'a mut dyn ChunkSink,
    format: LineFormat,
    /// Records the format has no form for.
    pub(crate) left_out: u64,
}

impl std::fmt::Debug for Reformat<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Reformat").field("format", &self.format).field("left_out", &self.left_out).finish_non_exhaustive()
    }
}

impl<'a> Reformat<'a> {
    pub(crate) fn new(inner: &'a mut dyn ChunkSink, format: LineFormat) -> Self {
        Reformat { inner, format, left_out: 0 }
    }
}

impl ChunkSink for Reformat<'_> {
    fn write_chunk(&mut self, mut chunk: Chunk) -> anyhow::Result<()> {
        let mut data = Vec::with_capacity(chunk.data.len());
        let mut written = 0;
        for line in chunk.lines() {
            // The generator's own records always validate (its tests prove it): a failure here
            // is a bug, reported as an error that stops the run rather than a silent gap.
            let record = validate(line).map_err(|rejection| anyhow::anyhow!("re-encoding a generated record: {rejection}"))?;
            if self.format.write(&record, &mut data) {
                written += 1;
            } else {
                self.left_out += 1;
            }
        }
        chunk.data = data;
        chunk.records = written;
        self.inner.write_chunk(chunk)
    }

    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()> {
        self.inner.write_episode(episode)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.inner.finish()
    }

    fn write_command(&mut self, entry: &crate::generator::control::Entry) -> anyhow::Result<()> {
        self.inner.write_command(entry)
    }
}
