"""Renders a kustomization directory, as `kubectl kustomize DIR` does, for the features
deploy/k8s uses and no others: `resources` (files and directories), `namespace`, `patches`
(strategic merge, by kind and name) and `images`. Anything else in a kustomization is refused
by name, so an overlay cannot lean on a feature this renderer would silently skip.

deploy.rs renders the overlays with it where kubectl is not installed (Debian's kubectl is too old
for `patches`), and compares it with `kubectl kustomize` where kubectl is.

    python3 kustomize.py DIR   # prints the objects as one JSON list
"""

import json
import os
import sys

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
# Lists that Kubernetes merges item by item (the patchMergeKey of the API's types) in the
# fields deploy/k8s patches; any other list in a patch replaces the one it patches.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


class RenderError(Exception):
    pass


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def merge(base, patch, field=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = merge(merged[key], value, key)
            else:
                merged[key] = value
        return merged
    key = MERGE_KEYS.get(field)
    if key and isinstance(base, list) and isinstance(patch, list):
        merged = list(base)
        for item in patch:
            at = next((i for i, b in enumerate(merged) if b.get(key) == item.get(key)), None)
            if at is None:
                merged.append(item)
            else:
                merged[at] = merge(merged[at], item)
        return merged
    return patch


def identity(obj):
    return obj.get("kind"), obj.get("metadata", {}).get("name")


def set_image(obj, images):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"


def render(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    (kustomization,) = load(path)
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise RenderError(f"{path}: unsupported fields {sorted(unknown)}")
    objects = []
    for resource in kustomization.get("resources", []):
        where = os.path.normpath(os.path.join(directory, resource))
        objects += render(where) if os.path.isdir(where) else load(where)
    seen = set()
    for obj in objects:
        if identity(obj) in seen:
            raise RenderError(f"{path}: {identity(obj)} is defined twice")
        seen.add(identity(obj))
    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise RenderError(f"{path}: only `path` patches are supported, not {entry}")
        for patch in load(os.path.join(directory, entry["path"])):
            at = next((i for i, o in enumerate(objects) if identity(o) == identity(patch)), None)
            if at is None:
                raise RenderError(f"{path}: patch {entry['path']} names {identity(patch)}, which no resource is")
            objects[at] = merge(objects[at], patch)
    namespace = kustomization.get("namespace")
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = namespace
        set_image(obj, kustomization.get("images", []))
    return objects


if __name__ == "__main__":
    try:
        json.dump(render(sys.argv[1]), sys.stdout)
    except (RenderError, OSError, yaml.YAMLError) as e:
        sys.exit(f"kustomize.py: {e}")
