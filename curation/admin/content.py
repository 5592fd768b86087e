"""Admin for the atlas's content: mechanisms with their evidence, the taxonomy, and references.

Tuned for curators: related rows are picked by autocomplete, lists can be
searched and filtered, and every rule a curator must follow is written next
to the field it concerns. Review-workflow fields are shown, never edited
here: status changes go through the review workflow (curation/workflow.py),
which extends MechanismAdmin with its own mixin.

References carry PubMed's metadata, which curators never type: a reference
is added by PMID on the "Add references" page and its fields stay read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from curation.admin.pubmed import PubMedReferenceActions
from curation.admin.workflow import (
    CuratedAdminMixin,
    EvidenceWorkflowAdminMixin,
    HistoryAdminMixin,
    MechanismEvidenceInlineMixin,
    MechanismWorkflowAdminMixin,
)
from curation.citations import author_name, doi_url
from curation.importing import add_references, parse_pmids
from curation.models import CancerType, Evidence, Gene, Mechanism, Reference, Therapy
from curation.pubmed_records import plain_text, sanitize_html

IMPORT_PERMISSION = "curation.import_references"
MAX_PMIDS_PER_PASTE = 10_000
LISTED_IN_MESSAGE = 30  # PMIDs named in a confirmation before "and N more"


def _on_changelist(request, model_admin) -> bool:
    """Whether this request renders the model's list (where per-row counts are worth a join)."""
    match = getattr(request, "resolver_match", None)
    opts = model_admin.opts
    return bool(match) and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist"


def _pmid_list(pmids) -> str:
    shown = ", ".join(str(pmid) for pmid in pmids[:LISTED_IN_MESSAGE])
    rest = len(pmids) - LISTED_IN_MESSAGE
    return f"{shown} and {rest} more" if rest > 0 else shown


# ---------------------------------------------------------------------------
# Taxonomy
# ---------------------------------------------------------------------------
class _CountsMechanisms:
    """Adds a 'mechanisms' column counting the mechanisms that name the row."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _on_changelist(request, self):
            queryset = queryset.annotate(mechanism_count=Count("mechanisms", distinct=True))
        return queryset

    @admin.display(description="mechanisms", ordering="mechanism_count")
    def mechanism_count(self, obj):
        return getattr(obj, "mechanism_count", None)


@admin.register(Gene)
class GeneAdmin(CuratedAdminMixin, _CountsMechanisms, admin.ModelAdmin):
    list_display = ("symbol", "name", "hgnc_id", "ncbi_gene_id", "mechanism_count")
    search_fields = ("symbol", "name", "hgnc_id")
    fields = ("symbol", "name", "hgnc_id", "ncbi_gene_id")


@admin.register(Therapy)
class TherapyAdmin(CuratedAdminMixin, _CountsMechanisms, admin.ModelAdmin):
    list_display = ("name", "therapy_class", "ncit_code", "mechanism_count")
    list_filter = ("therapy_class",)
    search_fields = ("name", "slug", "therapy_class", "ncit_code")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "therapy_class", "ncit_code")


@admin.register(CancerType)
class CancerTypeAdmin(CuratedAdminMixin, _CountsMechanisms, admin.ModelAdmin):
    list_display = ("name", "doid", "ncit_code", "mechanism_count")
    search_fields = ("name", "slug", "doid", "ncit_code")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "doid", "ncit_code")


# ---------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------
EVIDENCE_HELP_TEXTS = {
    "reference": "The paper the claim rests on. Not in the list? Add it by PMID on the "
    "“Add references” page (References › Add references) first.",
    "direction": "Refutes: the paper argues against the mechanism. Record refuting papers too.",
    "level": "The strongest kind of data in the paper behind this claim, not the journal's prestige.",
    "therapy": "Only if the claim is about one therapy.",
    "cancer_type": "Only if the claim is about one cancer type.",
    "phenotype": "Primary: never responds; adaptive: adapts during response; acquired: relapses after response.",
}


class EvidenceForm(forms.ModelForm):
    class Meta:
        model = Evidence
        fields = ("reference", "statement", "direction", "level", "therapy", "cancer_type", "phenotype", "locator")
        help_texts = EVIDENCE_HELP_TEXTS
        widgets = {"statement": forms.Textarea(attrs={"rows": 2, "cols": 50})}


class EvidenceFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """Refuse the same claim from the same paper twice within one save.

        The database refuses it too (case-insensitively), but only after the
        rows of the form are written; here the curator gets a message instead.
        """
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            reference, statement = form.cleaned_data.get("reference"), form.cleaned_data.get("statement")
            if reference is None or not statement:
                continue
            key = (reference.pk, statement.strip().lower())
            if key in seen:
                raise ValidationError(f"Two rows cite PMID {reference.pmid} for the same claim; keep one.")
            seen.add(key)


class _NoAddingReferencesInline:
    """References are added by PMID only, so hide the '+' that would open a blank reference form."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "reference" and formfield is not None:
            formfield.widget.can_add_related = False
        return formfield


