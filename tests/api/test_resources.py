from kubelab.api.resources import ResourceRegistry


def test_keys_follow_kube_apiserver_layout():
    r = ResourceRegistry()
    assert r.get("", "v1", "pods").key("default", "web") == "/registry/pods/default/web"
    assert r.get("", "v1", "nodes").key(None, "node-1") == "/registry/minions/node-1"
    assert r.get("", "v1", "services").key("default", "kubernetes") == "/registry/services/specs/default/kubernetes"
    assert r.get("apps", "v1", "deployments").list_prefix("prod") == "/registry/deployments/prod/"


def test_group_resource_names_resources_as_status_messages_do():
    r = ResourceRegistry()
    assert r.get("apps", "v1", "deployments").group_resource == "deployments.apps"
    assert r.get("", "v1", "pods").group_resource == "pods"
