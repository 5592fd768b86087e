"""The curator admin, one module per concern.

Importing a module registers its ModelAdmins; add a line here for each new one.
"""

from curation.admin import (  # noqa: F401
    content,  # Mechanism, Evidence, Gene, Therapy, CancerType, Reference
    pubmed,  # RefreshRun, CitationUpdate, and ReferenceAdmin's PubMed actions and import page
    users,  # Django's user admin, without superuser grants for non-superusers
)
