"""The curator dashboard: what needs a curator's or reviewer's attention now.

One page for signed-in staff with `curation.view_mechanism`: my drafts, work
waiting for my review, references and citation updates to check, PubMed fetches
that failed or found nothing, the literature queue per mechanism, mechanisms
citing retracted or corrected papers, and published mechanisms whose newest
evidence is older than `settings.EVIDENCE_STALE_YEARS`. Each section is one
query (plus one prefetch), whatever the amount of data; long lists are cut at
SECTION_LIMIT rows with a link to the full admin list.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, Q, Subquery
from django.template.response import TemplateResponse
from django.utils import timezone

from curation import candidates
from curation.models import Candidate, CitationUpdate, Evidence, Mechanism, Reference, Status

SECTION_LIMIT = 50


def _first(queryset):
    """Up to SECTION_LIMIT rows, and whether there were more."""
    rows = list(queryset[: SECTION_LIMIT + 1])
    return rows[:SECTION_LIMIT], len(rows) > SECTION_LIMIT


@staff_member_required
def dashboard(request):
    user = request.user
    if not user.has_perm("curation.view_mechanism"):
        raise PermissionDenied
    flagged_references = Reference.objects.flagged()
    stale_before = timezone.now().year - settings.EVIDENCE_STALE_YEARS

    sections = {
        "drafts": _first(
            Mechanism.objects.filter(status=Status.DRAFT)
            .filter(Q(created_by=user) | Q(updated_by=user))
            .select_related("revision_of", "reviewed_by")
            .order_by("-updated_at")
        ),
        "references": _first(Reference.objects.needs_review().order_by("fetched_at", "pmid")),
        "fetch_problems": _first(Reference.objects.fetch_problems().order_by("-updated_at", "pmid")),
        "citation_updates": _first(
            CitationUpdate.objects.filter(decision=CitationUpdate.Decision.PENDING)
            .select_related("reference")
            .order_by("created_at")
        ),
        "flagged": _first(
            Mechanism.objects.exclude(status=Status.RETIRED)
            .filter(evidence__reference__in=flagged_references)
            .distinct()
            .select_related("revision_of")
            .prefetch_related(
                Prefetch(
                    "evidence",
                    queryset=Evidence.objects.filter(reference__in=flagged_references).select_related("reference"),
                    to_attr="flagged_evidence",
                )
            )
            .order_by("name", "pk")
        ),
        "stale": _stale(stale_before),
    }
    if user.has_perm("curation.publish_mechanism"):
        # Nobody reviews their own submission, so those are not "waiting for me".
        sections["to_review"] = _first(
            Mechanism.objects.filter(status=Status.IN_REVIEW)
            .exclude(submitted_by=user)
            .select_related("submitted_by", "revision_of")
            .order_by("submitted_at")
        )
    literature = _literature(user) if user.has_perm("curation.view_candidate") else None
    context = {
        **admin.site.each_context(request),
        "title": "Curator dashboard",
        "literature": literature,
        "sections": sections,
        "stale_years": settings.EVIDENCE_STALE_YEARS,
        "stale_before": stale_before,
        "is_reviewer": "to_review" in sections,
    }
    return TemplateResponse(request, "curation/dashboard.html", context)


def _stale(stale_before: int):
    """Published mechanisms with no evidence newer than `stale_before`, by name; up to SECTION_LIMIT.

    Not "every mechanism's newest year, then the oldest first": that aggregates all the
    evidence of the atlas on each visit. A mechanism is stale when no evidence of it cites a
    paper after the cut-off (an anti-join that PostgreSQL stops after SECTION_LIMIT + 1 finds,
    walking mechanisms by name); the newest year is then looked up for the rows shown, and the
    most urgent (no dated evidence at all, then the oldest) come first among them.
    """
    recent = Evidence.objects.filter(mechanism=OuterRef("pk"), reference__pub_year__gt=stale_before)
    newest = (
        Evidence.objects.filter(mechanism=OuterRef("pk"), reference__pub_year__isnull=False)
        .order_by("-reference__pub_year")
        .values("reference__pub_year")[:1]
    )
    stale = Mechanism.objects.published().filter(~Exists(recent)).annotate(newest_year=Subquery(newest))
    rows, more = _first(stale.order_by("name", "pk"))
    rows.sort(key=lambda m: (m.newest_year is not None, m.newest_year or 0))
    return rows, more


def _literature(user) -> dict:
    """The literature queue in numbers: papers waiting, those assigned to me, and per mechanism (most first)."""
    waiting = Candidate.objects.waiting()
    per_mechanism = candidates.waiting_counts()
    top = sorted(per_mechanism.items(), key=lambda item: -item[1])[:SECTION_LIMIT]
    names = dict(Mechanism.objects.filter(pk__in=[pk for pk, _ in top]).values_list("pk", "name"))
    return {
        "waiting": waiting.count(),
        "mine": waiting.filter(assigned_to=user).count(),
        "mechanisms": [(pk, names.get(pk, "?"), n) for pk, n in top],
    }
