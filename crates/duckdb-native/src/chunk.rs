//! Data chunks filled column by column: [`ChunkWriter`], finished as an [`OwnedChunk`].
//!
//! Asking DuckDB for a vector's data (and validity) on every value, as duckdb-rs's
//! `FlatVector` setters do, cost more than writing the values; the writer asks once per
//! column and then writes into the vectors' memory.
//!
//! Strings of more than 12 bytes are not copied: DuckDB's `string_t` holds their length,
//! first four bytes and a pointer, and the writer points into the caller's text, which the
//! chunk then keeps alive ([`ChunkWriter::keep`]). DuckDB's own setter would copy every value
//! onto the vector's string heap and check its UTF-8 again (a `&str` is UTF-8): that was ~20%
//! of preparing an HTTP batch of events. DuckDB copies the strings into the table when it
//! inserts the chunk, and keeps no chunk afterwards.

use crate::types::ColumnType;
use crate::INLINE_STRING_BYTES;
use duckdb::core::DataChunkHandle;
use duckdb::ffi;
use std::ffi::c_char;
use std::sync::Arc;

/// A data chunk being filled. Values past [`ChunkWriter::capacity`], and values of the wrong
/// type for their column, are not written (a bug in the caller: debug builds stop there).
pub struct ChunkWriter {
    chunk: DataChunkHandle,
    types: Vec<ColumnType>,
    columns: Vec<Slots>,
    /// Text the chunk's strings may point into.
    kept: Vec<Arc<String>>,
    /// Copies of strings that were not in kept text (see [`ChunkWriter::set_str`]).
    copies: Vec<Box<str>>,
    capacity: usize,
}

/// One column's memory: its values and, once a NULL is written, its validity mask.
struct Slots {
    vector: ffi::duckdb_vector,
    data: *mut std::ffi::c_void,
    validity: *mut u64,
}

impl ChunkWriter {
    /// An empty chunk with columns of `types`, every value valid until written as NULL.
    pub fn new(types: &[ColumnType]) -> ChunkWriter {
        let handles: Vec<_> = types.iter().map(|column| column.handle()).collect();
        let chunk = DataChunkHandle::new(&handles);
        let columns = (0..types.len())
            .map(|column| {
                // SAFETY: `column` is one of the chunk's columns; its vector and the vector's
                // data live as long as the chunk, which `self` owns.
                unsafe {
                    let vector = ffi::duckdb_data_chunk_get_vector(chunk.get_ptr(), column as ffi::idx_t);
                    Slots {
                        vector,
                        data: ffi::duckdb_vector_get_data(vector),
                        validity: std::ptr::null_mut(),
                    }
                }
            })
            .collect();
        ChunkWriter {
            chunk,
            types: types.to_vec(),
            columns,
            kept: Vec::new(),
            copies: Vec::new(),
            // SAFETY: reads a constant.
            capacity: unsafe { ffi::duckdb_vector_size() } as usize,
        }
    }

    /// Rows a chunk holds (DuckDB's standard vector size, 2,048).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keeps `text` alive with the chunk, so that strings written from it need no copy.
    pub fn keep(&mut self, text: &Arc<String>) {
        if !self.kept.iter().any(|kept| Arc::ptr_eq(kept, text)) {
            self.kept.push(Arc::clone(text));
        }
    }

    /// The column's slots if it is of type `expected` and `row` is in the chunk.
    fn slots(&mut self, column: usize, row: usize, expected: ColumnType) -> Option<&mut Slots> {
        let fits = row < self.capacity && self.types.get(column) == Some(&expected);
        debug_assert!(fits, "column {column} row {row} is not a {expected:?} slot");
        if fits {
            self.columns.get_mut(column)
        } else {
            None
        }
    }

    /// Writes a DOUBLE, or NULL.
    pub fn set_f64(&mut self, column: usize, row: usize, value: Option<f64>) {
        if let Some(slots) = self.slots(column, row, ColumnType::Double) {
            // SAFETY: a DOUBLE vector holds `capacity` f64 values and `row` is below it.
            unsafe { slots.write(row, value) };
        }
    }

    /// Writes a TIMESTAMP (microseconds since the epoch), or NULL.
    pub fn set_timestamp(&mut self, column: usize, row: usize, micros: Option<i64>) {
        if let Some(slots) = self.slots(column, row, ColumnType::Timestamp) {
            // SAFETY: a TIMESTAMP vector holds `capacity` i64 values and `row` is below it.
            unsafe { slots.write(row, micros) };
        }
    }

    /// Writes a BOOLEAN, or NULL.
    pub fn set_bool(&mut self, column: usize, row: usize, value: Option<bool>) {
        if let Some(slots) = self.slots(column, row, ColumnType::Boolean) {
            // SAFETY: a BOOLEAN vector holds `capacity` one-byte values and `row` is below it;
            // a Rust `bool` is one byte, 0 or 1, as DuckDB stores it.
            unsafe { slots.write(row, value) };
        }
    }

    /// Writes a VARCHAR, or NULL. A string of up to 12 bytes is stored inside DuckDB's
    /// `string_t`; a longer one points into the text it lies in when that text was
    /// [kept](ChunkWriter::keep), and is copied (once, held by the chunk) otherwise.
    pub fn set_str(&mut self, column: usize, row: usize, text: Option<&str>) {
        let value = text.map(|text| {
            if text.len() <= INLINE_STRING_BYTES || self.in_kept_text(text) {
                string_t(text)
            } else {
                let copy: Box<str> = text.into();
                // A `Box<str>`'s bytes stay where they are when the box moves into `copies`.
                let value = string_t(&copy);
                self.copies.push(copy);
                value
            }
        });
        if let Some(slots) = self.slots(column, row, ColumnType::Varchar) {
            // SAFETY: a VARCHAR vector holds `capacity` `duckdb_string_t` values and `row` is
            // below it; a pointer in `value` points into text the chunk keeps (`kept`,
            // `copies`), which lives until the chunk's INSERT is done (see `OwnedChunk`).
            unsafe { slots.write(row, value) };
        }
    }

