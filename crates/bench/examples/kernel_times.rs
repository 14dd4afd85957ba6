//! Times each kernel on one benchmark row (a quick look; `benches/` has the real numbers).
#![allow(clippy::unwrap_used)]
use dial_bench::{Shape, row};
use dial_sampling::{Isa, kernels};
use std::hint::black_box;

fn time(name: &str, mut f: impl FnMut()) {
    for _ in 0..200 {
        f();
    }
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{name:>24}: {:>8.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}

fn main() {
    let r = row(Shape::Peaked, 262_144, 262_144);
    let isa = Isa::detect();
    let m = kernels::max(&r, isa);
    let mut c = kernels::Collected::default();
    time("max", || {
        black_box(kernels::max(black_box(&r), isa));
    });
    time("scan", || {
        black_box(kernels::scan(black_box(&r), isa).unwrap());
    });
    time("sweep_z", || {
        black_box(kernels::sweep_z(
            black_box(&r),
            m,
            1.25,
            f32::INFINITY,
            None,
            isa,
        ));
    });
    time("sweep (with s1)", || {
        black_box(kernels::sweep(
            black_box(&r),
            m,
            1.25,
            f32::INFINITY,
            None,
            isa,
        ));
    });
    time("sweep_z collect -8", || {
        c.clear();
        black_box(kernels::sweep_z(
            black_box(&r),
            m,
            1.25,
            -8.0,
            Some(&mut c),
            isa,
        ));
    });
    time("sweep_ladder collect -8", || {
        c.clear();
        black_box(kernels::sweep_ladder(
            black_box(&r),
            m,
            1.25,
            -8.0,
            Some(&mut c),
            &[-8.0, -11.0],
            isa,
        ));
    });
    time("walk (full)", || {
        black_box(kernels::walk(black_box(&r), m, 1.25, 1e300, isa));
    });
}
