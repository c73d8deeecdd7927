//! `[demo]`: the gates and score weights of the demo-platform candidates (domain §7.6).
//!
//! Defaults: the basic conditions of the guiding opinions (工信部企业〔2010〕175号 §5) and the
//! thresholds of the rules for recognising national demo platforms (工信部企业〔2017〕156号).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[demo]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Basic tier: degree-or-mid-title share of professional staff, at least (0–1).
    pub basic_degree_share: f64,
    /// Basic tier: service revenue ÷ total revenue, at least (0–1).
    pub basic_service_revenue_share: f64,
    /// Basic tier: monthly reports received ÷ expected in the 12 months, at least (0–1).
    pub basic_report_share: f64,
    /// National tier: years since registration, at least.
    pub national_operating_years: u32,
    /// National tier: total assets, at least, in yuan.
    pub national_total_assets_yuan: u64,
    /// National tier: distinct SMEs served in the 12 months, at least.
    pub national_smes_served: u64,
    /// National tier: satisfaction rate, at least (0–1).
    pub national_satisfaction_rate: f64,
    /// National tier: free services ÷ services, at least (0–1).
    pub national_free_share: f64,
    /// National tier: professional staff, at least.
    pub national_staff: u32,
    /// National tier: of them with a college degree or mid-level title, at least (0–1).
    pub national_staff_degree_share: f64,
    /// National tier: partner universities, institutes, associations and agencies, at least.
    pub national_partners: u32,
    /// Score weight: SMEs served, as a percentile among the province's platforms.
    pub weight_smes_served: u32,
    /// Score weight: satisfaction rate.
    pub weight_satisfaction: u32,
    /// Score weight: functions with a service, of 7.
    pub weight_functions: u32,
    /// Score weight: growth of SMEs served on the 12 months before (capped at +100 %).
    pub weight_growth: u32,
    /// Score weight: senior-title share of all staff.
    pub weight_senior_titles: u32,
    /// Score weight: monthly reports on time ÷ expected.
    pub weight_timeliness: u32,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            basic_degree_share: 0.5,
            basic_service_revenue_share: 0.5,
            basic_report_share: 0.9,
            national_operating_years: 2,
            national_total_assets_yuan: 3_000_000,
            national_smes_served: 150,
            national_satisfaction_rate: 0.8,
            national_free_share: 0.2,
            national_staff: 20,
            national_staff_degree_share: 0.8,
            national_partners: 5,
            weight_smes_served: 30,
            weight_satisfaction: 25,
            weight_functions: 15,
            weight_growth: 10,
            weight_senior_titles: 10,
            weight_timeliness: 10,
        }
    }
}

impl DemoConfig {
    /// The six weights, in the order of the score's components.
    pub fn weights(&self) -> [u32; 6] {
        [
            self.weight_smes_served,
            self.weight_satisfaction,
            self.weight_functions,
            self.weight_growth,
            self.weight_senior_titles,
            self.weight_timeliness,
        ]
    }

    /// Shares within 0–1, weights summing to 100.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("demo.basic_degree_share", self.basic_degree_share),
            (
                "demo.basic_service_revenue_share",
                self.basic_service_revenue_share,
            ),
            ("demo.basic_report_share", self.basic_report_share),
            (
                "demo.national_satisfaction_rate",
                self.national_satisfaction_rate,
            ),
            ("demo.national_free_share", self.national_free_share),
            (
                "demo.national_staff_degree_share",
                self.national_staff_degree_share,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("is a share: 0 to 1 (0.5 = 50 %), not {v}"),
                });
            }
        }
        let sum: u32 = self.weights().iter().sum();
        if sum != 100 {
            return Err(ConfigError::Invalid {
                key: "demo.weight_*",
                message: format!(
                    "the six score weights must add up to 100, not {sum} ({:?})",
                    self.weights()
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_policy_and_weights_add_up() {
        let d = DemoConfig::default();
        assert_eq!(d.weights(), [30, 25, 15, 10, 10, 10]);
        d.validate().unwrap();
        let bad = DemoConfig {
            weight_growth: 20,
            ..DemoConfig::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.contains("demo.weight_*") && err.contains("110"),
            "{err}"
        );
        let bad = DemoConfig {
            basic_degree_share: 50.0,
            ..DemoConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("demo.basic_degree_share"));
    }
}
