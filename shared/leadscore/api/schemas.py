"""The shapes of the API's answers (pydantic models, for its OpenAPI document): every
refusal's problem details and each route's success. Which route gives which is
api/responses.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadscore.api.bodies import MAX_EVENTS, Outcome

Points = Annotated[float, Field(description="points, to two decimals")]
Percent = Annotated[float, Field(ge=0, le=100)]
Grade = Literal["A", "B", "C", "D"]
Level = Annotated[int, Field(ge=1, le=4, description="1 = most engaged")]
Rating = Annotated[str, Field(pattern=r"^[A-D][1-4]$", examples=["A1", "C3"])]
Count = Annotated[int, Field(ge=0)]
LeadStatus = Literal["open", "mql"]


# ---------------------------------------------------------------- refusals


class FieldError(BaseModel):
    """What is wrong with one field of the request."""

    field: str = Field(
        description="its path in the body (`[3].email`, `fit.categories[2].weight`); "
        "empty for the body itself",
        examples=["[3].email"],
    )
    message: str
    line: int | None = Field(
        default=None,
        ge=1,
        description="a model's or a draft's problem: its line in the text sent (YAML, or JSON "
        "read as YAML)",
    )
    column: int | None = Field(default=None, ge=1, description="and its column")
    allowed: list[str] | None = Field(
        default=None,
        description="the values the field may take, where they are few (a list's `model`)",
        examples=[["analytics", "default"]],
    )


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: every refusal and fault, as `application/problem+json`.

    API Gateway's own refusals (deployed) add `request_id`.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["about:blank"])
    title: str = Field(description="the status's name", examples=["Unprocessable Content"])
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    detail: str = Field(examples=["1 of 2 events are not valid"])
    errors: list[FieldError] = Field(
        default_factory=list,
        min_length=1,
        description="validation failures only (absent otherwise): every problem found, at once",
    )


# ---------------------------------------------------------------- successes


class Health(BaseModel):
    status: Literal["ok"]


class EventsAccepted(BaseModel):
    """The events are queued for scoring (an id already seen is counted once)."""

    accepted: int = Field(ge=1, le=MAX_EVENTS)
    event_ids: list[str] = Field(
        description="in the order posted: each event's id or, without one, the id made from "
        "its content"
    )


class FormAccepted(BaseModel):
    """The submission is queued for scoring (or, from a bot, dropped: the answer is the same)."""

    status: Literal["accepted"]
    event_id: str


class SegmentAccepted(BaseModel):
    """Every call is queued (or, naming neither a lead nor a visitor, skipped)."""

    success: Literal[True]


class FormToken(BaseModel):
    """A signed form token: post it with the form as `_token` (bot checks, when turned on)."""

    token: str
    expires_in: int = Field(ge=1, description="seconds it is accepted for")


class Reason(BaseModel):
    """A rule's share of a score."""

    rule: str = Field(examples=["fit.job_title", "engagement.pricing_page", "decay"])
    points: Points
    count: Count = Field(description="how many events of that rule counted")
    text: str = Field(
        description="the reason in words (the rule's `label` in the model, when it has one)",
        examples=["Visited the pricing page twice", "Job title CTO: executive"],
    )


class Scores(BaseModel):
    """What a lead's and an account's scores for one model have in common."""

    model: str
    model_version: int = Field(ge=0)
    score: Percent
    fit: Percent
    engagement: Percent
    grade: Grade
    engagement_level: Level
    rating: Rating


class LeadScore(Scores):
    """A lead's scores for one model."""

    status: LeadStatus
    mql_since: datetime | None
    sla_due_at: datetime | None
    last_activity_at: datetime | None
    reasons: list[Reason] = Field(description="largest effect first; they add up to the score")


class LeadModelScore(LeadScore):
    """A lead's scores for one model, with the thresholds of that model its status crosses."""

    mql_threshold: Percent = Field(description="reaching it makes the lead an MQL", examples=[60])
    reset_threshold: Percent = Field(description="falling below it cools an MQL", examples=[45])


