//! Ports -> Services, `x-skiff.routes` -> Ingresses, `x-skiff.boundaries` -> NetworkPolicies.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyEgressRule,
    NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use skiff_model::compose::ServiceConfig;
use skiff_model::xskiff::{Egress, Tls};

use super::{Context, Object, labels};
use crate::names;
use crate::report::NoteKind;

/// A port a service listens on, as its Service and container expose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Port {
    pub(crate) port: u32,
    /// `TCP`, `UDP` or `SCTP`.
    pub(crate) protocol: String,
    pub(crate) name: String,
    pub(crate) app_protocol: Option<String>,
}

/// The most ports a range in `expose` is expanded to.
const MAX_RANGE: u32 = 100;

/// The ports of a service: `ports` (by their container port), `expose`, and the ports its
/// routes send to; failing those, the well-known port of a well-known image.
pub(super) fn ports(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) -> Vec<Port> {
    let path = format!("services.{name}");
    let mut out: Vec<Port> = Vec::new();
    let add = |out: &mut Vec<Port>, port: u32, protocol: &str, declared: &str, app: &str| {
        let protocol = if protocol.is_empty() {
            "TCP".to_owned()
        } else {
            protocol.to_ascii_uppercase()
        };
        if port == 0 || out.iter().any(|p| p.port == port && p.protocol == protocol) {
            return;
        }
        let mut port_name = names::port_name(declared, &protocol, port);
        if out.iter().any(|p| p.name == port_name) {
            port_name = names::port_name("", &protocol, port);
        }
        out.push(Port {
            port,
            protocol,
            name: port_name,
            app_protocol: (!app.is_empty()).then(|| app.to_owned()),
        });
    };
    let routed: Vec<(&String, u16)> = cx
        .stack
        .skiff
        .routes
        .iter()
        .filter(|(_, r)| r.service == name)
        .map(|(k, r)| (k, r.port))
        .collect();
    let k8s = cx.name(name);
    for (i, p) in svc.ports.iter().enumerate() {
        add(&mut out, p.target, &p.protocol, &p.name, &p.app_protocol);
        if p.published.is_empty() && p.mode != "host" {
            continue;
        }
        let on_host = if p.host_ip.is_empty() {
            p.published.clone()
        } else {
            format!("{}:{}", p.host_ip, p.published)
        };
        let route = routed
            .iter()
            .find(|(_, port)| u32::from(*port) == p.target)
            .map(|(r, _)| (*r).clone());
        let suggestion = match route {
            Some(r) => format!(
                "the x-skiff route {r:?} reaches it through an Ingress; for other clients use a \
                 LoadBalancer or NodePort Service, or kubectl port-forward"
            ),
            None => "declare an x-skiff route (exported as an Ingress) for HTTP, or add a \
                     LoadBalancer or NodePort Service; kubectl port-forward for local access"
                .to_owned(),
        };
        cx.note(
            NoteKind::Approximated,
            format!("{path}.ports[{i}]"),
            format!(
                "published on the host at {on_host}: in the cluster the Service {k8s:?} listens \
                 on {} and nothing is published outside it",
                p.target
            ),
            suggestion,
        );
    }
    for (i, e) in svc.expose.iter().enumerate() {
        let (range, protocol) = e.split_once('/').unwrap_or((e, ""));
        let (low, high) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok(), b.parse::<u32>().ok()),
            None => (range.parse::<u32>().ok(), range.parse::<u32>().ok()),
        };
        match (low, high) {
            (Some(low), Some(high)) if high >= low && high - low < MAX_RANGE => {
                for port in low..=high {
                    add(&mut out, port, protocol, "", "");
                }
            }
            _ => cx.note(
                NoteKind::NotCarried,
                format!("{path}.expose[{i}]"),
                format!("expose {e:?} is not carried over (a Service lists ports one by one)"),
                "list the ports the service really listens on",
            ),
        }
    }
    for (_, port) in &routed {
        add(&mut out, u32::from(*port), "TCP", "http", "");
    }
    if out.is_empty()
        && let Some((port, image)) = well_known_port(&svc.image)
    {
        add(&mut out, port, "TCP", "", "");
        cx.note(
            NoteKind::Approximated,
            format!("{path}.expose"),
            format!(
                "no port declared; {image} listens on {port}, so the Service {k8s:?} exposes it"
            ),
            format!("declare it (expose: [\"{port}\"]) so the export does not guess"),
        );
    }
    out
}

