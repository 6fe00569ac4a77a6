#!/usr/bin/python3
"""Checks what `portflow render --target T` prints against the Kubernetes
API's own schema, as the official Python client (Debian's python3-kubernetes)
carries it: every field must be one the API defines, with the type it
defines, and every object must build as the client's model (which refuses a
missing required field). A second opinion beside the fake cluster's
admission, from a source portflow did not write.

The client's schema is that of its Kubernetes release (22.6.0: 1.22);
fields added since then are listed in NEWER with the release that added
them, so that a field the schema does not know is an error unless named
there.

Usage: rendered_objects_check.py RENDER.yaml   (prints "rendered objects: ok N")
"""
import re
import sys

import yaml
from kubernetes import client

# Fields portflow renders that came after the client's schema: none yet.
NEWER = {}

MODELS = {("batch/v1", "Job"): "V1Job", ("v1", "Service"): "V1Service",
          ("v1", "ConfigMap"): "V1ConfigMap"}


def check(value, type_name, path, errors):
    """Walks `value` as the schema's `type_name`; appends what is wrong."""
    if value is None:
        return
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: want a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: want a map, got {type(value).__name__}")
            return
        for k, v in value.items():
            check(v, m.group(1), f"{path}.{k}", errors)
        return
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str}
    if type_name in scalars:
        ok = isinstance(value, scalars[type_name])
        if type_name == "int" and isinstance(value, bool):
            ok = False
        if not ok:
            errors.append(f"{path}: want {type_name}, got {type(value).__name__} {value!r}")
        return
    if type_name == "object":  # IntOrString, Quantity and the like
        if not isinstance(value, (str, int)):
            errors.append(f"{path}: want a string or a number, got {type(value).__name__}")
        return
    model = getattr(client, type_name)
    if not isinstance(value, dict):
        errors.append(f"{path}: want an object ({type_name}), got {type(value).__name__}")
        return
    by_json = {j: p for p, j in model.attribute_map.items()}
    for key, v in value.items():
        if key not in by_json:
            if f"{type_name}.{key}" not in NEWER:
                errors.append(f"{path}.{key}: not a field of {type_name}")
            continue
        check(v, model.openapi_types[by_json[key]], f"{path}.{key}", errors)


def main():
    with open(sys.argv[1]) as f:
        rendered = yaml.safe_load(f)
    errors, count = [], 0
    api = client.ApiClient()
    for task in rendered["tasks"]:
        for i, obj in enumerate(task["objects"]):
            where = f"{task['instance']}.objects[{i}]"
            model = MODELS.get((obj.get("apiVersion"), obj.get("kind")))
            if not model:
                errors.append(f"{where}: no schema for {obj.get('apiVersion')} {obj.get('kind')}")
                continue
            check(obj, model, where, errors)
            try:  # the client's own constructors: required fields, enums
                api._ApiClient__deserialize(obj, model)
            except ValueError as e:
                errors.append(f"{where}: {e}")
            count += 1
    for e in errors:
        print(e)
    if errors or count == 0:
        sys.exit(1)
    print(f"rendered objects: ok {count}")


if __name__ == "__main__":
    main()