    /// Whether `text` lies within a kept text buffer.
    fn in_kept_text(&self, text: &str) -> bool {
        let range = text.as_bytes().as_ptr_range();
        self.kept.iter().any(|kept| {
            let buffer = kept.as_bytes().as_ptr_range();
            buffer.start <= range.start && range.end <= buffer.end
        })
    }

    /// The filled chunk, of `rows` rows (at most [`ChunkWriter::capacity`]).
    pub fn finish(self, rows: usize) -> OwnedChunk {
        self.chunk.set_len(rows.min(self.capacity));
        OwnedChunk {
            chunk: self.chunk,
            types: self.types,
            kept: self.kept,
            copies: self.copies,
        }
    }
}

impl Slots {
    /// Writes `value`, or NULL, at `row`.
    ///
    /// # Safety
    /// `T` must be the C type of the column's values and `row` below the vector's size.
    unsafe fn write<T: Copy>(&mut self, row: usize, value: Option<T>) {
        match value {
            // SAFETY: guaranteed by the caller.
            Some(value) => unsafe { *self.data.cast::<T>().add(row) = value },
            None => {
                if self.validity.is_null() {
                    // SAFETY: `vector` is a live vector of the chunk; once made writable its
                    // mask holds one bit per value, in 64-bit words, all set (valid).
                    unsafe {
                        ffi::duckdb_vector_ensure_validity_writable(self.vector);
                        self.validity = ffi::duckdb_vector_get_validity(self.vector);
                    }
                }
                // SAFETY: `row` is below the vector's size, so its word is in the mask.
                unsafe { *self.validity.add(row / 64) &= !(1u64 << (row % 64)) };
            }
        }
    }
}

/// `text` as DuckDB's `string_t`: inlined up to 12 bytes, else its length, first 4 bytes and
/// a pointer to it (which DuckDB only reads through).
fn string_t(text: &str) -> ffi::duckdb_string_t {
    let length = text.len() as u32;
    let value = if text.len() <= INLINE_STRING_BYTES {
        ffi::duckdb_string_t__bindgen_ty_1 {
            inlined: ffi::duckdb_string_t__bindgen_ty_1__bindgen_ty_2 {
                length,
                inlined: leading_bytes(text),
            },
        }
    } else {
        ffi::duckdb_string_t__bindgen_ty_1 {
            pointer: ffi::duckdb_string_t__bindgen_ty_1__bindgen_ty_1 {
                length,
                prefix: leading_bytes(text),
                ptr: text.as_ptr().cast_mut().cast::<c_char>(),
            },
        }
    };
    ffi::duckdb_string_t { value }
}

/// The first `N` bytes of `text`, zero-padded: DuckDB compares a `string_t`'s inlined bytes
/// and prefix whole.
fn leading_bytes<const N: usize>(text: &str) -> [c_char; N] {
    let mut bytes = [0u8; N];
    let length = text.len().min(N);
    bytes[..length].copy_from_slice(&text.as_bytes()[..length]);
    bytes.map(|byte| byte as c_char)
}

/// A filled data chunk with the text its strings point into; it may move to another thread
/// and be inserted there ([`crate::ChunkFeed::insert`]).
pub struct OwnedChunk {
    /// Declared first so that it is dropped before the text it points into.
    chunk: DataChunkHandle,
    types: Vec<ColumnType>,
    kept: Vec<Arc<String>>,
    copies: Vec<Box<str>>,
}

// SAFETY: a data chunk is memory owned by its handle, tied to no connection or thread; it is
// moved, never shared, and the text it points into is owned with it (`Arc<String>` and
// `Box<str>` are `Send`).
unsafe impl Send for OwnedChunk {}

impl OwnedChunk {
    /// The column types, in order.
    pub fn types(&self) -> &[ColumnType] {
        &self.types
    }

    /// Rows in the chunk.
    pub fn len(&self) -> usize {
        self.chunk.len()
    }

    /// Whether the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunk, and apart from it what must outlive any use of its strings.
    pub(crate) fn into_parts(self) -> (DataChunkHandle, TextKeeper) {
        (
            self.chunk,
            TextKeeper {
                _kept: self.kept,
                _copies: self.copies,
            },
        )
    }
}

/// The text a chunk's strings point into, held until DuckDB is done reading them.
pub(crate) struct TextKeeper {
    _kept: Vec<Arc<String>>,
    _copies: Vec<Box<str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_outside_kept_text_are_copied_and_kept_text_is_not() {
        let text = Arc::new("a string long enough to point into".to_string());
        let mut writer = ChunkWriter::new(&[ColumnType::Varchar]);
        writer.keep(&text);
        writer.keep(&text);
        assert_eq!(writer.kept.len(), 1, "the same text is kept once");
        writer.set_str(0, 0, Some(&text[2..]));
        writer.set_str(0, 1, Some("short"));
        writer.set_str(0, 2, Some("another string longer than twelve bytes"));
        writer.set_str(0, 3, None);
        assert_eq!(
            writer.copies.len(),
            1,
            "only the string outside kept text is copied"
        );
        let chunk = writer.finish(4);
        assert_eq!(chunk.len(), 4);
        assert_eq!(chunk.types(), &[ColumnType::Varchar]);
    }
}
