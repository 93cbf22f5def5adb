"""Keep account scores in step with their people's lead states. Design: docs/design/accounts.md."""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from leadscore.adapters import lead_store
from leadscore.adapters.dynamo import (
    AccountItem,
    LeadTable,
    ProfileItem,
    StateItem,
    account_pk,
    lead_pk,
    state_sk,
)
from leadscore.domain import accounts
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.domains import company_domain
from leadscore.domain.engine import iso
from leadscore.domain.notifications import Notification, Publisher, account_notification
from leadscore.domain.state import LeadState
from leadscore.services.alerts import Alert, publish_account_pending, unique

logger = Logger(child=True)
KINDS = {"mqa": "account.mqa", "cooled": "account.cooled"}


class AccountsBusy(RuntimeError):
    """Accounts kept conflicting with other writers after every attempt."""


@dataclass(slots=True)
class PersonChange:
    """A lead's new states, for the account it belongs to; None: the person is gone."""

    key: str
    domain: str
    states: dict[str, LeadState | None]  # model id -> new state


@dataclass(slots=True)
class AccountPlan:
    items: dict[str, list[AccountItem]] = field(default_factory=dict)  # domain -> to write
    alerts: dict[str, list[Alert]] = field(default_factory=dict)  # domain -> to publish
    transitions: dict[str, list[str]] = field(default_factory=dict)  # domain -> kinds


def account_models(models: Iterable[CompiledModel]) -> list[CompiledModel]:
    """The models that score accounts (those with an `account` section)."""
    return [m for m in models if m.model.account is not None]


def domain_of(email: str) -> str | None:
    return company_domain(email)


def plan(
    changes: Sequence[PersonChange],
    snapshots: lead_store.AccountSnapshots,
    models: Sequence[CompiledModel],
    now_s: int,
    profiles: Mapping[str, ProfileItem] | None = None,
    notify: bool = True,
) -> AccountPlan:
    """The account items to write for these people's changes, and the notifications to
    publish once they are written (new transitions, and ones still pending from before).

    `profiles`: the profiles the caller is writing (a new person's is not stored yet), used
    to name the people in a notification; the others are read when one is due."""
    result = AccountPlan()
    by_domain: dict[str, list[PersonChange]] = defaultdict(list)
    for change in changes:
        by_domain[change.domain].append(change)
    for domain, found in snapshots.items():
        result.alerts[domain] = [
            (model_id, Notification.from_dict(json.loads(message)))
            for model_id, item in found.items()
            for message in item.pending.as_dict().values()
        ]
    for domain, people_changes in by_domain.items():
        for model in account_models(models):
            item = _apply(
                domain, model, people_changes, snapshots.get(domain, {}), now_s, result,
                profiles or {}, notify,
            )  # fmt: skip
            if item is not None:
                result.items.setdefault(domain, []).append(item)
    for domain, alerts in result.alerts.items():
        result.alerts[domain] = unique(alerts)
    return result


def _apply(
    domain: str,
    model: CompiledModel,
    changes: Sequence[PersonChange],
    found: Mapping[str, AccountItem],
    now_s: int,
    result: AccountPlan,
    profiles: Mapping[str, ProfileItem],
    notify: bool = True,
) -> AccountItem | None:
    config = model.model.account
    assert config is not None
    previous = found.get(model.id)
    before = people_of(previous)
    people = dict(before)
    touched = False
    for change in changes:
        if model.id not in change.states:
            continue
        touched = True
        state = change.states[model.id]
        if state is None:
            people.pop(change.key, None)
        else:
            people[change.key] = accounts.person_from_state(config, change.key, state)
    if not touched:
        return None
    kept = accounts.keep(config, people.values())
    if kept == before:
        return None
    status = previous.state.get("status", "open") if previous else "open"
    mqa_since = previous.state.get("mqa_since") if previous else None
    rolled = accounts.roll_up(config, kept, status, mqa_since, now_s)
    item = previous or AccountItem(
        account_pk(domain), state_sk(model.id), domain=domain, model=model.id, pending={}
    )
    item.people = {key: person.to_list() for key, person in kept.items()}
    item.state = {
        "status": rolled.status,
        "mqa_since": rolled.mqa_since,
        "score": rolled.score,
        "rating": rolled.rating,
        "model_version": model.version,
    }
    item.updated_at = now_s
    if rolled.transition is not None:
        kind = KINDS[rolled.transition]
        result.transitions.setdefault(domain, []).append(kind)
    if rolled.transition is not None and notify:
        kind = KINDS[rolled.transition]
        at = rolled.mqa_since if rolled.transition == "mqa" else now_s
        scores = {
            **accounts.summary(rolled, model.id, model.version),
            "mqa_since": iso(rolled.mqa_since),
        }
        notification = account_notification(
            kind, f"{kind}:{model.id}:{domain}:{at}", domain, scores,
            people_shown(scores, profiles),
        )  # fmt: skip
        item.pending[notification.id] = json.dumps(notification.to_dict())
        result.alerts.setdefault(domain, []).append((model.id, notification))
    return item


def people_of(item: AccountItem | None) -> dict[str, accounts.Person]:
    if item is None:
        return {}
    return {key: accounts.Person.from_list(key, values) for key, values in item.people.items()}