class Lead(BaseModel):
    """A lead's profile and its current scores, one per model."""

    email: str
    profile: dict[str, Any] | None
    profile_sources: dict[str, str] = Field(
        description="where each field's current value came from: `your systems` "
        "(POST /v1/events), `segment`, `form`, `typeform`, `snippet`, `sales`, "
        "`routing:<rule>`, ...; a field whose source is not known is left out",
        examples=[{"job_title": "your systems", "phone": "form"}],
    )
    account: str | None = Field(description="its company domain (none for free mail)")
    flags: list[str] = Field(examples=[["spam", "disqualified"]])
    feedback: Outcome | None = Field(description="the last sales outcome recorded")
    scores: list[LeadModelScore]


class RuleChange(BaseModel):
    rule: str
    points: Points


class ScoreChange(BaseModel):
    """One change of a lead's score: an event, a profile update, decay or a rescore."""

    kind: Literal["event", "profile", "decay", "rescore"]
    event_id: str | None
    event_type: str | None
    at: datetime
    points: Points
    rule: str | None = Field(description="the engagement rule the event matched")
    limited: bool = Field(description="that rule's limit was already reached: 0 points")
    rules: list[RuleChange]
    machine: str | None = Field(
        default=None,
        description="why the event was taken for a machine's and earned nothing "
        "(domain/machine.py); absent for a person's",
        examples=["click_at_delivery", "provider_flag:sg_machine_open"],
    )


class ModelHistory(BaseModel):
    model: str
    points: Points = Field(description="the sum of the changes: the current score")
    changes: list[ScoreChange] = Field(description="oldest first")


class LeadHistory(BaseModel):
    """Every change of a lead's scores, with the rule behind it."""

    email: str
    history: list[ModelHistory]


class FeedbackRecorded(BaseModel):
    status: Literal["recorded"]
    outcome: Outcome


class AccountPerson(BaseModel):
    """One person's contribution to the account's score."""

    email: str | None = Field(description="none when the person was erased a moment ago")
    name: str | None
    job_title: Any
    company: Any
    points: Points
    parts: dict[str, Points]
    engaged: bool
    counted: bool
    role: str | None
    fit: Percent
    engagement: Percent


class AccountScore(Scores):
    """An account's scores for one model."""

    status: Literal["open", "mqa"]
    mqa_since: datetime | None
    engaged_people: Count
    roles: list[str]
    parts: dict[str, Points]
    people: list[AccountPerson] = Field(description="they add up to the score")


class AccountScores(BaseModel):
    account: str = Field(examples=["acme.com"])
    scores: list[AccountScore]


class LeadListRow(BaseModel):
    """A lead in a list, for one model."""

    email: str | None = Field(description="none for a state written before lists existed")
    name: str | None
    company: str | None
    account: str | None = Field(description="its company domain (none for free mail)")
    owner: str | None = Field(description="the salesperson who follows it up")
    score: Percent
    fit: Percent
    engagement: Percent
    rating: Rating
    status: LeadStatus
    mql_since: datetime | None
    sla_due_at: datetime | None = Field(description="the follow-up deadline of an MQL")
    last_activity_at: datetime | None


class LeadList(BaseModel):
    """A page of a lead list."""

    leads: list[LeadListRow] = Field(max_length=200)
    next_cursor: str | None = Field(
        description="the next page's `cursor` (with the same other parameters, within an "
        "hour); none on the last page. A page may be short and still have one"
    )


class AccountListRow(BaseModel):
    """An account in a list, for one model."""

    account: str = Field(examples=["acme.com"])
    score: Percent
    rating: Rating
    status: Literal["open", "mqa"]
    mqa_since: datetime | None


class AccountList(BaseModel):
    """A page of an account list."""

    accounts: list[AccountListRow] = Field(max_length=200)
    next_cursor: str | None = Field(description="as for lead lists")


class LoggedNotification(BaseModel):
    """A notification sales were sent (or are about to be), as the log keeps it 30 days."""

    id: str = Field(examples=["lead.mql:default:3f2a9c0e5b7d1a4c:1793534400"])
    kind: Literal["lead.mql", "lead.cooled", "lead.sla_breached", "account.mqa", "account.cooled"]
    email: str | None = Field(description="the lead's (an account's: its strongest person's)")
    model: str
    subject: str
    created_at: datetime = Field(description="when it was recorded")
    state: Literal["sent", "pending"] = Field(
        description="pending: not published yet (SNS unavailable: retried at the lead's next "
        "write, or its next decay check)"
    )
    sent_at: datetime | None


