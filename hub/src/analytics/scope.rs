//! Whose figures a caller may see (domain §1, §9 "Scope"): the whole country, or one region
//! code and everything below it.
//!
//! A [`Scope`] is a required argument of every analytics function, and its region predicate is
//! always part of the SQL those functions build ([`Scope::predicate`]), so no handler, export or
//! filter drop-down can widen what it reads. Only two things make one:
//! - [`Scope::operator`]: the hub's operators on the hub machine (the CLI), who hold the CA and
//!   the ClickHouse credentials anyway: national;
//! - [`Scope::for_user`]: an authenticated web user; the web service builds the user from a
//!   verified session (`crate::web`), never from request parameters.
//!
//! A request for a region outside the scope is refused with [`ScopeError::OutsideScope`] (the
//! web answers 403 and audits it), never silently answered with less.

use std::fmt;

use crate::registry::region::{self, RegionLevel, NATIONAL};

/// A user's role (domain §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Ministry planner: national, read-only, uploads SME counts.
    Planner,
    /// Provincial or prefectural coordinator: one region and everything below it.
    Coordinator,
    /// Hub operator: everything.
    Admin,
}

impl Role {
    /// The name used in the CLI, the API and the user table.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Planner => "planner",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "planner" => Ok(Role::Planner),
            "coordinator" => Ok(Role::Coordinator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "{s:?} is not a role; use planner, coordinator or admin"
            )),
        }
    }
}

/// The region a caller may see: [`NATIONAL`] or one 6-digit code and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The 6-digit code; `000000` for the whole country.
    region: String,
}

/// A request reaches beyond the caller's scope, or names a malformed region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The region asked for is not inside the caller's.
    #[error("region {requested} is outside your scope {scope} / 所请求地区 {requested} 不在您的权限范围 {scope} 内")]
    OutsideScope {
        /// What was asked for.
        requested: String,
        /// The caller's region.
        scope: String,
    },
    /// Not a 6-digit region code.
    #[error("{0:?} is not a 6-digit region code (province PP0000, prefecture PPCC00, county PPCCDD) / 不是6位行政区划代码")]
    Malformed(String),
    /// A coordinator without a region, or a role that does not fit its region.
    #[error("{0}")]
    Invalid(String),
}

impl Scope {
    /// The hub's operators on the hub machine: national.
    pub fn operator() -> Scope {
        Scope {
            region: NATIONAL.to_owned(),
        }
    }

    /// The scope of an authenticated user: planners and admins are national, a coordinator has
    /// their region. Called by the web service with a user read from a verified session.
    pub fn for_user(role: Role, region: Option<&str>) -> Result<Scope, ScopeError> {
        match (role, region) {
            (Role::Planner | Role::Admin, None) => Ok(Scope::operator()),
            (Role::Planner | Role::Admin, Some(code)) if code == NATIONAL => Ok(Scope::operator()),
            (Role::Planner | Role::Admin, Some(code)) => Err(ScopeError::Invalid(format!(
                "a {role} is national; region {code} is only for coordinators"
            ))),
            (Role::Coordinator, Some(code)) if region::is_region_code(code) => Ok(Scope {
                region: code.to_owned(),
            }),
            (Role::Coordinator, Some(code)) => Err(ScopeError::Malformed(code.to_owned())),
            (Role::Coordinator, None) => Err(ScopeError::Invalid(
                "a coordinator needs a region code (--region 440000)".to_owned(),
            )),
        }
    }

    /// The region code: `000000` for national.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether this is the whole country.
    pub fn is_national(&self) -> bool {
        self.region == NATIONAL
    }

    /// How deep the scope goes.
    pub fn level(&self) -> RegionLevel {
        region::level(&self.region)
    }

    /// Whether `code` (a region, or a platform's registry region) lies inside the scope.
    pub fn covers(&self, code: &str) -> bool {
        region::is_region_code(code) && region::within(&self.region, code)
    }

    /// Checks a requested region: `None` means the scope's own region. A code outside the
    /// scope, or malformed, is an error (the web: 403 or 400), never an empty answer.
    pub fn resolve(&self, requested: Option<&str>) -> Result<String, ScopeError> {
        let Some(code) = requested else {
            return Ok(self.region.clone());
        };
        if !region::is_region_code(code) {
            return Err(ScopeError::Malformed(code.to_owned()));
        }
        if self.covers(code) {
            Ok(code.to_owned())
        } else {
            Err(ScopeError::OutsideScope {
                requested: code.to_owned(),
                scope: self.region.clone(),
            })
        }
    }

    /// The SQL predicate that keeps rows of `column` (a 6-digit region code column) inside the
    /// scope, with `?` placeholders, and the values to bind to them in order. Always a real
    /// predicate, `1 = 1` only for the whole country, so it can stand in every `WHERE`.
    pub fn predicate(&self, column: &str) -> (String, Vec<String>) {
        let prefix = region::prefix(&self.region);
        if prefix.is_empty() {
            ("1 = 1".to_owned(), Vec::new())
        } else {
            (format!("startsWith({column}, ?)"), vec![prefix.to_owned()])
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_national() {
            f.write_str("national (000000)")
        } else {
            f.write_str(&self.region)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinators_see_their_region_and_below_only() {
        let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
        assert!(gd.covers("440000") && gd.covers("440300") && gd.covers("440305"));
        assert!(!gd.covers("450000") && !gd.covers("000000") && !gd.covers("44"));
        assert_eq!(gd.resolve(None).unwrap(), "440000");
        assert_eq!(gd.resolve(Some("440300")).unwrap(), "440300");
        assert!(matches!(
            gd.resolve(Some("110000")),
            Err(ScopeError::OutsideScope { .. })
        ));
        assert!(matches!(
            gd.resolve(Some("000000")),
            Err(ScopeError::OutsideScope { .. })
        ));
        assert!(matches!(
            gd.resolve(Some("4403")),
            Err(ScopeError::Malformed(_))
        ));
        let sz = Scope::for_user(Role::Coordinator, Some("440300")).unwrap();
        assert!(sz.covers("440305") && !sz.covers("440100") && !sz.covers("440000"));
    }

    #[test]
    fn planners_and_admins_are_national() {
        for role in [Role::Planner, Role::Admin] {
            let s = Scope::for_user(role, None).unwrap();
            assert!(s.is_national() && s.covers("650100"));
            assert!(Scope::for_user(role, Some("440000")).is_err());
        }
        assert!(Scope::for_user(Role::Coordinator, None).is_err());
        assert!(Scope::for_user(Role::Coordinator, Some("abc")).is_err());
    }

    #[test]
    fn the_predicate_binds_the_prefix() {
        assert_eq!(Scope::operator().predicate("region_code").0, "1 = 1");
        let (sql, params) = Scope::for_user(Role::Coordinator, Some("440300"))
            .unwrap()
            .predicate("p.region_code");
        assert_eq!(sql, "startsWith(p.region_code, ?)");
        assert_eq!(params, vec!["4403".to_owned()]);
    }
}
