//! The four charts. Each takes plain numbers (what `classify`, `eval` and `train` already
//! compute), so the same chart serves every command.

use std::path::Path;

use plotters::prelude::*;

use super::{PlotError, font, write_chart};

/// Classes of a confusion matrix or layers of a bar chart that still make a picture (and keep
/// its pixels bounded: a model may declare a million classes).
const MAX_BARS: usize = 300;

fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The confusion matrix `counts[true][predicted]` as a heat map with the counts written in,
/// rows normalised (each row's share), class names on both axes.
pub fn confusion_matrix(path: &Path, classes: &[String], counts: &[Vec<usize>]) -> Result<(), PlotError> {
    let k = classes.len().max(1);
    if k > MAX_BARS {
        return Err(PlotError::Draw { path: path.to_path_buf(), why: format!("{k} classes are too many to draw (at most {MAX_BARS}); the JSON output has the matrix") });
    }
    let cell_px = (560 / k as u32).clamp(14, 60);
    let side = cell_px * k as u32;
    write_chart(path, side + 230, side + 110, |root| {
        let total: usize = counts.iter().flatten().sum();
        let correct: usize = (0..counts.len()).map(|i| counts[i].get(i).copied().unwrap_or(0)).sum();
        let title = format!("confusion matrix: {correct}/{total} correct ({:.1} %)", 100.0 * correct as f64 / total.max(1) as f64);
        let mut chart = ChartBuilder::on(root)
            .caption(title, font(18.0))
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(190)
            .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())
            .map_err(msg)?;
        // Rows are named "i: class"; columns by the index alone, which always fits a cell.
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < k && flip => format!("{}: {}", k - 1 - i, classes.get(k - 1 - i).cloned().unwrap_or_default()),
            SegmentValue::CenterOf(i) if *i < k => i.to_string(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k)
            .y_labels(k)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .x_desc("predicted")
            .y_desc("true")
            .x_label_style(font(12.0))
            .y_label_style(font(12.0))
            .axis_desc_style(font(14.0))
            .draw()
            .map_err(msg)?;
        for (t, row) in counts.iter().enumerate() {
            let n: usize = row.iter().sum();
            for (p, &c) in row.iter().enumerate() {
                let share = c as f64 / n.max(1) as f64;
                let shade = (255.0 * (1.0 - share)).round() as u8;
                let y = k - 1 - t;
                let cell = [(SegmentValue::Exact(p), SegmentValue::Exact(y)), (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1))];
                chart.draw_series(std::iter::once(Rectangle::new(cell, RGBColor(shade, shade, 255).filled()))).map_err(msg)?;
                if c > 0 && cell_px >= 24 {
                    let ink = if share > 0.5 { WHITE } else { BLACK };
                    let style = font(12.0).color(&ink).pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
                    chart.draw_series(std::iter::once(Text::new(c.to_string(), (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)), style))).map_err(msg)?;
                }
            }
        }
        Ok(())
    })
}

/// Accuracy reading the first t timesteps, t = 1…T.
pub fn accuracy_per_step(path: &Path, accuracy: &[f64]) -> Result<(), PlotError> {
    let series = [("accuracy", accuracy.iter().enumerate().map(|(t, &a)| ((t + 1) as f64, a)).collect::<Vec<_>>())];
    lines(path, "accuracy at every timestep", "timestep t", "accuracy", (0.5, accuracy.len() as f64 + 0.5), Some((0.0, 1.0)), &series)
}

/// Training curves per epoch: loss, train and test accuracy (each series may be empty).
pub fn training_curves(path: &Path, loss: &[(f64, f64)], train_accuracy: &[(f64, f64)], test_accuracy: &[(f64, f64)]) -> Result<(), PlotError> {
    let epochs = loss.iter().chain(train_accuracy).chain(test_accuracy).map(|p| p.0).fold(1.0, f64::max);
    let top = loss.iter().map(|p| p.1).fold(1.0, f64::max);
    let series = [("train loss", loss.to_vec()), ("train accuracy", train_accuracy.to_vec()), ("test accuracy", test_accuracy.to_vec())];
    lines(path, "training", "epoch", "loss / accuracy", (0.5, epochs + 0.5), Some((0.0, top * 1.05)), &series)
}

