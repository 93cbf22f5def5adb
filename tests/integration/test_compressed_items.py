"""Lead states and accounts stored compressed (`state`, `people`: Binary) on moto: they come back
as written, items written before (JSON `state`, `people`) are still read, and the next write
replaces them with the compressed form."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from leadscore.adapters.compressed import LEAD_STATE, PLAIN
from leadscore.adapters.dynamo import LeadTable
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.state import LeadState
from leadscore.services.store import AccountRecord, LeadWrite, StateRecord
from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.exceptions import AttributeDeserializationError
from pynamodb.models import Model

from tests.unit.test_compressed_json import engaged_state

T0 = 1_700_000_000
KEY = "0a3f" + "ab" * 14


def raw_item(pk: str, sk: str) -> dict[str, Any]:
    client = boto3.client("dynamodb")
    answer = client.get_item(
        TableName=os.environ["TABLE_NAME"], Key={"pk": {"S": pk}, "sk": {"S": sk}}
    )
    return dict(answer["Item"])


def put_raw(item: dict[str, Any]) -> None:
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item=item)


def state_record(state: LeadState) -> StateRecord:
    return StateRecord(KEY, "default", state, updated_at=T0, account_domain="acme.example")


def account_record(people: dict[str, list[Any]]) -> AccountRecord:
    return AccountRecord(
        "acme.example", "default", people, {"status": "open", "score": 4100}, updated_at=T0
    )


def stored(store: DynamoLeadStore) -> tuple[StateRecord, AccountRecord]:
    """The lead's state and its account, read as the scorer reads them."""
    snapshots, accounts = store.read_leads({KEY: []}, ["default"], ["acme.example"], ["default"])
    return snapshots[KEY].states["default"], accounts["acme.example"]["default"]


STATES = {
    "empty": LeadState("default"),
    "engaged": engaged_state(),
    "unicode": LeadState("default", flags=["ünï 漢字 🚀"], reasons={"fït.ß": [100, 1]}),
}
PEOPLE: dict[str, dict[str, list[Any]]] = {
    "none": {},
    "full": {f"{n:032x}": [300 * n, 3600, 1950, "exécutive", n % 2 == 0] for n in range(20)},
}


@pytest.mark.parametrize("people", sorted(PEOPLE))
@pytest.mark.parametrize("name", sorted(STATES))
def test_states_and_accounts_come_back_as_written(aws: None, name: str, people: str) -> None:
    store = DynamoLeadStore()
    state, account = state_record(STATES[name]), account_record(PEOPLE[people])
    assert store.commit([LeadWrite(KEY, [state, account])]) == ({KEY}, set())
    assert stored(store) == (state, account)
    log = store.lead_log(KEY)
    assert log.states == {"default": state}
    assert store.account_records("acme.example") == [account]

    item = raw_item(f"LEAD#{KEY}", "STATE#default")
    account_item = raw_item("ACCOUNT#acme.example", "STATE#default")
    assert item["state"]["B"][0] == LEAD_STATE
    assert account_item["people"]["B"][0] == PLAIN


def test_items_written_before_are_read_then_replaced(aws: None) -> None:
    """A state and an account written as JSON before the compressed attributes existed."""
    store = DynamoLeadStore()
    state, account = state_record(engaged_state()), account_record(PEOPLE["full"])
    store.commit([LeadWrite(KEY, [state, account])])
    before = raw_item(f"LEAD#{KEY}", "STATE#default")
    before["state"] = {"S": json.dumps(engaged_state().to_dict())}  # as JSONAttribute wrote it
    put_raw(before)
    account_before = raw_item("ACCOUNT#acme.example", "STATE#default")
    account_before["people"] = {"S": json.dumps(PEOPLE["full"])}
    put_raw(account_before)

    assert stored(store) == (state, account)
    assert store.lead_log(KEY).states == {"default": state}

    state.state.score, account.state["score"] = 7300, 4200
    assert store.commit([LeadWrite(KEY, [state, account])]) == ({KEY}, set())
    assert stored(store) == (state, account)
    after = raw_item(f"LEAD#{KEY}", "STATE#default")
    account_after = raw_item("ACCOUNT#acme.example", "STATE#default")
    assert after["state"]["B"][0] == LEAD_STATE and account_after["people"]["B"][0] == PLAIN


def test_a_state_of_an_unknown_format_is_refused_by_name(aws: None) -> None:
    store = DynamoLeadStore()
    store.commit([LeadWrite(KEY, [state_record(LeadState("default"))])])
    item = raw_item(f"LEAD#{KEY}", "STATE#default")
    item["state"] = {"B": b"\x7f" + item["state"]["B"][1:]}
    put_raw(item)
    with pytest.raises(ValueError, match="unknown format tag 0x7f"):
        store.lead_log(KEY)


class BeforeCompression(Model):
    """The state and account items as the code before compression declared them."""

    class Meta:
        table_name = LeadTable.Meta.table_name
        region = LeadTable.Meta.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    state = JSONAttribute(null=True)
    people = JSONAttribute(default=dict)


def test_code_from_before_compression_refuses_a_compressed_item(aws: None) -> None:
    """A rollback: the earlier code must fail on a compressed account rather than read its
    people as none (and write the account over with one person) or a state as missing."""
    store = DynamoLeadStore()
    store.commit([LeadWrite(KEY, [state_record(engaged_state()), account_record(PEOPLE["full"])])])
    for pk in (f"LEAD#{KEY}", "ACCOUNT#acme.example"):
        with pytest.raises(AttributeDeserializationError):
            BeforeCompression.get(pk, "STATE#default")
