//! [`NpyWriter`]: a float32 matrix written as a NumPy `.npy` file (format 1.0) row block by
//! row block, so that a producer can stream rows without holding them all; `np.load` gives
//! a `float32` array of shape `(rows, cols)`.
//!
//! The header is written with room for any row count (padded with spaces, as the format
//! allows) and rewritten with the final count by [`NpyWriter::finish`], which is why the
//! output must be seekable.

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
pub struct NpyWriter<W: Write + Seek> {
    out: W,
    cols: usize,
    rows: usize,
}

impl<W: Write + Seek> NpyWriter<W> {
    /// Starts a file of `cols` columns at the current position of `out` (the header is
    /// rewritten there by [`finish`](Self::finish)).
    pub fn new(mut out: W, cols: usize) -> io::Result<Self> {
        out.write_all(&preamble(0, cols))?;
        Ok(NpyWriter { out, cols, rows: 0 })
    }

    /// The rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends the rows of `block`; an `InvalidInput` error when its width is not the
    /// file's.
    pub fn write<N: Dim, K: Dim>(&mut self, block: &Tensor<(N, K)>) -> io::Result<()> {
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
        self.out.write_all(&bytes)?;
        self.rows += n;
        Ok(())
    }

    /// Rewrites the header with the number of rows written, flushes, and gives the output
    /// back (positioned at its end).
    pub fn finish(mut self) -> io::Result<W> {
        let end = self.out.stream_position()?;
        let body = (self.rows * self.cols * 4) as u64;
        let start = end - body - PREAMBLE as u64;
        self.out.seek(SeekFrom::Start(start))?;
        self.out.write_all(&preamble(self.rows, self.cols))?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}
