//! [`API_KEY_EXPIRY_TIMESTAMP_SECONDS`]: when each API key with an `expires_on` expires, so that an
//! alarm fires days before a team's key stops working. These are state, not recordings: the series
//! are exactly the keys of the tenants serving now, so a key removed by a reload leaves `/metrics`
//! with it, which the `metrics` facade (whose series live until the process ends) cannot do. Each
//! gateway of the process registers its keys here and `/metrics` renders them.

use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use arc_swap::ArcSwap;

use super::API_KEY_EXPIRY_TIMESTAMP_SECONDS;

/// One key's series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExpiry {
    /// The key's tenant.
    pub tenant: Arc<str>,
    /// The key's name.
    pub key: Arc<str>,
    /// When it expires, in Unix seconds.
    pub expires_at: i64,
}

/// The expiring keys of one gateway, rendered while it lives.
#[derive(Debug, Default)]
pub struct KeyExpiries(ArcSwap<Vec<KeyExpiry>>);

/// Every gateway's keys; a gateway that stopped has left only a dead reference.
static REGISTERED: Mutex<Vec<Weak<KeyExpiries>>> = Mutex::new(Vec::new());

impl KeyExpiries {
    /// A gateway's keys, rendered by `/metrics` until the value is dropped.
    pub fn register() -> Arc<KeyExpiries> {
        let expiries = Arc::new(KeyExpiries::default());
        let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
        registered.retain(|expiries| expiries.strong_count() > 0);
        registered.push(Arc::downgrade(&expiries));
        expiries
    }

    /// Replaces the keys rendered.
    pub fn set(&self, keys: Vec<KeyExpiry>) {
        self.0.store(Arc::new(keys));
    }
}

/// Appends the series of every registered gateway to the exposition `text`.
pub(super) fn render(text: &mut String) {
    let registered: Vec<Arc<KeyExpiries>> =
        REGISTERED.lock().unwrap_or_else(PoisonError::into_inner).iter().filter_map(Weak::upgrade).collect();
    let keys: Vec<KeyExpiry> = registered.iter().flat_map(|expiries| expiries.0.load().to_vec()).collect();
    if keys.is_empty() {
        return;
    }
    let name = API_KEY_EXPIRY_TIMESTAMP_SECONDS;
    let _ =
        writeln!(text, "# HELP {name} When each API key with an expires_on expires (Unix time), by tenant and key.");
    let _ = writeln!(text, "# TYPE {name} gauge");
    for KeyExpiry { tenant, key, expires_at } in keys {
        // Tenant and key names are lowercase letters, digits, '_' and '-': nothing to escape.
        let _ = writeln!(text, "{name}{{tenant=\"{tenant}\",key=\"{key}\"}} {expires_at}");
    }
}
