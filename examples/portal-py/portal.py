"""Harbor's portal, rendered as the Harbor Helm chart renders it
(`templates/portal/{configmap,deployment,service}.yaml`): an nginx serving the web UI.

Plain Python with no import but the standard library's `json`, so it runs the same
under CPython on a laptop and inside the WebAssembly component (`app.py` is the only
file that knows about the WIT bindings). Everything it reads comes from the contract in
`wit/renderer.wit`: the topology record (converted to plain dicts by `app.py`, field
names as the WIT spells them with `-` turned into `_`) and the HarborCluster `.spec` as
JSON (its schema is the CRD's, `crds/harborclusters.yaml`).

Output is deterministic: each object is compact JSON whose keys are `apiVersion`,
`kind`, then every key in code-point order at every depth. That is the order in which
the Rust portal's serialiser writes Kubernetes objects, so both portals give the same
bytes for the same input.
"""

import json

NAME = "berth-portal-py"
VERSION = "0.1.0"
COMPONENT = "portal"
HARBOR_VERSIONS = ["2.13", "2.14", "2.15"]
CONTRACT_VERSION = "0.4.0"

# The uid/gid Harbor's photon images run as (the chart's securityContext).
HARBOR_UID = 10000

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1


class RenderError(Exception):
    """Base of the three ways a render fails; `app.py` maps them to `render-error`."""


class InvalidSpec(RenderError):
    """The user's spec is wrong; `field` names the offending field (`spec.portal.replicas`)."""

    def __init__(self, field, message):
        super().__init__(f"invalid spec: {field}: {message}")
        self.field = field
        self.message = message


class Unsupported(RenderError):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Internal(RenderError):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def describe():
    """The plugin-description record, as a dict."""
    return {
        "name": NAME,
        "version": VERSION,
        "component": COMPONENT,
        "harbor_versions": list(HARBOR_VERSIONS),
        "contract_version": CONTRACT_VERSION,
    }


# --- the spec ------------------------------------------------------------------------


def _type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a floating point number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a sequence"
    return "a map"


def _expect(value, kind, field):
    """Refuses a value of the wrong JSON type, naming the field. `None` (absent or null)
    is always let through: every field read here is optional or defaulted."""
    if value is None:
        return None
    ok = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "i32": lambda v: isinstance(v, int) and not isinstance(v, bool) and I32_MIN <= v <= I32_MAX,
    }[kind]
    if not ok(value):
        wanted = {"object": "a map", "array": "a sequence", "string": "a string", "bool": "a boolean", "i32": "an i32"}[kind]
        raise InvalidSpec(field, f"invalid type: {_type_name(value)}, expected {wanted}")
    return value


def _string_map(value, field):
    value = _expect(value, "object", field) or {}
    for key, item in value.items():
        _expect(item, "string", f"{field}.{key}")
        if item is None:
            raise InvalidSpec(f"{field}.{key}", "invalid type: null, expected a string")
    return value


def _object_list(value, field):
    value = _expect(value, "array", field) or []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidSpec(f"{field}[{i}]", f"invalid type: {_type_name(item)}, expected a map")
    return value


def parse_spec(spec_json):
    """The parts of the spec the portal reads, type-checked with the field named.

    The host has already parsed the whole spec against the CRD (and refused unknown
    fields) before any plugin runs, so these checks only matter to a caller that hands
    the plugin JSON of its own."""
    try:
        spec = json.loads(spec_json)
    except ValueError as e:
        raise InvalidSpec("spec", str(e)) from None
    if not isinstance(spec, dict):
        raise InvalidSpec("spec", f"invalid type: {_type_name(spec)}, expected a map")
    for required in ("version", "externalURL"):
        if required not in spec:
            raise InvalidSpec("spec", f"missing field `{required}`")
        _expect(spec[required], "string", f"spec.{required}")
        if spec[required] is None:
            raise InvalidSpec(f"spec.{required}", "invalid type: null, expected a string")

    ip = _expect(spec.get("ipFamily"), "object", "spec.ipFamily") or {}
    ipv4 = _expect(ip.get("ipv4"), "bool", "spec.ipFamily.ipv4")
    ipv6 = _expect(ip.get("ipv6"), "bool", "spec.ipFamily.ipv6")

    raw = _expect(spec.get("portal"), "object", "spec.portal") or {}
    at = "spec.portal"
    portal = {
        "replicas": _expect(raw.get("replicas"), "i32", f"{at}.replicas"),
        "resources": _expect(raw.get("resources"), "object", f"{at}.resources"),
        "nodeSelector": _string_map(raw.get("nodeSelector"), f"{at}.nodeSelector"),
        "tolerations": _object_list(raw.get("tolerations"), f"{at}.tolerations"),
        "affinity": _expect(raw.get("affinity"), "object", f"{at}.affinity"),
        "topologySpreadConstraints": _object_list(raw.get("topologySpreadConstraints"), f"{at}.topologySpreadConstraints"),
        "priorityClassName": _expect(raw.get("priorityClassName"), "string", f"{at}.priorityClassName"),
        "podAnnotations": _string_map(raw.get("podAnnotations"), f"{at}.podAnnotations"),
        "podLabels": _string_map(raw.get("podLabels"), f"{at}.podLabels"),
        "serviceAccountName": _expect(raw.get("serviceAccountName"), "string", f"{at}.serviceAccountName"),
        "env": _object_list(raw.get("env"), f"{at}.env"),
        "image": _expect(raw.get("image"), "string", f"{at}.image"),
    }
    return {
        # serde's defaults: both families on when unset.
        "ipv4": True if ipv4 is None else ipv4,
        "ipv6": True if ipv6 is None else ipv6,
        "portal": portal,
    }


