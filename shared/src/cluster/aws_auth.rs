//! The aws-auth ConfigMap's `mapRoles`: a YAML list inside a string, shared with eksctl,
//! Terraform and node groups. autofed edits it as text, row by row: a row it does not change
//! keeps its exact bytes (comments, quoting, key order, unknown keys), and a row it rewrites
//! keeps its unknown keys.
//!
//! The rows autofed owns are listed in an annotation on the ConfigMap ([`OWNED_ANNOTATION`]);
//! any other row is never changed or removed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

/// The ConfigMap's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The ConfigMap's name.
pub const NAME: &str = "aws-auth";
/// The object's path.
pub const PATH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";
/// The collection it is created in.
pub const COLLECTION: &str = "/api/v1/namespaces/kube-system/configmaps";
/// The annotation that lists, as a JSON array, the role ARNs of the rows autofed owns.
pub const OWNED_ANNOTATION: &str = "autofed.dev/owned-map-roles";

/// One role mapping, as autofed wants it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MapRole {
    /// The role ARN, without its path (aws-auth matches path-less ARNs).
    pub rolearn: String,
    /// The Kubernetes username.
    pub username: String,
    /// The Kubernetes groups.
    pub groups: Vec<String>,
}

/// A row as found in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its `rolearn`, if it has one.
    pub rolearn: Option<String>,
    /// Its `username`.
    pub username: Option<String>,
    /// Its `groups`.
    pub groups: Vec<String>,
    /// Every other key, kept when autofed rewrites the row.
    pub other: Mapping,
}

impl Row {
    /// Whether the row already says what `want` says.
    pub fn matches(&self, want: &MapRole) -> bool {
        self.rolearn.as_deref() == Some(want.rolearn.as_str())
            && self.username.as_deref() == Some(want.username.as_str())
            && self.groups == want.groups
    }
}

#[derive(Debug, Deserialize)]
struct RawRow {
    #[serde(default)]
    rolearn: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(flatten)]
    other: Mapping,
}

#[derive(Debug, Clone)]
enum Chunk {
    /// Text between rows (a leading comment, blank lines), kept as it is.
    Verbatim(String),
    /// One row: its exact text, and what it says.
    Item { text: String, row: Row },
}

/// The `mapRoles` text, split into rows that can be replaced one by one.
#[derive(Debug, Clone)]
pub struct MapRoles {
    chunks: Vec<Chunk>,
    indent: usize,
}

