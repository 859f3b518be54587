//! The Compose file format, one [`Rule`] per object type of the specification (the version
//! compose-go v2.9.1 validates with). Keys are listed in the order the specification
//! documents them.

use super::{Pattern, Rule, Types};

// Scalars.
const STRING: Rule = Rule::of(Types::STR);
const NUMBER: Rule = Rule::of(Types::NUM);
const INTEGER: Rule = Rule::of(Types::INT);
const BOOLEAN: Rule = Rule::of(Types::BOOL);
const NULL: Rule = Rule::of(Types::NULL);
/// Fields Compose casts from strings after interpolation also accept the string.
const BOOL_OR_STRING: Rule = Rule::of(Types::BOOL.or(Types::STR));
const INT_OR_STRING: Rule = Rule::of(Types::INT.or(Types::STR));
const NUMBER_OR_STRING: Rule = Rule::of(Types::NUM.or(Types::STR));
/// A mapping whose content is free.
const ANY_MAPPING: Rule = Rule::of(Types::OBJ);

// Shared shapes.
const LIST_OF_STRINGS: Rule = Rule::array(&STRING).unique();
const STRINGS: Rule = Rule::array(&STRING);
const STRING_OR_LIST: Rule = Rule::either(&[STRING, LIST_OF_STRINGS]);
/// `KEY: value` mapping or `KEY=value` list.
const LIST_OR_DICT: Rule = Rule::either(&[
    Rule::of(Types::OBJ)
        .keys(&[(
            Pattern::NotBlankLine,
            Rule::of(Types::STR.or(Types::NUM).or(Types::BOOL).or(Types::NULL)),
        )])
        .closed(),
    LIST_OF_STRINGS,
]);
const DRIVER_OPTS: Rule =
    Rule::of(Types::OBJ).keys(&[(Pattern::Line, Rule::of(Types::STR.or(Types::NUM)))]);
const COMMAND: Rule = Rule::either(&[NULL, STRING, STRINGS]);
const EXTRA_HOSTS: Rule = Rule::either(&[
    Rule::of(Types::OBJ)
        .keys(&[(Pattern::NotBlankLine, Rule::either(&[STRING, STRINGS]))])
        .closed(),
    LIST_OF_STRINGS,
]);
const ULIMITS: Rule = Rule::of(Types::OBJ).keys(&[(
    Pattern::Lower,
    Rule::either(&[
        INT_OR_STRING,
        Rule::object(&[("hard", INT_OR_STRING), ("soft", INT_OR_STRING)])
            .required(&["soft", "hard"])
            .closed()
            .extensible(),
    ]),
)]);
/// A service's `configs` and `secrets`.
const FILE_MOUNTS: Rule = Rule::array(&Rule::either(&[
    STRING,
    Rule::object(&[
        ("source", STRING),
        ("target", STRING),
        ("uid", STRING),
        ("gid", STRING),
        ("mode", NUMBER_OR_STRING),
    ])
    .closed()
    .extensible(),
]));
const SERVICE_HOOK: Rule = Rule::object(&[
    ("command", COMMAND),
    ("user", STRING),
    ("privileged", BOOL_OR_STRING),
    ("working_dir", STRING),
    ("environment", LIST_OR_DICT),
])
.required(&["command"])
.closed()
.extensible();
const ENV_FILE: Rule = Rule::either(&[
    STRING,
    Rule::array(&Rule::either(&[
        STRING,
        Rule::object(&[
            ("path", STRING),
            ("format", STRING),
            ("required", BOOL_OR_STRING),
        ])
        .required(&["path"])
        .closed(),
    ])),
]);
const LABEL_FILE: Rule = Rule::either(&[STRING, STRINGS]);
const DEVICE_REQUEST_KEYS: &[(&str, Rule)] = &[
    ("capabilities", LIST_OF_STRINGS),
    ("count", INT_OR_STRING),
    ("device_ids", LIST_OF_STRINGS),
    ("driver", STRING),
    ("options", LIST_OR_DICT),
];
/// `deploy.resources.reservations.devices`.
const DEVICE_REQUESTS: Rule = Rule::array(
    &Rule::object(DEVICE_REQUEST_KEYS)
        .required(&["capabilities"])
        .closed()
        .extensible(),
);
/// `gpus`: `all`, or device requests whose other keys are not checked.
const GPUS: Rule = Rule::either(&[
    Rule::one_of_strings(&["all"]),
    Rule::array(&Rule::object(DEVICE_REQUEST_KEYS)),
]);

