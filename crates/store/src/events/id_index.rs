//! The stored event ids on disk: a sorted file of fingerprints next to the database, so that
//! the server's memory and start time do not grow with the traffic its idempotency horizon
//! holds.
//!
//! The file `<database>.ids` is written once and never changed: a new version is written to
//! `<database>.ids.tmp`, synced, and renamed over the old one, so a crash leaves either
//! version whole. It holds the fingerprints of the ids of every event-table row up to a
//! [`Watermark`] (rowids; the tables are append-only), except those older than its floor,
//! sorted, 204 entries of 20 bytes per 4 KiB block, with two aids to find one: the first
//! fingerprint of each block (its fence, 16 bytes per 204 ids) and a blocked Bloom filter
//! of the entries (10 bits per id). An id the filter rules out (most new ids: 99%) costs no
//! read of the entries; the others cost a binary search of the fences and one positioned
//! read (`pread`) of a block.
//!
//! Neither aid is read into memory when the file is opened: both are pages of the file read
//! when a lookup needs them, checked once against their CRC, and kept in a cache of a fixed
//! size, [`CACHE_BYTES`] (`checked_pages`). So opening reads the header, a checksum per page
//! (4 bytes per 3,277 ids) and the first fence of each page of fences (16 bytes per 52,224
//! ids): 144 KB for 90M ids. What the index holds in memory stays under 34 MB up to 300M
//! ids. It was 1.3 bytes per id held from the open on (112 MB and a third of a second to
//! read at 85M ids), which made the server's start and memory grow with the horizon's
//! traffic. Up to about 25M ids the whole filter fits the cache; past that, a lookup whose
//! filter page is not cached reads it (a microsecond from the kernel's page cache, which is
//! not the server's memory and is given back under pressure). Measured on 85M ids: 400,000
//! new events posted over HTTP took the same time with this cache and with one of 1 GiB.
//!
//! The file is derived data: it is checked against the database when it is opened (the
//! watermark's rows must exist and hold the ids it says) and rebuilt from the tables when it
//! is missing, damaged or belongs to another file; a page found damaged later fails the
//! lookup with a message that says to delete the file. Its header holds the fingerprint
//! keys, which is why they outlive a process (see `ids`).
//!
//! Layout, in 4 KiB pages: page 0 the header ([`HEADER_BYTES`] used); pages `1..=n` the
//! entries, little-endian `(fingerprint: u128, day: i32)`, every block full but the last;
//! then the fences, [`FENCES_PER_PAGE`] to a page; then the filter's pages of 64-byte
//! blocks. After the pages, the CRC-32 of each page of fences and of filter, then the first
//! fence of each page of fences. A CRC-32 of the header and of that tail closes the header.

use crate::events::checked_pages::{CheckedPages, DamagedPage, PAGE_BYTES};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of one entry: a 128-bit fingerprint and the event's day.
const ENTRY_BYTES: usize = 20;
/// Bytes of a block of entries: a page, so a lookup reads one.
const BLOCK_BYTES: usize = PAGE_BYTES;
/// Entries per block.
const PER_BLOCK: usize = BLOCK_BYTES / ENTRY_BYTES;
/// Fences per page of fences.
const FENCES_PER_PAGE: usize = PAGE_BYTES / 16;
/// Bytes of the header that are used.
const HEADER_BYTES: usize = 100;
/// The file's first bytes (the last is the format's version).
const MAGIC: &[u8; 8] = b"RCTGIDS2";
/// Entries a build sorts in memory before it spills them to partition files (20 MB each
/// million).
const BUILD_BUFFER: usize = 2 << 20;
/// Partition files of a build that spills, by the fingerprints' top bits.
const BUILD_PARTITIONS: usize = 64;
/// Filter bits per entry: about 1% false positives with [`FILTER_PROBES`] probes.
const FILTER_BITS_PER_ENTRY: u64 = 10;
/// Bits a fingerprint sets in its filter block.
const FILTER_PROBES: u32 = 7;
/// Bytes of filter blocks in a page.
const FILTER_BLOCK_BYTES: usize = 64;
/// The most memory an open index keeps of its fences and filter pages: the whole filter of
/// about 25M ids, a fraction of a larger one.
const CACHE_BYTES: usize = 32 << 20;

/// The shape of a blocked Bloom filter over fingerprints: each fingerprint sets
/// [`FILTER_PROBES`] bits in one 512-bit block (one cache line), so a test touches one
/// line, of one page. Fingerprints are already uniform keyed hashes, so their bits choose
/// the block and the bits directly; the block grows with the fingerprint, so a writer given
/// sorted fingerprints fills the pages in order.
#[derive(Clone, Copy)]
struct FilterShape {
    pages: u64,
}

