//! Profile snapshots (机构概况) and explanations (上报说明) per period.
//!
//! A profile holds the report sections that do not come from service records. Each section is the
//! wire message itself (`sme_proto::v1`, which derives serde), stored as one JSON document per
//! period code. Upserting *merges*: a section present in the new profile replaces the stored one,
//! an absent section keeps what was stored, so a file with only the staff section does not wipe
//! the finance section imported earlier.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sme_proto::period::Period;
use sme_proto::v1;

use super::records::{journal, ImportKind, ImportSource, ImportSummary};
use super::{mark_periods_dirty, now_ms, Store, StoreError};

/// Staff composition (人员构成).
pub type Staff = v1::StaffComposition;
/// Finance (财务状况), in fen.
pub type Finance = v1::Finance;
/// The five disclosures (五公开).
pub type Disclosures = v1::Disclosures;
/// Capacity (服务能力).
pub type Capacity = v1::Capacity;
/// Start-up counselling (创业辅导).
pub type Startups = v1::Startups;
/// Satisfaction survey counts (企业满意度).
pub type SatisfactionCounts = v1::Satisfaction;
/// An explanation (上报说明) answering a soft rule.
pub type Explanation = v1::Explanation;

/// The profile sections of one period; `None` = not given (yet).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Staff composition (人员构成).
    pub staff: Option<Staff>,
    /// Finance (财务状况).
    pub finance: Option<Finance>,
    /// The five disclosures (五公开).
    pub disclosures: Option<Disclosures>,
    /// Capacity (服务能力).
    pub capacity: Option<Capacity>,
    /// Start-up counselling (创业辅导).
    pub startups: Option<Startups>,
    /// Satisfaction survey counts (企业满意度), when surveyed apart from the service records.
    pub satisfaction: Option<SatisfactionCounts>,
}

// === impl Profile ===

impl Profile {
    /// True when no section is given.
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    /// Number of sections given.
    pub fn sections(&self) -> usize {
        [
            self.staff.is_some(),
            self.finance.is_some(),
            self.disclosures.is_some(),
            self.capacity.is_some(),
            self.startups.is_some(),
            self.satisfaction.is_some(),
        ]
        .into_iter()
        .filter(|&b| b)
        .count()
    }

    /// `self` with every section given in `newer` replaced by it.
    pub fn merged_with(&self, newer: &Profile) -> Profile {
        fn pick<T: Clone>(old: &Option<T>, new: &Option<T>) -> Option<T> {
            new.clone().or_else(|| old.clone())
        }
        Profile {
            staff: pick(&self.staff, &newer.staff),
            finance: pick(&self.finance, &newer.finance),
            disclosures: pick(&self.disclosures, &newer.disclosures),
            capacity: pick(&self.capacity, &newer.capacity),
            startups: pick(&self.startups, &newer.startups),
            satisfaction: pick(&self.satisfaction, &newer.satisfaction),
        }
    }
}

// === impl Store ===

