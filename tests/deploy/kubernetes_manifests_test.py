#!/usr/bin/python3
"""Shape checks of deploy/kubernetes/*.yaml (issue 12): no cluster is needed or used.

Loads every document of coordinator.yaml and agent-daemonset.yaml and checks what the mesh
needs of them: the agent's host networking, capabilities and host paths matching its own
arguments, the coordinator's state on a PersistentVolumeClaim, the Service's ports and selector,
and that every flag in the containers' arguments is one the built binaries list in --help.

  MESH_BIN             directory with mesh-coordinator, mesh-agent, meshctl
                       (default: ../../build/bin from this file); missing binaries: exit 77
  MESH_K8S_MANIFESTS   directory holding the two files (default: ../../deploy/kubernetes)

Prints one line per check ("ok ..." or "FAIL ...: why"), then "N passed, M failed"; exits 1 when
anything failed.
"""
import functools
import os
import posixpath
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MESH_BIN") or os.path.join(REPO, "build", "bin")
MANIFESTS = os.environ.get("MESH_K8S_MANIFESTS") or os.path.join(REPO, "deploy", "kubernetes")
FILES = ["coordinator.yaml", "agent-daemonset.yaml"]
NAMESPACE = "mesh-system"
# A line of the join script that runs meshctl (not one that only mentions it in a message).
MESHCTL_COMMAND = re.compile(r"^\s*(?:(?:if|then|else|elif|do|while|until|!)\s+)*meshctl\s")

try:
    import yaml
except ImportError:
    print("FAIL PyYAML is missing: apt-get install python3-yaml (scripts/install-deps.sh)")
    print("0 passed, 1 failed")
    sys.exit(1)

results = {"passed": 0, "failed": 0}