/// Where a fingerprint's bits are: the filter's page, the block's offset in it, the bits.
struct FilterProbe {
    page: u64,
    offset: usize,
    low: u64,
}

impl FilterShape {
    fn with_capacity(entries: u64) -> FilterShape {
        let page_bits = 8 * PAGE_BYTES as u64;
        FilterShape {
            pages: (entries.saturating_mul(FILTER_BITS_PER_ENTRY))
                .div_ceil(page_bits)
                .max(1),
        }
    }

    fn probe(self, fingerprint: u128) -> FilterProbe {
        let blocks = self.pages * (PAGE_BYTES / FILTER_BLOCK_BYTES) as u64;
        let high = (fingerprint >> 64) as u64;
        let block = ((u128::from(high) * u128::from(blocks)) >> 64) as u64;
        let per_page = (PAGE_BYTES / FILTER_BLOCK_BYTES) as u64;
        FilterProbe {
            page: block / per_page,
            offset: (block % per_page) as usize * FILTER_BLOCK_BYTES,
            low: fingerprint as u64,
        }
    }
}

impl FilterProbe {
    /// The bit positions (0..512) in the block.
    fn bits(&self) -> impl Iterator<Item = usize> {
        let low = self.low;
        (0..FILTER_PROBES).map(move |probe| ((low >> (9 * probe)) & 511) as usize)
    }

    fn set(&self, page: &mut [u8]) {
        for bit in self.bits() {
            page[self.offset + bit / 8] |= 1 << (bit % 8);
        }
    }

    fn is_set(&self, page: &[u8]) -> bool {
        self.bits()
            .all(|bit| page[self.offset + bit / 8] & (1 << (bit % 8)) != 0)
    }
}

/// A stored id: its fingerprint and the day (since 1970-01-01 UTC) of its event, which
/// decides when it leaves the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) fingerprint: u128,
    pub(crate) day: i32,
}

impl Entry {
    fn encode(self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.fingerprint.to_le_bytes());
        out[16..20].copy_from_slice(&self.day.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Entry {
        let mut day = [0; 4];
        day.copy_from_slice(&bytes[16..20]);
        Entry {
            fingerprint: u128_at(bytes, 0),
            day: i32::from_le_bytes(day),
        }
    }
}

/// The little-endian `u64` at `at` in `bytes`.
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The little-endian `u128` at `at` in `bytes`.
fn u128_at(bytes: &[u8], at: usize) -> u128 {
    let mut wide = [0; 16];
    wide.copy_from_slice(&bytes[at..at + 16]);
    u128::from_le_bytes(wide)
}

/// The day of a time in microseconds since 1970.
pub(crate) fn day_of(micros: i64) -> i32 {
    let day = micros.div_euclid(86_400_000_000);
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// Which rows of the event tables an index holds: every row whose rowid is at most these
/// (`-1`: none), and, to recognise the same database, the fingerprints of those rows' ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Watermark {
    pub(crate) exposures: i64,
    pub(crate) metric_events: i64,
    pub(crate) exposure_id: u128,
    pub(crate) metric_event_id: u128,
}

/// What an index's header says besides its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexHeader {
    /// The fingerprint keys the entries were computed with.
    pub(crate) keys: (u64, u64),
    pub(crate) watermark: Watermark,
    /// Ids of events before this time (microseconds) may be missing.
    pub(crate) floor: i64,
}

/// An open index file: a sorted set of fingerprints, read with positioned reads.
pub(crate) struct IdIndex {
    file: File,
    path: PathBuf,
    header: IndexHeader,
    entries: u64,
    /// Blocks of entries (pages `1..=blocks`).
    blocks: u64,
    /// The first fence of each page of fences.
    top_fences: Vec<u128>,
    filter: FilterShape,
    /// The pages of fences, then of the filter.
    pages: CheckedPages,
}

/// Where the parts of an index of `entries` entries and `filter_pages` pages of filter lie,
/// in bytes; `None` when a damaged header's numbers overflow.
struct Layout {
    blocks: u64,
    /// Offset of the CRCs, after the last page.
    tail_at: u64,
    /// Offset of the first fence of each page of fences.
    top_fences_at: u64,
    length: u64,
}