class EvidenceInline(MechanismEvidenceInlineMixin, _NoAddingReferencesInline, admin.TabularInline):
    model = Evidence
    form = EvidenceForm
    formset = EvidenceFormSet
    extra = 1
    autocomplete_fields = ("reference", "therapy", "cancer_type")
    verbose_name = "evidence item"
    verbose_name_plural = "evidence: one claim per row, each resting on one reference"

    def get_queryset(self, request):
        # Each row prints its evidence's name, which reads the mechanism and the reference.
        return super().get_queryset(request).select_related("mechanism", "reference")


@admin.register(Evidence)
class EvidenceAdmin(EvidenceWorkflowAdminMixin, _NoAddingReferencesInline, admin.ModelAdmin):
    form = EvidenceForm
    list_display = ("mechanism", "cited_reference", "short_statement", "direction", "level", "therapy", "cancer_type")
    list_select_related = ("mechanism", "reference", "therapy", "cancer_type")
    list_filter = ("direction", "level", "phenotype", "mechanism__category", "therapy", "cancer_type")
    search_fields = ("statement", "mechanism__name", "mechanism__slug", "reference__pmid__exact", "reference__title")
    autocomplete_fields = ("mechanism", "reference", "therapy", "cancer_type")
    readonly_fields = ("created_by", "created_at", "updated_at")
    fields = ("mechanism", *EvidenceForm.Meta.fields, *readonly_fields)

    @admin.display(description="reference", ordering="reference__pmid")
    def cited_reference(self, obj):
        return _short_citation(obj.reference)

    @admin.display(description="statement")
    def short_statement(self, obj):
        return Truncator(obj.statement).chars(90)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# ---------------------------------------------------------------------------
# Mechanisms
# ---------------------------------------------------------------------------
WORKFLOW_FIELDS = (
    "status",
    "revision_of",
    "submitted_by",
    "submitted_at",
    "reviewed_by",
    "reviewed_at",
    "rejection_reason",
    "published_at",
    "version",
)
RECORD_FIELDS = ("created_by", "created_at", "updated_by", "updated_at")
MECHANISM_HELP_TEXTS = {
    "name": "What the tumour or its environment does, as a reader would search for it (e.g. “Loss of B2M”).",
    "category": "Tumour-intrinsic: a property of the cancer cells. Tumour-extrinsic: of the stroma, immune "
    "cells, microbiome or host.",
    "genes": "HGNC symbols of the genes whose alteration causes the mechanism, not every gene mentioned.",
    "therapies": "Therapies the cited evidence shows the mechanism resisting.",
    "cancer_types": "Cancer types the cited evidence covers; leave empty when it holds across cancers.",
}


