"""Image references resolve like a registry resolves them; unknown images fail with containerd's words."""

from __future__ import annotations

import pytest

from kubelab import images
from kubelab.images import ImageNotFound, InvalidImageName, parse_reference, resolve


@pytest.mark.parametrize(
    "image, normalized",
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("docker.io/library/nginx:latest", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("kubelab/web:v1", "docker.io/kubelab/web:v1"),
        ("registry.k8s.io/e2e-test-images/agnhost:2.40", "registry.k8s.io/e2e-test-images/agnhost:2.40"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
    ],
)
def test_references_normalize_as_docker_does(image, normalized):
    assert str(parse_reference(image)) == normalized


@pytest.mark.parametrize("image", ["", "nginx:", "ng inx", "nginx:bad tag", ":latest", "nginx@sha256:abc", " nginx"])
def test_malformed_references_are_invalid(image):
    with pytest.raises(InvalidImageName, match="invalid reference format"):
        parse_reference(image)


def test_upper_case_repositories_are_invalid_with_the_reason():
    with pytest.raises(InvalidImageName, match=r"repository name \(library/Nginx\) must be lowercase"):
        parse_reference("Nginx")


def test_tags_of_one_release_are_the_same_image():
    latest, pinned = resolve("nginx"), resolve("nginx:1.27")
    assert latest.digest == pinned.digest
    assert latest.name == "docker.io/library/nginx:latest" and pinned.name == "docker.io/library/nginx:1.27"
    assert resolve("nginx:1.14.2").digest != latest.digest


def test_an_image_resolves_by_its_digest():
    digest = resolve("kubelab/web:v2").digest
    assert resolve(f"kubelab/web@{digest}").config.version == "v2"
    assert resolve("kubelab/web:v2").repo_digest == f"docker.io/kubelab/web@{digest}"


def test_web_versions_differ():
    assert [resolve(f"kubelab/web:{v}").config.env["VERSION"] for v in ("v1", "v2", "v3")] == ["v1", "v2", "v3"]


def test_an_unknown_repository_is_pull_access_denied():
    with pytest.raises(ImageNotFound) as e:
        resolve("ngnix")
    assert str(e.value) == (
        'failed to pull and unpack image "docker.io/library/ngnix:latest": failed to resolve reference '
        '"docker.io/library/ngnix:latest": pull access denied, repository does not exist or may require '
        "authorization: server message: insufficient_scope: authorization failed"
    )


def test_an_unknown_tag_is_not_found():
    with pytest.raises(ImageNotFound) as e:
        resolve("nginx:9.9")
    assert str(e.value).endswith('"docker.io/library/nginx:9.9": docker.io/library/nginx:9.9: not found')


def test_other_registries_say_not_found():
    with pytest.raises(ImageNotFound, match=r"gcr.io/acme/app:1.0: not found$"):
        resolve("gcr.io/acme/app:1.0")


def test_every_program_in_the_catalogue_exists():
    for repo in images.CATALOGUE:
        for _, config in repo.releases:
            for program in config.programs.values():
                assert (images.PROGRAMS / program[0]).is_file(), program


def test_the_catalogue_lists_every_image_with_what_it_does():
    listing = {name: (tags, description) for name, tags, description in images.catalogue()}
    assert "latest" in listing["docker.io/library/nginx"][0]
    assert all(description for _, description in listing.values())
