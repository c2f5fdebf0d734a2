import pytest

from kubelab.paths import ClusterDir


def test_named_cluster_lives_under_kubelab_home(kubelab_home):
    assert ClusterDir.named("dev").root == kubelab_home / "clusters" / "dev"


@pytest.mark.parametrize("bad", ["", "Dev", "-x", "a_b", "x" * 64, "../etc"])
def test_invalid_cluster_names_are_refused_with_the_rule(bad):
    with pytest.raises(ValueError, match="lower-case letters"):
        ClusterDir.named(bad)
