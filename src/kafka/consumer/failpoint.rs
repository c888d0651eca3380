//! `NETCHAOS_FAILPOINT=abort-before-commit:N` (see [`crate::sink::failpoint`]): the process
//! aborts at the first offset commit the running loop makes once `N` batches are stored, so that
//! the store holds batches whose offsets the group does not (attacked by
//! `tests/s3_sink.rs::a_crash_after_an_upload_and_before_its_offset_commit_duplicates_nothing`).

use crate::sink::failpoint;

#[derive(Debug)]
pub(super) struct Failpoint {
    after_batches: u64,
}

impl Failpoint {
    pub(super) fn from_env() -> Option<Failpoint> {
        match failpoint::active()? {
            failpoint::Failpoint::AbortBeforeCommit { after_batches } => Some(Failpoint { after_batches }),
            _ => None,
        }
    }

    pub(super) fn before_commit(&self, batches_stored: u64) {
        if batches_stored >= self.after_batches {
            eprintln!("netchaos: {}: {batches_stored} batches stored, their offsets not committed: aborting", failpoint::VARIABLE);
            std::process::abort();
        }
    }
}