impl Store {
    /// Merges `profile` into the period's snapshot; marks the period dirty when anything changed.
    /// Returns whether anything changed.
    pub fn upsert_profile(
        &mut self,
        period: &Period,
        profile: &Profile,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = upsert_profile(&tx, &period.to_string(), profile, None)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Sets the explanation for `rule_id` in the period (one per rule; a new text replaces the
    /// old). Marks the period dirty when the text changed; returns whether it did.
    pub fn add_explanation(
        &mut self,
        period: &Period,
        rule_id: &str,
        text: &str,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = add_explanation(&tx, &period.to_string(), rule_id, text)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Imports a profile file in ONE transaction with its imports journal row: the sections are
    /// merged, the explanations set. The same content imported again is a no-op.
    pub fn import_profile(
        &mut self,
        period: &Period,
        profile: &Profile,
        explanations: &[Explanation],
        source: &ImportSource,
    ) -> Result<ImportSummary, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows = profile.sections() + explanations.len();
        let mut summary = ImportSummary {
            rows: rows as u64,
            ..ImportSummary::default()
        };
        if super::records::is_imported_in(&tx, &source.sha256)? {
            summary.already_imported = true;
            return Ok(summary);
        }
        journal(&tx, source, ImportKind::Profile, rows, "imported", None)?;
        let code = period.to_string();
        let mut changed = upsert_profile(&tx, &code, profile, Some(&source.path))?;
        for e in explanations {
            changed |= add_explanation(&tx, &code, &e.rule_id, &e.text)?;
        }
        tx.commit()?;
        if changed {
            summary.updated = rows as u64;
            summary.dirty_periods = vec![code];
        } else {
            summary.unchanged = rows as u64;
        }
        Ok(summary)
    }

    /// The period's profile snapshot (all `None` when nothing was imported for it).
    pub fn profile_for_period(&self, period: &Period) -> Result<Profile, StoreError> {
        Ok(load_profile(&self.conn, &period.to_string())?.unwrap_or_default())
    }

    /// The period's explanations, ordered by rule id.
    pub fn explanations_for_period(&self, period: &Period) -> Result<Vec<Explanation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rule_id, text FROM explanations WHERE period = ?1 ORDER BY rule_id",
        )?;
        let rows = stmt.query_map([period.to_string()], |r| {
            Ok(Explanation {
                rule_id: r.get(0)?,
                text: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn load_profile(conn: &Connection, code: &str) -> Result<Option<Profile>, StoreError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT profile FROM profile_snapshots WHERE period = ?1",
            [code],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(format!("profile of {code}: {e}")))
    })
    .transpose()
}

fn upsert_profile(
    conn: &Connection,
    code: &str,
    profile: &Profile,
    source: Option<&str>,
) -> Result<bool, StoreError> {
    let old = load_profile(conn, code)?;
    let merged = old.clone().unwrap_or_default().merged_with(profile);
    if old.as_ref() == Some(&merged) || (old.is_none() && merged.is_empty()) {
        return Ok(false);
    }
    let json = serde_json::to_string(&merged)
        .map_err(|e| StoreError::Invalid(format!("profile of {code}: {e}")))?;
    conn.execute(
        "INSERT INTO profile_snapshots (period, profile, source_file, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (period) DO UPDATE SET profile = excluded.profile,
             source_file = excluded.source_file, updated_at = excluded.updated_at",
        params![code, json, source, now_ms()],
    )?;
    mark_periods_dirty(conn, [code])?;
    Ok(true)
}

fn add_explanation(
    conn: &Connection,
    code: &str,
    rule_id: &str,
    text: &str,
) -> Result<bool, StoreError> {
    let old: Option<String> = conn
        .query_row(
            "SELECT text FROM explanations WHERE period = ?1 AND rule_id = ?2",
            [code, rule_id],
            |r| r.get(0),
        )
        .optional()?;
    if old.as_deref() == Some(text) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO explanations (period, rule_id, text, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (period, rule_id) DO UPDATE SET text = excluded.text,
             updated_at = excluded.updated_at",
        params![code, rule_id, text, now_ms()],
    )?;
    mark_periods_dirty(conn, [code])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    fn q2() -> Period {
        "2026-Q2".parse().unwrap()
    }

    fn staff(total: u32) -> Staff {
        Staff {
            total_staff: total,
            professional_staff: 10,
            professional_with_college_degree: 8,
            professional_with_degree_or_mid_title: 9,
            senior_title_staff: 2,
            staff_trained: 5,
        }
    }

    #[test]
    fn upsert_merges_sections_and_marks_dirty_only_on_change() {
        let (_d, mut s) = temp_store();
        assert!(s.profile_for_period(&q2()).unwrap().is_empty());
        let p1 = Profile {
            staff: Some(staff(20)),
            ..Profile::default()
        };
        assert!(s.upsert_profile(&q2(), &p1).unwrap());
        let seq = s.period_state(&q2()).unwrap().change_seq;
        assert!(
            !s.upsert_profile(&q2(), &p1).unwrap(),
            "same profile is no change"
        );
        assert_eq!(s.period_state(&q2()).unwrap().change_seq, seq);

        let p2 = Profile {
            finance: Some(Finance {
                total_revenue_fen: 100,
                service_revenue_fen: 60,
                public_funding_fen: 0,
                total_assets_fen: 1000,
            }),
            ..Profile::default()
        };
        assert!(s.upsert_profile(&q2(), &p2).unwrap());
        let got = s.profile_for_period(&q2()).unwrap();
        assert_eq!(got.staff, Some(staff(20)), "earlier section kept");
        assert_eq!(got.finance.unwrap().service_revenue_fen, 60);
        assert!(s.period_state(&q2()).unwrap().change_seq > seq);
    }

    #[test]
    fn explanations_replace_per_rule() {
        let (_d, mut s) = temp_store();
        assert!(s
            .add_explanation(&q2(), "W201", "new branch opened")
            .unwrap());
        assert!(!s
            .add_explanation(&q2(), "W201", "new branch opened")
            .unwrap());
        assert!(s
            .add_explanation(&q2(), "W201", "two branches opened")
            .unwrap());
        let e = s.explanations_for_period(&q2()).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "two branches opened");
    }

    #[test]
    fn import_profile_is_idempotent_per_content() {
        let (_d, mut s) = temp_store();
        let p = Profile {
            startups: Some(Startups {
                startups_counselled: 3,
                registrations_assisted: 1,
            }),
            ..Profile::default()
        };
        let ex = [Explanation {
            rule_id: "W201".into(),
            text: "x".into(),
        }];
        let src = ImportSource::new("profile.csv", b"p");
        let sum = s.import_profile(&q2(), &p, &ex, &src).unwrap();
        assert_eq!(sum.rows, 2);
        assert_eq!(sum.dirty_periods, ["2026-Q2"]);
        assert!(
            s.import_profile(&q2(), &p, &ex, &src)
                .unwrap()
                .already_imported
        );
        assert_eq!(s.profile_for_period(&q2()).unwrap(), p);
    }
}
