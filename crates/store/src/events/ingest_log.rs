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
//! acknowledged only after its whole frame is synced, so a frame cut short or failing its
//! checksum can only be the last one, of a batch that was never acknowledged: reading stops
//! there, and the batch is dropped whole, as its client saw no answer.

use crate::error::{StoreError, StoreResult};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
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

    /// The payload of every complete frame, in order; stops at the first that is cut short
    /// or fails its checksum (see the module doc).
    pub(crate) fn frames(&self) -> StoreResult<Vec<Vec<u8>>> {
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        let mut frames = Vec::new();
        let mut rest = bytes.as_slice();
        while rest.len() >= HEADER_BYTES && &rest[..4] == MAGIC {
            let mut len = [0; 8];
            len.copy_from_slice(&rest[4..12]);
            let mut crc = [0; 4];
            crc.copy_from_slice(&rest[12..16]);
            let Some(payload) = usize::try_from(u64::from_le_bytes(len))
                .ok()
                .and_then(|len| rest.get(HEADER_BYTES..HEADER_BYTES.checked_add(len)?))
            else {
                break;
            };
            if crc32fast::hash(payload) != u32::from_le_bytes(crc) {
                break;
            }
            frames.push(payload.to_vec());
            rest = &rest[HEADER_BYTES + payload.len()..];
        }
        Ok(frames)
    }
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
        };
        let left = left.into_iter().map(|(_, path)| Segment { path }).collect();
        Ok((log, left))
    }

    /// Writes one frame whose payload is `parts` in order, and syncs it; the batch is
    /// durable when this returns.
    pub(crate) fn append(&mut self, parts: &[&[u8]]) -> StoreResult<()> {
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
        Ok(())
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

        // Cut into the last frame, then flip a byte of the second: reading stops there.
        let bytes = std::fs::read(&segment.path)?;
        std::fs::write(&segment.path, &bytes[..bytes.len() - 2])?;
        assert_eq!(segment.frames()?.len(), 2);
        let mut bytes = std::fs::read(&segment.path)?;
        let second_payload = HEADER_BYTES * 2 + "first batch".len();
        bytes[second_payload] ^= 1;
        std::fs::write(&segment.path, &bytes)?;
        assert_eq!(segment.frames()?, vec![b"first batch".to_vec()]);

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
