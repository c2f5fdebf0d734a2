"""The address plan: slot 0 looks like kind; running clusters never share addresses."""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys

import pytest

from kubelab import network
from kubelab.cluster import Cluster, ClusterError
from kubelab.network import AddressPlan, SlotsExhausted, acquire_slot


@pytest.fixture(autouse=True)
def private_slots(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "SLOT_DIR", tmp_path / "slots")


def test_slot_zero_has_kind_like_addresses():
    plan = AddressPlan(0)
    assert str(plan.service_network) == "127.96.0.0/16"
    assert plan.kubernetes_service_ip == "127.96.0.1"
    assert plan.cluster_dns_ip == "127.96.0.10"
    assert [plan.node_ip(0), plan.node_ip(1)] == ["127.18.0.2", "127.18.0.3"]
    assert plan.pod_cidr(0) == "127.224.1.0/24"
    assert (str(plan.pod_network), str(plan.node_network)) == ("127.224.0.0/16", "127.18.0.0/24")
    assert (plan.dns_server_ip, plan.ingress_controller_ip) == ("127.224.0.10", "127.224.0.11")
    assert not any(ipaddress.ip_address(plan.dns_server_ip) in ipaddress.ip_network(plan.pod_cidr(i)) for i in range(253))


def test_other_slots_share_nothing_with_slot_zero():
    zero, three = AddressPlan(0), AddressPlan(3)
    assert not zero.service_network.overlaps(three.service_network)
    assert zero.node_ip(0) != three.node_ip(0)
    assert zero.pod_cidr(0) != three.pod_cidr(0)
    assert not zero.load_balancer_network.overlaps(three.load_balancer_network)


def test_a_held_slot_is_not_given_out_again_until_released():
    first = acquire_slot()
    second = acquire_slot()
    assert (first.slot, second.slot) == (0, 1)
    with pytest.raises(SlotsExhausted, match="in use by another running cluster"):
        acquire_slot(0)
    first.release()
    assert acquire_slot(0).slot == 0


def test_a_slot_is_freed_when_its_holder_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from kubelab import network; "
         f"network.SLOT_DIR = Path({str(network.SLOT_DIR)!r}); "
         "lease = network.acquire_slot(5); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(SlotsExhausted):
        acquire_slot(5)
    holder.kill()
    holder.wait()
    assert acquire_slot(5).slot == 5


def test_all_slots_taken_is_a_clear_error():
    leases = [acquire_slot() for _ in range(network.MAX_SLOTS)]
    with pytest.raises(SlotsExhausted, match="already run on this machine"):
        acquire_slot()
    assert len({lease.slot for lease in leases}) == network.MAX_SLOTS


def test_two_running_clusters_get_different_service_networks():
    with Cluster() as a, Cluster() as b:
        assert a.addresses.slot != b.addresses.slot
        ips = {c.kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout for c in (a, b)}
        assert ips == {a.addresses.kubernetes_service_ip, b.addresses.kubernetes_service_ip}


def test_a_named_cluster_keeps_its_addresses_and_says_when_they_are_taken(kubelab_home):
    with Cluster("keeper") as keeper:
        slot = keeper.addresses.slot
    squatter = acquire_slot(slot)
    with pytest.raises(ClusterError, match="in use by another running cluster"):
        Cluster("keeper").start()
    squatter.release()
    with Cluster("keeper") as again:
        assert again.addresses.slot == slot


def test_components_take_their_address_plan_from_address_slot():
    parser = argparse.ArgumentParser(exit_on_error=False)
    network.add_address_slot_argument(parser)
    assert parser.parse_args([]).addresses == network.AddressPlan(0)
    assert parser.parse_args(["--address-slot", "3"]).addresses.service_network == ipaddress.IPv4Network("127.99.0.0/16")
    with pytest.raises(argparse.ArgumentError, match="address slot 32 is out of range 0..31"):
        parser.parse_args(["--address-slot", "32"])
    with pytest.raises(argparse.ArgumentError, match="not a slot number: 'two'"):
        parser.parse_args(["--address-slot", "two"])
