//! Region and platform names for the rows (every export carries the code next to the name):
//! regions from the division table, platforms from the current registry of the requested
//! region, loaded once per export.

use std::collections::HashMap;

use clickhouse::Row;
use serde::Deserialize;

use crate::analytics::scope::Scope;
use crate::analytics::sql::Sql;
use crate::registry::{db as registry_db, region};
use crate::store::{Store, StoreError};

/// Code → name.
#[derive(Debug, Default, Clone)]
pub struct Names {
    regions: HashMap<String, String>,
    platforms: HashMap<String, String>,
}

#[derive(Row, Deserialize)]
struct PlatformName {
    credit_code: String,
    cur_name: String,
}

impl Names {
    /// The division table, and with `platforms` the registry names of the platforms in
    /// `region` (inside `scope`).
    pub async fn load(
        store: &Store,
        scope: &Scope,
        region: &str,
        platforms: bool,
    ) -> Result<Names, StoreError> {
        let regions = registry_db::division_names(store).await?;
        let mut names = Names {
            regions,
            platforms: HashMap::new(),
        };
        if platforms {
            let mut q = Sql::new(&format!(
                "SELECT credit_code, cur_name FROM ({}) AS reg WHERE ",
                registry_db::current_platforms_sql()
            ));
            q.scope(scope, "cur_region")
                .push(" AND ")
                .region(region, "cur_region");
            let rows: Vec<PlatformName> = q.fetch(store, "export platform names").await?;
            names.platforms = rows
                .into_iter()
                .map(|r| (r.credit_code, r.cur_name))
                .collect();
        }
        Ok(names)
    }

    /// The name of a region code (`全国` for the country; empty when the division table does
    /// not have it, e.g. counties).
    pub fn region(&self, code: &str) -> String {
        if code == region::NATIONAL {
            return "全国".to_owned();
        }
        self.regions.get(code).cloned().unwrap_or_default()
    }

    /// A platform's registry name (empty when not in the registry).
    pub fn platform(&self, credit_code: &str) -> String {
        self.platforms.get(credit_code).cloned().unwrap_or_default()
    }

    /// The division codes known (for SDMX `CL_AREA`).
    pub fn region_codes(&self) -> std::collections::HashSet<String> {
        self.regions.keys().cloned().collect()
    }

    /// Names for tests.
    pub fn from_maps(regions: HashMap<String, String>, platforms: HashMap<String, String>) -> Self {
        Names { regions, platforms }
    }
}
