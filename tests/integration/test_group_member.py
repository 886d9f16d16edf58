"""A static group member that a fence made fatal joins again (GroupMember), against the real broker:
once after a fence that was not repeated, and never for long against a twin with the same instance id."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from storesim.services._wiring import consumer_conf
from storesim.streaming import FencedError, GroupMember
from storesim.streaming._fencing import Renewals

from .helpers import wait_until


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    name = f"storesim.member.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


class Owner:
    """What a service keeps from its member's callbacks."""

    def __init__(self) -> None:
        self.held: set[int] = set()
        self.assigns = 0
        self.revoked: list[set[int]] = []

    def on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.held = {tp.partition for tp in partitions}
        self.assigns += 1

    def on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.revoked.append({tp.partition for tp in partitions})
        self.held = set()


def static_conf(bootstrap: str, group: str) -> dict[str, object]:
    return consumer_conf(bootstrap, group, **{"group.instance.id": "replica-0", "session.timeout.ms": 6000})


def test_a_fenced_member_joins_again_and_gets_its_partitions_back(kafka_bootstrap: str, topic: str) -> None:
    group = f"member-{uuid.uuid4().hex[:8]}"
    owner = Owner()
    member = GroupMember(static_conf(kafka_bootstrap, group))
    member.subscribe([topic], on_assign=owner.on_assign, on_revoke=owner.on_revoke)
    renewed: list[str] = []

    def polled(condition: Callable[[], bool], *others: Consumer) -> Callable[[], bool]:
        """One round of the service's loop (and of ``others``' loops), then ``condition``."""

        def check() -> bool:
            for other in others:
                other.poll(0.1)
            member.poll(0.1)
            if (error := member.renew_if_fatal()) is not None:
                renewed.append(error.str())
            return condition()

        return check

    try:
        assert wait_until(polled(lambda: owner.held == {0, 1}), None, 60), "never assigned"
        twin = Consumer(static_conf(kafka_bootstrap, group))  # takes the instance id, once
        twin.subscribe([topic])
        try:
            assert wait_until(polled(lambda: bool(renewed), twin), None, 60), (
                "the fence never reached the member"
            )
        finally:
            twin.close()
        assert "fenced" in renewed[0].lower(), renewed
        assert {0, 1} in owner.revoked  # what the dead consumer held was given up before the new one joined
        assigns = owner.assigns
        assert wait_until(polled(lambda: owner.held == {0, 1} and owner.assigns > assigns), None, 60), (
            "the renewed member never got its partitions back"
        )
        assert len(renewed) == 1
    finally:
        member.close()


def test_a_twin_with_the_same_instance_id_stops_one_of_them(kafka_bootstrap: str, topic: str) -> None:
    group = f"member-{uuid.uuid4().hex[:8]}"
    members = [
        GroupMember(static_conf(kafka_bootstrap, group), renewals=Renewals("consumer", limit=2))
        for _ in range(2)
    ]
    owners = [Owner(), Owner()]
    for member, owner in zip(members, owners, strict=True):
        member.subscribe([topic], on_assign=owner.on_assign, on_revoke=owner.on_revoke)
    stopped: list[str] = []

    def step() -> bool:
        for member in members:
            member.poll(0.1)
            try:
                member.renew_if_fatal()
            except FencedError as exc:
                stopped.append(str(exc))
                return True
        return False

    try:
        assert wait_until(step, None, 120), "two members with one instance id kept fencing each other"
        assert "another replica runs with this REPLICA_ID" in stopped[0]
    finally:
        for member in members:
            member.close()
