//! [`NpyWriter`]: a float32 matrix written as a NumPy `.npy` file (format 1.0) row block by
//! row block, so that a producer can stream rows without holding them all; `np.load` gives
//! a `float32` array of shape `(rows, cols)`.
//!
//! The header is written with room for any row count (padded with spaces, as the format
//! allows) and rewritten with the final count by [`NpyWriter::finish`], which is why the
//! output must be seekable. The writer remembers where the array starts (any position of
//! the output, not only 0) and where its rows end, so that `finish` never works either out
//! from the end of the output; an output that cannot be written in place (a file opened in
//! append mode) is refused when the writer is made, and after a failed write the file is
//! refused by `finish` rather than completed into a file NumPy misreads.

use std::io::{self, Seek, SeekFrom, Write};

use crate::dim::Dim;
use crate::tensor::Tensor;

/// Bytes of the magic, version, header length and header together: a multiple of 64 (the
/// format's alignment), with room for a 20-digit row count.
const PREAMBLE: usize = 128;

/// The `.npy` preamble of a little-endian float32 C-order `(rows, cols)` array.
fn preamble(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let mut header = dict.into_bytes();
    header.resize(PREAMBLE - 10 - 1, b' ');
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out
}

/// Writes the rows of a `(rows, cols)` float32 matrix to `.npy`, a block at a time.
///
/// ```
/// use shapecheck::io::NpyWriter;
/// use shapecheck::prelude::*;
/// let mut w = NpyWriter::new(std::io::Cursor::new(Vec::new()), 2)?;
/// w.write(&Tensor::<(D<1>, D<2>)>::from_vec(vec![1.0, 2.0]).unwrap())?;
/// w.write(&Tensor::<(D<2>, D<2>)>::from_vec(vec![3.0, 4.0, 5.0, 6.0]).unwrap())?;
/// assert_eq!(w.rows(), 3);
/// let bytes = w.finish()?.into_inner();
/// assert_eq!(bytes.len(), 128 + 6 * 4);
/// assert!(String::from_utf8_lossy(&bytes[10..128]).contains("'shape': (3, 2)"));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// The array starts wherever the output is positioned when the writer is made, so an
/// `.npy` can follow other bytes:
///
/// ```
/// use std::io::{Cursor, Seek, SeekFrom, Write};
/// use shapecheck::io::NpyWriter;
/// use shapecheck::prelude::*;
/// let mut out = Cursor::new(Vec::new());
/// out.write_all(b"prefix")?;
/// let mut w = NpyWriter::new(out, 1)?;
/// w.write(&Tensor::<(D<2>, D<1>)>::from_vec(vec![1.0, 2.0]).unwrap())?;
/// let bytes = w.finish()?.into_inner();
/// assert_eq!(&bytes[..6], b"prefix");
/// assert_eq!(&bytes[6..12], b"\x93NUMPY");
/// assert!(String::from_utf8_lossy(&bytes[16..134]).contains("'shape': (2, 1)"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct NpyWriter<W: Write + Seek> {
    out: W,
    cols: usize,
    rows: usize,
    /// Where the preamble starts in the output.
    start: u64,
    /// Set by a failed write: the output then holds part of a block, and `finish` refuses.
    failed: bool,
}