def check(name, fn):
    """Runs fn; it returns None (ok) or raises. Any exception is this check's failure."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - a missing key is as much a failure as a wrong value
        results["failed"] += 1
        detail = f"{type(e).__name__}: {e}" if not isinstance(e, AssertionError) else str(e)
        print(f"FAIL {name}: {detail}")
        return
    results["passed"] += 1
    print(f"ok {name}")


# --- the binaries' flags -------------------------------------------------------------------

HELP_FLAG = re.compile(r"^  (?:-[A-Za-z],)?(--[A-Za-z0-9][A-Za-z0-9-]*)")


@functools.lru_cache(maxsize=None)
def help_flags(binary, *subcommand):
    what = " ".join([binary, *subcommand, "--help"])
    out = subprocess.run([os.path.join(BIN, binary), *subcommand, "--help"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"{what} exited {out.returncode}: {out.stderr.strip()}")
    flags = {m.group(1) for line in out.stdout.splitlines() if (m := HELP_FLAG.match(line))}
    if "--help" not in flags:
        raise RuntimeError(f"no options found in {what}")
    return flags


def flags_in(args):
    """The --flags among args, without an =value."""
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def flag_value(args, flag):
    for i, a in enumerate(args):
        if a == flag:
            if i + 1 >= len(args):
                raise AssertionError(f"{flag} has no value")
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    raise AssertionError(f"{flag} not in the arguments {args}")


def assert_known(flags, known, what):
    unknown = sorted(set(flags) - known)
    assert not unknown, f"{what} does not list {', '.join(unknown)}"


# --- loading -------------------------------------------------------------------------------

def duplicate_keys(node, where):
    """Duplicate mapping keys (PyYAML keeps the last silently; kubectl refuses them)."""
    found = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else repr(key)
            if k in seen:
                found.append(f"{where}: key '{k}' twice (line {key.start_mark.line + 1})")
            seen.add(k)
            found += duplicate_keys(value, where)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += duplicate_keys(item, where)
    return found


def load(name):
    path = os.path.join(MANIFESTS, name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    dups = []
    for node in yaml.compose_all(text):
        dups += duplicate_keys(node, name)
    return docs, dups


def one(docs, kind, name=None):
    found = [d for d in docs if isinstance(d, dict) and d.get("kind") == kind and
             (name is None or d.get("metadata", {}).get("name") == name)]
    assert len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}"
    return found[0]


def container(pod, name):
    found = [c for c in pod.get("containers", []) if c.get("name") == name]
    assert len(found) == 1, f"expected one container {name}, found {len(found)}"
    return found[0]


def all_containers(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def argv(c):
    return [str(a) for a in c.get("command", []) + c.get("args", [])]


def volume(pod, name):
    found = [v for v in pod.get("volumes", []) if v.get("name") == name]
    assert len(found) == 1, f"expected one volume {name}, found {len(found)}"
    return found[0]


def covering_mount(c, path):
    """The mount a path inside the container resolves to: the longest mountPath above it."""
    best = None
    for m in c.get("volumeMounts", []):
        mp = posixpath.normpath(m["mountPath"])
        if path == mp or path.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) > len(posixpath.normpath(best["mountPath"])):
                best = m
    assert best is not None, f"{path} is on no volume mount of container {c.get('name')}"
    return best


def exact_mount(c, path):
    found = [m for m in c.get("volumeMounts", []) if posixpath.normpath(m["mountPath"]) == path]
    assert len(found) == 1, f"container {c.get('name')} has {len(found)} mounts at {path}"
    return found[0]


def host_path_mount(pod, c, path, host_path=None, writable=True):
    m = exact_mount(c, path)
    v = volume(pod, m["name"])
    assert "hostPath" in v, f"{path} is mounted from volume {m['name']}, not a hostPath"
    if host_path is not None:
        got = posixpath.normpath(v["hostPath"]["path"])
        assert got == host_path, f"{path} comes from the host's {got}, not {host_path}"
    if writable:
        assert not m.get("readOnly", False), f"{path} is mounted read-only"
    return v


def security(c):
    return c.get("securityContext") or {}


# --- the checks ----------------------------------------------------------------------------

def main():
    for b in ("mesh-coordinator", "mesh-agent", "meshctl"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            print(f"skip: {os.path.join(BIN, b)} is missing (build first, or set MESH_BIN)")
            return 77

    loaded = {}
    for name in FILES:
        try:
            loaded[name] = load(name)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL {name} loads: {type(e).__name__}: {e}")
            print("0 passed, 1 failed")
            return 1
    coord_docs, coord_dups = loaded["coordinator.yaml"]
    agent_docs, agent_dups = loaded["agent-daemonset.yaml"]
    docs = coord_docs + agent_docs

    def every_document_well_formed():
        for d in docs:
            assert isinstance(d, dict), f"a document is a {type(d).__name__}, not a mapping"
            for key in ("apiVersion", "kind"):
                assert d.get(key), f"a document has no {key}"
            assert d.get("metadata", {}).get("name"), f"a {d['kind']} has no metadata.name"
            if d["kind"] != "Namespace":
                ns = d["metadata"].get("namespace")
                assert ns == NAMESPACE, f"{d['kind']} {d['metadata']['name']} is in {ns}"
        dups = coord_dups + agent_dups
        assert not dups, "; ".join(dups)

    check("both files load; every document has apiVersion, kind, name, namespace mesh-system, "
          "no duplicate keys", every_document_well_formed)
    check("coordinator.yaml makes the namespace mesh-system",
          lambda: one(coord_docs, "Namespace", NAMESPACE))

    def every_image_set():
        n = 0
        for d in docs:
            pod = d.get("spec", {}).get("template", {}).get("spec")
            if pod is None:
                continue
            for c in all_containers(pod):
                image = c.get("image")
                assert isinstance(image, str) and image.strip(), \
                    f"{d['kind']} {d['metadata']['name']}: container {c.get('name')} has no image"
                n += 1
        assert n > 0, "no containers found"

    check("every container (init ones too) names an image", every_image_set)

    def present(docs, kind, name):
        try:
            return one(docs, kind, name)
        except Exception:  # noqa: BLE001 - reported by the check below; later checks fail too
            return {}

    def objects_present():
        one(coord_docs, "Deployment", "mesh-coordinator")
        one(coord_docs, "Service", "mesh-coordinator")
        one(agent_docs, "DaemonSet", "mesh-agent")

    check("coordinator.yaml has the Deployment and Service mesh-coordinator, "
          "agent-daemonset.yaml the DaemonSet mesh-agent", objects_present)

    # The coordinator.
    deploy = present(coord_docs, "Deployment", "mesh-coordinator")
    dpod = deploy.get("spec", {}).get("template", {}).get("spec", {})

    def coordinator_container():
        return container(dpod, "mesh-coordinator")

    def coordinator_args():
        args = argv(coordinator_container())
        assert args and posixpath.basename(args[0]) == "mesh-coordinator", \
            f"the container runs {args[:1]}, not mesh-coordinator"
        assert "serve" in args, "the arguments have no serve subcommand"
        return args[1:args.index("serve")], args[args.index("serve") + 1:]

    def coordinator_flags_known():
        before, after = coordinator_args()
        assert_known(flags_in(before), help_flags("mesh-coordinator"), "mesh-coordinator --help")
        assert_known(flags_in(after), help_flags("mesh-coordinator", "serve"),
                     "mesh-coordinator serve --help")

    check("the coordinator's flags are all in mesh-coordinator --help / serve --help",
          coordinator_flags_known)

    def one_replica_recreate():
        spec = deploy["spec"]
        assert spec.get("replicas") == 1, f"replicas {spec.get('replicas')}"
        assert spec.get("strategy", {}).get("type") == "Recreate", "strategy is not Recreate"

    check("the Deployment runs 1 replica with strategy Recreate", one_replica_recreate)

    def state_on_pvc():
        before, _ = coordinator_args()
        state = posixpath.normpath(flag_value(before, "--state-dir"))
        m = covering_mount(coordinator_container(), state)
        assert not m.get("readOnly", False), f"{m['mountPath']} is mounted read-only"
        v = volume(dpod, m["name"])
        assert "persistentVolumeClaim" in v, \
            f"--state-dir {state} is on volume {m['name']}, not a PersistentVolumeClaim"
        claim = v["persistentVolumeClaim"]["claimName"]
        pvc = one(coord_docs, "PersistentVolumeClaim", claim)
        modes = pvc["spec"].get("accessModes", [])
        assert "ReadWriteOnce" in modes, f"PVC {claim} access modes {modes}"
        assert pvc["spec"]["resources"]["requests"]["storage"], f"PVC {claim} has no size"

    check("the coordinator's --state-dir is on a ReadWriteOnce PersistentVolumeClaim",
          state_on_pvc)

    def coordinator_unprivileged():
        sc = dict(dpod.get("securityContext") or {})
        sc.update(security(coordinator_container()))
        assert sc.get("runAsNonRoot") is True, "runAsNonRoot is not true"
        assert sc.get("runAsUser", 0) != 0, "runs as uid 0"
        assert sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation not false"
        assert sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem not true"
        caps = sc.get("capabilities") or {}
        assert "ALL" in caps.get("drop", []), "capabilities do not drop ALL"
        assert not caps.get("add"), f"capabilities add {caps.get('add')}"
        assert not sc.get("privileged", False), "privileged"

    check("the coordinator runs as non-root, no capabilities, read-only root filesystem",
          coordinator_unprivileged)

    def probes_and_resources():
        c = coordinator_container()
        for probe in ("readinessProbe", "livenessProbe"):
            assert c.get(probe), f"no {probe}"
        assert c.get("resources", {}).get("requests"), "no resource requests"
        assert c.get("resources", {}).get("limits"), "no resource limits"

    check("the coordinator has readiness and liveness probes, requests and limits",
          probes_and_resources)

    service = present(coord_docs, "Service", "mesh-coordinator")

    def container_port(c, target, protocol):
        for p in c.get("ports", []):
            if p.get("protocol", "TCP") != protocol:
                continue
            if target == p.get("containerPort") or target == p.get("name"):
                return p["containerPort"]
        raise AssertionError(f"targetPort {target}/{protocol} is no port of the container")

    def service_port(port, protocol):
        for p in service["spec"].get("ports", []):
            if p.get("port") == port and p.get("protocol", "TCP") == protocol:
                target = p.get("targetPort", port)
                got = container_port(coordinator_container(), target, protocol)
                assert got == port, f"{protocol} {port} goes to the container's {got}"
                return
        raise AssertionError(f"the Service has no {protocol} port {port}")

    def service_ports():
        service_port(7443, "TCP")
        service_port(3478, "UDP")
        service_port(3479, "UDP")
        _, after = coordinator_args()
        listen = flag_value(after, "--listen") if "--listen" in flags_in(after) else "0.0.0.0:7443"
        assert listen.rsplit(":", 1)[1] == "7443", f"serve --listen {listen}, not port 7443"
        if "--stun-listen" in flags_in(after):
            stun = flag_value(after, "--stun-listen")
            assert stun.rsplit(":", 1)[-1] == "3478", f"serve --stun-listen {stun}, not 3478"

    check("the Service exposes TCP 7443 and UDP 3478, 3479 onto the coordinator's ports",
          service_ports)

    def selector_matches():
        selector = service["spec"].get("selector") or {}
        labels = deploy["spec"]["template"]["metadata"].get("labels") or {}
        assert selector, "the Service has no selector"
        missing = {k: v for k, v in selector.items() if labels.get(k) != v}
        assert not missing, f"pod labels {labels} lack the Service's {missing}"
        match = deploy["spec"]["selector"].get("matchLabels") or {}
        assert match and all(labels.get(k) == v for k, v in match.items()), \
            f"the Deployment's selector {match} does not match its pod labels {labels}"

    check("the Service's selector matches the Deployment's pod labels", selector_matches)

    # The agent.
    ds = present(agent_docs, "DaemonSet", "mesh-agent")
    apod = ds.get("spec", {}).get("template", {}).get("spec", {})

    def agent_container():
        return container(apod, "mesh-agent")

    def agent_args():
        args = argv(agent_container())
        assert args and posixpath.basename(args[0]) == "mesh-agent", \
            f"the container runs {args[:1]}, not mesh-agent"
        return args[1:]

    def host_network():
        assert apod.get("hostNetwork") is True, "hostNetwork is not true"
        assert apod.get("dnsPolicy") == "ClusterFirstWithHostNet", \
            f"dnsPolicy {apod.get('dnsPolicy')}"

    check("the DaemonSet has hostNetwork true, dnsPolicy ClusterFirstWithHostNet", host_network)

    def agent_capabilities():
        sc = security(agent_container())
        caps = sc.get("capabilities") or {}
        added = caps.get("add") or []
        assert sorted(added) == ["NET_ADMIN", "NET_RAW"], f"capabilities add {added}"
        assert "ALL" in (caps.get("drop") or []), "capabilities do not drop ALL"
        assert sc.get("privileged", False) is False, "the agent is privileged"

    check("the agent adds exactly NET_ADMIN and NET_RAW, drops ALL, is not privileged",
          agent_capabilities)

    check("the agent's flags are all in mesh-agent --help",
          lambda: assert_known(flags_in(agent_args()), help_flags("mesh-agent"),
                               "mesh-agent --help"))

    def agent_state():
        state = posixpath.normpath(flag_value(agent_args(), "--state-dir"))
        host_path_mount(apod, agent_container(), state)

    check("the agent's --state-dir is a writable hostPath mount at the same path", agent_state)

    def agent_cni():
        cni = posixpath.normpath(flag_value(agent_args(), "--cni-conf-dir"))
        host_path_mount(apod, agent_container(), cni, host_path="/etc/cni/net.d")

    check("the agent's --cni-conf-dir is the mount of the host's /etc/cni/net.d", agent_cni)

    def agent_socket_path():
        args = agent_args()
        return flag_value(args, "--socket") if "--socket" in flags_in(args) \
            else "/run/mesh/agent.sock"  # mesh-agent's default

    def agent_socket():
        host_path_mount(apod, agent_container(), posixpath.dirname(agent_socket_path()),
                        host_path="/run/mesh")

    check("the agent's socket directory is the mount of the host's /run/mesh", agent_socket)

    def agent_wireguard_go():
        v = host_path_mount(apod, agent_container(), "/dev/net/tun", host_path="/dev/net/tun")
        assert v["hostPath"].get("type") == "CharDevice", "/dev/net/tun is not a CharDevice"
        m = covering_mount(agent_container(), "/var/run/wireguard")
        v = volume(apod, m["name"])
        assert v.get("hostPath", {}).get("path") == "/run/wireguard", \
            f"/var/run/wireguard is on {m['name']}, not the host's /run/wireguard"

    check("the agent has the host's /dev/net/tun and /run/wireguard (wireguard-go)",
          agent_wireguard_go)

    def join_container():
        return container(apod, "join")

    def join_script():
        """The script's meshctl commands, each as its words (shell quoting removed)."""
        text = "\n".join(argv(join_container())).replace("\\\n", " ")
        commands = []
        for line in text.splitlines():
            if MESHCTL_COMMAND.match(line):
                words = shlex.split(line, comments=True)
                commands.append(words[words.index("meshctl"):])
        assert any("join" in w for w in commands), "no meshctl join command"
        assert any("status" in w for w in commands), "no meshctl status command"
        return commands

    def join_flags_known():
        commands = join_script()
        for words in commands:
            known = set(help_flags("meshctl"))
            for sub in ("join", "status"):
                if sub in words:
                    known |= help_flags("meshctl", sub)
            assert_known(flags_in(words), known, f"meshctl's --help (for: {' '.join(words)})")

    check("the join container's meshctl flags are all in meshctl's --help", join_flags_known)

    def join_wiring():
        commands = join_script()
        sock = agent_socket_path()
        for words in commands:
            assert flag_value(words, "--socket") == sock, \
                f"'{' '.join(words)}' does not use the agent's socket {sock}"
        run = exact_mount(join_container(), posixpath.dirname(sock))
        assert run["name"] == exact_mount(agent_container(), posixpath.dirname(sock))["name"], \
            "the join container mounts another volume at the socket's directory"
        join = next(words for words in commands if "join" in words)
        token = posixpath.normpath(flag_value(join, "--token-file"))
        m = covering_mount(join_container(), token)
        secret = volume(apod, m["name"]).get("secret") or {}
        assert secret.get("secretName") == "mesh-join", \
            f"{token} is not on the Secret mesh-join ({m['name']})"
        rel = posixpath.relpath(token, posixpath.normpath(m["mountPath"]))
        items = secret.get("items")
        if items:
            assert any(i.get("key") == "token" and i.get("path") == rel for i in items), \
                f"the Secret's key token is not mounted as {rel}"
        else:
            assert rel == "token", f"--token-file {token} is not the Secret's key token"
        env = {e["name"]: e for e in join_container().get("env", [])}
        for var, key in (("COORDINATOR", "coordinator"), ("FINGERPRINT", "fingerprint")):
            ref = env.get(var, {}).get("valueFrom", {}).get("configMapKeyRef", {})
            assert ref.get("name") == "mesh-join" and ref.get("key") == key, \
                f"{var} is not ConfigMap mesh-join's key {key}"
        forms = {var: {f"${var}", f"$({var})", f"${{{var}}}"} for var in env}
        assert forms.get("COORDINATOR", set()) & set(join), "the join does not pass $COORDINATOR"
        assert flag_value(join, "--fingerprint") in forms.get("FINGERPRINT", set()), \
            "--fingerprint is not $FINGERPRINT"

    check("the join container uses the agent's socket, the Secret mesh-join's token and the "
          "ConfigMap mesh-join's coordinator and fingerprint", join_wiring)

    def daemonset_scheduling():
        tolerations = apod.get("tolerations") or []
        assert any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
                   for t in tolerations), "no toleration {operator: Exists} for every taint"
        assert apod.get("priorityClassName") == "system-node-critical", \
            f"priorityClassName {apod.get('priorityClassName')}"
        strategy = ds["spec"].get("updateStrategy", {})
        assert strategy.get("type") == "RollingUpdate", f"updateStrategy {strategy}"
        assert strategy.get("rollingUpdate", {}).get("maxUnavailable") == 1, \
            f"maxUnavailable {strategy.get('rollingUpdate')}"
        assert apod.get("terminationGracePeriodSeconds") == 10, \
            f"terminationGracePeriodSeconds {apod.get('terminationGracePeriodSeconds')}"
        labels = ds["spec"]["template"]["metadata"].get("labels") or {}
        match = ds["spec"]["selector"].get("matchLabels") or {}
        assert match and all(labels.get(k) == v for k, v in match.items()), \
            f"the DaemonSet's selector {match} does not match its pod labels {labels}"

    check("the DaemonSet tolerates every taint, is system-node-critical, rolls one node at a "
          "time, 10 s grace", daemonset_scheduling)

    def scripts_parse():
        n = 0
        for d in docs:
            pod = d.get("spec", {}).get("template", {}).get("spec")
            for c in all_containers(pod or {}):
                args = argv(c)
                if len(args) >= 3 and args[0] in ("/bin/sh", "sh") and args[1] == "-c":
                    out = subprocess.run(["/bin/sh", "-n", "-c", args[2]], capture_output=True,
                                         text=True, timeout=30)
                    assert out.returncode == 0, f"{c['name']}: {out.stderr.strip()}"
                    n += 1
        assert n > 0, "no sh -c scripts found"

    check("every container's sh -c script parses (sh -n)", scripts_parse)

    check("the join script joins once when status exits 2, not when 0 or 3, gives up after 5 "
          "failures", lambda: join_behaviour(argv(join_container())[2], agent_socket_path()))

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


