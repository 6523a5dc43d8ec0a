//! IAM policy documents: the federated trust policy autofed writes, and the comparison that
//! decides whether a document IAM returns says the same thing.

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

/// The SAML audience of AWS's sign-in endpoint, required by the trust condition.
pub const SAML_AUDIENCE: &str = "https://signin.aws.amazon.com/saml";

/// The trust policy of a federated role: the account's SAML provider may assume it with
/// `sts:AssumeRoleWithSAML`, for AWS's sign-in audience only.
pub fn saml_trust(provider_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": { "StringEquals": { "SAML:aud": SAML_AUDIENCE } }
        }]
    })
}

/// Reads a policy document as IAM returns it.
///
/// NB: IAM returns documents URL-encoded (RFC 3986) in `GetRole` and `GetRolePolicy`
/// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html); some emulators return
/// them as sent. Both are accepted.
pub fn decode(doc: &str) -> Option<Value> {
    let text = if doc.trim_start().starts_with('{') {
        doc.to_string()
    } else {
        percent_decode_str(doc).decode_utf8().ok()?.into_owned()
    };
    serde_json::from_str(&text).ok()
}

/// Whether two policy documents grant the same thing, ignoring the forms IAM treats as equal:
/// a single statement or a list of one, a string or a list of one string, and list order.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        // Lists whose order IAM ignores, and scalars it treats as lists of one.
                        (_, Value::String(_)) if k != "Version" && k != "Effect" && k != "Sid" => {
                            Value::Array(vec![v.clone()])
                        }
                        (_, Value::Object(_)) if k == "Statement" => {
                            Value::Array(vec![normalize(v)])
                        }
                        _ => normalize(v),
                    };
                    (k.clone(), sort_list(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn sort_list(v: Value) -> Value {
    match v {
        Value::Array(mut items) => {
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        other => other,
    }
}

/// Serializes a document the way autofed sends it: compact JSON.
pub fn to_text(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::222222222222:saml-provider/Okta";

    #[test]
    fn the_trust_policy_names_the_provider_and_the_audience() {
        let t = saml_trust(ARN);
        assert_eq!(t["Statement"][0]["Principal"]["Federated"], ARN);
        assert_eq!(t["Statement"][0]["Action"], "sts:AssumeRoleWithSAML");
        assert_eq!(
            t["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"],
            SAML_AUDIENCE
        );
    }

    #[test]
    fn url_encoded_documents_decode() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode(encoded).unwrap(),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(decode("{\"a\": 1}").unwrap(), json!({"a": 1}));
        assert!(decode("%7Bnot json").is_none());
    }

    #[test]
    fn equivalent_forms_compare_equal_and_real_changes_do_not() {
        let a = saml_trust(ARN);
        let mut b = a.clone();
        b["Statement"][0]["Action"] = json!(["sts:AssumeRoleWithSAML"]);
        assert!(equivalent(&a, &b));
        let mut c = a.clone();
        c["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"] = json!("https://evil.example");
        assert!(!equivalent(&a, &c));
        let mut d = a.clone();
        d["Statement"][0]["Principal"]["Federated"] =
            json!("arn:aws:iam::222222222222:saml-provider/Other");
        assert!(!equivalent(&a, &d));
    }
}