# --- Kubernetes helpers (the Rust SDK's k8s.rs, for the fields the portal uses) --------


def _kubernetes(value):
    """A Kubernetes value from the spec, as its typed form would serialise: optional
    fields that are null are left out."""
    if isinstance(value, dict):
        return {k: _kubernetes(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_kubernetes(v) for v in value]
    return value


def meta(name, labels):
    return {"name": name, "labels": dict(labels)}


def restricted_container_security():
    """PSS-restricted: non-root, no privilege escalation, every capability dropped."""
    return {
        "runAsNonRoot": True,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid):
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path, port, scheme, initial_delay, period):
    return {
        "httpGet": {"path": path, "port": port, "scheme": scheme.upper()},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
    }


def config_map(name, labels, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, labels), "data": data}


def cluster_ip_service(name, labels, selector, ports):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, labels),
        "spec": {"selector": dict(selector), "ports": ports},
    }


def service_port(name, port, target):
    return {"name": name, "port": port, "targetPort": target, "protocol": "TCP"}


def replicas(spec, field):
    n = spec["replicas"]
    if n is None:
        return 1
    if n >= 0:
        return n
    raise InvalidSpec(f"{field}.replicas", f"must be 0 or more, got {n}")


def apply_pod_settings(pod, spec, topology):
    """A component's scheduling and identity knobs, and the cluster's pull secrets."""
    if spec["nodeSelector"]:
        pod["nodeSelector"] = dict(spec["nodeSelector"])
    if spec["tolerations"]:
        pod["tolerations"] = _kubernetes(spec["tolerations"])
    if spec["affinity"] is not None:
        pod["affinity"] = _kubernetes(spec["affinity"])
    if spec["topologySpreadConstraints"]:
        pod["topologySpreadConstraints"] = _kubernetes(spec["topologySpreadConstraints"])
    if spec["priorityClassName"] is not None:
        pod["priorityClassName"] = spec["priorityClassName"]
    if spec["serviceAccountName"] is not None:
        pod["serviceAccountName"] = spec["serviceAccountName"]
    pod["automountServiceAccountToken"] = False
    if topology["image_pull_secrets"]:
        pod["imagePullSecrets"] = [{"name": name} for name in topology["image_pull_secrets"]]


def deployment(name, labels, selector, replica_count, spec, pod):
    """Pod labels are the user's extra labels with the selector over them (so the
    Deployment always matches its own pods)."""
    pod_labels = dict(spec["podLabels"])
    pod_labels.update(selector)
    template_meta = {"labels": pod_labels}
    if spec["podAnnotations"]:
        template_meta["annotations"] = dict(spec["podAnnotations"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, labels),
        "spec": {
            "replicas": replica_count,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def disruption_budget(name, labels, selector, replica_count):
    """A PodDisruptionBudget for more than one replica (node drains evict one pod at a
    time); None for one, where a budget would block every drain."""
    if replica_count <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, labels),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
    }


