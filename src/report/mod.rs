//! What eval-gain and policy report with: statistics over seeds (t-intervals, paired gains, power) and the chart
//! plumbing (the bundled font, PNG output). Both capabilities use it, so it sits below them.

pub mod chart;
pub mod stats;
