//! The scorecard for people: an aligned table for a terminal ([`render::table`]), HTML pages
//! ([`render::html`], the sections the dashboard reuses) written as maud templates, and the
//! charts ([`chart`]) drawn with plotters' SVG backend. Pure: strings in, strings out.

pub mod chart;
pub mod render;
