//! The last `wb sync push` and `wb sync pull` and their outcome, recorded
//! in the instance database, and what that says about when this instance's
//! changes reach its peers (the admin UI's status page).

use wb_model::Timestamp;
pub use wb_store::{SyncRun, SyncRunKind};

use crate::{Instance, Result};

/// The longest outcome line kept (an error's whole cause chain can be long).
const SUMMARY_MAX: usize = 300;

/// Where this instance's changes stand on their way to its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    /// The sequence of the last export (0: none yet).
    pub exported_sequence: u64,
    /// Changes noted since the last export, at most
    /// [`wb_store::COUNT_CAP`] + 1.
    pub pending_changes: u64,
    /// The last push, if any was recorded.
    pub last_push: Option<SyncRun>,
    /// The last pull, if any was recorded.
    pub last_pull: Option<SyncRun>,
}

/// When changes made now reach peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Changes wait for the next export (and then a push).
    AfterExportAndPush,
    /// Nothing waits for an export, but the last export is not on the hub
    /// yet: it reaches peers with the next push.
    AfterPush,
    /// The hub has the last export: peers get it on their next pull.
    OnPeersNextPull,
}

impl SyncStatus {
    /// When changes reach peers, from the export journal and the last push.
    pub fn reach(&self) -> Reach {
        if self.pending_changes > 0 || self.exported_sequence == 0 {
            return Reach::AfterExportAndPush;
        }
        match &self.last_push {
            Some(push) if push.ok && push.sequence == Some(self.exported_sequence) => {
                Reach::OnPeersNextPull
            }
            _ => Reach::AfterPush,
        }
    }
}

impl Instance {
    /// Records how a push or pull that just ended went: `Ok(())` or its
    /// error in words. A push records the sequence it exported (and sent,
    /// when it succeeded); a pull records each peer's last applied
    /// sequence in its summary, and the highest as its sequence.
    pub async fn record_sync_run(
        &self,
        kind: SyncRunKind,
        outcome: std::result::Result<(), String>,
    ) -> Result<SyncRun> {
        let store = self.store();
        let (sequence, done) = match kind {
            SyncRunKind::Push => {
                let (sequence, _) = store.export_state().await?;
                let sequence = (sequence > 0).then_some(sequence);
                let done = match sequence {
                    Some(s) => format!("pushed sequence {s}"),
                    None => "pushed".to_owned(),
                };
                (sequence, done)
            }
            SyncRunKind::Pull => {
                let states = store.origin_states().await?;
                let sequence = states.iter().map(|s| s.last_sequence).max();
                let peers: Vec<String> = states
                    .iter()
                    .map(|s| format!("{} at sequence {}", s.instance, s.last_sequence))
                    .collect();
                let done = if peers.is_empty() {
                    "pulled; nothing imported yet".to_owned()
                } else {
                    format!("pulled; imported {}", peers.join(", "))
                };
                (sequence, done)
            }
        };
        let (ok, summary) = match outcome {
            Ok(()) => (true, done),
            Err(err) => (false, err),
        };
        let mut summary: String = summary
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if let Some((at, _)) = summary.char_indices().nth(SUMMARY_MAX) {
            summary.truncate(at);
            summary.push('…');
        }
        let run = SyncRun {
            kind,
            at: Timestamp::now(),
            sequence: if kind == SyncRunKind::Push && !ok {
                None
            } else {
                sequence
            },
            ok,
            summary,
        };
        store.record_sync_run(&run).await?;
        Ok(run)
    }

    /// The export, the journal and the last push and pull.
    pub async fn sync_status(&self) -> Result<SyncStatus> {
        let store = self.store();
        let (exported_sequence, _) = store.export_state().await?;
        Ok(SyncStatus {
            exported_sequence,
            pending_changes: store.pending_changes().await?,
            last_push: store.last_sync_run(SyncRunKind::Push).await?,
            last_pull: store.last_sync_run(SyncRunKind::Pull).await?,
        })
    }
}