const BLKIO_LIMITS: Rule =
    Rule::array(&Rule::object(&[("path", STRING), ("rate", INT_OR_STRING)]).closed());
const BLKIO_CONFIG: Rule = Rule::object(&[
    ("device_read_bps", BLKIO_LIMITS),
    ("device_read_iops", BLKIO_LIMITS),
    ("device_write_bps", BLKIO_LIMITS),
    ("device_write_iops", BLKIO_LIMITS),
    ("weight", INT_OR_STRING),
    (
        "weight_device",
        Rule::array(&Rule::object(&[("path", STRING), ("weight", INT_OR_STRING)]).closed()),
    ),
])
.closed();

const BUILD: Rule = Rule::either(&[
    STRING,
    Rule::object(&[
        ("context", STRING),
        ("dockerfile", STRING),
        ("dockerfile_inline", STRING),
        ("entitlements", STRINGS),
        ("args", LIST_OR_DICT),
        ("ssh", LIST_OR_DICT),
        ("labels", LIST_OR_DICT),
        ("cache_from", STRINGS),
        ("cache_to", STRINGS),
        ("no_cache", BOOL_OR_STRING),
        ("additional_contexts", LIST_OR_DICT),
        ("network", STRING),
        ("provenance", BOOL_OR_STRING),
        ("sbom", BOOL_OR_STRING),
        ("pull", BOOL_OR_STRING),
        ("target", STRING),
        ("shm_size", INT_OR_STRING),
        ("extra_hosts", EXTRA_HOSTS),
        ("isolation", STRING),
        ("privileged", BOOL_OR_STRING),
        ("secrets", FILE_MOUNTS),
        ("tags", STRINGS),
        ("ulimits", ULIMITS),
        ("platforms", STRINGS),
    ])
    .closed()
    .extensible(),
]);

const DEPENDS_ON: Rule = Rule::either(&[
    LIST_OF_STRINGS,
    Rule::of(Types::OBJ)
        .keys(&[(
            Pattern::Name,
            Rule::object(&[
                ("restart", BOOL_OR_STRING),
                ("required", BOOLEAN),
                (
                    "condition",
                    Rule::one_of_strings(&[
                        "service_started",
                        "service_healthy",
                        "service_completed_successfully",
                    ]),
                ),
            ])
            .required(&["condition"])
            .closed()
            .extensible(),
        )])
        .closed(),
]);

const DEVICES: Rule = Rule::array(&Rule::either(&[
    STRING,
    Rule::object(&[
        ("source", STRING),
        ("target", STRING),
        ("permissions", STRING),
    ])
    .required(&["source"])
    .closed()
    .extensible(),
]));

const EXTENDS: Rule = Rule::either(&[
    STRING,
    Rule::object(&[("service", STRING), ("file", STRING)])
        .required(&["service"])
        .closed(),
]);

const PROVIDER_OPTION: Rule = Rule::of(Types::STR.or(Types::NUM).or(Types::BOOL));
const PROVIDER: Rule = Rule::object(&[
    ("type", STRING),
    (
        "options",
        Rule::of(Types::OBJ).keys(&[(
            Pattern::Line,
            Rule::either(&[PROVIDER_OPTION, Rule::array(&PROVIDER_OPTION)]),
        )]),
    ),
])
.required(&["type"])
.closed()
.extensible();

