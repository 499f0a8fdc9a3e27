//! The file store's write-ahead journal, `DIR/journal`: the durability point
//! of a write. The committer appends one frame per group of writes, holding
//! one record per write (the full new document and its history entry), and
//! calls one `fdatasync` on the journal; after that the group may be
//! answered. Documents and history lines are written afterwards without any
//! fsync; a checkpoint (`syncfs` of the store's filesystem, then the journal
//! truncated to 0 and fsynced) makes them durable and lets the records go.
//! At open, `recovery` replays what a crash left in the journal.
//!
//! A frame is `length (u32 LE) | CRC-32 of the payload (u32 LE) | payload`,
//! the payload one JSON record per line. The committer appends a frame only
//! after the previous one was fdatasynced, so only the last frame can be
//! torn by a crash: a bad frame that no valid frame follows is that torn
//! tail (never answered, ignored); a bad frame with a valid one after it is
//! corruption, and the store refuses to open.

use super::documents::Doc;
use crate::domain::{Dimension, HistoryEntry};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The journal's file name in `DIR` (not `*.json`, so the document scan
/// skips it).
pub(super) const JOURNAL_FILE: &str = "journal";

/// The journal size at which the committer checkpoints.
pub(super) const CHECKPOINT_BYTES: u64 = 64 << 20;

const HEADER: usize = 8;

/// One journaled change.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Record {
    /// The dimension's new document and the history entry of the change.
    Put { document: Doc, entry: HistoryEntry },
}

impl Record {
    pub(super) fn put(dimension: &Dimension, entry: &HistoryEntry) -> Self {
        Self::Put { document: Doc::of(dimension), entry: entry.clone() }
    }
}

/// The open journal: appended at `len`, no `O_APPEND` (a failed append is cut off again).
pub(super) struct Journal {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Journal {
    /// Opens (creating, durably) `DIR/journal`.
    pub(super) fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(JOURNAL_FILE);
        let created = !path.exists();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        if created {
            File::open(dir)?.sync_all()?;
        }
        let len = file.metadata()?.len();
        Ok(Self { file, path, len })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The journal's size in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `records` as one frame and fdatasyncs the journal: once this
    /// returns Ok, they survive a crash or a power loss. On error the frame
    /// is cut off again (durably); if even that fails, the error says so
    /// and the journal must not be appended to any more (`Err(.., true)`).
    pub(super) fn append(&mut self, records: &[Record]) -> Result<(), (std::io::Error, bool)> {
        let frame = encode(records).map_err(|e| (e, false))?;
        let written = self.file.write_all_at(&frame, self.len).and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += frame.len() as u64;
                Ok(())
            }
            Err(e) => {
                let cut = self.file.set_len(self.len).and_then(|()| self.file.sync_data());
                Err((e, cut.is_err()))
            }
        }
    }

    /// Drops every record (after a checkpoint made them durable elsewhere):
    /// truncated to 0 and fsynced.
    pub(super) fn truncate(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        Ok(())
    }

    /// Reads every record, in order (see the module docs for torn tails).
    pub(super) fn read(&self) -> Result<Vec<Record>, StoreError> {
        let mut bytes = vec![0; usize::try_from(self.len).unwrap_or(usize::MAX)];
        self.file
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| StoreError::Open(format!("store: cannot read the journal {}: {e}", self.path.display())))?;
        decode(&bytes).map_err(|at| {
            StoreError::Open(format!(
                "store: the journal {} is corrupt at byte {at} (valid records follow it, so it is not a write \
                 torn by a crash); restore the store directory from a backup",
                self.path.display()
            ))
        })
    }
}

/// One frame holding `records`.
pub(super) fn encode(records: &[Record]) -> std::io::Result<Vec<u8>> {
    let mut frame = vec![0; HEADER];
    for record in records {
        serde_json::to_writer(&mut frame, record)?;
        frame.push(b'\n');
    }
    let len = u32::try_from(frame.len() - HEADER)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "journal frame over 4 GiB"))?;
    let crc = crc32(&frame[HEADER..]);
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// The records of every valid frame in `bytes`. A bad frame followed by no
/// valid one is a torn tail and ends the records; Err(offset) when a valid
/// frame follows a bad one.
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<Record>, usize> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match frame_at(bytes, at) {
            Some((payload, next)) => {
                for line in payload.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    // The CRC matched: a record that does not parse is not a torn write.
                    records.push(serde_json::from_slice(line).map_err(|_| at)?);
                }
                at = next;
            }
            None if (at + 1..bytes.len()).any(|later| frame_at(bytes, later).is_some()) => return Err(at),
            None => break,
        }
    }
    Ok(records)
}

/// The payload of a valid frame starting at `at` and where the next starts.
fn frame_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let payload = bytes.get(at + HEADER..(at + HEADER).checked_add(len)?)?;
    // Every frame the committer writes holds at least one line.
    let plausible = payload.first() == Some(&b'{') && payload.last() == Some(&b'\n');
    (plausible && crc32(payload) == crc).then_some((payload, at + HEADER + len))
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`), table-driven.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};
