//! The ingest log: where an event batch is made durable before it is acknowledged.
//!
//! Committing every HTTP batch to DuckDB was three quarters of its time: a small transaction
//! appends its rows to the table and then scans them again for DuckDB's write-ahead log, and
//! a client that waits for each answer waits for all of it (BENCHMARKS.md, "Event store").
//! So a batch is instead written here (one frame, then `fdatasync`), acknowledged, and
//! inserted into DuckDB by the store's background writer (`backlog`) together with every
//! other batch waiting, in one large transaction. Reads wait for that writer first
//! ([`crate::Store::read_connection`]), so they see every acknowledged event.
//!
//! The log is a series of segment files next to the database, `<database>.ingest-log.<n>`.
//! The background writer starts a new segment each time it takes the waiting batches, and
//! deletes the old one once its transaction committed: a segment holds exactly the batches
//! of one transaction, and the files present are only what is not yet in the tables. When
//! the store opens, it inserts what the segments left by an earlier process hold (duplicates
//! dropped as usual: a batch whose transaction committed before the crash, but whose segment
//! was not yet deleted, is all duplicates), then deletes them.
//!
//! A frame is `RGL1`, the payload's length (u64) and CRC-32 (u32), little-endian, then the
//! payload: the batch's parts, each an `EventRows` record (`rows::record`). A batch is
//! acknowledged only after its whole frame is synced, and a frame whose write or sync failed
//! is cut off the file again before the next is written (a full disk, a failing device), so
//! a frame cut short or failing its checksum at the end of a segment is of a batch that was
//! never acknowledged: reading stops there, and the batch is dropped whole, as its client saw
//! no answer (a warning names the file and the bytes dropped). A damaged frame with a whole
//! frame after it is not that: that frame is of an acknowledged batch, so the segment is
//! refused with a sentence naming it and the byte, and nothing is dropped or deleted. When cutting a
//! failed frame off fails too, the log refuses every later batch rather than write one after
//! it.

use crate::error::{StoreError, StoreResult};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"RGL1";
const HEADER_BYTES: usize = 16;

/// The segment being appended to.
pub(crate) struct IngestLog {
    dir: PathBuf,
    /// `<database file name>.ingest-log.`
    prefix: String,
    number: u64,
    file: File,
    /// Bytes of whole frames in the current segment: where the next frame starts.
    len: u64,
    /// Set when a failed frame could not be cut off: nothing more may be appended after it.
    broken: Option<String>,
}

/// A segment file, closed.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
}

impl Segment {
    /// Deletes the file; its batches are in the tables. A failure is harmless (the next
    /// open inserts its batches again, as duplicates) but reported.
    pub(crate) fn delete(self) -> StoreResult<()> {
        match std::fs::remove_file(&self.path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io(err)),
            _ => Ok(()),
        }
    }

    /// Whether the file holds no byte: a segment a process opened and never wrote to (it
    /// left without closing the store), which holds no batch.
    pub(crate) fn is_empty(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|meta| meta.len() == 0)
    }

    /// The payload of every complete frame, in order. A damaged frame at the end is a batch
    /// never acknowledged and is dropped; one with bytes after it is an error (module doc).
    pub(crate) fn frames(&self) -> StoreResult<Vec<Vec<u8>>> {
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        let mut frames = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            if let Some(payload) = whole_frame(rest) {
                frames.push(payload.to_vec());
                at += HEADER_BYTES + payload.len();
                continue;
            }
            // Damaged at `at`. With a whole frame after it, acknowledged batches may be lost
            // behind it: refused. Without one, it is a write that never finished (a header or
            // payload cut short, a last frame failing its checksum, zeros a crash left).
            let whole_after = rest
                .windows(MAGIC.len())
                .enumerate()
                .skip(1)
                .any(|(skip, window)| window == MAGIC && whole_frame(&rest[skip..]).is_some());
            if whole_after {
                return Err(StoreError::Corrupt(format!(
                    "the ingest log {} is damaged at byte {at} of {}, with frames of acknowledged \
                     batches after it; nothing was read from it. Restore it from a backup, \
                     or move it aside to open the database without its events",
                    self.path.display(),
                    bytes.len()
                )));
            }
            tracing::warn!(
                segment = %self.path.display(),
                dropped_bytes = rest.len(),
                "the ingest log ends in a frame that was never completed (a batch never acknowledged); dropped"
            );
            break;
        }
        Ok(frames)
    }
}