@admin.register(Mechanism)
class MechanismAdmin(MechanismWorkflowAdminMixin, admin.ModelAdmin):
    inlines = [EvidenceInline]
    list_display = ("name", "slug", "category", "parent", "workflow_state", "evidence_count", "updated_at")
    list_select_related = ("parent",)
    list_filter = (
        "status",
        "category",
        "primary_resistance",
        "adaptive_resistance",
        "acquired_resistance",
        ("parent", admin.RelatedOnlyFieldListFilter),
        ("therapies", admin.RelatedOnlyFieldListFilter),
        ("cancer_types", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("name", "slug", "summary", "genes__symbol")
    autocomplete_fields = ("parent", "genes", "therapies", "cancer_types")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = (*WORKFLOW_FIELDS, *RECORD_FIELDS)
    fieldsets = (
        (None, {"fields": ("name", "slug", "category", "parent")}),
        (
            "What it is and how to overcome it",
            {
                "fields": ("summary", "strategies"),
                "description": "Write for a clinician or scientist, in your own words. Every statement must be "
                "backed by an evidence row below.",
            },
        ),
        ("Genes, therapies and cancer types", {"fields": ("genes", "therapies", "cancer_types")}),
        (
            "Resistance phenotypes",
            {
                "fields": ("primary_resistance", "adaptive_resistance", "acquired_resistance"),
                "description": "Tick every kind of resistance the cited evidence shows.",
            },
        ),
        (
            "Review",
            {
                "fields": WORKFLOW_FIELDS,
                "description": "Set by the review workflow: submit, publish, reject and retire are actions, not edits.",
            },
        ),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _on_changelist(request, self):
            # Only on the list: elsewhere a GROUP BY would get in the way (e.g. SELECT ... FOR UPDATE).
            queryset = queryset.annotate(evidence_count=Count("evidence", distinct=True))
        return queryset

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.path == reverse(f"{self.admin_site.name}:autocomplete"):
            # A pending revision is not a mechanism of its own: never offer it as a parent or to cite.
            queryset = queryset.filter(revision_of__isnull=True)
        return queryset, may_have_duplicates

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.published_at is not None:
            # Published slugs are cited by readers: changing one would break their links.
            readonly = ("slug", *readonly)
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        kwargs["help_texts"] = {**MECHANISM_HELP_TEXTS, **kwargs.get("help_texts", {})}
        return super().get_form(request, obj, **kwargs)

    def get_prepopulated_fields(self, request, obj=None):
        # Only a new mechanism's slug follows its name; afterwards the slug is an identifier.
        return super().get_prepopulated_fields(request, obj) if obj is None else {}

    @admin.display(description="evidence", ordering="evidence_count")
    def evidence_count(self, obj):
        return getattr(obj, "evidence_count", None)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is Evidence:
            for evidence_form in formset.forms:
                if evidence_form.instance.pk is None:
                    evidence_form.instance.created_by = request.user
        super().save_formset(request, form, formset, change)


# ---------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------
def _short_citation(reference: Reference) -> str:
    first = author_name(reference.authors[0]) if reference.authors else ""
    parts = [first, str(reference.pub_year or ""), reference.journal_iso]
    if not any(parts):
        return str(reference)
    return f"PMID {reference.pmid}: " + ", ".join(part for part in parts if part)


class AddReferencesForm(forms.Form):
    pmids = forms.CharField(
        label="PMIDs",
        widget=forms.Textarea(attrs={"rows": 12, "cols": 40, "autofocus": True}),
        help_text="One per line, or separated by commas, semicolons or spaces. A PMID is 1 to 9 digits without a "
        "leading zero (e.g. 29968044). PMIDs already in the atlas are left as they are.",
        error_messages={"required": "Paste at least one PMID."},
    )

    def clean_pmids(self):
        parsed = parse_pmids(self.cleaned_data["pmids"])
        if parsed.errors:
            raise ValidationError(parsed.errors)
        if not parsed.pmids:
            raise ValidationError(self.fields["pmids"].error_messages["required"])
        if len(parsed.pmids) > MAX_PMIDS_PER_PASTE:
            raise ValidationError(f"At most {MAX_PMIDS_PER_PASTE} PMIDs at a time; this has {len(parsed.pmids)}.")
        return parsed


@admin.register(Reference)
class ReferenceAdmin(HistoryAdminMixin, PubMedReferenceActions, admin.ModelAdmin):
    list_display = ("pmid", "citation", "short_title", "metadata_state", "flags", "evidence_count", "fetched_at")
    list_filter = ("metadata_state", "is_retracted", "has_erratum", "has_expression_of_concern", "is_book")
    # `pmid__exact` compares the PMID as text, so a search for a word does not fail on the integer column.
    search_fields = ("pmid__exact", "doi", "pmcid", "title")
    fieldsets = (
        ("State", {"fields": ("metadata_state", "fetched_at", "last_error", "verified_by", "verified_at")}),
        (
            "Citation (from PubMed, read-only)",
            {
                "fields": (
                    "pubmed_link",
                    "doi_link",
                    "pmcid",
                    "display_title",
                    "author_list",
                    "journal_title",
                    "journal_iso",
                    "volume",
                    "issue",
                    "pages",
                    "pub_year",
                    "pub_date",
                    "is_book",
                ),
                "description": "Metadata comes from PubMed and is never typed by hand; a refresh proposes "
                "changes for review instead of overwriting.",
            },
        ),
        ("Abstract", {"fields": ("abstract_sections",)}),
        ("Corrections", {"fields": ("flags", "correction_list")}),
        ("Indexing", {"fields": ("publication_type_list", "mesh_term_list", "keyword_list"), "classes": ["collapse"]}),
        ("PubMed XML", {"fields": ("raw_xml_block",), "classes": ["collapse"]}),
        ("Record", {"fields": ("version", "created_at", "updated_at"), "classes": ["collapse"]}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _on_changelist(request, self):
            queryset = queryset.annotate(evidence_count=Count("evidence", distinct=True))
        return queryset

    def get_urls(self):
        opts = self.opts
        custom = [
            path(
                "add-pmids/",
                self.admin_site.admin_view(self.add_pmids_view),
                name=f"{opts.app_label}_{opts.model_name}_add_pmids",
            )
        ]
        return custom + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        # Curators never type citation metadata: a reference starts from its PMID.
        return redirect(f"{self.admin_site.name}:curation_reference_add_pmids")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Every field is read-only, so a Save button would only write an empty change into the history.
        context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def add_pmids_view(self, request):
        """The "Add references" page: paste PMIDs, get pending references (see curation.importing)."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        form = AddReferencesForm(request.POST) if request.method == "POST" else AddReferencesForm()
        if form.is_valid():
            parsed = form.cleaned_data["pmids"]
            result = add_references(parsed.pmids, by=request.user)
            self._report_added(request, parsed, result)
            return redirect(f"{self.admin_site.name}:curation_reference_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add references",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/curation/reference/add_pmids.html", context)

    def _report_added(self, request, parsed, result):
        if result.created:
            pmids = [reference.pmid for reference in result.created]
            messages.success(
                request,
                f"Added {len(pmids)} reference(s), pending until PubMed confirms them: {_pmid_list(pmids)}.",
            )
        if result.existing:
            messages.info(
                request, f"{len(result.existing)} already present, left unchanged: {_pmid_list(result.existing)}."
            )
        if parsed.repeated:
            messages.info(request, f"Listed more than once, counted once: {_pmid_list(parsed.repeated)}.")

    # --- read-only displays; PubMed text is sanitised, everything else escaped ---

    @admin.display(description="citation")
    def citation(self, obj):
        return _short_citation(obj)

    @admin.display(description="title")
    def short_title(self, obj):
        return Truncator(plain_text(obj.title)).chars(80)

    @admin.display(description="PMID")
    def pubmed_link(self, obj):
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', obj.pubmed_url, obj.pmid)

    @admin.display(description="DOI")
    def doi_link(self, obj):
        if not obj.doi:
            return "—"
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', doi_url(obj.doi), obj.doi)

    @admin.display(description="title")
    def display_title(self, obj):
        return mark_safe(sanitize_html(obj.title)) if obj.title else "—"  # noqa: S308 (sanitised above)

    @admin.display(description="authors")
    def author_list(self, obj):
        if not obj.authors:
            return "—"
        items = format_html_join(
            "",
            "<li>{}{}</li>",
            (
                (
                    author_name(author),
                    format_html(' (<a href="https://orcid.org/{}">ORCID</a>)', author["orcid"])
                    if author.get("orcid")
                    else "",
                )
                for author in obj.authors
            ),
        )
        return format_html("<ol>{}</ol>", items)

    @admin.display(description="abstract")
    def abstract_sections(self, obj):
        if not obj.abstract:
            return "—"
        return format_html_join(
            "",
            "<p>{}{}</p>",
            (
                (
                    format_html("<strong>{}:</strong> ", section["label"]) if section.get("label") else "",
                    mark_safe(sanitize_html(section.get("text", ""))),  # noqa: S308 (sanitised)
                )
                for section in obj.abstract
            ),
        )

    @admin.display(description="flags")
    def flags(self, obj):
        labels = [
            label
            for on, label in (
                (obj.is_retracted, "Retracted"),
                (obj.has_erratum, "Erratum"),
                (obj.has_expression_of_concern, "Expression of concern"),
            )
            if on
        ]
        return ", ".join(labels) or "—"

    @admin.display(description="linked notices")
    def correction_list(self, obj):
        if not obj.corrections:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: PMID {} {}</li>",
                (
                    (item.get("type", ""), item.get("pmid") or "?", f"({item['source']})" if item.get("source") else "")
                    for item in obj.corrections
                ),
            ),
        )

    @admin.display(description="publication types")
    def publication_type_list(self, obj):
        return "; ".join(map(str, obj.publication_types)) or "—"

    @admin.display(description="MeSH terms")
    def mesh_term_list(self, obj):
        return "; ".join(map(str, obj.mesh_terms)) or "—"

    @admin.display(description="keywords")
    def keyword_list(self, obj):
        return "; ".join(map(str, obj.keywords)) or "—"

    @admin.display(description="PubMed XML")
    def raw_xml_block(self, obj):
        if not obj.raw_xml:
            return "—"
        return format_html('<pre style="white-space: pre-wrap; max-height: 30em; overflow: auto">{}</pre>', obj.raw_xml)

    @admin.display(description="evidence", ordering="evidence_count")
    def evidence_count(self, obj):
        return getattr(obj, "evidence_count", None)
