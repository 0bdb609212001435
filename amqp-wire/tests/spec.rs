//! Walks RabbitMQ's machine-readable AMQP 0-9-1 definition
//! (`tests/data/amqp-rabbitmq-0.9.1.json`, copied from rabbitmq-codegen with
//! its copyright notice) and checks that our types agree with it: every
//! class and method id and name, every argument's name, order and type, the
//! basic properties, the synchronous/content flags, and the constants.

use std::collections::HashMap;

use amqp_wire::{
    ArgValue, BasicProperties, FieldTable, Frame, Method, ReplyCode, DEFAULT_FRAME_MAX, FRAME_BODY,
    FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_MIN_SIZE,
};
use bytes::BytesMut;
use serde_json::Value;

const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/amqp-rabbitmq-0.9.1.json"
);

fn spec() -> Value {
    let text = std::fs::read_to_string(SPEC_PATH).expect("spec file is present");
    serde_json::from_str(&text).expect("spec file is JSON")
}

/// One method as the spec defines it, with argument types resolved.
#[derive(Debug)]
struct SpecMethod {
    class_id: u16,
    method_id: u16,
    /// `class.method`
    name: String,
    /// (name with `-` as `_`, resolved type)
    args: Vec<(String, String)>,
    synchronous: bool,
    content: bool,
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn u16_field(v: &Value, key: &str) -> u16 {
    let n = v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"));
    u16::try_from(n).expect("id fits in u16")
}

fn domains(spec: &Value) -> HashMap<String, String> {
    spec["domains"]
        .as_array()
        .expect("domains list")
        .iter()
        .map(|pair| {
            let pair = pair.as_array().expect("[name, type]");
            (
                pair[0].as_str().expect("domain name").to_string(),
                pair[1].as_str().expect("domain type").to_string(),
            )
        })
        .collect()
}

/// An argument's or property's wire type: its `type`, or its `domain`
/// looked up in the spec's domain list.
fn resolve_type(field: &Value, domains: &HashMap<String, String>) -> String {
    if let Some(t) = field["type"].as_str() {
        return t.to_string();
    }
    let domain = str_field(field, "domain");
    domains
        .get(domain)
        .unwrap_or_else(|| panic!("unknown domain {domain}"))
        .clone()
}

fn spec_name(name: &str) -> String {
    name.replace('-', "_")
}

fn spec_methods() -> Vec<SpecMethod> {
    let spec = spec();
    let domains = domains(&spec);
    let mut out = Vec::new();
    for class in spec["classes"].as_array().expect("classes") {
        let class_name = str_field(class, "name");
        let class_id = u16_field(class, "id");
        for method in class["methods"].as_array().expect("methods") {
            out.push(SpecMethod {
                class_id,
                method_id: u16_field(method, "id"),
                name: format!("{class_name}.{}", str_field(method, "name")),
                args: method["arguments"]
                    .as_array()
                    .expect("arguments")
                    .iter()
                    .map(|a| (spec_name(str_field(a, "name")), resolve_type(a, &domains)))
                    .collect(),
                synchronous: method["synchronous"].as_bool().unwrap_or(false),
                content: method["content"].as_bool().unwrap_or(false),
            });
        }
    }
    out
}

macro_rules! default_methods {
    ($($t:ident),* $(,)?) => {
        vec![$(Method::from(amqp_wire::$t::default())),*]
    };
}

/// A default-valued instance of every method type.
fn default_methods() -> Vec<Method> {
    default_methods![
        ConnectionStart,
        ConnectionStartOk,
        ConnectionSecure,
        ConnectionSecureOk,
        ConnectionTune,
        ConnectionTuneOk,
        ConnectionOpen,
        ConnectionOpenOk,
        ConnectionClose,
        ConnectionCloseOk,
        ConnectionBlocked,
        ConnectionUnblocked,
        ConnectionUpdateSecret,
        ConnectionUpdateSecretOk,
        ChannelOpen,
        ChannelOpenOk,
        ChannelFlow,
        ChannelFlowOk,
        ChannelClose,
        ChannelCloseOk,
        AccessRequest,
        AccessRequestOk,
        ExchangeDeclare,
        ExchangeDeclareOk,
        ExchangeDelete,
        ExchangeDeleteOk,
        ExchangeBind,
        ExchangeBindOk,
        ExchangeUnbind,
        ExchangeUnbindOk,
        QueueDeclare,
        QueueDeclareOk,
        QueueBind,
        QueueBindOk,
        QueuePurge,
        QueuePurgeOk,
        QueueDelete,
        QueueDeleteOk,
        QueueUnbind,
        QueueUnbindOk,
        BasicQos,
        BasicQosOk,
        BasicConsume,
        BasicConsumeOk,
        BasicCancel,
        BasicCancelOk,
        BasicPublish,
        BasicReturn,
        BasicDeliver,
        BasicGet,
        BasicGetOk,
        BasicGetEmpty,
        BasicAck,
        BasicReject,
        BasicRecoverAsync,
        BasicRecover,
        BasicRecoverOk,
        BasicNack,
        TxSelect,
        TxSelectOk,
        TxCommit,
        TxCommitOk,
        TxRollback,
        TxRollbackOk,
        ConfirmSelect,
        ConfirmSelectOk,
    ]
}

/// The default instance of the spec method `m`.
fn default_for(m: &SpecMethod) -> Method {
    let matching: Vec<Method> = default_methods()
        .into_iter()
        .filter(|d| d.class_id() == m.class_id && d.method_id() == m.method_id)
        .collect();
    assert_eq!(matching.len(), 1, "one type for {}", m.name);
    matching.into_iter().next().unwrap()
}

/// The spec type name an argument value stands for.
fn arg_type(value: ArgValue<'_>) -> &'static str {
    match value {
        ArgValue::Bit(_) => "bit",
        ArgValue::Octet(_) => "octet",
        ArgValue::Short(_) => "short",
        ArgValue::Long(_) => "long",
        ArgValue::LongLong(_) => "longlong",
        ArgValue::Timestamp(_) => "timestamp",
        ArgValue::ShortStr(_) => "shortstr",
        ArgValue::LongStr(_) => "longstr",
        ArgValue::Table(_) => "table",
    }
}

fn visited_args(method: &Method) -> Vec<(String, String)> {
    let mut args = Vec::new();
    method.visit_args(&mut |name, value| {
        args.push((name.to_string(), arg_type(value).to_string()));
    });
    args
}

#[test]
fn spec_file_is_rabbitmq_0_9_1_with_its_copyright_notice() {
    let spec = spec();
    assert_eq!(spec["major-version"], 0);
    assert_eq!(spec["minor-version"], 9);
    assert_eq!(spec["revision"], 1);
    let copyright: String = spec["copyright"]
        .as_array()
        .expect("copyright block")
        .iter()
        .map(|line| line.as_str().expect("line"))
        .collect();
    assert!(copyright.contains("Permission is hereby granted, free of charge"));
    assert!(copyright.contains("VMware"));
}

#[test]
fn every_spec_method_is_in_method_all_with_same_ids_and_name() {
    for m in spec_methods() {
        let found: Vec<_> = Method::ALL
            .iter()
            .filter(|(c, id, _)| *c == m.class_id && *id == m.method_id)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{} ({}/{})",
            m.name,
            m.class_id,
            m.method_id
        );
        assert_eq!(found[0].2, m.name, "name of {}/{}", m.class_id, m.method_id);
    }
}

#[test]
fn method_all_has_exactly_the_spec_methods_and_no_extras() {
    let spec = spec_methods();
    assert_eq!(Method::ALL.len(), spec.len());
    assert_eq!(Method::ALL.len(), 66);
    for (class_id, method_id, name) in Method::ALL {
        assert!(
            spec.iter()
                .any(|m| m.class_id == *class_id && m.method_id == *method_id && m.name == *name),
            "{name} ({class_id}/{method_id}) is not in the spec"
        );
    }
    let mut ids: Vec<_> = Method::ALL.iter().map(|(c, m, _)| (*c, *m)).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), Method::ALL.len(), "duplicate ids in Method::ALL");
}