/// The payload of the frame `bytes` starts with, if it is whole: magic, a length within
/// `bytes`, and a payload matching its checksum.
fn whole_frame(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
        return None;
    }
    let mut len = [0; 8];
    len.copy_from_slice(&bytes[4..12]);
    let end = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .and_then(|len| HEADER_BYTES.checked_add(len))?;
    let payload = bytes.get(HEADER_BYTES..end)?;
    let mut crc = [0; 4];
    crc.copy_from_slice(&bytes[12..16]);
    (crc32fast::hash(payload) == u32::from_le_bytes(crc)).then_some(payload)
}

impl IngestLog {
    /// The log of the database at `database`, and the segments an earlier process left,
    /// oldest first. The new segment is numbered after them.
    pub(crate) fn open(database: &Path) -> StoreResult<(IngestLog, Vec<Segment>)> {
        let dir = match database.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = database
            .file_name()
            .ok_or_else(|| StoreError::Open(format!("{} names no file", database.display())))?;
        let prefix = format!("{}.ingest-log.", name.to_string_lossy());
        let mut left = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let file_name = entry.file_name();
            let number = file_name
                .to_str()
                .and_then(|name| name.strip_prefix(&prefix))
                .and_then(|number| number.parse::<u64>().ok());
            if let Some(number) = number {
                left.push((number, entry.path()));
            }
        }
        left.sort();
        let number = left.last().map_or(1, |(number, _)| number + 1);
        let file = create_segment(&dir, &segment_path(&dir, &prefix, number))?;
        let log = IngestLog {
            dir,
            prefix,
            number,
            file,
            len: 0,
            broken: None,
        };
        let left = left.into_iter().map(|(_, path)| Segment { path }).collect();
        Ok((log, left))
    }

    /// Writes one frame whose payload is `parts` in order, and syncs it; the batch is
    /// durable when this returns.
    pub(crate) fn append(&mut self, parts: &[&[u8]]) -> StoreResult<()> {
        if let Some(reason) = &self.broken {
            return Err(StoreError::Io(std::io::Error::other(reason.clone())));
        }
        match self.write_frame(parts) {
            Ok(written) => {
                self.len += written;
                Ok(())
            }
            Err(err) => {
                // The frame may be partly written: cut it off, so the next frame follows the
                // last whole one and a replay reads past this point.
                let cut = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.len)).map(drop))
                    .and_then(|()| self.file.sync_data());
                if let Err(cut) = cut {
                    let reason = format!(
                        "the ingest log {} could not be cut back after a failed write ({cut}); \
                         restart rctgate to write a new one",
                        segment_path(&self.dir, &self.prefix, self.number).display()
                    );
                    tracing::error!("{reason}");
                    self.broken = Some(reason);
                }
                Err(StoreError::Io(err))
            }
        }
    }

    /// Writes one frame and syncs it; its length.
    fn write_frame(&mut self, parts: &[&[u8]]) -> std::io::Result<u64> {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let mut crc = crc32fast::Hasher::new();
        for part in parts {
            crc.update(part);
        }
        let mut header = [0; HEADER_BYTES];
        header[..4].copy_from_slice(MAGIC);
        header[4..12].copy_from_slice(&(len as u64).to_le_bytes());
        header[12..].copy_from_slice(&crc.finalize().to_le_bytes());
        self.file.write_all(&header)?;
        for part in parts {
            self.file.write_all(part)?;
        }
        self.file.sync_data()?;
        Ok((HEADER_BYTES + len) as u64)
    }

    /// Starts a new segment and returns the one appended to until now.
    pub(crate) fn rotate(&mut self) -> StoreResult<Segment> {
        let next = segment_path(&self.dir, &self.prefix, self.number + 1);
        let file = create_segment(&self.dir, &next)?;
        let old = Segment {
            path: segment_path(&self.dir, &self.prefix, self.number),
        };
        self.file = file;
        self.number += 1;
        self.len = 0;
        self.broken = None;
        Ok(old)
    }

    /// The current segment, for a store that closes with nothing waiting: delete it.
    pub(crate) fn close(self) -> Segment {
        Segment {
            path: segment_path(&self.dir, &self.prefix, self.number),
        }
    }
}

