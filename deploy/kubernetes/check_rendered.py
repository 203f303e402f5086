"""The checks validate.sh runs on the rendered manifests, in its virtualenv.

`manifests`: every document against the Kubernetes OpenAPI schema of one pinned version
(kubernetes-validate, strict: unknown fields are errors), custom resources against the schemas
in schemas/, and the rules this deployment depends on that neither tool knows (below). A kind
with no schema at all is an error, never a silent pass.

`checkov`: reads checkov's JSON report and fails on every failed check that the skip list
given on the command line does not name.
"""

import argparse
import fnmatch
import json
import pathlib
import re
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

# Custom resources kubernetes-validate cannot know, and the schema file each is checked with.
CUSTOM_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
}

CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole",
                  "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass"}

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

SERVICE_UID = 65532

# A $(NAME) reference Kubernetes expands in env values, command and args; $$ escapes it.
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def load(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def var_refs(text):
    """The $(NAME) references in `text`, leaving out the escaped $$(NAME)."""
    return VAR_REF.findall(text.replace("$$", "\0"))


def pod_rules(where, kind, template, config_maps):
    """The rules every pod of the suite follows; yields what is wrong."""
    meta = template.get("metadata", {})
    spec = template.get("spec", {})
    if spec.get("enableServiceLinks") is not False:
        # Service links would put LODESTAR_<SERVICE>_PORT=tcp://... in the environment, the
        # prefix every flag of the services is read from.
        yield f"{where}: set enableServiceLinks: false"
    if spec.get("automountServiceAccountToken") is not False:
        yield f"{where}: set automountServiceAccountToken: false"
    sc = spec.get("securityContext", {})
    if sc.get("runAsUser") != SERVICE_UID or sc.get("runAsGroup") != SERVICE_UID:
        yield f"{where}: the pod must run as uid and gid {SERVICE_UID}"
    for volume in spec.get("volumes", []):
        secret = volume.get("secret")
        if secret is None:
            continue
        # The services refuse secret files others can read; 0400 is what they are given.
        modes = [secret.get("defaultMode")] + [i["mode"] for i in secret.get("items", []) if "mode" in i]
        if any(m != 0o400 for m in modes):
            yield f"{where}: secret volume {volume['name']} must have defaultMode 0400"
    if kind == "Job":
        annotations = meta.get("annotations", {})
        if annotations.get("sidecar.istio.io/inject") != "false" or annotations.get("linkerd.io/inject") != "disabled":
            # An injected proxy never exits, so the Job would never complete.
            yield f"{where}: a Job's pod needs sidecar.istio.io/inject: \"false\" and linkerd.io/inject: disabled"
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        yield from env_rules(f"{where} container {container['name']}", container, config_maps)


def env_rules(where, container, config_maps):
    """Every $(NAME) must name a variable Kubernetes can expand: in an env value one defined
    before it, in command and args any of the container's. An unknown one is left as it is,
    and the service would get the literal text."""
    defined = set()
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref and ref["name"] in config_maps:
            defined |= set(config_maps[ref["name"]])
    for var in container.get("env", []):
        for name in var_refs(var.get("value", "")):
            if name not in defined:
                yield f"{where}: env {var['name']} uses $({name}), which is not defined before it"
        defined.add(var["name"])
    for text in container.get("command", []) + container.get("args", []):
        for name in var_refs(text):
            if name not in defined:
                yield f"{where}: $({name}) in command or args is no variable of the container"


def service_rules(where, service):
    """Port names and appProtocol that Istio and Linkerd read the protocol from."""
    for port in service["spec"].get("ports", []):
        name = port.get("name", "")
        prefix = name.split("-", 1)[0]
        if prefix not in ("grpc", "http") or port.get("appProtocol") != prefix:
            yield f"{where}: port {name or port.get('port')} needs a grpc-/http- name and the matching appProtocol"


def matches(selector, labels):
    """Whether a matchLabels selector (or a Service's plain selector) takes these labels."""
    wanted = selector.get("matchLabels", selector) if "matchExpressions" not in selector else None
    if wanted is None:
        return True  # expressions are not used here; do not guess
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def wiring_rules(name, docs):
    """What connects the objects, which no schema sees: selectors that select pods, named
    ports that exist where they are looked up."""
    pods = []  # (labels, {port name}) of every pod template
    for doc in docs:
        if doc.get("kind") in POD_TEMPLATE_KINDS:
            template = doc["spec"]["template"]
            containers = template["spec"].get("containers", [])
            ports = {p["name"] for c in containers for p in c.get("ports", []) if "name" in p}
            pods.append((template.get("metadata", {}).get("labels", {}), ports))
            for c in containers:
                own = {p["name"] for p in c.get("ports", []) if "name" in p}
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    for handler in ("httpGet", "tcpSocket", "grpc"):
                        port = c.get(probe, {}).get(handler, {}).get("port")
                        if isinstance(port, str) and port not in own:
                            yield f"{name}: {doc['kind']}/{doc['metadata']['name']}: {probe} port {port} is no port of container {c['name']}"
    services = [d for d in docs if d.get("kind") == "Service"]
    for svc in services:
        where = f"{name}: Service/{svc['metadata']['name']}"
        selected = [ports for labels, ports in pods if matches(svc["spec"].get("selector", {}), labels)]
        if not selected:
            yield f"{where}: its selector matches no pod"
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and not all(target in ports for ports in selected):
                yield f"{where}: targetPort {target} is not a port of every pod it selects"
    for doc in docs:
        kind = doc.get("kind")
        where = f"{name}: {kind}/{doc.get('metadata', {}).get('name')}"
        if kind == "PodDisruptionBudget" and not any(matches(doc["spec"]["selector"], l) for l, _ in pods):
            yield f"{where}: its selector matches no pod"
        if kind == "NetworkPolicy":
            selector = doc["spec"]["podSelector"]
            if selector and not any(matches(selector, l) for l, _ in pods):
                yield f"{where}: its podSelector matches no pod"
        if kind == "ServiceMonitor":
            chosen = [s for s in services if matches(doc["spec"]["selector"], s["metadata"].get("labels", {}))]
            names = {p.get("name") for s in chosen for p in s["spec"].get("ports", [])}
            for endpoint in doc["spec"]["endpoints"]:
                if "port" in endpoint and endpoint["port"] not in names:
                    yield f"{where}: endpoint port {endpoint['port']} is on no Service it selects"


def check_manifests(args):
    schemas_dir = pathlib.Path(args.schemas)
    custom = {key: json.loads((schemas_dir / name).read_text()) for key, name in CUSTOM_SCHEMAS.items()}
    problems = []
    total = 0
    for path in args.files:
        docs = load(path)
        total += len(docs)
        name = pathlib.Path(path).name
        config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d.get("kind") == "ConfigMap"}
        custom_count = 0
        for doc in docs:
            kind = doc.get("kind", "?")
            where = f"{name}: {kind}/{doc.get('metadata', {}).get('name', '?')}"
            schema = custom.get((doc.get("apiVersion"), kind))
            if schema is not None:
                custom_count += 1
                validator = jsonschema.Draft202012Validator(schema)
                for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                    at = ".".join(str(p) for p in error.path) or "(top)"
                    problems.append(f"{where}: {at}: {error.message} (schemas/{CUSTOM_SCHEMAS[(doc['apiVersion'], kind)]})")
            else:
                try:
                    kubernetes_validate.validate(doc, args.kubernetes_version, strict=True)
                except ValidationError as e:
                    at = ".".join(str(p) for p in e.path) or "(top)"
                    problems.append(f"{where}: {at}: {e.message} (Kubernetes {e.version}, strict)")
                except SchemaNotFoundError as e:
                    problems.append(f"{where}: {e.message}: add a schema under schemas/ or drop the object")
            if kind not in CLUSTER_SCOPED and not doc.get("metadata", {}).get("namespace"):
                problems.append(f"{where}: no namespace (set namespace: in the kustomization)")
            if kind in POD_TEMPLATE_KINDS:
                problems.extend(pod_rules(where, kind, doc["spec"]["template"], config_maps))
            if kind == "Service":
                problems.extend(service_rules(where, doc))
        problems.extend(wiring_rules(name, docs))
        print(f"  {name}: {len(docs)} documents, {len(docs) - custom_count} against Kubernetes "
              f"{args.kubernetes_version} (strict), {custom_count} against schemas/")
    for p in problems:
        print(f"ERROR {p}")
    if problems:
        print(f"{len(problems)} problem(s) in {total} documents")
        return 1
    return 0