impl Layout {
    fn of(entries: u64, filter_pages: u64) -> Option<Layout> {
        let blocks = entries.div_ceil(PER_BLOCK as u64);
        let fence_pages = blocks.div_ceil(FENCES_PER_PAGE as u64);
        let pages = 1u64
            .checked_add(blocks)?
            .checked_add(fence_pages)?
            .checked_add(filter_pages)?;
        let tail_at = pages.checked_mul(PAGE_BYTES as u64)?;
        let top_fences_at = tail_at.checked_add(fence_pages.checked_add(filter_pages)?.checked_mul(4)?)?;
        let length = top_fences_at.checked_add(fence_pages.checked_mul(16)?)?;
        Some(Layout {
            blocks,
            tail_at,
            top_fences_at,
            length,
        })
    }
}

impl IdIndex {
    /// Opens the index at `path`: `Ok(None)` when there is none, `Err` with the reason when
    /// the file is not a whole index (it is then rebuilt).
    pub(crate) fn open(path: &Path) -> Result<Option<IdIndex>, String> {
        IdIndex::open_cached(path, CACHE_BYTES / PAGE_BYTES)
    }

    /// [`IdIndex::open`] with a cache of `cache_pages` pages.
    fn open_cached(path: &Path, cache_pages: usize) -> Result<Option<IdIndex>, String> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot open {}: {err}", path.display())),
        };
        let broken = |what: &str| format!("{} is not a whole id index ({what})", path.display());
        let mut head = [0u8; HEADER_BYTES];
        file.read_exact_at(&mut head, 0)
            .map_err(|_| broken("short header"))?;
        if &head[..8] != MAGIC {
            return Err(broken("unknown format"));
        }
        let word = |at: usize| u64_at(&head, at);
        let wide = |at: usize| u128_at(&head, at);
        let header = IndexHeader {
            keys: (word(8), word(16)),
            watermark: Watermark {
                exposures: word(24) as i64,
                metric_events: word(32) as i64,
                exposure_id: wide(40),
                metric_event_id: wide(56),
            },
            floor: word(72) as i64,
        };
        let entries = word(80);
        let filter_pages = word(88);
        let length = file.metadata().map_err(|err| broken(&err.to_string()))?.len();
        // Checked: a damaged header may hold any numbers.
        let layout = Layout::of(entries, filter_pages)
            .filter(|layout| layout.length == length && filter_pages > 0)
            .ok_or_else(|| broken("length"))?;
        let tail_length = usize::try_from(length - layout.tail_at).map_err(|_| broken("size"))?;
        let mut tail = vec![0u8; tail_length];
        file.read_exact_at(&mut tail, layout.tail_at)
            .map_err(|_| broken("short tail"))?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[..96]);
        crc.update(&tail);
        if crc.finalize().to_le_bytes() != head[96..100] {
            return Err(broken("checksum"));
        }
        let (crcs, top_fences) = tail.split_at((layout.top_fences_at - layout.tail_at) as usize);
        let crcs = crcs
            .chunks_exact(4)
            .map(|crc| u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]))
            .collect();
        Ok(Some(IdIndex {
            file,
            path: path.to_path_buf(),
            header,
            entries,
            blocks: layout.blocks,
            top_fences: top_fences
                .chunks_exact(16)
                .map(|fence| u128_at(fence, 0))
                .collect(),
            filter: FilterShape { pages: filter_pages },
            pages: CheckedPages::new(1 + layout.blocks, crcs, cache_pages),
        }))
    }

    pub(crate) fn header(&self) -> &IndexHeader {
        &self.header
    }

    /// Number of fingerprints.
    pub(crate) fn len(&self) -> u64 {
        self.entries
    }

    /// Whether `fingerprint` is in the index: its filter page, then its page of fences and
    /// its block when the filter does not rule it out.
    pub(crate) fn contains(&self, fingerprint: u128) -> io::Result<bool> {
        if !self.may_contain(fingerprint)? {
            return Ok(false);
        }
        let Some(fence_page) = self
            .top_fences
            .partition_point(|fence| *fence <= fingerprint)
            .checked_sub(1)
        else {
            return Ok(false);
        };
        let fences_before = (fence_page * FENCES_PER_PAGE) as u64;
        let fences = (self.blocks - fences_before).min(FENCES_PER_PAGE as u64) as usize;
        let in_page = self.with_page(1 + self.blocks + fence_page as u64, |page| {
            let (mut low, mut high) = (0, fences);
            while low < high {
                let middle = (low + high) / 2;
                if u128_at(page, 16 * middle) <= fingerprint {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            low
        })?;
        // The top fence is this page's first, so at least one fence is at most `fingerprint`.
        let block = fences_before as usize + in_page.max(1) - 1;
        let mut bytes = [0u8; BLOCK_BYTES];
        let count = self.block_len(block);
        let bytes = &mut bytes[..count * ENTRY_BYTES];
        self.file
            .read_exact_at(bytes, (BLOCK_BYTES * (1 + block)) as u64)?;
        let (mut low, mut high) = (0, count);
        while low < high {
            let middle = (low + high) / 2;
            let entry = Entry::decode(&bytes[middle * ENTRY_BYTES..]);
            match entry.fingerprint.cmp(&fingerprint) {
                std::cmp::Ordering::Equal => return Ok(true),
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
            }
        }
        Ok(false)
    }

    /// Whether the filter lets `fingerprint` through.
    fn may_contain(&self, fingerprint: u128) -> io::Result<bool> {
        let probe = self.filter.probe(fingerprint);
        let fence_pages = self.pages.len() - self.filter.pages;
        self.with_page(1 + self.blocks + fence_pages + probe.page, |page| {
            probe.is_set(page)
        })
    }

    /// A checked page, with the file named when it is damaged.
    fn with_page<R>(&self, page: u64, read: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        self.pages.with_page(&self.file, page, read).map_err(|err| {
            match err
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<DamagedPage>())
            {
                Some(damaged) => io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the id index {} is damaged ({damaged}); stop rctgate, delete that file \
                         and start it again: it is rebuilt from the event tables",
                        self.path.display()
                    ),
                ),
                None => err,
            }
        })
    }

    /// Entries in block `block`.
    fn block_len(&self, block: usize) -> usize {
        let before = (block * PER_BLOCK) as u64;
        (self.entries - before).min(PER_BLOCK as u64) as usize
    }

    /// Every entry, in order, read block by block.
    fn entries(&self) -> impl Iterator<Item = io::Result<Entry>> + '_ {
        (0..self.blocks as usize).flat_map(move |block| {
            let count = self.block_len(block);
            let mut bytes = vec![0u8; count * ENTRY_BYTES];
            let read = self
                .file
                .read_exact_at(&mut bytes, (BLOCK_BYTES * (1 + block)) as u64);
            let entries: Vec<io::Result<Entry>> = match read {
                Ok(()) => bytes
                    .chunks_exact(ENTRY_BYTES)
                    .map(|chunk| Ok(Entry::decode(chunk)))
                    .collect(),
                Err(err) => vec![Err(err)],
            };
            entries
        })
    }

    /// Writes at `path` the union of this index (if any) and `added` (sorted by fingerprint,
    /// without repeats), without the entries of days before `header.floor`'s, and opens it.
    pub(crate) fn merged(
        old: Option<&IdIndex>,
        added: &[Entry],
        header: IndexHeader,
        path: &Path,
    ) -> io::Result<IdIndex> {
        let capacity = old.map_or(0, IdIndex::len) + added.len() as u64;
        let mut writer = IndexWriter::create(path, header, capacity)?;
        let mut added = added.iter().copied().peekable();
        if let Some(old) = old {
            for entry in old.entries() {
                let entry = entry?;
                while let Some(new) = added.next_if(|new| new.fingerprint < entry.fingerprint) {
                    writer.push(new)?;
                }
                match added.next_if(|new| new.fingerprint == entry.fingerprint) {
                    Some(new) => writer.push(Entry {
                        day: new.day.max(entry.day),
                        ..entry
                    })?,
                    None => writer.push(entry)?,
                }
            }
        }
        for new in added {
            writer.push(new)?;
        }
        writer.finish()
    }

    /// Deletes what writing an index at `path` may have left when it was cut off (the
    /// index itself is whole: it is renamed into place only once written).
    pub(crate) fn remove_leftovers(path: &Path) {
        let mut leftovers = vec![temporary(path), filter_path(path)];
        leftovers.extend((0..BUILD_PARTITIONS).map(|part| partition_path(path, part)));
        for leftover in leftovers {
            // Absent in the common case; one that cannot be deleted is truncated when reused.
            let _ = std::fs::remove_file(leftover);
        }
    }

    /// The fingerprint keys in the header of the index at `path`, if there is one; a
    /// damaged file's keys are as good as any (the index is rebuilt with them).
    pub(crate) fn read_keys(path: &Path) -> Option<(u64, u64)> {
        let mut head = [0u8; 24];
        File::open(path).ok()?.read_exact_at(&mut head, 0).ok()?;
        if &head[..8] != MAGIC {
            return None;
        }
        Some((u64_at(&head, 8), u64_at(&head, 16)))
    }
}

