"""Identifiers of papers and genes: URLs and Bioregistry compact identifiers (CURIEs).

Prefixes and local-id patterns follow Bioregistry (https://bioregistry.io): ``pubmed:28187290``,
``pmc:PMC5391692``, ``doi:10.1016/j.cell.2017.01.017``, ``hgnc:2434`` (the number only;
HGNC's own "HGNC:2434" is its banana form), ``ncbigene:567``. Each link goes to the
resource's own page, not to a resolver, so it works without Bioregistry being up.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

from curation.models import pubmed_url

__all__ = [
    "CompactId",
    "doi_url",
    "gene_ids",
    "is_doi",
    "pmc_url",
    "pubmed_url",
    "reference_ids",
]

# Bioregistry's pattern for doi (^10.\d{2,9}/.*$), tightened to one line without spaces:
# a DOI column holding anything else is not exported as a DOI or linked.
_DOI = re.compile(r"10\.\d{2,9}/\S+")
_PMCID = re.compile(r"PMC\d+")
_HGNC = re.compile(r"HGNC:(\d{1,5})")
# Characters a DOI may contain that would end or redirect a URL path are percent-encoded.
_DOI_SAFE = "/:;()[]._-,"


def is_doi(value: str) -> bool:
    """True for a syntactically valid DOI ('10.1016/j.cell.2017.01.017')."""
    return bool(value) and _DOI.fullmatch(value) is not None


def doi_url(doi: str) -> str:
    """https://doi.org/ link for a DOI, percent-encoding what a URL path cannot hold (e.g. SICI's '#').

    '' for an empty or malformed DOI, so that no page or export links something that is not one.
    """
    return f"https://doi.org/{quote(doi, safe=_DOI_SAFE)}" if is_doi(doi) else ""


def pmc_url(pmcid: str) -> str:
    return f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" if pmcid and _PMCID.fullmatch(pmcid) else ""


@dataclass(frozen=True)
class CompactId:
    """One identifier as a Bioregistry CURIE with the URL of the resource's page."""

    prefix: str
    local_id: str
    url: str

    @property
    def curie(self) -> str:
        return f"{self.prefix}:{self.local_id}"

    def __str__(self):
        return self.curie


def reference_ids(reference) -> list[CompactId]:
    """pubmed:, pmc: and doi: identifiers of a Reference, those it has, in that order."""
    ids = [CompactId("pubmed", str(reference.pmid), pubmed_url(reference.pmid))]
    if pmc_url(reference.pmcid):
        ids.append(CompactId("pmc", reference.pmcid, pmc_url(reference.pmcid)))
    if is_doi(reference.doi):
        ids.append(CompactId("doi", reference.doi, doi_url(reference.doi)))
    return ids


def gene_ids(gene) -> list[CompactId]:
    """hgnc: and ncbigene: identifiers of a Gene, those it has."""
    ids = []
    match = _HGNC.fullmatch(gene.hgnc_id or "")
    if match:
        url = f"https://www.genenames.org/data/gene-symbol-report/#!/hgnc_id/HGNC:{match.group(1)}"
        ids.append(CompactId("hgnc", match.group(1), url))
    if gene.ncbi_gene_id:
        ids.append(
            CompactId("ncbigene", str(gene.ncbi_gene_id), f"https://www.ncbi.nlm.nih.gov/gene/{gene.ncbi_gene_id}")
        )
    return ids
