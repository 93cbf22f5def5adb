"""What `GET /v1/models/{id}/rescore/{job}` shows of a rescore job.

Design: docs/design/rescoring.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadscore.domain import engine
from leadscore.services.rescore_jobs import (
    BINS,
    RescoreJob,
    failed_steps,
    is_complete,
    is_settled,
)

SAMPLE_SHOWN = 20
MQL_LEADS_SHOWN = 20


def sample_leads(job: RescoreJob) -> list[str]:
    """The keys of the leads in the sample shown (their emails are read when shown)."""
    return [entry["lead"] for entry in _sample(job)]


def mql_leads(job: RescoreJob) -> list[str]:
    """The keys of a dry run's leads shown as becoming or leaving MQL."""
    return _mql_leads(job, "became") + _mql_leads(job, "left")


def progress(job: RescoreJob, emails: Mapping[str, str]) -> dict[str, Any]:
    """The job's status, counters and a sample of changed leads, named by `emails` (lead key
    -> email, read now: an erased lead shows none); a dry run's histograms and MQL moves."""
    counts = job.counts
    if is_complete(job):
        status = "completed"
    elif job.failed_steps and is_settled(job):
        status = "incomplete"  # until its failed steps are redriven from the DLQ
    elif counts.shards_listed or counts.leads_listed or counts.chunks_done or job.failed_steps:
        status = "running"
    else:
        status = "queued"
    shown = {
        "job_id": job.job_id,
        "model": job.model_id,
        "model_version": job.model_version,
        "dry_run": job.options.dry_run,
        "notify": job.options.notify,
        "status": status,
        "at": engine.iso(job.at),
        # the first messages wait until every scorer uses the version (MODEL_CACHE_SECONDS)
        "starts_at": engine.iso(job.starts_at),
        "created_at": engine.iso(job.created_at),
        "finished_at": engine.iso(job.finished_at),
        "leads_total": counts.leads_listed,
        "listing_complete": counts.shards_listed >= job.shards,
        "leads_done": counts.leads_done,
        "changed": counts.changed,
        "rating_changes": counts.rating_changes,
        "new_mqls": counts.new_mqls,
        "lost_mqls": counts.lost_mqls,
        "failures": counts.failures,
        "notifications": counts.notifications,
        "chunks": {"listed": counts.chunks_listed, "done": counts.chunks_done},
        # in the rescore DLQ: their leads (a page's: also the rest of its shard) are not done
        "failed_chunks": failed_steps(job, "CHUNK"),
        "failed_pages": failed_steps(job, "LIST"),
        "sample": [
            {"email": emails.get(s["lead"]), **{k: v for k, v in s.items() if k != "lead"}}
            for s in _sample(job)
        ],
    }
    if job.tallies is not None:
        shown |= _dry_run(job.tallies) | {
            # an erased lead is left out
            "became_mql": [emails[k] for k in _mql_leads(job, "became") if k in emails],
            "left_mql": [emails[k] for k in _mql_leads(job, "left") if k in emails],
        }
    return shown


def _dry_run(tallies: Mapping[str, int]) -> dict[str, Any]:
    """A dry run's score histograms (10 bins) and rating transitions (from -> to -> leads)."""
    ratings: dict[str, dict[str, int]] = {}
    for name, count in sorted(tallies.items()):
        if ">" in name and count:
            rating_before, rating_after = name.split(">", 1)
            ratings.setdefault(rating_before, {})[rating_after] = count
    return {
        "scores": {
            when: [tallies.get(f"{when}.{n}", 0) for n in range(BINS)]
            for when in ("before", "after")
        },
        "ratings": ratings,
    }


def _mql_leads(job: RescoreJob, which: str) -> list[str]:
    shards = sorted(job.mql_leads.items())
    return [key for _shard, leads in shards for key in leads.get(which, [])][:MQL_LEADS_SHOWN]


def _sample(job: RescoreJob) -> list[dict[str, Any]]:
    shards = sorted(job.samples.items())
    return [entry for _shard, sample in shards for entry in sample][:SAMPLE_SHOWN]
