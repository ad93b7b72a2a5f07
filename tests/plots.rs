//! Every kind of picture renders into memory at the size asked for, and is not blank: a
//! good share of pixels is not white, and the group / series colours are there. Run with
//! `cargo test --features plots --test plots`.

use shapecheck::plot::{read_loss_csv, Curves, Heatmap, Picture, Row, Scatter};

const W: u32 = 400;
const H: u32 = 300;

/// The share of non-white pixels, and whether some pixel has colour `rgb` (±12 per channel).
fn ink(buf: &[u8], rgb: [u8; 3]) -> (f64, bool) {
    let px = buf.chunks_exact(3);
    let n = px.len() as f64;
    let inked = px.clone().filter(|p| p != &[255, 255, 255]).count() as f64;
    let has = px.clone().any(|p| {
        p.iter()
            .zip(rgb)
            .all(|(&a, b)| (a as i32 - b as i32).abs() <= 12)
    });
    (inked / n, has)
}

#[test]
fn a_scatter_shows_each_group_in_its_colour() {
    let points: Vec<[f64; 2]> = (0..30)
        .map(|i| {
            [
                (i % 3) as f64 * 4.0 + (i as f64 * 0.37).sin(),
                (i as f64).cos(),
            ]
        })
        .collect();
    let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
    let names = ["a", "b", "c"].map(String::from).to_vec();
    let buf = Scatter::new("scatter", points, labels, names)
        .render(W, H)
        .unwrap();
    assert_eq!(buf.len(), (W * H * 3) as usize);
    let (share, blue) = ink(&buf, [31, 119, 180]);
    assert!(share > 0.02 && share < 0.6, "{share}");
    assert!(blue && ink(&buf, [214, 39, 40]).1 && ink(&buf, [44, 160, 44]).1);
}

#[test]
fn a_heatmap_shades_its_cells() {
    let n = 6;
    let values: Vec<f64> = (0..n * n)
        .map(|k| if k % (n + 1) == 0 { 1.0 } else { 0.1 })
        .collect();
    let toks: Vec<String> = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
        .map(String::from)
        .to_vec();
    let buf = Heatmap::new("head 0", values, toks.clone(), toks)
        .render(W, H)
        .unwrap();
    assert_eq!(buf.len(), (W * H * 3) as usize);
    let (share, darkest) = ink(&buf, [8, 48, 107]);
    assert!(share > 0.1, "{share}");
    assert!(
        darkest,
        "the diagonal's largest value is drawn in the darkest shade"
    );
}

#[test]
fn curves_draw_every_series() {
    let c = Curves::new("ratio", "log2 d", "max/min")
        .series(
            "n = 50",
            (1..12).map(|k| (k as f64, 1.0 + 10.0 / k as f64)).collect(),
        )
        .series(
            "n = 200",
            (1..12).map(|k| (k as f64, 1.0 + 14.0 / k as f64)).collect(),
        );
    let buf = c.render(W, H).unwrap();
    assert_eq!(buf.len(), (W * H * 3) as usize);
    let (share, first) = ink(&buf, [31, 119, 180]);
    assert!(share > 0.01, "{share}");
    assert!(first && ink(&buf, [214, 39, 40]).1);
}

#[test]
fn bad_data_is_an_error_not_a_picture() {
    assert!(Curves::new("t", "x", "y").render(W, H).is_err());
    let nan = Curves::new("t", "x", "y").series("s", vec![(0.0, f64::NAN)]);
    assert!(nan.render(W, H).is_err());
    let h = Heatmap::new("h", vec![1.0; 5], vec!["a".into(); 2], vec!["b".into(); 3]);
    assert!(h
        .render(W, H)
        .unwrap_err()
        .to_string()
        .contains("5 values for 2 rows"));
    let s = Scatter::new("s", vec![[0.0, 0.0]], vec![], vec![]);
    assert!(s.render(W, H).is_err());
}

