from django.core.management.base import BaseCommand, CommandError

from curation.seeding import DEFAULT_SEED_PATH, SeedError, seed_atlas


class Command(BaseCommand):
    help = (
        "Load the seed taxonomy, references and evidence. Idempotent: creates only what is missing and never "
        "changes rows curators may have edited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(DEFAULT_SEED_PATH), help="Seed file (default: %(default)s).")

    def handle(self, *args, path, **options):
        try:
            report = seed_atlas(path)
        except SeedError as error:
            raise CommandError(f"{error} Nothing was loaded.") from error
        for line in report.lines():
            self.stdout.write(line)
        total = sum(report.created.values())
        self.stdout.write(self.style.SUCCESS(f"Seed loaded: {total} row(s) created."))