/// Writes an index of entries given in any order, repeats allowed, with bounded memory:
/// past [`BUILD_BUFFER`] entries they are spilled to partition files by their top bits
/// (fingerprints are uniform, so each holds its share) and each partition is sorted on its
/// own.
pub(crate) struct IndexBuilder {
    path: PathBuf,
    header: IndexHeader,
    buffer: Vec<Entry>,
    partitions: Option<Partitions>,
}

impl IndexBuilder {
    pub(crate) fn new(header: IndexHeader, path: &Path) -> IndexBuilder {
        IndexBuilder {
            path: path.to_path_buf(),
            header,
            buffer: Vec::new(),
            partitions: None,
        }
    }

    pub(crate) fn push(&mut self, entry: Entry) -> io::Result<()> {
        self.buffer.push(entry);
        if self.buffer.len() == BUILD_BUFFER {
            let partitions = match &mut self.partitions {
                Some(partitions) => partitions,
                None => self.partitions.insert(Partitions::create(&self.path)?),
            };
            partitions.spill(&mut self.buffer)?;
        }
        Ok(())
    }

    /// Writes the index and opens it.
    pub(crate) fn finish(mut self) -> io::Result<IdIndex> {
        let Some(mut partitions) = self.partitions else {
            sort_unique(&mut self.buffer);
            return IdIndex::merged(None, &self.buffer, self.header, &self.path);
        };
        partitions.spill(&mut self.buffer)?;
        let mut writer = IndexWriter::create(&self.path, self.header, partitions.entries)?;
        for partition in partitions.into_sorted() {
            for entry in partition? {
                writer.push(entry)?;
            }
        }
        writer.finish()
    }
}