const HEALTHCHECK: Rule = Rule::object(&[
    ("disable", BOOL_OR_STRING),
    ("interval", STRING),
    ("retries", NUMBER_OR_STRING),
    ("test", Rule::either(&[STRING, STRINGS])),
    ("timeout", STRING),
    ("start_period", STRING),
    ("start_interval", STRING),
])
.closed()
.extensible();

const LOGGING: Rule = Rule::object(&[
    ("driver", STRING),
    (
        "options",
        Rule::of(Types::OBJ).keys(&[(
            Pattern::Line,
            Rule::of(Types::STR.or(Types::NUM).or(Types::NULL)),
        )]),
    ),
])
.closed()
.extensible();

/// A service's `models`.
const SERVICE_MODELS: Rule = Rule::either(&[
    LIST_OF_STRINGS,
    Rule::of(Types::OBJ).keys(&[(
        Pattern::Name,
        Rule::either(&[
            Rule::object(&[("endpoint_var", STRING), ("model_var", STRING)])
                .closed()
                .extensible(),
            NULL,
        ]),
    )]),
]);

/// A service's `networks`.
const SERVICE_NETWORKS: Rule = Rule::either(&[
    LIST_OF_STRINGS,
    Rule::of(Types::OBJ)
        .keys(&[(
            Pattern::Name,
            Rule::either(&[
                Rule::object(&[
                    ("aliases", LIST_OF_STRINGS),
                    ("interface_name", STRING),
                    ("ipv4_address", STRING),
                    ("ipv6_address", STRING),
                    ("link_local_ips", LIST_OF_STRINGS),
                    ("mac_address", STRING),
                    ("driver_opts", DRIVER_OPTS),
                    ("priority", NUMBER),
                    ("gw_priority", NUMBER),
                ])
                .closed()
                .extensible(),
                NULL,
            ]),
        )])
        .closed(),
]);

const PORTS: Rule = Rule::array(&Rule::either(&[
    NUMBER,
    STRING,
    Rule::object(&[
        ("name", STRING),
        ("mode", STRING),
        ("host_ip", STRING),
        ("target", INT_OR_STRING),
        ("published", INT_OR_STRING),
        ("protocol", STRING),
        ("app_protocol", STRING),
    ])
    .closed()
    .extensible(),
]))
.unique();

const VOLUME_MOUNT: Rule = Rule::object(&[
    (
        "type",
        Rule::one_of_strings(&["bind", "volume", "tmpfs", "cluster", "npipe", "image"]),
    ),
    ("source", STRING),
    ("target", STRING),
    ("read_only", BOOL_OR_STRING),
    ("consistency", STRING),
    (
        "bind",
        Rule::object(&[
            ("propagation", STRING),
            ("create_host_path", BOOL_OR_STRING),
            (
                "recursive",
                Rule::one_of_strings(&["enabled", "disabled", "writable", "readonly"]),
            ),
            ("selinux", Rule::one_of_strings(&["z", "Z"])),
        ])
        .closed()
        .extensible(),
    ),
    (
        "volume",
        Rule::object(&[
            ("labels", LIST_OR_DICT),
            ("nocopy", BOOL_OR_STRING),
            ("subpath", STRING),
        ])
        .closed()
        .extensible(),
    ),
    (
        "tmpfs",
        Rule::object(&[
            ("size", Rule::either(&[INTEGER.min(0), STRING])),
            ("mode", NUMBER_OR_STRING),
        ])
        .closed()
        .extensible(),
    ),
    (
        "image",
        Rule::object(&[("subpath", STRING)]).closed().extensible(),
    ),
])
.required(&["type"])
.closed()
.extensible();

