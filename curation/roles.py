"""The three staff roles and what each may do.

Kept as data so that the migration that creates the groups and the tests that
check the permission matrix read the same source.
"""

CURATOR = "Curator"
REVIEWER = "Reviewer"
ADMIN = "Admin"

# Permissions that pages and actions check by name.
IMPORT_REFERENCES = "curation.import_references"
VERIFY_REFERENCE = "curation.verify_reference"
REFRESH_REFERENCES = "curation.refresh_references"
MAKE_RELEASE = "curation.make_release"
TRIAGE_CANDIDATES = "curation.triage_candidate"
RUN_SAVED_SEARCHES = "curation.run_savedsearch"

# Literature triage: curators and up save PubMed searches, run them and decide the candidates they find.
TRIAGE_PERMISSIONS = [
    *(f"curation.{action}_savedsearch" for action in ("add", "change", "view")),
    RUN_SAVED_SEARCHES,
    "curation.view_searchrun",
    "curation.view_candidate",
    TRIAGE_CANDIDATES,
]

_EDITABLE = ["mechanism", "evidence", "reference", "gene", "therapy", "cancertype"]

CURATOR_PERMISSIONS = [
    *(f"curation.{action}_{model}" for model in _EDITABLE for action in ("add", "change", "view")),
    "curation.delete_evidence",
    "curation.submit_mechanism",
    IMPORT_REFERENCES,
    VERIFY_REFERENCE,
    "curation.view_refreshrun",
    "curation.view_citationupdate",
    "curation.change_citationupdate",
    *TRIAGE_PERMISSIONS,
]

REVIEWER_PERMISSIONS = [*CURATOR_PERMISSIONS, "curation.publish_mechanism"]

ADMIN_PERMISSIONS = [
    *REVIEWER_PERMISSIONS,
    REFRESH_REFERENCES,
    "curation.delete_mechanism",
    "curation.delete_reference",
    "curation.delete_gene",
    "curation.delete_therapy",
    "curation.delete_cancertype",
    "curation.add_refreshrun",
    "curation.change_refreshrun",
    MAKE_RELEASE,
    "curation.view_datarelease",
    "curation.delete_savedsearch",
    *(f"auth.{action}_{model}" for model in ("user", "group") for action in ("add", "change", "delete", "view")),
    # Sign-in lockouts (django-axes): see who was locked out, and lift a lockout by deleting the attempt.
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
    "axes.view_accesslog",
    "axes.view_accessfailurelog",
]

ROLE_PERMISSIONS = {CURATOR: CURATOR_PERMISSIONS, REVIEWER: REVIEWER_PERMISSIONS, ADMIN: ADMIN_PERMISSIONS}


def sync_role_groups(group_model, permission_model, *, skip_missing=False):
    """Create the three groups and give each exactly its permissions.

    Takes the models as arguments so that the data migrations can pass their
    historical models and tests the real ones. The permissions must exist,
    except with `skip_missing`: a data migration runs before the models of
    later migrations exist, so it grants what exists by then and the last
    migration that syncs grants the rest (tests/test_roles.py checks that the
    groups end up holding exactly these lists). Returns the names left out.
    """
    skipped = []
    for role, dotted_names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for dotted in dotted_names:
            app_label, codename = dotted.split(".")
            permission = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is None:
                if not skip_missing:
                    raise permission_model.DoesNotExist(f"permission {dotted} does not exist")
                skipped.append(dotted)
                continue
            wanted.append(permission)
        group.permissions.set(wanted)
    return skipped
