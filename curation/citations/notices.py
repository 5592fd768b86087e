"""What PubMed's linked notices (retractions, errata, expressions of concern) are called."""

__all__ = ["CITED_NOTICE_TYPES", "CORRECTION_LABELS", "notice_note"]

CORRECTION_LABELS = {
    "RetractionIn": "Retraction notice",
    "RetractionOf": "Retraction of",
    "ErratumIn": "Erratum",
    "ErratumFor": "Erratum for",
    "ExpressionOfConcernIn": "Expression of concern",
    "ExpressionOfConcernFor": "Expression of concern for",
    "RetractedandRepublishedIn": "Retracted and republished as",
    "RetractedandRepublishedFrom": "Republished after retraction of",
    "CorrectedandRepublishedIn": "Corrected and republished as",
    "CorrectedandRepublishedFrom": "Corrected and republished from",
    "UpdateIn": "Updated in",
    "UpdateOf": "Update of",
    "RepublishedIn": "Republished in",
    "RepublishedFrom": "Republished from",
}
# The notices a reader of a citation must see (NLM's Citing Medicine adds them to the citation).
CITED_NOTICE_TYPES = (
    "RetractionIn",
    "RetractedandRepublishedIn",
    "RetractionOf",
    "ExpressionOfConcernIn",
    "ExpressionOfConcernFor",
    "ErratumIn",
    "ErratumFor",
)


def notice_note(reference) -> str:
    """'Retracted publication. Retraction notice: PMID 99000003.' (plain text), '' for a paper without notices."""
    parts = ["Retracted publication"] if reference.is_retracted else []
    for kind in CITED_NOTICE_TYPES:
        for correction in reference.corrections or []:
            if correction.get("type") != kind:
                continue
            target = f"PMID {correction['pmid']}" if correction.get("pmid") else correction.get("source", "")
            parts.append(f"{CORRECTION_LABELS[kind]}: {target}".rstrip(": "))
    return ". ".join(parts) + "." if parts else ""