#[test]
fn loss_csv_series_and_a_png_file() {
    let dir = std::env::temp_dir().join(format!("shapecheck-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("losses.csv");
    std::fs::write(
        &csv,
        "optimizer,lr,step,loss\nadamw,1e-3,0,2.3\nadamw,1e-3,1,1.9\nsgd,1e-1,0,2.3\nsgd,1e-1,1,2.1\n",
    )
    .unwrap();
    let series = read_loss_csv(&csv).unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].0, "adamw lr=1e-3");
    assert_eq!(series[1].1, vec![(0.0, 2.3), (1.0, 2.1)]);
    let png = dir.join("losses.png");
    let mut c = Curves::new("loss", "step", "loss");
    for (name, pts) in series {
        c = c.series(name, pts);
    }
    c.save_png(&png, 320, 200).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // The IHDR chunk holds the width and height.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 320);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 200);
    std::fs::write(&csv, "step,value\n0,1\n").unwrap();
    assert!(read_loss_csv(&csv)
        .unwrap_err()
        .to_string()
        .contains("no `loss` column"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The rows (from the top) of a `W`-wide RGB buffer that hold a pixel for which `pick` holds.
fn rows_with(buf: &[u8], width: u32, pick: impl Fn(&[u8]) -> bool) -> Vec<usize> {
    buf.chunks_exact(width as usize * 3)
        .enumerate()
        .filter(|(_, row)| row.chunks_exact(3).any(&pick))
        .map(|(y, _)| y)
        .collect()
}

#[test]
fn a_heatmaps_column_labels_sit_below_its_cells_whole() {
    let n = 4;
    let toks: Vec<String> = (0..n).map(|i| format!("[token-{i}]")).collect();
    let buf = Heatmap::new("labels", vec![1.0; n * n], toks.clone(), toks)
        .render(W, H)
        .unwrap();
    // The cells are blue; the labels grey to black.
    let cells = rows_with(&buf, W, |p| i32::from(p[2]) > i32::from(p[0]) + 30);
    let text = rows_with(&buf, W, |p| p[0] == p[1] && p[1] == p[2] && p[0] < 100);
    let bottom = *cells.last().expect("cells drawn");
    // A turned label of 11 characters is about 55 px long: all of it below the cells
    // (a label centred on the axis, as plotters anchors them, would end half as far down).
    let lowest = *text.last().unwrap();
    assert!(
        lowest > bottom + 45,
        "labels end at row {lowest}, cells at {bottom}"
    );
    assert!(
        text.iter().any(|&y| y > bottom && y < bottom + 20),
        "the labels start just below the cells"
    );
    assert!(
        (lowest as u32) < H - 4,
        "clipped at the bottom edge: {lowest}"
    );
}

#[test]
fn a_log_axis_spans_orders_of_magnitude_and_stops_a_series_at_its_first_non_finite_value() {
    let learned: Vec<(f64, f64)> = (0..100)
        .map(|s| (s as f64, 2.3 * 0.95f64.powi(s)))
        .collect();
    let mut blown: Vec<(f64, f64)> = (0..40).map(|s| (s as f64, 2.3 * 2f64.powi(s))).collect();
    blown.push((40.0, f64::INFINITY));
    blown.push((41.0, f64::NAN));
    let c = Curves::new("loss", "step", "loss")
        .log_y()
        .series("learned", learned)
        .series("diverged", blown.clone());
    let buf = c.render(W, H).unwrap();
    assert!(ink(&buf, [31, 119, 180]).1 && ink(&buf, [214, 39, 40]).1);
    // On a linear axis the same non-finite values are an error, as before.
    assert!(Curves::new("l", "s", "l")
        .series("d", blown)
        .render(W, H)
        .is_err());
    // Nothing finite and positive to draw is an error on a log axis too.
    let none = Curves::new("l", "s", "l")
        .log_y()
        .series("z", vec![(0.0, 0.0)]);
    assert!(none.render(W, H).is_err());
}

#[test]
fn a_row_draws_each_panel_in_its_own_half() {
    let panel =
        |t: &str| Curves::new(t, "x", "y").series("s", vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)]);
    let (w, h) = (2 * W, H);
    let buf = Row::new(vec![panel("left"), panel("right")])
        .render(w, h)
        .unwrap();
    assert_eq!(buf.len(), (w * h * 3) as usize);
    let half = |right: bool| -> Vec<u8> {
        buf.chunks_exact(w as usize * 3)
            .flat_map(|row| {
                let (l, r) = row.split_at(W as usize * 3);
                if right {
                    r.to_vec()
                } else {
                    l.to_vec()
                }
            })
            .collect()
    };
    assert!(ink(&half(false), [31, 119, 180]).1 && ink(&half(true), [31, 119, 180]).1);
    assert!(Row::<Curves>::new(vec![]).render(W, H).is_err());
}

#[test]
fn a_plot_error_lifts_into_the_crate_error() {
    fn draw() -> shapecheck::Result<Vec<u8>> {
        Ok(Curves::new("empty", "x", "y").render(W, H)?)
    }
    let err = draw().unwrap_err();
    assert!(
        matches!(
            &err,
            shapecheck::Error::Plot(shapecheck::plot::PlotError::Data(_))
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("cannot plot: "), "{err}");
}