#[test]
fn every_method_type_reports_the_ids_and_name_listed_in_method_all() {
    let defaults = default_methods();
    assert_eq!(defaults.len(), Method::ALL.len());
    for (method, (class_id, method_id, name)) in defaults.iter().zip(Method::ALL) {
        assert_eq!(
            (method.class_id(), method.method_id(), method.name()),
            (*class_id, *method_id, *name)
        );
    }
}

#[test]
fn default_instance_of_every_method_encodes_with_its_ids_and_decodes_back() {
    for m in spec_methods() {
        let method = default_for(&m);
        let mut buf = BytesMut::new();
        Frame::method(3, method.clone()).encode(&mut buf).unwrap();
        assert_eq!(buf[0], FRAME_METHOD);
        assert_eq!(buf[1..3], [0, 3]);
        let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
        assert_eq!(buf.len(), 7 + size + 1, "{}", m.name);
        assert_eq!(buf[7..9], m.class_id.to_be_bytes(), "{}", m.name);
        assert_eq!(buf[9..11], m.method_id.to_be_bytes(), "{}", m.name);
        assert_eq!(buf[buf.len() - 1], FRAME_END);

        let frame = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap().unwrap();
        assert_eq!(frame, Frame::method(3, method), "{}", m.name);
        assert!(buf.is_empty());
    }
}

