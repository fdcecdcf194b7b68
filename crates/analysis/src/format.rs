//! Numbers formatted for people: "+3.2% [-0.4%, +6.8%]", "p = 0.003", "12,345".

use rctgate_domain::Difference;

/// An effect as people read it: a signed percentage for relative effects, a signed number
/// with four significant digits for absolute ones.
pub fn effect(value: f64, difference: Difference) -> String {
    match difference {
        Difference::Relative => {
            let percent = value * 100.0;
            let decimals = if percent.abs() < 0.1 && percent != 0.0 {
                2
            } else {
                1
            };
            format!("{}{:.*}%", sign(percent), decimals, percent.abs())
        }
        Difference::Absolute => format!("{}{}", sign(value), significant(value.abs(), 4)),
    }
}

/// An effect with its interval; a missing bound (one-sided) is shown as ∞.
pub fn effect_with_interval(
    value: f64,
    low: Option<f64>,
    high: Option<f64>,
    difference: Difference,
) -> String {
    let bound = |b: Option<f64>, infinite: &str| b.map_or(infinite.to_string(), |b| effect(b, difference));
    format!(
        "{} [{}, {}]",
        effect(value, difference),
        bound(low, "-∞"),
        bound(high, "+∞")
    )
}

/// A p-value: three decimals, or "< 0.001".
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

/// A count with thousands separators.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A plain number with `digits` significant digits, without trailing zeros.
pub fn significant(value: f64, digits: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return "0".to_string();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn sign(value: f64) -> &'static str {
    if value > 0.0 {
        "+"
    } else if value < 0.0 {
        "-"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_read_like_a_report() {
        assert_eq!(effect(0.032, Difference::Relative), "+3.2%");
        assert_eq!(effect(-0.004, Difference::Relative), "-0.4%");
        assert_eq!(effect(0.0004, Difference::Relative), "+0.04%");
        assert_eq!(effect(12.3456, Difference::Absolute), "+12.35");
        assert_eq!(effect(-0.00123456, Difference::Absolute), "-0.001235");
        assert_eq!(
            effect_with_interval(0.032, Some(-0.004), Some(0.068), Difference::Relative),
            "+3.2% [-0.4%, +6.8%]"
        );
        assert_eq!(
            effect_with_interval(0.032, None, Some(0.068), Difference::Relative),
            "+3.2% [-∞, +6.8%]"
        );
    }

    #[test]
    fn counts_and_p_values() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(p_value(0.0312), "p = 0.031");
        assert_eq!(p_value(0.0002), "p < 0.001");
    }
}