impl MapRoles {
    /// Splits `text` into rows. Refuses text that is not a YAML list of mappings written as a
    /// block sequence (a flow list `[...]` cannot be edited row by row without rewriting it).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self {
                chunks: vec![Chunk::Verbatim(text.to_string())],
                indent: 0,
            });
        }
        let whole: Vec<RawRow> = serde_yaml_ng::from_str(text)
            .map_err(|e| format!("mapRoles is not a YAML list of role mappings: {e}"))?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let is_item = |line: &str, indent: usize| {
            let trimmed = line.trim_start_matches(' ');
            line.len() - trimmed.len() == indent
                && (trimmed.starts_with("- ") || trimmed.trim_end() == "-")
        };
        let Some(indent) = lines.iter().find_map(|l| {
            let t = l.trim_start_matches(' ');
            (t.starts_with("- ") || t.trim_end() == "-").then_some(l.len() - t.len())
        }) else {
            return Err(
                "mapRoles is not a block list (`- rolearn: ...` rows); autofed does not rewrite it"
                    .into(),
            );
        };
        let mut chunks = Vec::new();
        let mut pending = String::new();
        let mut current: Option<String> = None;
        let flush = |current: &mut Option<String>,
                     pending: &mut String,
                     chunks: &mut Vec<Chunk>|
         -> Result<(), String> {
            if let Some(text) = current.take() {
                // Trailing blank lines and comments at the list's level belong between rows.
                let mut body: Vec<&str> = text.split_inclusive('\n').collect();
                let mut tail = Vec::new();
                while let Some(last) = body.last() {
                    let t = last.trim_start_matches(' ');
                    let between = t.trim().is_empty()
                        || (t.starts_with('#') && last.len() - t.len() <= indent);
                    if between && body.len() > 1 {
                        tail.push(body.pop().unwrap_or_default());
                    } else {
                        break;
                    }
                }
                tail.reverse();
                let item: String = body.concat();
                chunks.push(Chunk::Item {
                    row: parse_row(&item, indent)?,
                    text: item,
                });
                pending.push_str(&tail.concat());
            }
            if !pending.is_empty() {
                chunks.push(Chunk::Verbatim(std::mem::take(pending)));
            }
            Ok(())
        };
        for line in lines {
            if is_item(line, indent) {
                flush(&mut current, &mut pending, &mut chunks)?;
                current = Some(line.to_string());
            } else if let Some(text) = current.as_mut() {
                text.push_str(line);
            } else {
                pending.push_str(line);
            }
        }
        flush(&mut current, &mut pending, &mut chunks)?;
        let found = chunks
            .iter()
            .filter(|c| matches!(c, Chunk::Item { .. }))
            .count();
        if found != whole.len() {
            return Err(format!(
                "mapRoles has {} rows but {found} could be told apart; autofed does not rewrite it",
                whole.len()
            ));
        }
        Ok(Self { chunks, indent })
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.chunks.iter().filter_map(|c| match c {
            Chunk::Item { row, .. } => Some(row),
            Chunk::Verbatim(_) => None,
        })
    }

    /// The row for `rolearn`, if any.
    pub fn find(&self, rolearn: &str) -> Option<&Row> {
        self.rows().find(|r| r.rolearn.as_deref() == Some(rolearn))
    }

    /// Makes the row for `want.rolearn` say what `want` says: the first such row is rewritten
    /// (its unknown keys kept), or a row is added at the end. Returns whether the text changed.
    pub fn upsert(&mut self, want: &MapRole) -> bool {
        let indent = self.indent;
        for chunk in &mut self.chunks {
            if let Chunk::Item { text, row } = chunk
                && row.rolearn.as_deref() == Some(want.rolearn.as_str())
            {
                if row.matches(want) {
                    return false;
                }
                let new = Row {
                    rolearn: Some(want.rolearn.clone()),
                    username: Some(want.username.clone()),
                    groups: want.groups.clone(),
                    other: row.other.clone(),
                };
                *text = render(&new, indent);
                *row = new;
                return true;
            }
        }
        let row = Row {
            rolearn: Some(want.rolearn.clone()),
            username: Some(want.username.clone()),
            groups: want.groups.clone(),
            other: Mapping::new(),
        };
        if let Some(Chunk::Verbatim(last) | Chunk::Item { text: last, .. }) = self.chunks.last_mut()
            && !last.is_empty()
            && !last.ends_with('\n')
        {
            last.push('\n');
        }
        self.chunks.push(Chunk::Item {
            text: render(&row, indent),
            row,
        });
        true
    }

    /// Removes every row for `rolearn`. Returns whether the text changed.
    pub fn remove(&mut self, rolearn: &str) -> bool {
        let before = self.chunks.len();
        self.chunks.retain(|c| match c {
            Chunk::Item { row, .. } => row.rolearn.as_deref() != Some(rolearn),
            Chunk::Verbatim(_) => true,
        });
        before != self.chunks.len()
    }

    /// The text.
    pub fn render(&self) -> String {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Verbatim(t) | Chunk::Item { text: t, .. } => t.as_str(),
            })
            .collect()
    }
}

fn parse_row(text: &str, indent: usize) -> Result<Row, String> {
    // Re-based to column 0 so the row parses alone.
    let rebased: String = text
        .split_inclusive('\n')
        .map(|l| {
            let spaces = l.len() - l.trim_start_matches(' ').len();
            &l[spaces.min(indent)..]
        })
        .collect();
    let mut rows: Vec<RawRow> = serde_yaml_ng::from_str(&rebased)
        .map_err(|e| format!("a mapRoles row does not parse alone: {e}"))?;
    if rows.len() != 1 {
        return Err(format!(
            "a mapRoles row holds {} entries; autofed does not rewrite it",
            rows.len()
        ));
    }
    let raw = rows.remove(0);
    Ok(Row {
        rolearn: raw.rolearn,
        username: raw.username,
        groups: raw.groups.unwrap_or_default(),
        other: raw.other,
    })
}