/// Sorts by fingerprint and keeps one entry per fingerprint (the latest day).
pub(crate) fn sort_unique(entries: &mut Vec<Entry>) {
    entries.sort_unstable_by(|a, b| a.fingerprint.cmp(&b.fingerprint).then(b.day.cmp(&a.day)));
    entries.dedup_by_key(|entry| entry.fingerprint);
}

/// The file beside `path` a new version is written to.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The file a writer of the index at `path` writes the filter's pages to, before it copies
/// them after the fences (whose number it knows only at the end).
fn filter_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".filter.tmp");
    PathBuf::from(name)
}

/// The spill file of partition `part` of a build of the index at `path`.
fn partition_path(path: &Path, part: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".part{part:02}"));
    PathBuf::from(name)
}

/// Writes a new index file, entry by entry in order, leaving out days before its floor's.
/// What it holds in memory is a page of filter and the fences (16 bytes per 204 entries).
struct IndexWriter {
    out: BufWriter<File>,
    path: PathBuf,
    header: IndexHeader,
    first_day: i32,
    fences: Vec<u128>,
    filter: FilterWriter,
    entries: u64,
    last: Option<u128>,
}

impl IndexWriter {
    /// A writer of at most `capacity` entries (it sizes the filter).
    fn create(path: &Path, header: IndexHeader, capacity: u64) -> io::Result<IndexWriter> {
        let mut out = BufWriter::with_capacity(1 << 20, create_truncated(&temporary(path))?);
        out.write_all(&[0; BLOCK_BYTES])?;
        Ok(IndexWriter {
            out,
            path: path.to_path_buf(),
            header,
            first_day: day_of(header.floor),
            fences: Vec::new(),
            filter: FilterWriter::create(&filter_path(path), FilterShape::with_capacity(capacity))?,
            entries: 0,
            last: None,
        })
    }

    fn push(&mut self, entry: Entry) -> io::Result<()> {
        if entry.day < self.first_day {
            return Ok(());
        }
        if self.last.is_some_and(|last| last >= entry.fingerprint) {
            return Err(io::Error::other("id index entries out of order"));
        }
        self.last = Some(entry.fingerprint);
        self.filter.insert(entry.fingerprint)?;
        let in_block = (self.entries % PER_BLOCK as u64) as usize;
        if in_block == 0 {
            self.fences.push(entry.fingerprint);
        }
        let mut bytes = [0; ENTRY_BYTES];
        entry.encode(&mut bytes);
        self.out.write_all(&bytes)?;
        self.entries += 1;
        if in_block + 1 == PER_BLOCK {
            self.out.write_all(&[0; BLOCK_BYTES - PER_BLOCK * ENTRY_BYTES])?;
        }
        Ok(())
    }