fn segment_path(dir: &Path, prefix: &str, number: u64) -> PathBuf {
    dir.join(format!("{prefix}{number:06}"))
}

/// Creates an empty segment and syncs its directory, so that the file itself survives a
/// crash once a frame in it is synced.
fn create_segment(dir: &Path, path: &Path) -> StoreResult<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .map_err(|err| StoreError::Open(format!("cannot create the ingest log {}: {err}", path.display())))?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rctgate-ingest-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn frames_read_back_and_a_torn_last_frame_is_dropped() -> StoreResult<()> {
        let dir = dir("torn");
        let database = dir.join("events.duckdb");
        let (mut log, left) = IngestLog::open(&database)?;
        assert!(left.is_empty());
        log.append(&[b"first", b" batch"])?;
        log.append(&[b"second"])?;
        log.append(&[b"third"])?;
        let segment = log.rotate()?;
        assert_eq!(
            segment.frames()?,
            vec![b"first batch".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );

        // Cut into the last frame: a write that never finished, dropped. So are zeros a
        // crash left after the last whole frame, and a flipped byte in the last frame.
        let whole = std::fs::read(&segment.path)?;
        std::fs::write(&segment.path, &whole[..whole.len() - 2])?;
        assert_eq!(segment.frames()?.len(), 2);
        let mut zeros = whole.clone();
        zeros.extend([0; 40]);
        std::fs::write(&segment.path, &zeros)?;
        assert_eq!(segment.frames()?.len(), 3);
        let mut flipped = whole.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&segment.path, &flipped)?;
        assert_eq!(segment.frames()?.len(), 2);

        // A flipped byte in the second frame, with the third after it: refused, naming the
        // segment and the byte, as the third may be an acknowledged batch.
        let mut bytes = whole.clone();
        let second_payload = HEADER_BYTES * 2 + "first batch".len();
        bytes[second_payload] ^= 1;
        std::fs::write(&segment.path, &bytes)?;
        let err = segment.frames().expect_err("refused").to_string();
        let second = HEADER_BYTES + "first batch".len();
        assert!(
            err.contains(&format!("ingest-log.000001 is damaged at byte {second} of")),
            "{err}"
        );
        // So is a frame whose header is not one, in the middle, and one whose length says
        // it runs past the end of the file.
        let mut bytes = whole.clone();
        bytes[second] = b'X';
        std::fs::write(&segment.path, &bytes)?;
        assert!(segment.frames().is_err());
        let mut bytes = whole.clone();
        bytes[second + 4 + 3] = 0x7f;
        std::fs::write(&segment.path, &bytes)?;
        assert!(segment.frames().is_err());
        std::fs::write(&segment.path, &whole)?;

        // A new process finds both segments, oldest first, and numbers its own after them.
        drop(log);
        let (log, left) = IngestLog::open(&database)?;
        let names: Vec<String> = left
            .iter()
            .filter_map(|segment| segment.path.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(
            names,
            [
                "events.duckdb.ingest-log.000001",
                "events.duckdb.ingest-log.000002"
            ]
        );
        assert!(log.close().path.ends_with("events.duckdb.ingest-log.000003"));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