#[test]
fn argument_names_and_order_match_the_spec() {
    for m in spec_methods() {
        let names: Vec<String> = visited_args(&default_for(&m))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let spec_names: Vec<String> = m.args.iter().map(|(name, _)| name.clone()).collect();
        assert_eq!(names, spec_names, "arguments of {}", m.name);
    }
}

#[test]
fn argument_types_match_the_spec_resolving_domains() {
    let mut seen = std::collections::BTreeSet::new();
    for m in spec_methods() {
        let ours = visited_args(&default_for(&m));
        assert_eq!(ours, m.args, "argument types of {}", m.name);
        seen.extend(m.args.iter().map(|(_, t)| t.clone()));
    }
    // Every argument type of the spec is exercised (timestamp is properties only).
    let expected: std::collections::BTreeSet<String> = [
        "bit", "octet", "short", "long", "longlong", "shortstr", "longstr", "table",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(seen, expected);
}

#[test]
fn domains_used_by_arguments_resolve_to_wire_types() {
    // basic.consume's ticket names the domain `short`, queue.declare-ok's
    // message-count the domain `message-count`: both resolve.
    let methods = spec_methods();
    let consume = methods.iter().find(|m| m.name == "basic.consume").unwrap();
    assert_eq!(consume.args[0], ("ticket".to_string(), "short".to_string()));
    let declare_ok = methods
        .iter()
        .find(|m| m.name == "queue.declare-ok")
        .unwrap();
    assert_eq!(
        declare_ok.args[1],
        ("message_count".to_string(), "long".to_string())
    );
}

#[test]
fn basic_properties_names_order_and_types_match_the_spec() {
    let spec = spec();
    let domains = domains(&spec);
    let basic = spec["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "basic")
        .expect("class basic");
    assert_eq!(basic["id"], 60);
    let expected: Vec<(String, String)> = basic["properties"]
        .as_array()
        .expect("basic properties")
        .iter()
        .map(|p| (spec_name(str_field(p, "name")), resolve_type(p, &domains)))
        .collect();
    assert_eq!(expected.len(), 14);

    let all = BasicProperties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("gzip".into()),
        headers: Some(FieldTable::new().with("h", 1i32)),
        delivery_mode: Some(2),
        priority: Some(1),
        correlation_id: Some("c".into()),
        reply_to: Some("r".into()),
        expiration: Some("1000".into()),
        message_id: Some("m".into()),
        timestamp: Some(1),
        r#type: Some("t".into()),
        user_id: Some("u".into()),
        app_id: Some("a".into()),
        cluster_id: Some("".into()),
    };
    let mut ours = Vec::new();
    all.visit(|name, value| ours.push((name.to_string(), arg_type(value).to_string())));
    assert_eq!(ours, expected);
    assert_eq!(
        all.flags(),
        0xFFFC,
        "one flag bit per property, bit 15 first"
    );
}

#[test]
fn synchronous_and_content_flags_match_the_spec() {
    for m in spec_methods() {
        let method = default_for(&m);
        assert_eq!(
            method.is_synchronous(),
            m.synchronous,
            "synchronous of {}",
            m.name
        );
        assert_eq!(method.carries_content(), m.content, "content of {}", m.name);
    }
}

#[test]
fn frame_constants_match_the_spec() {
    let spec = spec();
    let constants: HashMap<String, u64> = spec["constants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                str_field(c, "name").to_string(),
                c["value"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(constants["FRAME-METHOD"], u64::from(FRAME_METHOD));
    assert_eq!(constants["FRAME-HEADER"], u64::from(FRAME_HEADER));
    assert_eq!(constants["FRAME-BODY"], u64::from(FRAME_BODY));
    assert_eq!(constants["FRAME-HEARTBEAT"], u64::from(FRAME_HEARTBEAT));
    assert_eq!(constants["FRAME-END"], u64::from(FRAME_END));
    assert_eq!(constants["FRAME-MIN-SIZE"], u64::from(FRAME_MIN_SIZE));
}

#[test]
fn reply_codes_match_the_spec_names_and_hard_soft_classes() {
    let spec = spec();
    let mut count = 0;
    for c in spec["constants"].as_array().unwrap() {
        let name = str_field(c, "name");
        // Frame constants; FRAME-ERROR (501) is a reply code.
        if name.starts_with("FRAME-") && name != "FRAME-ERROR" {
            continue;
        }
        let code = ReplyCode(u16::try_from(c["value"].as_u64().unwrap()).unwrap());
        assert_eq!(code.name(), Some(spec_name(name).as_str()), "{name}");
        assert_eq!(
            code.is_hard(),
            c["class"] == "hard-error",
            "hard/soft class of {name}"
        );
        count += 1;
    }
    assert_eq!(count, 19);
}

/// The methods that answer `m`, as (class id, method id). The XML spec names
/// them in `<response>` elements, which RabbitMQ's JSON definition leaves
/// out; they follow one rule there, rebuilt here: a synchronous `name` is
/// answered by `name-ok` of its class, and basic.get also by
/// basic.get-empty (its one response not so named).
fn spec_replies(m: &SpecMethod, all: &[SpecMethod]) -> Vec<(u16, u16)> {
    if !m.synchronous {
        return Vec::new();
    }
    let ids = |name: &str| {
        let found = all.iter().find(|s| s.name == name);
        let found = found.unwrap_or_else(|| panic!("{name}, the reply to {}", m.name));
        (found.class_id, found.method_id)
    };
    let mut replies = vec![ids(&format!("{}-ok", m.name))];
    if m.name == "basic.get" {
        replies.push(ids("basic.get-empty"));
    }
    replies
}

#[test]
fn declared_replies_are_the_ones_the_spec_names() {
    let all = spec_methods();
    let mut synchronous = 0;
    for m in &all {
        let method = default_for(m);
        let expected = spec_replies(m, &all);
        assert_eq!(method.replies(), expected, "replies to {}", m.name);
        // Default instances have nowait clear: the reply is the usual one.
        assert_eq!(
            method.expected_reply(),
            expected.first().copied(),
            "expected reply to {}",
            m.name
        );
        assert_eq!(method.is_synchronous(), method.expected_reply().is_some());
        synchronous += usize::from(m.synchronous);
    }
    assert_eq!(synchronous, 28);
}

#[test]
fn answers_accepts_exactly_the_replies_the_spec_names() {
    let all = spec_methods();
    for m in all.iter().filter(|m| m.synchronous) {
        let expected = default_for(m).expected_reply().expect("synchronous");
        let replies = spec_replies(m, &all);
        for got in &all {
            let ids = (got.class_id, got.method_id);
            assert_eq!(
                Method::answers(expected, ids),
                replies.contains(&ids),
                "{} answering {}",
                got.name,
                m.name
            );
        }
    }
}

#[test]
fn nowait_cancels_the_reply_of_exactly_the_methods_with_a_nowait_argument() {
    use amqp_wire::*;
    let nowait: Vec<Method> = vec![
        ExchangeDeclare {
            nowait: true,
            ..Default::default()
        }
        .into(),
        ExchangeDelete {
            nowait: true,
            ..Default::default()
        }
        .into(),
        ExchangeBind {
            nowait: true,
            ..Default::default()
        }
        .into(),
        ExchangeUnbind {
            nowait: true,
            ..Default::default()
        }
        .into(),
        QueueDeclare {
            nowait: true,
            ..Default::default()
        }
        .into(),
        QueueBind {
            nowait: true,
            ..Default::default()
        }
        .into(),
        QueuePurge {
            nowait: true,
            ..Default::default()
        }
        .into(),
        QueueDelete {
            nowait: true,
            ..Default::default()
        }
        .into(),
        BasicConsume {
            nowait: true,
            ..Default::default()
        }
        .into(),
        BasicCancel {
            nowait: true,
            ..Default::default()
        }
        .into(),
        ConfirmSelect { nowait: true }.into(),
    ];
    let mut ours: Vec<&str> = nowait.iter().map(Method::name).collect();
    ours.sort_unstable();
    let mut spec: Vec<String> = spec_methods()
        .into_iter()
        .filter(|m| m.args.iter().any(|(name, _)| name == "nowait"))
        .map(|m| m.name)
        .collect();
    spec.sort_unstable();
    assert_eq!(ours, spec);
    for method in &nowait {
        assert!(method.is_synchronous(), "{}", method.name());
        assert_eq!(
            method.expected_reply(),
            None,
            "{} with nowait",
            method.name()
        );
    }
}
