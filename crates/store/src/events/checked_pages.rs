//! Pages of an immutable file read when first needed, each checked once against its
//! CRC-32, and kept in a cache of a fixed number of pages.
//!
//! The id index (`id_index`) keeps its filter and its fences this way: opening it then
//! reads a few hundred kilobytes whatever its size, and the memory it holds is bounded by
//! the cache, not by the ids it indexes. A page the cache evicted is read again with one
//! positioned read from the kernel's page cache (about a microsecond), which is not the
//! process's memory and is given back under pressure.
//!
//! The cache is direct-mapped (a page has one slot, `page % slots`): no bookkeeping on a
//! hit, and the pages a lookup touches are contiguous runs, so they rarely share a slot.
//! Slots are allocated when first filled, so a cache the file does not need stays small.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, PoisonError};

/// Bytes of a page.
pub(crate) const PAGE_BYTES: usize = 4096;

/// The checked pages of one file: pages `first..first + crcs.len()`.
pub(crate) struct CheckedPages {
    first: u64,
    crcs: Vec<u32>,
    cache: Mutex<PageCache>,
}

struct PageCache {
    slots: Vec<Option<CachedPage>>,
    /// One bit per page: its checksum held when it was first read.
    verified: Vec<u64>,
}

struct CachedPage {
    page: u64,
    bytes: Box<[u8]>,
}

/// A page whose bytes do not match its checksum.
#[derive(Debug)]
pub(crate) struct DamagedPage {
    pub(crate) page: u64,
}

impl CheckedPages {
    /// The pages from `first` on, one per checksum, with a cache of `cache_pages` (at
    /// least one).
    pub(crate) fn new(first: u64, crcs: Vec<u32>, cache_pages: usize) -> CheckedPages {
        let verified = vec![0; crcs.len().div_ceil(64)];
        let slots = std::iter::repeat_with(|| None).take(cache_pages.max(1)).collect();
        CheckedPages {
            first,
            crcs,
            cache: Mutex::new(PageCache { slots, verified }),
        }
    }

    /// Number of pages.
    pub(crate) fn len(&self) -> u64 {
        self.crcs.len() as u64
    }

    /// Calls `read` with the bytes of page `page` of `file` (a page number of the file,
    /// not of these pages). An I/O error, a page outside these, or a checksum that fails
    /// is an error (the last as [`DamagedPage`] inside the `io::Error`).
    pub(crate) fn with_page<R>(
        &self,
        file: &File,
        page: u64,
        read: impl FnOnce(&[u8]) -> R,
    ) -> io::Result<R> {
        let Some(at) = page
            .checked_sub(self.first)
            .filter(|at| *at < self.len())
            .map(|at| at as usize)
        else {
            return Err(io::Error::other(format!("page {page} is not a checked page")));
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let PageCache { slots, verified } = &mut *cache;
        let slot_count = slots.len() as u64;
        let slot = &mut slots[(page % slot_count) as usize];
        if let Some(cached) = slot.as_ref().filter(|cached| cached.page == page) {
            return Ok(read(&cached.bytes));
        }
        let mut bytes = match slot.take() {
            Some(evicted) => evicted.bytes,
            None => vec![0; PAGE_BYTES].into_boxed_slice(),
        };
        file.read_exact_at(&mut bytes, page * PAGE_BYTES as u64)?;
        let (word, bit) = (at / 64, 1u64 << (at % 64));
        if verified[word] & bit == 0 {
            if crc32fast::hash(&bytes) != self.crcs[at] {
                return Err(io::Error::new(io::ErrorKind::InvalidData, DamagedPage { page }));
            }
            verified[word] |= bit;
        }
        let answer = read(&bytes);
        *slot = Some(CachedPage { page, bytes });
        Ok(answer)
    }
}

impl std::fmt::Display for DamagedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "page {} fails its checksum", self.page)
    }
}

impl std::error::Error for DamagedPage {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(name: &str, pages: &[[u8; PAGE_BYTES]]) -> (File, Vec<u32>) {
        let path = std::env::temp_dir().join(format!("rctgate-checked-pages-{name}-{}", std::process::id()));
        let mut out = File::create(&path).expect("create");
        for page in pages {
            out.write_all(page).expect("write");
        }
        let file = File::open(&path).expect("open");
        let _ = std::fs::remove_file(&path);
        (file, pages.iter().map(|page| crc32fast::hash(page)).collect())
    }

    #[test]
    fn pages_come_back_whole_through_a_cache_smaller_than_the_file() {
        let pages: Vec<[u8; PAGE_BYTES]> = (0..5u8).map(|n| [n; PAGE_BYTES]).collect();
        let (file, crcs) = file_of("cache", &pages);
        // Page 0 of the file is outside the checked pages (a header).
        let checked = CheckedPages::new(1, crcs[1..].to_vec(), 2);
        for page in [1, 2, 3, 4, 4, 1, 3, 2] {
            let first = checked.with_page(&file, page, |bytes| (bytes[0], bytes[PAGE_BYTES - 1]));
            assert_eq!(first.expect("read"), (page as u8, page as u8));
        }
        assert!(checked.with_page(&file, 0, |_| ()).is_err());
        assert!(checked.with_page(&file, 5, |_| ()).is_err());
    }

    #[test]
    fn a_damaged_page_is_an_error_naming_it() {
        let pages: Vec<[u8; PAGE_BYTES]> = (0..3u8).map(|n| [n; PAGE_BYTES]).collect();
        let (file, mut crcs) = file_of("damaged", &pages);
        crcs[2] ^= 1;
        let checked = CheckedPages::new(0, crcs, 8);
        assert!(checked.with_page(&file, 1, |_| ()).is_ok());
        let err = checked.with_page(&file, 2, |_| ()).expect_err("damaged");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "page 2 fails its checksum");
    }
}