def to_json(obj):
    """Compact JSON: apiVersion and kind first, then keys in code-point order at every
    depth (the Rust portal's order), non-ASCII written as is."""
    head = {"apiVersion": obj["apiVersion"], "kind": obj["kind"]}
    rest = {k: v for k, v in obj.items() if k not in head}
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    if not rest:
        return text
    tail = json.dumps(rest, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text[:-1] + "," + tail[1:]


# --- the render ------------------------------------------------------------------------


def _major_minor(version):
    """"2.15.1" -> "2.15"; None unless three all-digit parts."""
    parts = version.split(".", 2)
    if len(parts) != 3:
        return None
    if not all(p and all("0" <= c <= "9" for c in p) for p in parts):
        return None
    return parts[0] + "." + parts[1]


def _rust_debug(text):
    """A string quoted as Rust's `{:?}` quotes it (for the same Internal messages)."""
    return json.dumps(text, ensure_ascii=False)


def _pairs(key_values):
    return {kv["key"]: kv["value"] for kv in key_values}


def nginx_conf(port, ipv4, ipv6):
    """The chart's portal nginx.conf (plain HTTP)."""
    listen = ""
    if ipv4:
        listen += f"        listen {port};\n"
    if ipv6:
        listen += f"        listen [::]:{port};\n"
    return (
        "worker_processes auto;\n"
        "pid /tmp/nginx.pid;\n"
        "events {\n"
        "    worker_connections  1024;\n"
        "}\n"
        "http {\n"
        "    client_body_temp_path /tmp/client_body_temp;\n"
        "    proxy_temp_path /tmp/proxy_temp;\n"
        "    fastcgi_temp_path /tmp/fastcgi_temp;\n"
        "    uwsgi_temp_path /tmp/uwsgi_temp;\n"
        "    scgi_temp_path /tmp/scgi_temp;\n"
        "    server {\n"
        f"{listen}"
        "        server_name  localhost;\n"
        "        root   /usr/share/nginx/html;\n"
        "        index  index.html index.htm;\n"
        "        include /etc/nginx/mime.types;\n"
        "        gzip on;\n"
        "        gzip_min_length 1000;\n"
        "        gzip_proxied expired no-cache no-store private auth;\n"
        "        gzip_types text/plain text/css application/json application/javascript "
        "application/x-javascript text/xml application/xml application/xml+rss text/javascript;\n"
        "        location /devcenter-api-2.0 {\n"
        "            try_files $uri $uri/ /swagger-ui-index.html;\n"
        "        }\n"
        "        location / {\n"
        "            try_files $uri $uri/ /index.html;\n"
        "        }\n"
        "        location = /index.html {\n"
        '            add_header Cache-Control "no-store, no-cache, must-revalidate";\n'
        "        }\n"
        "    }\n"
        "}\n"
    )


def render(harbor_version, spec_json, topology):
    """Renders the portal: a list of JSON objects (ConfigMap, Deployment, Service, and a
    PodDisruptionBudget for more than one replica).

    `topology` is the WIT `topology` record as dicts and lists. Raises InvalidSpec,
    Unsupported or Internal, in the order the Rust portal checks: spec, Harbor version,
    the portal's topology, replicas, IP families, image."""
    parsed = parse_spec(spec_json)
    if _major_minor(harbor_version) not in HARBOR_VERSIONS:
        raise Unsupported(f"{NAME} {VERSION} renders Harbor {', '.join(HARBOR_VERSIONS)}, not {harbor_version}")
    spec = parsed["portal"]

    portal = next((c for c in topology["components"] if c["component"] == COMPONENT), None)
    if portal is None:
        raise Internal(f"the host's topology has no component {_rust_debug(COMPONENT)}")
    replica_count = replicas(spec, "spec.portal")
    ipv4, ipv6 = parsed["ipv4"], parsed["ipv6"]
    if not ipv4 and not ipv6:
        raise InvalidSpec(
            "spec.ipFamily", "at least one of ipv4 and ipv6 must be enabled, or the portal listens nowhere"
        )

    # The host resolves labels and selector for every component; the plugin only uses them.
    labels = _pairs(portal["labels"])
    selector = _pairs(portal["selector"])

    config = config_map(portal["name"], labels, {"nginx.conf": nginx_conf(portal["container_port"], ipv4, ipv6)})

    image = spec["image"]
    if image is None:
        image = next((i["image"] for i in portal["images"] if i["container"] == COMPONENT), None)
        if image is None:
            raise Internal(
                f"the host's topology has no image for container {_rust_debug(COMPONENT)} of {portal['name']}"
            )

    port = portal["container_port"]
    container = {
        "name": COMPONENT,
        "image": image,
        "imagePullPolicy": topology["image_pull_policy"],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "livenessProbe": http_probe("/", port, portal["scheme"], 300, 10),
        "readinessProbe": http_probe("/", port, portal["scheme"], 1, 10),
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "portal-config", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf"}],
    }
    if spec["resources"] is not None:
        container["resources"] = _kubernetes(spec["resources"])
    if spec["env"]:
        container["env"] = _kubernetes(spec["env"])

    pod = {
        "containers": [container],
        "securityContext": pod_security(HARBOR_UID),
        "volumes": [{"name": "portal-config", "configMap": {"name": portal["name"]}}],
    }
    apply_pod_settings(pod, spec, topology)

    workload = deployment(portal["name"], labels, selector, replica_count, spec, pod)
    service = cluster_ip_service(
        portal["service_name"],
        labels,
        selector,
        [service_port(portal["scheme"], portal["service_port"], port)],
    )
    objects = [to_json(config), to_json(workload), to_json(service)]
    budget = disruption_budget(portal["name"], labels, selector, replica_count)
    if budget is not None:
        objects.append(to_json(budget))
    return objects