FAKE_MESHCTL = """#!/bin/sh
# Records its arguments; exits with the next code of $FAKE/status or $FAKE/join (the last repeats).
echo "$*" >> "$FAKE/calls"
for a in "$@"; do case $a in status|join) sub=$a ;; esac; done
code=$(head -n 1 "$FAKE/$sub")
if [ "$(wc -l < "$FAKE/$sub")" -gt 1 ]; then sed -i 1d "$FAKE/$sub"; fi
exit "$code"
"""
# The script's pauses return at once; its final long sleep ends it (with SIGTERM, as the kubelet).
FAKE_SLEEP = """#!/bin/sh
if [ "$1" -ge 600 ]; then echo slept >> "$FAKE/calls"; kill -TERM "$PPID"; fi
exit 0
"""


def join_behaviour(script, sock):
    """Runs the join container's script with a fake meshctl and sleep, against a real socket."""
    import socket as socketlib
    import tempfile

    assert sock in script, f"the script does not name the agent's socket {sock}"
    with tempfile.TemporaryDirectory(prefix="mesh-join-test.") as tmp:
        fake_sock = os.path.join(tmp, "agent.sock")
        listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        listener.bind(fake_sock)
        try:
            bindir = os.path.join(tmp, "bin")
            os.mkdir(bindir)
            for name, text in (("meshctl", FAKE_MESHCTL), ("sleep", FAKE_SLEEP)):
                with open(os.path.join(bindir, name), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(bindir, name), 0o755)
            env = {"PATH": bindir + ":/usr/bin:/bin", "FAKE": tmp,
                   "COORDINATOR": "10.96.0.10:7443", "FINGERPRINT": "sha256:" + "ab" * 32}
            joined = (f"--socket {fake_sock} join 10.96.0.10:7443 --token-file "
                      f"/etc/mesh-join/token --fingerprint sha256:{'ab' * 32} "
                      f"--container-subnet auto")
            status = f"--socket {fake_sock} status"
            cases = [  # status codes, join codes, expected exit, expected calls
                ([2, 0], [0], 0, [status, joined, "slept"]),
                ([0], [0], 0, [status, "slept"]),
                ([3], [0], 0, [status, "slept"]),
                ([2, 2, 0], [1, 0], 0, [status, joined, status, joined, "slept"]),
                ([2], [1], 1, [status, joined] * 5),
                ([1], [0], 1, [status] * 5),
            ]
            for statuses, joins, want_rc, want_calls in cases:
                for name, codes in (("status", statuses), ("join", joins)):
                    with open(os.path.join(tmp, name), "w") as f:
                        f.write("".join(f"{c}\n" for c in codes))
                calls = os.path.join(tmp, "calls")
                if os.path.exists(calls):
                    os.unlink(calls)
                out = subprocess.run(["/bin/sh", "-c", script.replace(sock, fake_sock)], env=env,
                                     capture_output=True, text=True, timeout=30)
                got = open(calls).read().splitlines() if os.path.exists(calls) else []
                what = f"status exits {statuses}, join exits {joins}"
                assert out.returncode == want_rc, \
                    f"{what}: the script exited {out.returncode}, not {want_rc}: " \
                    f"{out.stderr.strip()}"
                assert got == want_calls, f"{what}: calls {got}, not {want_calls}"
        finally:
            listener.close()


if __name__ == "__main__":
    sys.exit(main())