    /// Pads the last block, writes the fences, the filter, the tail and the header, syncs,
    /// renames the file into place, and opens it.
    fn finish(mut self) -> io::Result<IdIndex> {
        let in_block = (self.entries % PER_BLOCK as u64) as usize;
        if in_block > 0 {
            self.out
                .write_all(&vec![0; BLOCK_BYTES - in_block * ENTRY_BYTES])?;
        }
        let mut crcs = Vec::new();
        for fences in self.fences.chunks(FENCES_PER_PAGE) {
            let mut page = [0u8; PAGE_BYTES];
            for (at, fence) in fences.iter().enumerate() {
                page[16 * at..16 * at + 16].copy_from_slice(&fence.to_le_bytes());
            }
            crcs.push(crc32fast::hash(&page));
            self.out.write_all(&page)?;
        }
        let (filter_pages, filter_crcs) = self.filter.finish(&mut self.out)?;
        crcs.extend(filter_crcs);
        // The tail: the pages' CRCs, then each page of fences' first fence.
        let mut tail = crc32fast::Hasher::new();
        let mut put = |out: &mut BufWriter<File>, bytes: &[u8]| {
            tail.update(bytes);
            out.write_all(bytes)
        };
        for crc in crcs {
            put(&mut self.out, &crc.to_le_bytes())?;
        }
        for fence in self.fences.iter().step_by(FENCES_PER_PAGE) {
            put(&mut self.out, &fence.to_le_bytes())?;
        }
        let file = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let header = self.header;
        let mut head = [0u8; HEADER_BYTES];
        head[..8].copy_from_slice(MAGIC);
        let words = [
            header.keys.0,
            header.keys.1,
            header.watermark.exposures as u64,
            header.watermark.metric_events as u64,
        ];
        for (at, word) in (8..).step_by(8).zip(words) {
            head[at..at + 8].copy_from_slice(&word.to_le_bytes());
        }
        head[40..56].copy_from_slice(&header.watermark.exposure_id.to_le_bytes());
        head[56..72].copy_from_slice(&header.watermark.metric_event_id.to_le_bytes());
        head[72..80].copy_from_slice(&header.floor.to_le_bytes());
        head[80..88].copy_from_slice(&self.entries.to_le_bytes());
        head[88..96].copy_from_slice(&filter_pages.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[..96]);
        crc.combine(&tail);
        head[96..100].copy_from_slice(&crc.finalize().to_le_bytes());
        file.write_all_at(&head, 0)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(temporary(&self.path), &self.path)?;
        if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        IdIndex::open(&self.path)
            .map_err(io::Error::other)?
            .ok_or_else(|| io::Error::other(format!("{} vanished once written", self.path.display())))
    }
}

/// Writes a filter's pages in order to a file of their own, given the fingerprints in
/// order: one page in memory.
struct FilterWriter {
    out: BufWriter<File>,
    path: PathBuf,
    shape: FilterShape,
    /// The page being filled, and its number.
    page: Box<[u8]>,
    at: u64,
    crcs: Vec<u32>,
}

impl FilterWriter {
    fn create(path: &Path, shape: FilterShape) -> io::Result<FilterWriter> {
        Ok(FilterWriter {
            out: BufWriter::with_capacity(1 << 20, create_truncated(path)?),
            path: path.to_path_buf(),
            shape,
            page: vec![0; PAGE_BYTES].into_boxed_slice(),
            at: 0,
            crcs: Vec::new(),
        })
    }

    fn insert(&mut self, fingerprint: u128) -> io::Result<()> {
        let probe = self.shape.probe(fingerprint);
        while self.at < probe.page {
            self.flush_page()?;
        }
        probe.set(&mut self.page);
        Ok(())
    }

    fn flush_page(&mut self) -> io::Result<()> {
        self.crcs.push(crc32fast::hash(&self.page));
        self.out.write_all(&self.page)?;
        self.page.fill(0);
        self.at += 1;
        Ok(())
    }

    /// Writes the remaining pages, copies them all to `out`, deletes its file, and returns
    /// the number of pages and their CRCs.
    fn finish(mut self, out: &mut impl Write) -> io::Result<(u64, Vec<u32>)> {
        while self.at < self.shape.pages {
            self.flush_page()?;
        }
        let file = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        drop(file);
        io::copy(
            &mut BufReader::with_capacity(1 << 20, File::open(&self.path)?),
            out,
        )?;
        std::fs::remove_file(&self.path)?;
        Ok((self.shape.pages, self.crcs))
    }
}

/// A file created for writing, emptied if it was there.
fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// A build's spill files, one per range of fingerprints.
struct Partitions {
    files: Vec<(PathBuf, BufWriter<File>)>,
    /// Entries spilled.
    entries: u64,
}

