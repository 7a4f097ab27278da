//! Charts people expect next to a number, as PNG: the confusion matrix, accuracy at every
//! timestep, spike rate per layer, and training curves per epoch. Drawn with plotters' bitmap
//! backend and DejaVu Sans embedded in the binary (`assets/fonts`, Bitstream Vera licence), so
//! no system font is needed; encoded with the `png` crate and written atomically.

mod charts;

pub use charts::{accuracy_per_step, confusion_matrix, spike_rates, training_curves};

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: drawing the chart: {why}")]
    Draw { path: std::path::PathBuf, why: String },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

static FONT: Once = Once::new();

/// The family every chart uses.
const FAMILY: &str = "sans-serif";

fn register_font() {
    FONT.call_once(|| {
        // The bytes are the committed font file: registering it cannot fail unless it is corrupt.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, include_bytes!("../../assets/fonts/DejaVuSans.ttf"));
    });
}

/// Draws a `width × height` chart with `draw` and writes it to `path` as PNG.
pub(crate) fn write_chart(path: &Path, width: u32, height: u32, draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>) -> Result<(), PlotError> {
    register_font();
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let err = |why: String| PlotError::Draw { path: path.to_path_buf(), why };
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        draw(&root).map_err(err)?;
        root.present().map_err(|e| PlotError::Draw { path: path.to_path_buf(), why: e.to_string() })?;
    }
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let encode = |e: png::EncodingError| PlotError::Draw { path: path.to_path_buf(), why: e.to_string() };
    let mut w = enc.write_header().map_err(encode)?;
    w.write_image_data(&rgb).map_err(encode)?;
    w.finish().map_err(encode)?;
    crate::output::write_atomic(path, &bytes)?;
    Ok(())
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}