impl<W: Write + Seek> NpyWriter<W> {
    /// Starts a file of `cols` columns at the current position of `out`, which is
    /// remembered: [`finish`](Self::finish) rewrites the header there.
    ///
    /// `Err` when writing fails, or when `out` does not write where it is positioned — a
    /// file opened in append mode writes only at its end (on Linux even at an explicit
    /// offset), so the header could never be rewritten with the row count. Such an output
    /// is told apart while the header is written (its last byte is written a second time,
    /// in place), and is then left with that header at its end (and one byte more if it
    /// was empty).
    pub fn new(mut out: W, cols: usize) -> io::Result<Self> {
        let start = out.stream_position()?;
        let header = preamble(0, cols);
        let end = start
            .checked_add(PREAMBLE as u64)
            .ok_or_else(|| io::Error::other("the .npy header's end overflows a u64 position"))?;
        out.write_all(&header)?;
        let mut at = out.stream_position()?;
        if at == end {
            out.seek(SeekFrom::Start(end - 1))?;
            out.write_all(&header[PREAMBLE - 1..])?;
            at = out.stream_position()?;
        }
        if at != end {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "NpyWriter: the output was positioned at byte {start}, but the .npy \
                     header written there ended at byte {at}, not {end}: the output does not \
                     write where it is positioned (a file opened in append mode?), so the \
                     header could not be rewritten with the row count; open the file for \
                     writing (and seek to where the array goes) instead"
                ),
            ));
        }
        Ok(NpyWriter {
            out,
            cols,
            rows: 0,
            start,
            failed: false,
        })
    }

    /// The rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends the rows of `block`; an `InvalidInput` error when its width is not the
    /// file's (nothing is then written, and the file can go on).
    ///
    /// When the output fails to take the block, the file holds part of it: the error is
    /// returned, and every later `write` and [`finish`](Self::finish) is refused, since
    /// the rows could no longer be told apart from the partial block.
    pub fn write<N: Dim, K: Dim>(&mut self, block: &Tensor<(N, K)>) -> io::Result<()> {
        self.check_not_failed()?;
        let [n, k] = [block.dims()[0], block.dims()[1]];
        if k != self.cols {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a block {:?} of width {k} for an .npy file of {} columns",
                    block.shape(),
                    self.cols
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(block.as_slice().len() * 4);
        for x in block.as_slice() {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        // Checked before anything is written: the row count must stay countable.
        let rows = self
            .rows
            .checked_add(n)
            .filter(|&r| body_len(r, self.cols).is_some());
        let Some(rows) = rows else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} + {n} rows of {} columns overflow the size of an .npy file",
                    self.rows, self.cols
                ),
            ));
        };
        if let Err(e) = self.out.write_all(&bytes) {
            self.failed = true;
            return Err(e);
        }
        self.rows = rows;
        Ok(())
    }

    /// Rewrites the header with the number of rows written, at the position the writer
    /// started from, flushes, and gives the output back, positioned after the last row.
    ///
    /// `Err` (the file is then not a valid `.npy`) when an earlier [`write`](Self::write)
    /// failed, when writing or seeking fails, or when the header did not land where it
    /// started.
    pub fn finish(mut self) -> io::Result<W> {
        self.check_not_failed()?;
        // `write` kept rows · cols · 4 within u64 for every count it accepted.
        let body = body_len(self.rows, self.cols).unwrap_or(u64::MAX);
        let end = self
            .start
            .checked_add(PREAMBLE as u64)
            .and_then(|e| e.checked_add(body))
            .ok_or_else(|| io::Error::other("the .npy file's end overflows a u64 position"))?;
        self.out.seek(SeekFrom::Start(self.start))?;
        self.out.write_all(&preamble(self.rows, self.cols))?;
        let at = self.out.stream_position()?;
        if at != self.start + PREAMBLE as u64 {
            return Err(io::Error::other(format!(
                "NpyWriter: the header rewritten at byte {} ended at byte {at}: the output \
                 does not write where it is positioned, and the file is not a valid .npy",
                self.start
            )));
        }
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn check_not_failed(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(format!(
                "NpyWriter: an earlier write failed after {} complete rows, leaving part of a \
                 block in the output: the file cannot be completed into a valid .npy",
                self.rows
            )));
        }
        Ok(())
    }
}

/// The bytes of `rows` rows of `cols` float32, if they fit a `u64`.
fn body_len(rows: usize, cols: usize) -> Option<u64> {
    (rows as u64).checked_mul(cols as u64)?.checked_mul(4)
}