/// Images whose port everyone knows.
fn well_known_port(image: &str) -> Option<(u32, &'static str)> {
    let without_tag = image.split(['@']).next().unwrap_or(image);
    let last = without_tag.rsplit('/').next().unwrap_or(without_tag);
    let repo = last.split(':').next().unwrap_or(last);
    let known: &[(&[&str], u32, &str)] = &[
        (&["postgres", "postgresql", "postgis"], 5432, "PostgreSQL"),
        (&["mysql", "mariadb", "percona"], 3306, "MySQL"),
        (&["redis", "valkey", "keydb"], 6379, "Redis"),
        (&["mongo", "mongodb"], 27017, "MongoDB"),
        (&["memcached"], 11211, "memcached"),
        (&["rabbitmq"], 5672, "RabbitMQ"),
        (&["nats"], 4222, "NATS"),
        (&["elasticsearch", "opensearch"], 9200, "Elasticsearch"),
        (
            &["nginx", "httpd", "caddy", "traefik"],
            80,
            "the web server",
        ),
    ];
    known
        .iter()
        .find(|(names, _, _)| names.contains(&repo))
        .map(|(_, port, what)| (*port, *what))
}

/// The Service of a service with ports (and one per network alias). Returns whether one was
/// made.
pub(super) fn service(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) -> bool {
    let path = format!("services.{name}");
    let ports = cx.ports.get(name).cloned().unwrap_or_default();
    let k8s = cx.name(name);
    if ports.is_empty() {
        let reached_by: Vec<&String> = cx
            .stack
            .project
            .services
            .iter()
            .filter(|(_, s)| {
                s.depends_on
                    .get(name)
                    .is_some_and(|d| d.condition != "service_completed_successfully")
            })
            .map(|(n, _)| n)
            .collect();
        if !reached_by.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                &path,
                format!(
                    "declares no port, so there is no Service {k8s:?}: {} cannot reach it by name",
                    reached_by
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!(
                    "declare the ports it listens on (expose: [\"PORT\"]) under services.{name}"
                ),
            );
        }
        return false;
    }
    let headless = svc
        .deploy
        .as_ref()
        .is_some_and(|d| d.endpoint_mode == "dnsrr");
    let spec = ServiceSpec {
        selector: Some(cx.selector(name)),
        cluster_ip: headless.then(|| "None".to_owned()),
        ports: Some(
            ports
                .iter()
                .map(|p| ServicePort {
                    name: Some(p.name.clone()),
                    port: i32::try_from(p.port).unwrap_or(0),
                    target_port: Some(IntOrString::Int(i32::try_from(p.port).unwrap_or(0))),
                    protocol: Some(p.protocol.clone()),
                    app_protocol: p.app_protocol.clone(),
                    ..ServicePort::default()
                })
                .collect(),
        ),
        ..ServiceSpec::default()
    };
    let own = cx.unique("Service", &k8s);
    cx.push(Object::Service(Service {
        metadata: cx.meta(&own, &[(labels::NAME, &k8s)]),
        spec: Some(spec.clone()),
        ..Service::default()
    }));
    let aliases: BTreeSet<&String> = svc
        .networks
        .values()
        .flatten()
        .flat_map(|n| &n.aliases)
        .collect();
    for alias in aliases {
        let wanted = names::service_name(alias);
        let taken = cx.names.values().any(|n| *n == wanted);
        let object = cx.unique("Service", &wanted);
        if taken || object != wanted {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.networks"),
                format!("network alias {alias:?} clashes with another name in the namespace"),
                "rename the alias",
            );
            continue;
        }
        if object != *alias {
            cx.note(
                NoteKind::Approximated,
                format!("{path}.networks"),
                format!(
                    "network alias {alias:?} is not a valid Service name; other pods reach it \
                     as {object:?}"
                ),
                format!("replace {alias:?} with {object:?} where other services use it"),
            );
        }
        cx.push(Object::Service(Service {
            metadata: cx.meta(&object, &[(labels::NAME, &k8s)]),
            spec: Some(spec.clone()),
            ..Service::default()
        }));
    }
    true
}