class NotificationLog(BaseModel):
    """A page of the recent notifications, newest first."""

    notifications: list[LoggedNotification]
    next_cursor: str | None = Field(description="the next page's cursor; none on the last")


class ModelEntry(BaseModel):
    id: str
    version: int = Field(ge=1, description="the current version")
    published_at: int = Field(description="epoch seconds")


class ModelList(BaseModel):
    models: list[ModelEntry]


class ModelPublished(BaseModel):
    id: str
    version: int = Field(ge=1, description="the version just published")


JobStatus = Literal["queued", "running", "completed", "incomplete"]


class RescoreJob(BaseModel):
    """What a rescore job's answers have in common."""

    job_id: str
    model: str
    model_version: int = Field(ge=1)
    dry_run: bool
    notify: bool


class RescoreStarted(RescoreJob):
    """The job is queued; its progress is at `progress_url`."""

    status: Literal["queued"]
    starts_at: datetime = Field(description="once every scorer uses this version")
    progress_url: str = Field(examples=["/v1/models/default/rescore/0193..."])


class ScoreSnapshot(BaseModel):
    score: Percent
    rating: Rating
    status: LeadStatus


class RescoredLead(BaseModel):
    email: str | None = Field(description="none when the lead was erased since")
    before: ScoreSnapshot
    after: ScoreSnapshot


class ScoreHistograms(BaseModel):
    """How many leads score 0-10, 10-20, ... 90-100 (100 in the last bin)."""

    before: list[Count] = Field(
        min_length=10, max_length=10, description="by the stored scores (leads that had one)"
    )
    after: list[Count] = Field(min_length=10, max_length=10, description="by the dry run")


class Chunks(BaseModel):
    listed: Count
    done: Count


class RescoreProgress(RescoreJob):
    """A rescore job's status, counters and a sample of the leads it changed."""

    status: JobStatus = Field(
        description="`incomplete`: some steps failed, until they are redriven from the DLQ"
    )
    at: datetime = Field(description="the moment every lead is rescored as of")
    starts_at: datetime
    created_at: datetime
    finished_at: datetime | None
    leads_total: Count = Field(description="the leads listed so far")
    listing_complete: bool
    leads_done: Count
    changed: Count
    rating_changes: Count
    new_mqls: Count
    lost_mqls: Count
    failures: Count
    notifications: Count
    chunks: Chunks
    failed_chunks: Count
    failed_pages: Count
    sample: list[RescoredLead] = Field(max_length=20)
    scores: ScoreHistograms | None = Field(default=None, description="dry runs only")
    ratings: dict[str, dict[Rating, Count]] | None = Field(
        default=None,
        description="dry runs only: leads by rating before (`none`: not scored by the model "
        "yet), then by rating after",
        examples=[{"B2": {"A1": 3, "B2": 40}, "none": {"C3": 2}}],
    )
    became_mql: list[str] | None = Field(
        default=None,
        max_length=20,
        description="dry runs only: emails of leads that would become MQLs (a sample)",
    )
    left_mql: list[str] | None = Field(
        default=None, max_length=20, description="dry runs only: and of MQLs that would not be"
    )


class DraftProblem(BaseModel):
    """One problem of a model draft, at its path and its place in the YAML text."""

    path: str = Field(
        description="`engagement.rules[3].points`; empty for the draft itself (a YAML syntax "
        "error)",
        examples=["engagement.rules[3].points"],
    )
    message: str
    line: int | None = Field(ge=1, description="1-based; null when the draft was not text")
    column: int | None = Field(ge=1)


class DraftValidation(BaseModel):
    """Whether a draft could be published, and every problem it has."""

    valid: bool
    problems: list[DraftProblem] = Field(
        description="the first 200, then one (path empty) saying how many more there are"
    )


class TrialScores(BaseModel):
    """One lead scored by the current version and by a draft (nothing is written)."""

    before: LeadModelScore | None = Field(
        description="as GET /v1/leads/{email} shows it; null: none"
    )
    after: LeadModelScore = Field(
        description="the lead's log replayed with the draft (its thresholds), as of now"
    )
    difference: dict[str, Points] = Field(
        description="the points each rule moved (they add up to the score's change)",
        examples=[{"engagement.pricing_page": 10.0}],
    )
