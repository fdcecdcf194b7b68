//! n, Σx and Σx² of one per-unit quantity, and the estimates read off them.

/// n, Σx and Σx² of one per-unit quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: f64,
    pub sum: f64,
    pub sum_squares: f64,
}

impl Moments {
    /// A 0/1 quantity: Σx² = Σx.
    pub fn binary(n: f64, sum: f64) -> Self {
        Self {
            n,
            sum,
            sum_squares: sum,
        }
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0.0 {
            0.0
        } else {
            self.sum / self.n
        }
    }

    /// Sample variance with n - 1, 0 for n <= 1 (gbstats' convention).
    pub fn sample_variance(&self) -> f64 {
        if self.n <= 1.0 {
            0.0
        } else {
            (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1.0)
        }
    }

    /// The sample covariance of two quantities measured on the same units.
    pub fn covariance(&self, other: &Moments, sum_of_products: f64) -> f64 {
        if self.n <= 1.0 {
            0.0
        } else {
            (sum_of_products - self.sum * other.sum / self.n) / (self.n - 1.0)
        }
    }

    pub(crate) fn pooled(&self, other: &Moments) -> Moments {
        Moments {
            n: self.n + other.n,
            sum: self.sum + other.sum,
            sum_squares: self.sum_squares + other.sum_squares,
        }
    }
}