const DEVELOP: Rule = Rule::object(&[(
    "watch",
    Rule::array(
        &Rule::object(&[
            ("ignore", STRING_OR_LIST),
            ("include", STRING_OR_LIST),
            ("path", STRING),
            (
                "action",
                Rule::one_of_strings(&["rebuild", "sync", "restart", "sync+restart", "sync+exec"]),
            ),
            ("target", STRING),
            ("exec", SERVICE_HOOK),
            ("initial_sync", BOOLEAN),
        ])
        .required(&["path", "action"])
        .closed()
        .extensible(),
    ),
)])
.or(Types::NULL)
.closed()
.extensible();

/// `deploy.update_config` and `deploy.rollback_config`.
const UPDATE_CONFIG: Rule = Rule::object(&[
    ("parallelism", INT_OR_STRING),
    ("delay", STRING),
    ("failure_action", STRING),
    ("monitor", STRING),
    ("max_failure_ratio", NUMBER_OR_STRING),
    (
        "order",
        Rule::one_of_strings(&["start-first", "stop-first"]),
    ),
])
.closed()
.extensible();

const RESOURCES: Rule = Rule::object(&[
    (
        "limits",
        Rule::object(&[
            ("cpus", NUMBER_OR_STRING),
            ("memory", STRING),
            ("pids", INT_OR_STRING),
        ])
        .closed()
        .extensible(),
    ),
    (
        "reservations",
        Rule::object(&[
            ("cpus", NUMBER_OR_STRING),
            ("memory", STRING),
            (
                "generic_resources",
                Rule::array(
                    &Rule::object(&[(
                        "discrete_resource_spec",
                        Rule::object(&[("kind", STRING), ("value", NUMBER_OR_STRING)])
                            .closed()
                            .extensible(),
                    )])
                    .closed()
                    .extensible(),
                ),
            ),
            ("devices", DEVICE_REQUESTS),
        ])
        .closed()
        .extensible(),
    ),
])
.closed()
.extensible();

const DEPLOY: Rule = Rule::object(&[
    ("mode", STRING),
    ("endpoint_mode", STRING),
    ("replicas", INT_OR_STRING),
    ("labels", LIST_OR_DICT),
    ("rollback_config", UPDATE_CONFIG),
    ("update_config", UPDATE_CONFIG),
    ("resources", RESOURCES),
    (
        "restart_policy",
        Rule::object(&[
            ("condition", STRING),
            ("delay", STRING),
            ("max_attempts", INT_OR_STRING),
            ("window", STRING),
        ])
        .closed()
        .extensible(),
    ),
    (
        "placement",
        Rule::object(&[
            ("constraints", STRINGS),
            (
                "preferences",
                Rule::array(&Rule::object(&[("spread", STRING)]).closed().extensible()),
            ),
            ("max_replicas_per_node", INT_OR_STRING),
        ])
        .closed()
        .extensible(),
    ),
])
.or(Types::NULL)
.closed()
.extensible();

