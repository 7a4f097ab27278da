//! Shapes as signed distance functions, and the pixel coverage they give.
//!
//! A shape is evaluated in its own frame (centre at the origin, unrotated); the scene moves the
//! sample point into that frame. Distances are in pixels, negative inside. This module knows
//! nothing about motion, intensity or time.

/// An outline family; `size` (the half-extent `R` in pixels) is animated by the scene, the
/// half-widths stay fixed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// A rectangle `2 half_width` thick along x and `2 R` long along y.
    Bar { half_width: f64 },
    /// Two bars crossing at right angles, arms of length `R`.
    Cross { half_width: f64 },
    /// An equilateral triangle with circumradius `R`.
    Triangle,
    /// A square with half-side `0.75 R`.
    Square,
    /// A filled circle of radius `R`.
    Disc,
    /// A circle outline of radius `R` and thickness `2 half_width`.
    Ring { half_width: f64 },
}

impl Shape {
    /// Signed distance in pixels from `(x, y)` (shape frame) to the outline at size `r`.
    pub fn distance(self, x: f64, y: f64, r: f64) -> f64 {
        match self {
            Self::Bar { half_width } => box_distance(x, y, half_width, r),
            Self::Cross { half_width } => box_distance(x, y, half_width, r).min(box_distance(x, y, r, half_width)),
            Self::Triangle => triangle_distance(x, y, r),
            Self::Square => box_distance(x, y, 0.75 * r, 0.75 * r),
            Self::Disc => length(x, y) - r,
            Self::Ring { half_width } => (length(x, y) - r).abs() - half_width,
        }
    }

    /// Radius of a circle around the origin that contains the shape at size `r`.
    pub fn bound(self, r: f64) -> f64 {
        match self {
            Self::Bar { half_width } | Self::Cross { half_width } => length(r, half_width),
            Self::Ring { half_width } => r + half_width,
            Self::Triangle | Self::Disc => r,
            Self::Square => 0.75 * r * std::f64::consts::SQRT_2,
        }
    }
}

/// `sqrt(x² + y²)`; libm's `hypot` guards against overflow we cannot have and costs 3x more.
fn length(x: f64, y: f64) -> f64 {
    (x * x + y * y).sqrt()
}

/// Fraction of a pixel covered by a shape whose edge is `distance` pixels from the pixel centre.
///
/// The box filter of a straight edge through a unit pixel, approximated by a linear ramp one
/// pixel wide: exact for edges along the axes, within a few percent otherwise. Because it is
/// continuous in the distance, an edge moving by a fraction of a pixel changes the intensity by
/// a fraction, which is what gives events sub-pixel timing.
pub fn coverage(distance: f64) -> f64 {
    (0.5 - distance).clamp(0.0, 1.0)
}

/// Signed distance to an axis-aligned box with half-extents `(hx, hy)`.
fn box_distance(x: f64, y: f64, hx: f64, hy: f64) -> f64 {
    let (dx, dy) = (x.abs() - hx, y.abs() - hy);
    length(dx.max(0.0), dy.max(0.0)) + dx.max(dy).min(0.0)
}

/// Signed distance to an equilateral triangle with circumradius `r`, one vertex pointing to -y
/// (after Inigo Quilez's exact formula).
fn triangle_distance(x: f64, y: f64, r: f64) -> f64 {
    const K: f64 = 1.732_050_807_568_877_2; // sqrt(3)
    let half = r * K / 2.0; // half the side of the triangle with circumradius r
    let inradius = r / 2.0;
    // Quilez's frame has y up and the base at y = -inradius; image y points down.
    let (mut px, mut py) = (x.abs() - half, -y + inradius);
    if px + K * py > 0.0 {
        (px, py) = ((px - K * py) / 2.0, (-K * px - py) / 2.0);
    }
    px -= px.clamp(-2.0 * half, 0.0);
    -length(px, py) * py.signum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_distance_inside_and_outside() {
        assert_eq!(box_distance(0.0, 0.0, 2.0, 1.0), -1.0);
        assert_eq!(box_distance(5.0, 0.0, 2.0, 1.0), 3.0);
        assert!((box_distance(5.0, 5.0, 2.0, 1.0) - 3f64.hypot(4.0)).abs() < 1e-12);
    }

    #[test]
    fn triangle_vertices_and_centre() {
        let r = 10.0;
        assert!(triangle_distance(0.0, 0.0, r) < -4.9, "centre is inradius deep");
        assert!((triangle_distance(0.0, 0.0, r) + r / 2.0).abs() < 1e-9);
        // The three vertices lie on the outline.
        for k in 0..3 {
            let a = -std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::TAU / 3.0;
            let d = triangle_distance(r * a.cos(), r * a.sin(), r);
            assert!(d.abs() < 1e-9, "vertex {k}: {d}");
        }
        assert!(triangle_distance(0.0, 20.0, r) > 0.0);
    }

    #[test]
    fn shapes_lie_inside_their_bound() {
        let shapes =
            [Shape::Bar { half_width: 2.0 }, Shape::Cross { half_width: 2.0 }, Shape::Triangle, Shape::Square, Shape::Disc, Shape::Ring { half_width: 1.5 }];
        for shape in shapes {
            let b = shape.bound(10.0);
            for k in 0..360 {
                let a = f64::from(k).to_radians();
                assert!(shape.distance((b + 0.01) * a.cos(), (b + 0.01) * a.sin(), 10.0) > 0.0, "{shape:?} at {k} deg");
            }
        }
    }
}
