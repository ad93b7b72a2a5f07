//! The three kinds of picture: [`Scatter`], [`Heatmap`] and [`Curves`], and the reader of
//! the training example's loss CSV.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{draw_err, Area, Picture, PlotError};

/// A named series of `(x, y)` points.
pub type Series = (String, Vec<(f64, f64)>);

/// Colours for groups and series, distinct on white.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// `[lo, hi]` of finite values, widened by 5 % (and to a unit interval when flat).
fn span(values: impl Iterator<Item = f64>) -> Result<(f64, f64), PlotError> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        if !v.is_finite() {
            return Err(PlotError::Data(format!("a value is not finite: {v}")));
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return Err(PlotError::Data("nothing to draw".into()));
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    Ok((lo - pad, hi + pad))
}

/// Labelled 2-D points, one colour per group, with a legend of the group names.
#[derive(Clone, Debug)]
pub struct Scatter {
    title: String,
    points: Vec<[f64; 2]>,
    labels: Vec<usize>,
    names: Vec<String>,
}

impl Scatter {
    /// Points `points[i]` of group `labels[i]`, whose name is `names[labels[i]]`.
    pub fn new(
        title: impl Into<String>,
        points: Vec<[f64; 2]>,
        labels: Vec<usize>,
        names: Vec<String>,
    ) -> Self {
        Scatter {
            title: title.into(),
            points,
            labels,
            names,
        }
    }
}

impl Picture for Scatter {
    fn draw(&self, area: &Area<'_>) -> Result<(), PlotError> {
        if self.points.len() != self.labels.len() {
            return Err(PlotError::Data(format!(
                "{} points but {} labels",
                self.points.len(),
                self.labels.len()
            )));
        }
        let (x0, x1) = span(self.points.iter().map(|p| p[0]))?;
        let (y0, y1) = span(self.points.iter().map(|p| p[1]))?;
        area.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("PC 1")
            .y_desc("PC 2")
            .draw()
            .map_err(draw_err)?;
        let groups = self.labels.iter().max().map_or(0, |m| m + 1);
        for g in 0..groups {
            let c = colour(g);
            let name = self.names.get(g).cloned().unwrap_or_else(|| format!("{g}"));
            chart
                .draw_series(
                    self.points
                        .iter()
                        .zip(&self.labels)
                        .filter(|(_, &l)| l == g)
                        .map(|(p, _)| Circle::new((p[0], p[1]), 4, c.filled())),
                )
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)
    }
}

/// A matrix drawn as cells shaded from white (0, or the smallest value) to dark blue (the
/// largest), with a label per row and per column (e.g. tokens: query rows, key columns).
#[derive(Clone, Debug)]
pub struct Heatmap {
    title: String,
    values: Vec<f64>,
    rows: Vec<String>,
    cols: Vec<String>,
}

impl Heatmap {
    /// `values` row by row, `rows.len() × cols.len()` of them.
    pub fn new(
        title: impl Into<String>,
        values: Vec<f64>,
        rows: Vec<String>,
        cols: Vec<String>,
    ) -> Self {
        Heatmap {
            title: title.into(),
            values,
            rows,
            cols,
        }
    }
}