/// One Ingress per route.
pub(super) fn routes(cx: &mut Context<'_>) {
    for (key, route) in &cx.stack.skiff.routes {
        let path = format!("x-skiff.routes.{key}");
        if !cx.has_workload(&route.service) {
            cx.note(
                NoteKind::NotCarried,
                &path,
                format!(
                    "routes to {:?}, which is not exported as a workload",
                    route.service
                ),
                "export the service (give it an image), or remove the route",
            );
            continue;
        }
        let name = cx.unique("Ingress", &names::dns_label(key));
        let mut metadata = cx.meta(&name, &[]);
        let tls = match route.tls {
            Tls::Off => None,
            Tls::Auto | Tls::SelfSigned => {
                let secret = names::suffixed(&name, "tls");
                let (issuer, message) = if route.tls == Tls::Auto {
                    (
                        cx.options.cluster_issuer.clone(),
                        format!(
                            "tls: auto asks cert-manager's ClusterIssuer {:?} for the certificate \
                             in Secret {secret:?}",
                            cx.options.cluster_issuer
                        ),
                    )
                } else {
                    (
                        "selfsigned".to_owned(),
                        format!(
                            "tls: self_signed asks cert-manager's ClusterIssuer \"selfsigned\" \
                             for the certificate in Secret {secret:?}"
                        ),
                    )
                };
                metadata.annotations = Some(BTreeMap::from([(
                    "cert-manager.io/cluster-issuer".to_owned(),
                    issuer,
                )]));
                cx.note(
                    NoteKind::ActionNeeded,
                    format!("{path}.tls"),
                    message,
                    "install cert-manager and that ClusterIssuer, or create the TLS Secret \
                     yourself (kubectl create secret tls)",
                );
                Some(vec![IngressTLS {
                    hosts: Some(vec![route.host.clone()]),
                    secret_name: Some(secret),
                }])
            }
        };
        let backend = IngressBackend {
            service: Some(IngressServiceBackend {
                name: cx.name(&route.service),
                port: Some(ServiceBackendPort {
                    number: Some(i32::from(route.port)),
                    name: None,
                }),
            }),
            resource: None,
        };
        cx.push(Object::Ingress(Ingress {
            metadata,
            spec: Some(IngressSpec {
                ingress_class_name: cx.options.ingress_class.clone(),
                rules: Some(vec![IngressRule {
                    host: Some(route.host.clone()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some(route.path.clone()),
                            path_type: "Prefix".to_owned(),
                            backend,
                        }],
                    }),
                }]),
                tls,
                ..IngressSpec::default()
            }),
            ..Ingress::default()
        }));
    }
}

fn pods_of(services: Vec<String>) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: labels::SERVICE.to_owned(),
            operator: "In".to_owned(),
            values: Some(services),
        }]),
        match_labels: None,
    }
}

fn port_rule(port: i32, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some(protocol.to_owned()),
        end_port: None,
    }
}

/// One NetworkPolicy per boundary: only its members and `allow_from` may reach its members;
/// with `egress: deny`, its members reach only pods of the namespace and DNS.
pub(super) fn boundaries(cx: &mut Context<'_>) {
    for (key, boundary) in &cx.stack.skiff.boundaries {
        let path = format!("x-skiff.boundaries.{key}");
        let known = |cx: &mut Context<'_>, list: &[String], field: &str| -> Vec<String> {
            let mut out = BTreeSet::new();
            for s in list {
                if cx.names.contains_key(s) {
                    out.insert(cx.name(s));
                } else {
                    cx.note(
                        NoteKind::NotCarried,
                        format!("{path}.{field}"),
                        format!("{s:?} is not a service of the stack"),
                        "name a service of the stack",
                    );
                }
            }
            out.into_iter().collect()
        };
        let members = known(cx, &boundary.services, "services");
        let from = known(cx, &boundary.allow_from, "allow_from");
        if members.is_empty() {
            continue;
        }
        let mut allowed: Vec<String> = members.iter().chain(&from).cloned().collect();
        allowed.sort();
        allowed.dedup();
        let mut ingress = vec![NetworkPolicyIngressRule {
            from: Some(vec![NetworkPolicyPeer {
                pod_selector: Some(pods_of(allowed)),
                ..NetworkPolicyPeer::default()
            }]),
            ports: None,
        }];
        let routed: BTreeSet<u16> = cx
            .stack
            .skiff
            .routes
            .values()
            .filter(|r| members.contains(&cx.name(&r.service)))
            .map(|r| r.port)
            .collect();
        if !routed.is_empty() {
            ingress.push(NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(
                    routed
                        .iter()
                        .map(|p| port_rule(i32::from(*p), "TCP"))
                        .collect(),
                ),
            });
            cx.note(
                NoteKind::Approximated,
                &path,
                format!(
                    "routes reach into the boundary: the policy admits pods of every namespace \
                     on port{} {} so that the ingress controller can",
                    if routed.len() == 1 { "" } else { "s" },
                    routed
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "narrow the namespaceSelector to the ingress controller's namespace \
                 (kubernetes.io/metadata.name: ingress-nginx, ...)",
            );
        }
        let mut policy_types = vec!["Ingress".to_owned()];
        let egress = (boundary.egress == Egress::Deny).then(|| {
            policy_types.push("Egress".to_owned());
            vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(LabelSelector::default()),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: None,
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(LabelSelector::default()),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: Some(vec![port_rule(53, "UDP"), port_rule(53, "TCP")]),
                },
            ]
        });
        let name = cx.unique(
            "NetworkPolicy",
            &names::dns_label(&format!("boundary-{key}")),
        );
        cx.push(Object::NetworkPolicy(NetworkPolicy {
            metadata: cx.meta(&name, &[]),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(pods_of(members)),
                ingress: Some(ingress),
                egress,
                policy_types: Some(policy_types),
            }),
        }));
    }
    if !cx.stack.skiff.boundaries.is_empty() {
        cx.note(
            NoteKind::ActionNeeded,
            "x-skiff.boundaries",
            "NetworkPolicies are enforced only by a network plugin that supports them",
            "use a CNI that enforces NetworkPolicy (Calico, Cilium; k3s enforces them by default)",
        );
    }
}
