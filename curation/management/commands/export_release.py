"""Write a data release of the published atlas now: `export_release` (docs/releases.md)."""

from django.core.management.base import BaseCommand, CommandError

from curation import releases


class Command(BaseCommand):
    help = (
        "Write a dated, numbered release of the published atlas (JSON and TSV, changelog, licence, citation, "
        "manifest with SHA-256 checksums) under DATA_RELEASES_DIR, and list it on the downloads page."
    )

    def handle(self, *args, **options):
        try:
            release = releases.export_release()
        except releases.ReleaseError as exc:
            raise CommandError(str(exc)) from exc
        summary = release.changes
        counts = ", ".join(f"{n} {name}" for name, n in release.counts.items())
        self.stdout.write(f"Release {release.number} written to {releases.release_path(release)}: {counts}.")
        changed = {
            section: ", ".join(f"{n} {name}" for name, n in summary[section].items()) or "nothing"
            for section in ("added", "changed", "removed")
        }
        self.stdout.write(
            f"Since the previous release: added {changed['added']}; changed {changed['changed']}; removed "
            f"{changed['removed']}; retired {len(summary['retired'])} mechanisms; newly retracted "
            f"{len(summary['newly_retracted'])} and newly corrected {len(summary['newly_corrected'])} papers."
        )
