"""The curator admin, one module per group of pages; importing a module registers its ModelAdmins.

- `mechanisms`: mechanisms with their evidence and the review workflow's buttons.
- `references`: references, the "Add references" page, citation updates and refresh runs.
- `taxonomy`: genes (with their aliases), therapies and cancer types.
- `releases`: data releases and the "Make a release now" button.
- `triage`: saved PubMed searches, their runs, and the queue of candidate papers.
- `users`: Django's user admin, without superuser grants for non-superusers.

Shared by them: `history` (history, diff and revert for every curated model),
`versioning` (optimistic concurrency in forms) and `common` (small helpers).
"""

from curation.admin import mechanisms, references, releases, taxonomy, triage, users  # noqa: F401
