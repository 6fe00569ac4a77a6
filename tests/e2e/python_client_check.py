"""The official Kubernetes Python client against `portflow cluster serve`.

Usage: /usr/bin/python3 python_client_check.py KUBECONFIG
Exits 0 when every check holds; prints what failed otherwise.
"""
import json
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def main() -> int:
    config.load_kube_config(config_file=sys.argv[1])
    core, batch = client.CoreV1Api(), client.BatchV1Api()
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    nodes = core.list_node()
    check(len(nodes.items) >= 1, "list nodes")
    check(nodes.items[0].metadata.labels.get("kubernetes.io/os") == "linux", "node labels")

    core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py-cm", labels={"from": "python"}), data={"k": "v"}))
    cm = core.read_namespaced_config_map("py-cm", "default")
    check(cm.data == {"k": "v"}, "read configmap")
    try:
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm")))
        check(False, "AlreadyExists expected")
    except ApiException as e:
        check(e.status == 409, f"409 on duplicate, got {e.status}")
    cm.data["k"] = "w"
    core.replace_namespaced_config_map("py-cm", "default", cm)
    core.patch_namespaced_config_map("py-cm", "default", {"metadata": {"labels": {"patched": "yes"}}})
    got = core.list_namespaced_config_map("default", label_selector="from=python,patched=yes")
    check(len(got.items) == 1 and got.items[0].data["k"] == "w", "replace, patch and select")

    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="py-job"),
        spec=client.V1JobSpec(
            completions=2, parallelism=2, backoff_limit=0,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(annotations={"sim.portflow.dev/duration": "200ms"}),
                spec=client.V1PodSpec(restart_policy="Never",
                                      containers=[client.V1Container(name="main", image="x")]))))
    batch.create_namespaced_job("default", job)
    done = False
    w = watch.Watch()
    for event in w.stream(batch.list_namespaced_job, "default", field_selector="metadata.name=py-job",
                          timeout_seconds=30):
        status = event["object"].status
        conds = (status.conditions if status else None) or []
        if any(c.type == "Complete" and c.status == "True" for c in conds):
            done = True
            w.stop()
    check(done, "job completes (seen through a watch)")
    check(batch.read_namespaced_job("py-job", "default").status.succeeded == 2, "job succeeded count")

    try:
        core.read_namespaced_pod("nope", "default")
        check(False, "NotFound expected")
    except ApiException as e:
        check(e.status == 404, f"404 on a missing pod, got {e.status}")

    batch.delete_namespaced_job("py-job", "default", propagation_policy="Background")
    core.delete_namespaced_config_map("py-cm", "default")

    # deletecollection: only what the selector matches goes.
    for name, batch_label in (("py-a", "one"), ("py-b", "one"), ("py-c", "two")):
        core.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name, labels={"batch": batch_label})))
    # The server answers with the list it deleted (the client's types say a
    # Status, as the OpenAPI does; the real server sends the list).
    gone = json.loads(core.delete_collection_namespaced_config_map(
        "default", label_selector="batch in (one)", _preload_content=False).data)
    left = core.list_namespaced_config_map("default", label_selector="batch").items
    check(sorted(m.metadata.name for m in left) == ["py-c"],
          f"deletecollection by label, left {[m.metadata.name for m in left]}")
    check(sorted(m["metadata"]["name"] for m in gone["items"]) == ["py-a", "py-b"],
          "deletecollection answers with what it deleted")
    try:
        # (no such method in the client: namespaces have no deletecollection)
        core.api_client.call_api("/api/v1/namespaces", "DELETE", auth_settings=["BearerToken"])
        check(False, "namespaces refuse deletecollection")
    except ApiException as e:
        check(e.status == 405, f"405 on deletecollection of namespaces, got {e.status}")
    core.delete_namespaced_config_map("py-c", "default")
    for f in failures:
        print("FAILED:", f)
    print("python client:", "ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
