//! Hand-written baselines for the elementwise benches: plain loops over slices, the code a
//! careful user would write without shapecheck, and the same written with ndarray.

/// `out[r, c] = a[r, c] + b[c]` for row-major `a: rows×cols`.
pub fn add_row(a: &[f32], b: &[f32], out: &mut Vec<f32>) {
    out.clear();
    for row in a.chunks_exact(b.len()) {
        out.extend(row.iter().zip(b).map(|(x, y)| x + y));
    }
}

/// Softmax of every contiguous lane of length `n`, max-subtracted.
pub fn softmax(x: &[f32], n: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend_from_slice(x);
    for lane in out.chunks_exact_mut(n) {
        let m = lane.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0.0;
        for v in lane.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        let inv = 1.0 / s;
        lane.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Layer norm of every row of length `w.len()`.
pub fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, out: &mut Vec<f32>) {
    out.clear();
    let n = w.len();
    for row in x.chunks_exact(n) {
        let mean = row.iter().sum::<f32>() / n as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        let inv = 1.0 / (var + eps).sqrt();
        out.extend(
            row.iter()
                .zip(w)
                .zip(b)
                .map(|((v, wi), bi)| (v - mean) * inv * wi + bi),
        );
    }
}

/// The same softmax written with ndarray, lane by lane.
pub fn ndarray_softmax(x: &ndarray::Array3<f32>) -> ndarray::Array3<f32> {
    let mut y = x.clone();
    for mut lane in y.lanes_mut(ndarray::Axis(2)) {
        let m = lane.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane /= s;
    }
    y
}

/// The same layer norm written with ndarray's axis reductions and broadcasting.
pub fn ndarray_layer_norm(
    x: &ndarray::Array2<f32>,
    w: &ndarray::Array1<f32>,
    b: &ndarray::Array1<f32>,
    eps: f32,
) -> ndarray::Array2<f32> {
    use ndarray::Axis;
    let mean = x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    let centred = x - &mean;
    let var = centred
        .mapv(|v| v * v)
        .mean_axis(Axis(1))
        .unwrap()
        .insert_axis(Axis(1));
    centred / var.mapv(|v| (v + eps).sqrt()) * w + b
}
