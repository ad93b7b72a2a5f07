//! PNG pictures of what [`inspect`](crate::inspect) measures (feature `plots`): a scatter of
//! labelled 2-D points ([`Scatter`], e.g. a PCA of sentence embeddings coloured by topic), a
//! heatmap with row and column labels ([`Heatmap`], e.g. one head's attention pattern over
//! the tokens), and line charts ([`Curves`]: concentration curves, explained variance per
//! layer, training losses read by [`read_loss_csv`], on a log axis with [`Curves::log_y`]),
//! and pictures side by side ([`Row`]).
//!
//! Each picture renders into an RGB buffer ([`Picture::render`]) or a PNG file
//! ([`Picture::save_png`]) through plotters' bitmap backend. Text is drawn with the Hack font
//! that the `epaint_default_fonts` crate ships, registered once, so no system font is read.
//!
//! ```
//! use shapecheck::plot::{Curves, Picture};
//! let c = Curves::new("ratio", "log2 d", "max/min")
//!     .series("n = 100", vec![(1.0, 40.0), (4.0, 3.0), (12.0, 1.1)]);
//! let rgb = c.render(320, 240).unwrap();
//! assert_eq!(rgb.len(), 320 * 240 * 3);
//! ```

mod charts;

use core::fmt;
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

pub use charts::{read_loss_csv, Curves, Heatmap, Row, Scatter, Series};

/// Why a picture could not be drawn or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum PlotError {
    /// The data cannot be drawn (empty, mismatched lengths, not finite).
    Data(String),
    /// plotters failed (the message is its error's).
    Draw(String),
    /// A file could not be read or written.
    Io(std::io::Error),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::Data(m) => write!(f, "cannot plot: {m}"),
            PlotError::Draw(m) => write!(f, "drawing failed: {m}"),
            PlotError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PlotError {}

impl From<std::io::Error> for PlotError {
    fn from(e: std::io::Error) -> Self {
        PlotError::Io(e)
    }
}

/// plotters' errors as [`PlotError::Draw`].
pub(crate) fn draw_err<E: fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Registers the shipped font as plotters' `sans-serif`, once.
pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        )
        .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw("the shipped font does not parse".into()))
    }
}

/// The drawing area of a bitmap, in pixels from the top left.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// A picture that can be drawn on a bitmap.
pub trait Picture {
    /// Draws itself on `area` (filled white first).
    fn draw(&self, area: &Area<'_>) -> Result<(), PlotError>;

    /// The picture as `width × height` RGB pixels, row by row.
    fn render(&self, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
        ensure_font()?;
        let mut buf = vec![0u8; width as usize * height as usize * 3];
        {
            let area = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
            self.draw(&area)?;
            area.present().map_err(draw_err)?;
        }
        Ok(buf)
    }

    /// The picture as a `width × height` PNG file at `path`.
    fn save_png(&self, path: &Path, width: u32, height: u32) -> Result<(), PlotError> {
        ensure_font()?;
        let area = BitMapBackend::new(path, (width, height)).into_drawing_area();
        self.draw(&area)?;
        area.present().map_err(draw_err)
    }
}