fn lines(path: &Path, title: &str, x_desc: &str, y_desc: &str, x: (f64, f64), y: Option<(f64, f64)>, series: &[(&str, Vec<(f64, f64)>)]) -> Result<(), PlotError> {
    let (lo, hi) = y.unwrap_or((0.0, 1.0));
    let colors = [RGBColor(0, 114, 178), RGBColor(213, 94, 0), RGBColor(0, 158, 115)];
    write_chart(path, 720, 440, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, font(18.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x.0..x.1, lo..hi)
            .map_err(msg)?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style(font(12.0)).axis_desc_style(font(14.0)).draw().map_err(msg)?;
        for (i, (name, points)) in series.iter().enumerate().filter(|(_, (_, p))| !p.is_empty()) {
            let color = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(msg)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(msg)?;
        }
        chart.configure_series_labels().label_font(font(12.0)).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(msg)?;
        Ok(())
    })
}

/// Mean spike rate of every spiking layer, as bars.
pub fn spike_rates(path: &Path, layers: &[(String, f64)]) -> Result<(), PlotError> {
    let n = layers.len().max(1);
    if n > MAX_BARS {
        return Err(PlotError::Draw { path: path.to_path_buf(), why: format!("{n} layers are too many to draw (at most {MAX_BARS})") });
    }
    let top = layers.iter().map(|l| l.1).fold(0.05, f64::max) * 1.15;
    write_chart(path, (120 + 80 * n as u32).max(480), 440, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("spike rate per layer", font(18.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)
            .map_err(msg)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => layers.get(*i).map(|l| l.0.clone()).unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc("spikes per neuron per timestep")
            .label_style(font(12.0))
            .axis_desc_style(font(14.0))
            .draw()
            .map_err(msg)?;
        let bar = |i: usize, v: f64| Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), v)], RGBColor(0, 114, 178).filled());
        chart.draw_series(layers.iter().enumerate().map(|(i, l)| bar(i, l.1))).map_err(msg)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(path: &Path) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf[..info.buffer_size()].to_vec())
    }

    #[test]
    fn charts_draw_their_data_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let classes: Vec<String> = (0..4).map(|i| format!("class{i}")).collect();
        let counts = vec![vec![5, 1, 0, 0], vec![0, 6, 0, 0], vec![1, 0, 4, 1], vec![0, 0, 0, 6]];
        let a = dir.path().join("a.png");
        confusion_matrix(&a, &classes, &counts).unwrap();
        let b = dir.path().join("b.png");
        confusion_matrix(&b, &classes, &counts).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "the same data, the same bytes");
        let (_, _, px) = pixels(&a);
        // The diagonal cells are the darkest blue: some pixels must be (≤ 60, ≤ 60, 255).
        assert!(px.chunks_exact(3).any(|p| p[0] <= 60 && p[1] <= 60 && p[2] == 255), "no full cell drawn");
        // Text was drawn (black pixels) with the embedded font.
        assert!(px.chunks_exact(3).filter(|p| p[0] < 40 && p[1] < 40 && p[2] < 40).count() > 500);
        let c = dir.path().join("c.png");
        accuracy_per_step(&c, &[0.2, 0.5, 0.8, 0.9]).unwrap();
        let (w, h, px) = pixels(&c);
        assert_eq!((w, h), (720, 440));
        assert!(px.chunks_exact(3).any(|p| p == [0, 114, 178]), "the curve's colour");
        spike_rates(&dir.path().join("d.png"), &[("conv1".into(), 0.12), ("fc".into(), 0.3)]).unwrap();
        training_curves(&dir.path().join("e.png"), &[(1.0, 2.3), (2.0, 1.2)], &[(1.0, 0.3), (2.0, 0.6)], &[]).unwrap();
        let many: Vec<String> = (0..1_000_000).map(|i| i.to_string()).collect();
        let err = confusion_matrix(&dir.path().join("f.png"), &many, &[]).unwrap_err().to_string();
        assert!(err.contains("too many") && !dir.path().join("f.png").exists(), "{err}");
        assert!(dir.path().join("e.png").is_file());
        if let Some(keep) = std::env::var_os("SPIKESTREAM_KEEP_PLOTS") {
            for f in ["a.png", "c.png", "d.png", "e.png"] {
                std::fs::copy(dir.path().join(f), Path::new(&keep).join(f)).unwrap();
            }
        }
    }
}