def people_shown(
    scores: Mapping[str, Any],
    known: Mapping[str, ProfileItem] | None = None,
    keep_missing: bool = False,
) -> list[dict[str, Any]]:
    """The people of an account summary with their profiles' emails, names and titles
    (one BatchGetItem for those not `known`). A person whose profile is gone (erased a
    moment ago) is left out, or shown without an email with `keep_missing`."""
    known = known or {}
    keys = [person["key"] for person in scores["people"]]
    profiles = {**read_profiles([k for k in keys if k not in known]), **known}
    shown = []
    for person in scores["people"]:
        profile = profiles.get(person["key"])
        if profile is None and not keep_missing:
            continue
        fields = (profile.profile if profile is not None else None) or {}
        name = " ".join(str(fields.get(k) or "") for k in ("first_name", "last_name")).strip()
        shown.append(
            {
                "email": None if profile is None else profile.email,
                "name": name or None,
                "job_title": fields.get("job_title"),
                "company": fields.get("company"),
                **{k: v for k, v in person.items() if k != "key"},
            }
        )
    return shown


def read_profiles(keys: Sequence[str]) -> dict[str, ProfileItem]:
    if not keys:
        return {}
    found: dict[str, ProfileItem] = {}
    for item in LeadTable.batch_get([(lead_pk(k), "PROFILE") for k in keys], consistent_read=True):
        if isinstance(item, ProfileItem):
            found[item.pk.removeprefix("LEAD#")] = item
    return found


def merge(
    writes: Sequence[lead_store.LeadWrite],
    domain_of_lead: Mapping[str, str],
    items: Mapping[str, list[AccountItem]],
) -> tuple[list[lead_store.LeadWrite], set[str]]:
    """One write per account that changes: its item and every lead of it (DynamoDB allows
    an item once per transaction). Returns the writes and the leads left for another round
    because their account's write would not fit in one transaction."""
    merged: list[lead_store.LeadWrite] = []
    groups: dict[str, lead_store.LeadWrite] = {}
    deferred: set[str] = set()
    limit = lead_store.MAX_TRANSACTION_ITEMS
    for write in writes:
        domain = domain_of_lead.get(write.key)
        if domain is None or domain not in items:
            merged.append(write)
            continue
        group = groups.get(domain)
        if group is None:
            group = groups[domain] = lead_store.LeadWrite(write.key, list(items[domain]), set(), [])
            merged.append(group)
        elif len(group.items) + len(write.items) > limit:
            deferred.add(write.key)
            continue
        else:
            group.also.append(write.key)
        offset = len(group.items)
        group.items += write.items
        group.conditional_new |= {offset + i for i in write.conditional_new}
    return merged, deferred


def publish(plan: AccountPlan, domains: Iterable[str], publisher: Publisher) -> set[str]:
    """Publish the planned notifications of these (written) accounts; returns the domains
    where one failed (it stays pending in the account item and is found again)."""
    failed: set[str] = set()
    for domain in domains:
        alerts = plan.alerts.get(domain)
        if alerts:
            _published, errors = publish_account_pending(domain, alerts, publisher)
            if errors:
                failed.add(domain)
    return failed


def refresh(
    keys: Iterable[str],
    models: Sequence[CompiledModel],
    publisher: Publisher,
    now: datetime,
    *,
    domains: Mapping[str, str] | None = None,
    notify: bool = True,
    attempts: int = 6,
    must_settle: bool = False,
) -> int:
    """Bring the accounts of these leads (lead keys) in step with their stored states, e.g.
    after rescoring rebuilt them. A lead's account is its profile's; a lead whose profile is
    gone (erased) leaves the account given for it in `domains`.

    Idempotent and safe to run concurrently with the scorer (version conditions, re-read
    on conflict). With `notify=False` an account's status moves without telling sales.
    Returns the number of account items written; with `must_settle`, raises AccountsBusy
    when an account still conflicted after every attempt (the caller's retry repeats it).
    """
    scoring = account_models(models)
    if not scoring:
        return 0
    ids = [m.id for m in scoring]
    written = 0
    pending = set(keys)
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        snapshots = lead_store.read_leads(dict.fromkeys(pending, ()), ids)
        lead_domains: dict[str, str] = {}
        for key, snapshot in snapshots.items():
            profile = snapshot.profile
            domain = (
                company_domain(str(profile.email))
                if profile is not None
                else (domains or {}).get(key)
            )
            if domain is not None:
                lead_domains[key] = domain
        if not lead_domains:
            break
        _, found = lead_store.read_leads_and_accounts({}, (), set(lead_domains.values()), ids)
        changes = [
            PersonChange(
                key,
                domain,
                {
                    m.id: None
                    if snapshots[key].profile is None
                    else _state_of(snapshots[key].states.get(m.id))
                    for m in scoring
                },
            )
            for key, domain in lead_domains.items()
        ]
        result = plan(changes, found, scoring, int(now.timestamp()), notify=notify)
        writes = [
            lead_store.LeadWrite(f"account:{domain}", list(items))
            for domain, items in result.items.items()
        ]
        done, retry = lead_store.commit(writes)
        written += sum(
            len(result.items[w.key.removeprefix("account:")]) for w in writes if w.key in done
        )
        publish(result, [d for d in found if f"account:{d}" not in retry], publisher)
        pending = {key for key, d in lead_domains.items() if f"account:{d}" in retry}
    if pending:
        logger.warning("accounts kept conflicting", leads=len(pending))
        if must_settle:
            raise AccountsBusy(f"{len(pending)} leads' accounts kept conflicting")
    return written


def _state_of(item: StateItem | None) -> LeadState | None:
    return None if item is None else LeadState.from_dict(item.state)