const SERVICE: Rule = Rule::object(&[
    ("develop", DEVELOP),
    ("deploy", DEPLOY),
    ("annotations", LIST_OR_DICT),
    ("attach", BOOL_OR_STRING),
    ("build", BUILD),
    ("blkio_config", BLKIO_CONFIG),
    ("cap_add", LIST_OF_STRINGS),
    ("cap_drop", LIST_OF_STRINGS),
    ("cgroup", Rule::one_of_strings(&["host", "private"])),
    ("cgroup_parent", STRING),
    ("command", COMMAND),
    ("configs", FILE_MOUNTS),
    ("container_name", STRING.pattern(Pattern::ContainerName)),
    ("cpu_count", Rule::either(&[STRING, INTEGER.min(0)])),
    (
        "cpu_percent",
        Rule::either(&[STRING, INTEGER.min(0).max(100)]),
    ),
    ("cpu_shares", NUMBER_OR_STRING),
    ("cpu_quota", NUMBER_OR_STRING),
    ("cpu_period", NUMBER_OR_STRING),
    ("cpu_rt_period", NUMBER_OR_STRING),
    ("cpu_rt_runtime", NUMBER_OR_STRING),
    ("cpus", NUMBER_OR_STRING),
    ("cpuset", STRING),
    (
        "credential_spec",
        Rule::object(&[("config", STRING), ("file", STRING), ("registry", STRING)])
            .closed()
            .extensible(),
    ),
    ("depends_on", DEPENDS_ON),
    ("device_cgroup_rules", LIST_OF_STRINGS),
    ("devices", DEVICES),
    ("dns", STRING_OR_LIST),
    ("dns_opt", LIST_OF_STRINGS),
    ("dns_search", STRING_OR_LIST),
    ("domainname", STRING),
    ("entrypoint", COMMAND),
    ("env_file", ENV_FILE),
    ("label_file", LABEL_FILE),
    ("environment", LIST_OR_DICT),
    (
        "expose",
        Rule::array(&Rule::of(Types::STR.or(Types::NUM))).unique(),
    ),
    ("extends", EXTENDS),
    ("provider", PROVIDER),
    ("external_links", LIST_OF_STRINGS),
    ("extra_hosts", EXTRA_HOSTS),
    ("gpus", GPUS),
    (
        "group_add",
        Rule::array(&Rule::of(Types::STR.or(Types::NUM))).unique(),
    ),
    ("healthcheck", HEALTHCHECK),
    ("hostname", STRING),
    ("image", STRING),
    ("init", BOOL_OR_STRING),
    ("ipc", STRING),
    ("isolation", STRING),
    ("labels", LIST_OR_DICT),
    ("links", LIST_OF_STRINGS),
    ("logging", LOGGING),
    ("mac_address", STRING),
    ("mem_limit", NUMBER_OR_STRING),
    ("mem_reservation", INT_OR_STRING),
    ("mem_swappiness", INT_OR_STRING),
    ("memswap_limit", NUMBER_OR_STRING),
    ("network_mode", STRING),
    ("models", SERVICE_MODELS),
    ("networks", SERVICE_NETWORKS),
    ("oom_kill_disable", BOOL_OR_STRING),
    (
        "oom_score_adj",
        Rule::either(&[STRING, INTEGER.min(-1000).max(1000)]),
    ),
    ("pid", Rule::of(Types::STR.or(Types::NULL))),
    ("pids_limit", NUMBER_OR_STRING),
    ("platform", STRING),
    ("ports", PORTS),
    ("post_start", Rule::array(&SERVICE_HOOK)),
    ("pre_stop", Rule::array(&SERVICE_HOOK)),
    ("privileged", BOOL_OR_STRING),
    ("profiles", LIST_OF_STRINGS),
    ("pull_policy", STRING.pattern(Pattern::PullPolicy)),
    ("pull_refresh_after", STRING),
    ("read_only", BOOL_OR_STRING),
    ("restart", STRING),
    ("runtime", STRING),
    ("scale", INT_OR_STRING),
    ("security_opt", LIST_OF_STRINGS),
    ("shm_size", NUMBER_OR_STRING),
    ("secrets", FILE_MOUNTS),
    ("sysctls", LIST_OR_DICT),
    ("stdin_open", BOOL_OR_STRING),
    ("stop_grace_period", STRING),
    ("stop_signal", STRING),
    ("storage_opt", ANY_MAPPING),
    ("tmpfs", STRING_OR_LIST),
    ("tty", BOOL_OR_STRING),
    ("ulimits", ULIMITS),
    ("use_api_socket", BOOLEAN),
    ("user", STRING),
    ("uts", STRING),
    ("userns_mode", STRING),
    (
        "volumes",
        Rule::array(&Rule::either(&[STRING, VOLUME_MOUNT])).unique(),
    ),
    ("volumes_from", LIST_OF_STRINGS),
    ("working_dir", STRING),
])
.closed()
.extensible();

/// `external` of networks and volumes: a flag, or the legacy `{name: ...}` form.
const EXTERNAL: Rule = Rule::object(&[("name", STRING)])
    .or(Types::BOOL.or(Types::STR))
    .closed()
    .extensible();