def check_checkov(args):
    skips = []
    for entry in args.skip:
        check_id, _, pattern = entry.partition(" ")
        skips.append((check_id, pattern.strip() or "*"))
    try:
        report = json.loads(pathlib.Path(args.report).read_text())
    except (OSError, ValueError) as e:
        print(f"ERROR checkov wrote no readable report ({e}); its output is above")
        return 1
    reports = report if isinstance(report, list) else [report]
    reports = [r for r in reports if r.get("check_type") == "kubernetes"]
    if not reports or not reports[0].get("summary", {}).get("resource_count"):
        print("ERROR checkov scanned no Kubernetes resource")
        return 1
    summary = reports[0]["summary"]
    if summary.get("parsing_errors"):
        print(f"ERROR checkov could not parse {summary['parsing_errors']} file(s)")
        return 1
    used = set()
    failed = []
    skipped = 0
    for check in reports[0]["results"].get("failed_checks", []):
        match = next((s for s in skips if s[0] == check["check_id"] and fnmatch.fnmatchcase(check["resource"], s[1])), None)
        if match:
            used.add(match)
            skipped += 1
        else:
            failed.append(check)
    for check in failed:
        print(f"ERROR {check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path'].lstrip('/')})")
    for s in skips:
        if s not in used:
            print(f"  note: skip {s[0]} {s[1]} matched nothing; remove it if it is no longer needed")
    print(f"  checkov {summary.get('checkov_version')}: {summary['passed']} passed, {len(failed)} failed, "
          f"{skipped} failed but on the skip list, {summary['resource_count']} resources")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("manifests")
    m.add_argument("--kubernetes-version", required=True)
    m.add_argument("--schemas", required=True)
    m.add_argument("files", nargs="+")
    c = sub.add_parser("checkov")
    c.add_argument("--report", required=True)
    c.add_argument("--skip", action="append", default=[], metavar="'CHECK_ID RESOURCE_GLOB'")
    args = parser.parse_args()
    return check_manifests(args) if args.command == "manifests" else check_checkov(args)


if __name__ == "__main__":
    sys.exit(main())
