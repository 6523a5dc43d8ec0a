//! The backfill's input: what to enumerate and whether to plan or enqueue.

use serde::{Deserialize, Deserializer, de};
use serde_json::Value;

use crate::{config::cluster::is_region, ids::AccountId, report::Mode};

/// Input the backfill cannot act on. Nothing was read or written.
#[derive(Debug, thiserror::Error)]
#[error("backfill input `{field}`: {problem}")]
pub struct RequestError {
    /// The field (`regions[1]`), or `input` for the whole.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Which accounts a backfill covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Accounts {
    /// Every active member account.
    #[default]
    All,
    /// These accounts (each must be a member of the organization).
    Only(Vec<AccountId>),
}

impl<'de> Deserialize<'de> for Accounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Ids(Vec<Value>),
        }
        match Raw::deserialize(d)
            .map_err(|_| de::Error::custom("expected \"all\" or a list of 12-digit account ids"))?
        {
            Raw::Word(w) if w == "all" => Ok(Accounts::All),
            Raw::Word(w) => Err(de::Error::custom(format!(
                "expected \"all\" or a list of account ids, got {}",
                crate::ids::quote(&w)
            ))),
            Raw::Ids(ids) => ids
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .ok_or_else(|| format!("[{i}]: expected a 12-digit account id, got {v}"))
                        .and_then(|s| AccountId::parse(s).map_err(|e| format!("[{i}]: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Accounts::Only)
                .map_err(de::Error::custom),
        }
    }
}

/// What a backfill is asked to do: `{"mode": "plan" | "apply", "accounts": "all" | [ids],
/// "clusters": true | false, "regions": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `plan`: report what would change; `apply`: enqueue the work.
    pub mode: Mode,
    /// The accounts (default: all).
    #[serde(default)]
    pub accounts: Accounts,
    /// Whether the accounts' EKS clusters are covered too.
    #[serde(default)]
    pub clusters: bool,
    /// The regions whose clusters are listed (required with `clusters`).
    #[serde(default)]
    pub regions: Vec<String>,
}

impl Request {
    /// Reads and checks the input; errors name the field.
    pub fn parse(input: Value) -> Result<Self, RequestError> {
        let request: Request = serde_path_to_error::deserialize(input).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            // NB: the custom messages of `accounts` carry their own `[i]`.
            let (index, problem) = match inner.strip_prefix('[').and_then(|r| r.split_once("]: ")) {
                Some((i, rest)) => (format!("[{i}]"), rest.to_string()),
                None => (String::new(), inner),
            };
            RequestError {
                field: if path == "." {
                    "input".into()
                } else {
                    format!("{path}{index}")
                },
                problem,
            }
        })?;
        if let Accounts::Only(ids) = &request.accounts
            && ids.is_empty()
        {
            return Err(RequestError {
                field: "accounts".into(),
                problem: "an empty list selects no account; use \"all\" or name some".into(),
            });
        }
        for (i, region) in request.regions.iter().enumerate() {
            if !is_region(region) {
                return Err(RequestError {
                    field: format!("regions[{i}]"),
                    problem: format!("not a region name: {}", crate::ids::quote(region)),
                });
            }
        }
        if request.clusters && request.regions.is_empty() {
            return Err(RequestError {
                field: "regions".into(),
                problem: "required with \"clusters\": true (the regions whose clusters to list)"
                    .into(),
            });
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error(input: Value) -> String {
        Request::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn a_full_request_reads() {
        let r = Request::parse(json!({"mode": "apply", "accounts": ["111111111111"],
            "clusters": true, "regions": ["eu-west-1"]}))
        .unwrap();
        assert_eq!(r.mode, Mode::Apply);
        assert_eq!(
            r.accounts,
            Accounts::Only(vec![AccountId::parse("111111111111").unwrap()])
        );
        assert!(r.clusters);
        let r = Request::parse(json!({"mode": "plan"})).unwrap();
        assert_eq!((r.accounts, r.clusters), (Accounts::All, false));
    }

    #[test]
    fn bad_input_names_the_field() {
        assert_eq!(
            error(json!({"accounts": "all"})),
            "backfill input `input`: missing field `mode`"
        );
        assert!(
            error(json!({"mode": "destroy"}))
                .starts_with("backfill input `mode`: unknown variant `destroy`")
        );
        assert_eq!(
            error(json!({"mode": "plan", "accounts": "some"})),
            "backfill input `accounts`: expected \"all\" or a list of account ids, got \"some\""
        );
        assert_eq!(
            error(json!({"mode": "plan", "accounts": ["111111111111", "12345"]})),
            "backfill input `accounts[1]`: expected a 12-digit account id, got \"12345\""
        );
        assert_eq!(
            error(json!({"mode": "plan", "accounts": 7})),
            "backfill input `accounts`: expected \"all\" or a list of 12-digit account ids"
        );
        assert_eq!(
            error(json!({"mode": "plan", "accounts": []})),
            "backfill input `accounts`: an empty list selects no account; use \"all\" or name some"
        );
        assert_eq!(
            error(json!({"mode": "plan", "clusters": true})),
            "backfill input `regions`: required with \"clusters\": true (the regions whose clusters to list)"
        );
        assert_eq!(
            error(json!({"mode": "plan", "clusters": true, "regions": ["eu-west-1", "mars-1"]})),
            "backfill input `regions[1]`: not a region name: \"mars-1\""
        );
        assert!(
            error(json!({"mode": "plan", "acounts": "all"}))
                .starts_with("backfill input `acounts`: unknown field `acounts`")
        );
        assert!(
            error(json!({"mode": "plan", "clusters": "yes"}))
                .starts_with("backfill input `clusters`: invalid type")
        );
    }
}