impl Picture for Heatmap {
    fn draw(&self, area: &Area<'_>) -> Result<(), PlotError> {
        let (n, m) = (self.rows.len(), self.cols.len());
        if n == 0 || m == 0 || self.values.len() != n * m {
            return Err(PlotError::Data(format!(
                "{} values for {n} rows × {m} columns",
                self.values.len()
            )));
        }
        let (lo, hi) = span(self.values.iter().copied())?;
        let (lo, hi) = (lo.max(0.0).min(hi), hi);
        area.fill(&WHITE).map_err(draw_err)?;
        // The label areas are as wide as the longest label needs: the column labels are
        // drawn turned a quarter, reading downward, so their length is their height.
        let font = ("sans-serif", 12).into_font();
        let style = TextStyle::from(font.clone());
        let longest = |names: &[String]| -> Result<u32, PlotError> {
            names.iter().try_fold(0, |m, t| {
                let (w, _) = area.estimate_text_size(t, &style).map_err(draw_err)?;
                Ok(m.max(w))
            })
        };
        let (col_room, row_room) = (longest(&self.cols)? + 14, longest(&self.rows)? + 14);
        // Cell (i, j) is the unit square at column j, row i counted from the top.
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(col_room)
            .y_label_area_size(row_room)
            .build_cartesian_2d(0.0..m as f64, 0.0..n as f64)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()
            .map_err(draw_err)?;
        let shade = |v: f64| {
            let t = if hi > lo {
                ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
            RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
        };
        chart
            .draw_series((0..n).flat_map(|i| {
                (0..m).map(move |j| {
                    let (x, y) = (j as f64, (n - 1 - i) as f64);
                    Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        shade(self.values[i * m + j]).filled(),
                    )
                })
            }))
            .map_err(draw_err)?;
        // The labels by hand, at the cells' centres: plotters' mesh anchors a label at its
        // middle, so a turned column label would reach up into the cells and be painted
        // over. Anchored at its start and turned, each reads downward from below its
        // column; the row labels end just left of their rows.
        let (base_x, base_y) = area.get_base_pixel();
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let turned = font
            .clone()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (j, name) in self.cols.iter().enumerate() {
            let (x, _) = chart.backend_coord(&(j as f64 + 0.5, 0.0));
            area.draw_text(name, &turned, (x - base_x, ys.end - base_y + 6))
                .map_err(draw_err)?;
        }
        let beside = font.color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in self.rows.iter().enumerate() {
            let (_, y) = chart.backend_coord(&(0.0, (n - 1 - i) as f64 + 0.5));
            area.draw_text(name, &beside, (xs.start - base_x - 6, y - base_y))
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Named line series on shared axes, with a legend; the y axis linear or, with
/// [`log_y`](Self::log_y), logarithmic.
#[derive(Clone, Debug)]
pub struct Curves {
    title: String,
    x_desc: String,
    y_desc: String,
    series: Vec<(String, Vec<(f64, f64)>)>,
    log_y: bool,
}

impl Curves {
    /// No series yet.
    pub fn new(title: impl Into<String>, x: impl Into<String>, y: impl Into<String>) -> Self {
        Curves {
            title: title.into(),
            x_desc: x.into(),
            y_desc: y.into(),
            series: Vec::new(),
            log_y: false,
        }
    }

    /// A logarithmic y axis (ticks at powers of ten), for values that span orders of
    /// magnitude, such as the losses of runs that diverge. A series is drawn up to its last
    /// finite positive value: a run that ends in `inf` or NaN stops where it left the chart.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// The points drawn of a series: `(x, log10 y)` on a log axis, while they are finite
    /// and positive.
    fn drawn(&self, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        if !self.log_y {
            return points.to_vec();
        }
        points
            .iter()
            .take_while(|p| p.0.is_finite() && p.1.is_finite() && p.1 > 0.0)
            .map(|&(x, y)| (x, y.log10()))
            .collect()
    }

    /// Adds a series of `(x, y)` points, drawn in order.
    pub fn series(mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push((name.into(), points));
        self
    }
}

impl Picture for Curves {
    fn draw(&self, area: &Area<'_>) -> Result<(), PlotError> {
        let series: Vec<(&String, Vec<(f64, f64)>)> = self
            .series
            .iter()
            .map(|(name, p)| (name, self.drawn(p)))
            .collect();
        let all = || series.iter().flat_map(|(_, p)| p.iter());
        let (x0, x1) = span(all().map(|p| p.0))?;
        let (y0, y1) = span(all().map(|p| p.1))?;
        area.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        let log = self.log_y;
        let y_label = move |v: &f64| {
            if !log {
                return format!("{v}");
            }
            let r = v.round();
            if (v - r).abs() < 1e-9 {
                format!("1e{}", r as i64)
            } else {
                format!("{:.1e}", 10f64.powf(*v))
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_desc).y_desc(&self.y_desc);
        if log {
            mesh.y_label_formatter(&y_label);
        }
        mesh.draw().map_err(draw_err)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let c = colour(i);
            let name = (*name).clone();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            // Dots only where there are few enough points to tell apart.
            if points.len() <= 60 {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 2, c.filled())))
                    .map_err(draw_err)?;
            }
            // A cross where a series stops short of its points (it left the log axis).
            let all = self.series[i].1.len();
            if let (true, Some(&last)) = (points.len() < all, points.last()) {
                chart
                    .draw_series(std::iter::once(Cross::new(last, 6, c.stroke_width(2))))
                    .map_err(draw_err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(emptiest_corner(&series, (x0, x1), (y0, y1)))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)
    }
}

/// The corner of the chart that the fewest points fall in (a box of 40 % of each axis),
/// where the legend hides the least.
fn emptiest_corner(
    series: &[(&String, Vec<(f64, f64)>)],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> SeriesLabelPosition {
    let (fx, fy) = (|x: f64| (x - x0) / (x1 - x0), |y: f64| (y - y0) / (y1 - y0));
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let count = |right: bool, upper: bool| {
        series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|&&(x, y)| {
                let (u, v) = (fx(x), fy(y));
                (if right { u > 0.6 } else { u < 0.4 }) && (if upper { v > 0.6 } else { v < 0.4 })
            })
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, r, u)| count(r, u))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// Pictures side by side in equal columns (say, the losses of two optimizers).
#[derive(Clone, Debug)]
pub struct Row<P> {
    panels: Vec<P>,
}

impl<P: Picture> Row<P> {
    /// `panels`, left to right.
    pub fn new(panels: Vec<P>) -> Self {
        Row { panels }
    }
}

impl<P: Picture> Picture for Row<P> {
    fn draw(&self, area: &Area<'_>) -> Result<(), PlotError> {
        if self.panels.is_empty() {
            return Err(PlotError::Data("a row of no pictures".into()));
        }
        area.fill(&WHITE).map_err(draw_err)?;
        for (p, a) in self
            .panels
            .iter()
            .zip(area.split_evenly((1, self.panels.len())))
        {
            p.draw(&a)?;
        }
        Ok(())
    }
}

/// The series of a loss CSV with a header naming `step` and `loss` columns (the training
/// example's `losses.csv`: `optimizer,lr,step,loss`): one series per distinct value of the
/// other columns, named by them (`adamw lr=1e-3`), in order of first appearance.
pub fn read_loss_csv(path: &Path) -> Result<Vec<Series>, PlotError> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let bad = |m: String| PlotError::Data(format!("{}: {m}", path.display()));
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("empty file".into()))?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(format!("no `{name}` column in the header {header:?}")))
    };
    let (step, loss) = (col("step")?, col("loss")?);
    let mut series: Vec<Series> = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(bad(format!("line {} has {} fields", n + 2, fields.len())));
        }
        let num = |i: usize| {
            fields[i]
                .parse::<f64>()
                .map_err(|_| bad(format!("line {}: `{}` is not a number", n + 2, fields[i])))
        };
        let (s, l) = (num(step)?, num(loss)?);
        let name = header
            .iter()
            .zip(&fields)
            .enumerate()
            .filter(|(i, _)| *i != step && *i != loss)
            .map(|(i, (h, v))| {
                if i == 0 {
                    v.to_string()
                } else {
                    format!("{h}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        match series.iter_mut().find(|(k, _)| *k == name) {
            Some((_, pts)) => pts.push((s, l)),
            None => series.push((name, vec![(s, l)])),
        }
    }
    Ok(series)
}
