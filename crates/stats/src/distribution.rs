//! The few distribution functions the engine needs, from statrs.
//!
//! One correction sits on top of statrs: `StudentsT::inverse_cdf` loses
//! accuracy above about 10^4 degrees of freedom (at 10^7 its 97.5% quantile
//! is 1.83 instead of 1.96) and does not return at 2·10^7, while Welch's
//! degrees of freedom reach tens of millions in real trials. So quantiles
//! come from the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5) there,
//! whose error shrinks as dof^-5; below, statrs' quantile is polished with
//! Newton steps on its `sf` (accurate to 1e-12 there, checked against scipy).

use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};

/// Above this many degrees of freedom statrs' t quantile is not used.
const LARGE_DOF: f64 = 1.0e4;

fn standard_normal() -> Normal {
    // Mean 0 and standard deviation 1 are always valid parameters.
    Normal::standard()
}

/// P(Z <= x) for a standard normal Z.
pub fn normal_cdf(x: f64) -> f64 {
    standard_normal().cdf(x)
}

/// P(Z > x) for a standard normal Z.
pub fn normal_sf(x: f64) -> f64 {
    standard_normal().sf(x)
}

pub fn normal_pdf(x: f64) -> f64 {
    standard_normal().pdf(x)
}

/// The p-quantile of a standard normal; p must lie in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    standard_normal().inverse_cdf(p)
}

fn students_t(dof: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, dof).ok()
}

/// P(T > x) for Student's t with `dof` degrees of freedom (normal for an
/// infinite or invalid `dof`).
pub fn t_sf(x: f64, dof: f64) -> f64 {
    match students_t(dof) {
        Some(t) if dof.is_finite() => t.sf(x),
        _ => normal_sf(x),
    }
}

/// The p-quantile of Student's t; p must lie in (0, 1).
pub fn t_quantile(p: f64, dof: f64) -> f64 {
    let Some(t) = students_t(dof).filter(|_| dof.is_finite()) else {
        return normal_quantile(p);
    };
    if dof > LARGE_DOF {
        // The expansion's error (~dof^-5) is far below statrs' own there.
        return cornish_fisher(normal_quantile(p), dof);
    }
    let mut x = t.inverse_cdf(p);
    // Newton on sf(x) = 1 - p; the upper tail keeps precision where p is near 1.
    for _ in 0..3 {
        let density = t.pdf(x);
        let step = (t.sf(x) - (1.0 - p)) / density;
        if !step.is_finite() {
            break;
        }
        x += step;
        if step.abs() <= 1e-15 * x.abs() {
            break;
        }
    }
    x
}

/// Student's t quantile from the normal quantile `z`, to O(dof^-5).
fn cornish_fisher(z: f64, dof: f64) -> f64 {
    let z2 = z * z;
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / dof) / dof) / dof) / dof
}

/// P(X > x) for a chi-square X with `dof` degrees of freedom.
pub fn chi_square_sf(x: f64, dof: f64) -> f64 {
    match ChiSquared::new(dof) {
        Ok(chi) => chi.sf(x),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // the digits scipy printed
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn t_quantiles_match_scipy_across_degrees_of_freedom() {
        // scipy.stats.t.ppf(0.975, df) and t.ppf(0.995, df)
        let cases = [
            (10.0, 2.22813885198627393, 3.16927267261695000),
            (98.0, 1.98446745450848150, 2.62693109575637340),
            (1.0e4, 1.96020123989062589, 2.57632104666852824),
            (1.0e5, 1.95998770753460949, 2.57587846990837521),
            (1.0e6, 1.95996635681410702, 2.57583422010533436),
            (1.0e7, 1.95996422176720508, 2.57582979520374877),
            (2.0e7, 1.95996410315362191, 2.57582954937630282),
        ];
        for (dof, q975, q995) in cases {
            assert!(close(t_quantile(0.975, dof), q975, 1e-9), "dof {dof}");
            assert!(close(t_quantile(0.995, dof), q995, 1e-9), "dof {dof}");
            assert!(close(t_quantile(0.025, dof), -q975, 1e-9), "dof {dof}");
        }
    }

    #[test]
    fn t_tail_matches_scipy() {
        // scipy.stats.t.sf(2.5, df)
        assert!(close(t_sf(2.5, 10.0), 1.57234221183044087e-02, 1e-12));
        assert!(close(t_sf(2.5, 1.0e7), 6.20967326828923520e-03, 1e-7));
    }
}