/// `external` of secrets and configs, whose legacy form accepts other keys.
const EXTERNAL_OPEN: Rule = Rule::object(&[("name", STRING)]).or(Types::BOOL.or(Types::STR));

const NETWORK: Rule = Rule::object(&[
    ("name", STRING),
    ("driver", STRING),
    ("driver_opts", DRIVER_OPTS),
    (
        "ipam",
        Rule::object(&[
            ("driver", STRING),
            (
                "config",
                Rule::array(
                    &Rule::object(&[
                        ("subnet", STRING),
                        ("ip_range", STRING),
                        ("gateway", STRING),
                        (
                            "aux_addresses",
                            Rule::of(Types::OBJ)
                                .keys(&[(Pattern::Line, STRING)])
                                .closed(),
                        ),
                    ])
                    .closed()
                    .extensible(),
                ),
            ),
            (
                "options",
                Rule::of(Types::OBJ)
                    .keys(&[(Pattern::Line, STRING)])
                    .closed(),
            ),
        ])
        .closed()
        .extensible(),
    ),
    ("external", EXTERNAL),
    ("internal", BOOL_OR_STRING),
    ("enable_ipv4", BOOL_OR_STRING),
    ("enable_ipv6", BOOL_OR_STRING),
    ("attachable", BOOL_OR_STRING),
    ("labels", LIST_OR_DICT),
])
.or(Types::NULL)
.closed()
.extensible();

const VOLUME: Rule = Rule::object(&[
    ("name", STRING),
    ("driver", STRING),
    ("driver_opts", DRIVER_OPTS),
    ("external", EXTERNAL),
    ("labels", LIST_OR_DICT),
])
.or(Types::NULL)
.closed()
.extensible();

const SECRET: Rule = Rule::object(&[
    ("name", STRING),
    ("environment", STRING),
    ("file", STRING),
    ("external", EXTERNAL_OPEN),
    ("labels", LIST_OR_DICT),
    ("driver", STRING),
    ("driver_opts", DRIVER_OPTS),
    ("template_driver", STRING),
])
.closed()
.extensible();

const CONFIG: Rule = Rule::object(&[
    ("name", STRING),
    ("content", STRING),
    ("environment", STRING),
    ("file", STRING),
    ("external", EXTERNAL_OPEN),
    ("labels", LIST_OR_DICT),
    ("template_driver", STRING),
])
.closed()
.extensible();

const MODEL: Rule = Rule::object(&[
    ("name", STRING),
    ("model", STRING),
    ("context_size", INTEGER),
    ("runtime_flags", STRINGS),
])
.required(&["model"])
.closed()
.extensible();

const INCLUDE: Rule = Rule::either(&[
    STRING,
    Rule::object(&[
        ("path", STRING_OR_LIST),
        ("env_file", STRING_OR_LIST),
        ("project_directory", STRING),
    ])
    .closed(),
]);

/// The whole document.
pub(crate) static DOCUMENT: Rule = Rule::object(&[
    ("version", STRING),
    ("name", STRING),
    ("include", Rule::array(&INCLUDE)),
    (
        "services",
        Rule::of(Types::OBJ)
            .keys(&[(Pattern::Name, SERVICE)])
            .closed(),
    ),
    (
        "models",
        Rule::of(Types::OBJ).keys(&[(Pattern::Name, MODEL)]),
    ),
    (
        "networks",
        Rule::of(Types::OBJ).keys(&[(Pattern::Name, NETWORK)]),
    ),
    (
        "volumes",
        Rule::of(Types::OBJ)
            .keys(&[(Pattern::Name, VOLUME)])
            .closed(),
    ),
    (
        "secrets",
        Rule::of(Types::OBJ)
            .keys(&[(Pattern::Name, SECRET)])
            .closed(),
    ),
    (
        "configs",
        Rule::of(Types::OBJ)
            .keys(&[(Pattern::Name, CONFIG)])
            .closed(),
    ),
])
.closed()
.extensible();