fn render(row: &Row, indent: usize) -> String {
    let mut map = Mapping::new();
    if let Some(arn) = &row.rolearn {
        map.insert("rolearn".into(), arn.clone().into());
    }
    if let Some(user) = &row.username {
        map.insert("username".into(), user.clone().into());
    }
    map.insert(
        "groups".into(),
        Value::Sequence(row.groups.iter().cloned().map(Value::from).collect()),
    );
    for (k, v) in &row.other {
        map.insert(k.clone(), v.clone());
    }
    let text = serde_yaml_ng::to_string(&vec![Value::Mapping(map)]).unwrap_or_default();
    let pad = " ".repeat(indent);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// The role ARNs the ownership annotation lists; an unreadable annotation lists none (autofed
/// then owns nothing there, and changes nothing it cannot prove is its own).
pub fn owned(annotations: Option<&BTreeMap<String, String>>) -> BTreeSet<String> {
    annotations
        .and_then(|a| a.get(OWNED_ANNOTATION))
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

/// The annotation's value for `owned`.
pub fn owned_value(owned: &BTreeSet<String>) -> String {
    serde_json::to_string(owned).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EKSCTL: &str = "\
- groups:
  - system:bootstrappers
  - system:nodes
  rolearn: arn:aws:iam::111222333444:role/eksctl-fabulous-NodeInstanceRole-L7A7NXU3DSJS
  username: system:node:{{EC2PrivateDNSName}}
# the platform team's break-glass role
- rolearn: \"arn:aws:iam::111222333444:role/BreakGlass\"   # keep quoted
  username: break-glass
  groups: [system:masters]
  x-team: platform
";

    fn admin() -> MapRole {
        MapRole {
            rolearn: "arn:aws:iam::111222333444:role/Administrator".into(),
            username: "autofed:Administrator:{{SessionName}}".into(),
            groups: vec!["system:masters".into()],
        }
    }

    #[test]
    fn rows_are_read_with_their_unknown_keys() {
        let m = MapRoles::parse(EKSCTL).unwrap();
        let rows: Vec<&Row> = m.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].groups, ["system:bootstrappers", "system:nodes"]);
        assert_eq!(rows[1].username.as_deref(), Some("break-glass"));
        assert_eq!(rows[1].other.len(), 1);
        assert_eq!(m.render(), EKSCTL);
    }

    #[test]
    fn an_added_row_leaves_every_other_byte_alone() {
        let mut m = MapRoles::parse(EKSCTL).unwrap();
        assert!(m.upsert(&admin()));
        let text = m.render();
        assert!(text.starts_with(EKSCTL), "{text}");
        let again = MapRoles::parse(&text).unwrap();
        assert!(again.find(&admin().rolearn).unwrap().matches(&admin()));
        assert!(
            !again.clone().upsert(&admin()),
            "a second upsert changes nothing"
        );
    }

    #[test]
    fn a_rewritten_row_keeps_its_unknown_keys_and_its_neighbours() {
        let mut m = MapRoles::parse(EKSCTL).unwrap();
        let want = MapRole {
            rolearn: "arn:aws:iam::111222333444:role/BreakGlass".into(),
            username: "break-glass".into(),
            groups: vec!["system:masters".into(), "ops".into()],
        };
        assert!(m.upsert(&want));
        let text = m.render();
        assert!(text.starts_with(&EKSCTL[..EKSCTL.find("- rolearn").unwrap()]));
        let row = MapRoles::parse(&text)
            .unwrap()
            .find(&want.rolearn)
            .cloned()
            .unwrap();
        assert!(row.matches(&want));
        assert_eq!(row.other.get("x-team"), Some(&Value::from("platform")));
    }

    #[test]
    fn removing_a_row_keeps_the_rest() {
        let mut m = MapRoles::parse(EKSCTL).unwrap();
        m.upsert(&admin());
        assert!(m.remove(&admin().rolearn));
        assert_eq!(m.render(), EKSCTL);
    }

    #[test]
    fn indented_lists_and_empty_text_work() {
        let indented = "  - rolearn: arn:aws:iam::1:role/A\n    username: a\n";
        let mut m = MapRoles::parse(indented).unwrap();
        m.upsert(&admin());
        let text = m.render();
        assert!(text.starts_with(indented));
        assert!(text.contains("\n  - rolearn: arn:aws:iam::111222333444:role/Administrator\n"));
        let mut empty = MapRoles::parse("").unwrap();
        empty.upsert(&admin());
        assert_eq!(MapRoles::parse(&empty.render()).unwrap().rows().count(), 1);
    }

    #[test]
    fn text_that_cannot_be_edited_row_by_row_is_refused() {
        assert!(MapRoles::parse("[{\"rolearn\": \"a\"}]").is_err());
        assert!(MapRoles::parse("rolearn: a\n").is_err());
        assert!(MapRoles::parse("- rolearn: [unclosed\n").is_err());
    }

    #[test]
    fn ownership_round_trips_and_a_bad_annotation_owns_nothing() {
        let owned_set: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let ann: BTreeMap<String, String> =
            [(OWNED_ANNOTATION.to_string(), owned_value(&owned_set))].into();
        assert_eq!(owned(Some(&ann)), owned_set);
        let bad: BTreeMap<String, String> =
            [(OWNED_ANNOTATION.to_string(), "not json".to_string())].into();
        assert!(owned(Some(&bad)).is_empty());
    }
}