impl Partitions {
    fn create(path: &Path) -> io::Result<Partitions> {
        let mut files = Vec::with_capacity(BUILD_PARTITIONS);
        for part in 0..BUILD_PARTITIONS {
            let name = partition_path(path, part);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&name)?;
            files.push((name, BufWriter::with_capacity(1 << 16, file)));
        }
        Ok(Partitions { files, entries: 0 })
    }

    fn spill(&mut self, buffer: &mut Vec<Entry>) -> io::Result<()> {
        let shift = 128 - BUILD_PARTITIONS.trailing_zeros();
        let mut bytes = [0; ENTRY_BYTES];
        self.entries += buffer.len() as u64;
        for entry in buffer.drain(..) {
            entry.encode(&mut bytes);
            self.files[(entry.fingerprint >> shift) as usize]
                .1
                .write_all(&bytes)?;
        }
        Ok(())
    }

    /// Each partition's entries, sorted; its file is deleted once read.
    fn into_sorted(self) -> impl Iterator<Item = io::Result<Vec<Entry>>> {
        self.files.into_iter().map(|(name, out)| {
            let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            drop(file);
            let mut bytes = Vec::new();
            BufReader::new(File::open(&name)?).read_to_end(&mut bytes)?;
            std::fs::remove_file(&name)?;
            let mut entries: Vec<Entry> = bytes.chunks_exact(ENTRY_BYTES).map(Entry::decode).collect();
            sort_unique(&mut entries);
            Ok(entries)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use std::collections::HashSet;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rctgate-id-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join("events.duckdb.ids")
    }

    fn header(floor: i64) -> IndexHeader {
        IndexHeader {
            keys: (7, 11),
            watermark: Watermark {
                exposures: 41,
                metric_events: -1,
                exposure_id: 3,
                metric_event_id: 0,
            },
            floor,
        }
    }

    fn random_entries(count: usize, day: i32) -> Vec<Entry> {
        let mut rng = rand::thread_rng();
        (0..count)
            .map(|_| Entry {
                fingerprint: rng.gen(),
                day,
            })
            .collect()
    }

    #[test]
    fn finds_every_entry_and_nothing_else_across_block_edges() {
        let path = scratch("find");
        for count in [0, 1, PER_BLOCK - 1, PER_BLOCK, PER_BLOCK + 1, 5 * PER_BLOCK + 17] {
            let mut entries = random_entries(count, 20_000);
            sort_unique(&mut entries);
            let index = IdIndex::merged(None, &entries, header(i64::MIN), &path).expect("write");
            assert_eq!(index.len(), entries.len() as u64);
            for entry in &entries {
                assert!(index.contains(entry.fingerprint).expect("read"), "{count}");
            }
            for absent in random_entries(200, 0) {
                assert!(!index.contains(absent.fingerprint).expect("read"));
            }
            assert!(!index.contains(0).expect("read") || entries.iter().any(|e| e.fingerprint == 0));
            let reopened = IdIndex::open(&path).expect("valid").expect("there");
            assert_eq!(reopened.header(), &header(i64::MIN));
            let read: Vec<Entry> = reopened.entries().collect::<io::Result<_>>().expect("read");
            assert_eq!(read, entries);
        }
    }

    #[test]
    fn a_merge_keeps_the_union_and_drops_days_before_the_floor() {
        let path = scratch("merge");
        let mut old = random_entries(3 * PER_BLOCK, 100);
        old.extend(random_entries(PER_BLOCK, 90));
        sort_unique(&mut old);
        let first = IdIndex::merged(None, &old, header(i64::MIN), &path).expect("write");
        let mut added = random_entries(500, 101);
        // A repeat of an old id with a later day moves it forward.
        let repeated = *old
            .iter()
            .find(|entry| entry.day == 90)
            .expect("an old day-90 entry");
        added.push(Entry { day: 101, ..repeated });
        sort_unique(&mut added);
        let floor = 95 * 86_400_000_000;
        let merged = IdIndex::merged(Some(&first), &added, header(floor), &path).expect("merge");
        let expected: HashSet<u128> = old
            .iter()
            .filter(|entry| entry.day >= 95)
            .chain(&added)
            .map(|entry| entry.fingerprint)
            .collect();
        assert_eq!(merged.len(), expected.len() as u64);
        for entry in old.iter().chain(&added) {
            assert_eq!(
                merged.contains(entry.fingerprint).expect("read"),
                expected.contains(&entry.fingerprint)
            );
        }
        assert!(merged.contains(repeated.fingerprint).expect("read"));
        assert_eq!(merged.header().floor, floor);
    }

    #[test]
    fn a_build_that_spills_equals_one_that_does_not() {
        let path = scratch("build");
        let mut entries = random_entries(BUILD_BUFFER + 12_345, 5);
        // Repeats, across the spill.
        let repeats: Vec<Entry> = entries[..1000].to_vec();
        entries.extend(repeats);
        let mut builder = IndexBuilder::new(header(i64::MIN), &path);
        for entry in &entries {
            builder.push(*entry).expect("push");
        }
        let built = builder.finish().expect("build");
        let mut sorted = entries.clone();
        sort_unique(&mut sorted);
        assert_eq!(built.len(), sorted.len() as u64);
        let read: Vec<Entry> = built.entries().collect::<io::Result<_>>().expect("read");
        assert_eq!(read, sorted);
        // Through a cache of far fewer pages than its fences and filter: every page must
        // come back whole after it was evicted.
        let reopened = IdIndex::open_cached(&path, 5).expect("valid").expect("there");
        assert!(reopened.pages.len() > 100, "{} pages", reopened.pages.len());
        for entry in sorted.iter().step_by(97) {
            assert!(reopened.contains(entry.fingerprint).expect("read"));
        }
        for absent in random_entries(2000, 0) {
            assert!(!reopened.contains(absent.fingerprint).expect("read"));
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("events.duckdb.ids")]);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_with_a_reason() {
        let path = scratch("damaged");
        assert!(IdIndex::open(&path).expect("absent is fine").is_none());
        let mut entries = random_entries(1000, 1);
        sort_unique(&mut entries);
        IdIndex::merged(None, &entries, header(i64::MIN), &path).expect("write");
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write");
        let err = IdIndex::open(&path).err().expect("refused");
        assert!(err.contains("checksum"), "{err}");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
        assert!(IdIndex::open(&path).err().expect("refused").contains("length"));
        assert_eq!(IdIndex::read_keys(&path), Some((7, 11)), "keys survive damage");
        let mut absurd = bytes.clone();
        absurd[80..88].copy_from_slice(&u64::MAX.to_le_bytes());
        absurd[88..96].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, &absurd).expect("write");
        assert!(IdIndex::open(&path).err().expect("refused").contains("length"));
        std::fs::write(&path, b"not an index at all".repeat(10)).expect("write");
        assert!(IdIndex::open(&path).err().expect("refused").contains("format"));
    }

    #[test]
    fn the_filter_rules_out_most_absent_ids_and_never_a_present_one() {
        let path = scratch("filter");
        let mut entries = random_entries(100_000, 0);
        sort_unique(&mut entries);
        let index = IdIndex::merged(None, &entries, header(i64::MIN), &path).expect("write");
        for entry in &entries {
            assert!(index.may_contain(entry.fingerprint).expect("read"));
        }
        let false_positives = random_entries(100_000, 0)
            .iter()
            .filter(|entry| index.may_contain(entry.fingerprint).expect("read"))
            .count();
        assert!(false_positives < 2_000, "{false_positives} of 100,000");
    }

    #[test]
    fn a_damaged_page_found_by_a_lookup_names_the_file_and_what_to_do() {
        let path = scratch("damaged-page");
        let mut entries = random_entries(3 * PER_BLOCK, 1);
        sort_unique(&mut entries);
        IdIndex::merged(None, &entries, header(i64::MIN), &path).expect("write");
        let mut bytes = std::fs::read(&path).expect("read");
        // The first filter page follows the entries' blocks and the one page of fences.
        let filter_at = PAGE_BYTES * (1 + 3 + 1);
        for byte in &mut bytes[filter_at..filter_at + PAGE_BYTES] {
            *byte = 0;
        }
        std::fs::write(&path, &bytes).expect("write");
        // The header's checksum does not cover the pages: the open does not read them.
        let index = IdIndex::open(&path).expect("valid").expect("there");
        let err = index.contains(entries[0].fingerprint).expect_err("damaged");
        let message = err.to_string();
        assert!(message.contains("events.duckdb.ids is damaged"), "{message}");
        assert!(message.contains("fails its checksum"), "{message}");
        assert!(message.contains("delete that file"), "{message}");
    }

    #[test]
    fn days_are_floored_before_1970_too() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_400_000_000 - 1), 0);
        assert_eq!(day_of(-1), -1);
        assert!(day_of(i64::MIN) < day_of(-86_400_000_000));
    }
}
