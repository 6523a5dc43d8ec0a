//! The template's EventBridge rules, deployed into moto with their exact patterns: events put
//! on a bus reach the queues the rules target, through moto's own pattern matching. The demo
//! sends its sample events this way (event -> rule -> queue -> function).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_eventbridge::{Client, types::PutEventsRequestEntry, types::Target};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use crate::root;

/// One rule of the template.
#[derive(Debug, Clone)]
pub struct TemplateRule {
    /// Its logical id.
    pub name: String,
    /// Its event pattern.
    pub pattern: Value,
    /// The logical id of the bus it is on (`None`: the default bus).
    pub bus: Option<String>,
    /// The logical id of what its first target is (a queue).
    pub target: String,
}

/// `infra/template.yaml`, parsed; CloudFormation's short forms (`!Ref`, `!GetAtt`) are tagged
/// values.
pub fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).expect("template");
    serde_yaml_ng::from_str(&text).expect("the template is YAML")
}

/// The logical ids of the template's resources of type `kind`, in template order.
pub fn resources_of(kind: &str) -> Vec<String> {
    template()["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .filter_map(|(name, _)| name.as_str().map(str::to_string))
        .collect()
}

/// The rules of `infra/template.yaml` (the top-level `AWS::Events::Rule` resources).
pub fn template_rules() -> Vec<TemplateRule> {
    let doc = template();
    // `!Ref X` and `!GetAtt X.Arn` are tagged values: the logical id is what they hold.
    let logical_id = |v: &Yaml| match v {
        Yaml::Tagged(t) => t
            .value
            .as_str()
            .unwrap_or_default()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    let mut rules = Vec::new();
    for (name, resource) in doc["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Events::Rule") {
            continue;
        }
        let props = &resource["Properties"];
        rules.push(TemplateRule {
            name: name.as_str().unwrap_or_default().to_string(),
            pattern: serde_json::to_value(&props["EventPattern"]).expect("a pattern is JSON"),
            bus: props.get("EventBusName").map(logical_id),
            target: logical_id(&props["Targets"][0]["Arn"]),
        });
    }
    rules
}

/// The template's rules in moto.
pub struct Routing {
    client: Client,
    /// Bus names by the template's logical id (`CentralEventBus`).
    pub buses: BTreeMap<String, String>,
    /// The rules deployed.
    pub rules: Vec<TemplateRule>,
}

impl Routing {
    /// Creates the template's buses and rules in moto; each rule targets the queue ARN that
    /// `queues` gives for its target's logical id (rules whose target is not given are left
    /// out).
    pub async fn deploy(aws: &SdkConfig, queues: &BTreeMap<&str, String>) -> Routing {
        let client = Client::new(aws);
        let mut buses = BTreeMap::new();
        let mut rules = Vec::new();
        for rule in template_rules() {
            let Some(queue_arn) = queues.get(rule.target.as_str()) else {
                continue;
            };
            let bus = match &rule.bus {
                None => "default".to_string(),
                Some(logical) => {
                    if !buses.contains_key(logical) {
                        let name = format!("autofed-{}", logical.to_lowercase());
                        client
                            .create_event_bus()
                            .name(&name)
                            .send()
                            .await
                            .expect("create bus");
                        buses.insert(logical.clone(), name);
                    }
                    buses[logical].clone()
                }
            };
            client
                .put_rule()
                .name(&rule.name)
                .event_bus_name(&bus)
                .event_pattern(rule.pattern.to_string())
                .send()
                .await
                .expect("put rule");
            client
                .put_targets()
                .rule(&rule.name)
                .event_bus_name(&bus)
                .targets(
                    Target::builder()
                        .id("queue")
                        .arn(queue_arn)
                        .build()
                        .expect("target"),
                )
                .send()
                .await
                .expect("put targets");
            rules.push(rule);
        }
        Routing {
            client,
            buses,
            rules,
        }
    }

    /// Puts a sample event (`source`, `detail-type`, `detail`, `resources`) on `bus` (a
    /// logical id, or `None` for the default bus).
    pub async fn put(&self, bus: Option<&str>, event: &str) {
        let e: Value = serde_json::from_str(event).expect("a sample event");
        let bus = bus.map_or("default".to_string(), |b| self.buses[b].clone());
        let out = self
            .client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(e["source"].as_str().unwrap_or_default())
                    .detail_type(e["detail-type"].as_str().unwrap_or_default())
                    .detail(e["detail"].to_string())
                    .set_resources(e["resources"].as_array().map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    }))
                    .build(),
            )
            .send()
            .await
            .expect("put events");
        assert_eq!(out.failed_entry_count, 0, "the event was not accepted");
    }

    /// The rules whose pattern is on `bus` (logical id; `None`: default) and names `target`.
    pub fn rule_names(&self, bus: Option<&str>, target: &str) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.bus.as_deref() == bus && r.target == target)
            .map(|r| r.name.as_str())
            .collect()
    }
}
