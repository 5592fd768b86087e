"""Give every evidence item a model system, separate from its level.

Existing rows (and their history, so that reverting to an old version stays valid) get the
model system their level and statement imply, by the rules in `model_system_for` below,
frozen here so that this migration means the same thing whenever it runs
(docs/consensus.md lists them):

- review → not applicable; computational → computational; case report → case report
- clinical cohort → clinical trial if the statement speaks of a trial (trial, phase, randomised),
  else patient cohort
- preclinical in vivo → a screen if the statement says CRISPR or screen; xenograft/PDX if it says
  xenograft, PDX, patient-derived or humanised mice; genetically engineered mouse if it says
  genetically engineered, GEMM, transgenic, autochthonous, knockout or deficient mice; else syngeneic
  mouse (transplanted mouse tumours, the common case)
- in vitro → a screen if the statement says CRISPR or screen; organoid if it says organoid; else
  cell line

Curators correct a row in the admin where the rule guessed wrong; the seed states each row's.
"""

from django.db import migrations, models
from django.db.models import Q

TRIAL_WORDS = ("trial", "phase ", "randomi")
SCREEN_WORDS = ("crispr", "screen")
XENOGRAFT_WORDS = ("xenograft", "pdx", "patient-derived", "humanised mice", "humanized mice")
ENGINEERED_WORDS = (
    "genetically engineered",
    "gemm",
    "transgenic",
    "autochthonous",
    "knockout mice",
    "deficient mice",
)


def model_system_for(level: str, statement: str) -> str:
    text = (statement or "").lower()

    def says(words):
        return any(word in text for word in words)

    if level == "review":
        return "not-applicable"
    if level in ("computational", "case-report"):
        return level
    if level == "clinical-cohort":
        return "clinical-trial" if says(TRIAL_WORDS) else "patient-cohort"
    if level == "preclinical-in-vivo":
        if says(SCREEN_WORDS):
            return "screen"
        if says(XENOGRAFT_WORDS):
            return "xenograft-pdx"
        if says(ENGINEERED_WORDS):
            return "engineered-mouse"
        return "syngeneic-mouse"
    # in vitro (and anything unforeseen: the level's check constraint allows nothing else)
    if says(SCREEN_WORDS):
        return "screen"
    return "organoid" if "organoid" in text else "cell-line"


def fill_model_systems(apps, schema_editor):
    for name in ("Evidence", "HistoricalEvidence"):
        model = apps.get_model("curation", name)
        rows = list(model.objects.only("pk", "level", "statement"))
        for row in rows:
            row.model_system = model_system_for(row.level, row.statement)
        model.objects.bulk_update(rows, ["model_system"], batch_size=500)


REVIEW = Q(level="review")


class Migration(migrations.Migration):
    dependencies = [("curation", "0011_worker_heartbeat")]

    operations = [
        migrations.AddField(
            model_name="evidence",
            name="model_system",
            field=models.CharField(
                choices=[
                    ("patient-cohort", "Patient cohort"),
                    ("clinical-trial", "Clinical trial"),
                    ("case-report", "Case report"),
                    ("syngeneic-mouse", "Syngeneic mouse"),
                    ("engineered-mouse", "Genetically engineered mouse"),
                    ("xenograft-pdx", "Xenograft / PDX"),
                    ("organoid", "Organoid"),
                    ("cell-line", "Cell line"),
                    ("screen", "CRISPR or other screen"),
                    ("computational", "Computational"),
                    ("not-applicable", "Not applicable (review)"),
                ],
                default="",
                help_text="What the claim was shown in: patients (cohort, trial, case report), mice (syngeneic, "
                "genetically engineered, xenograft/PDX), organoids, cell lines, a screen, or data analysed "
                "computationally. Reviews (and only reviews) are “Not applicable”.",
                max_length=24,
                verbose_name="model system",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalevidence",
            name="model_system",
            field=models.CharField(
                choices=[
                    ("patient-cohort", "Patient cohort"),
                    ("clinical-trial", "Clinical trial"),
                    ("case-report", "Case report"),
                    ("syngeneic-mouse", "Syngeneic mouse"),
                    ("engineered-mouse", "Genetically engineered mouse"),
                    ("xenograft-pdx", "Xenograft / PDX"),
                    ("organoid", "Organoid"),
                    ("cell-line", "Cell line"),
                    ("screen", "CRISPR or other screen"),
                    ("computational", "Computational"),
                    ("not-applicable", "Not applicable (review)"),
                ],
                default="",
                help_text="What the claim was shown in: patients (cohort, trial, case report), mice (syngeneic, "
                "genetically engineered, xenograft/PDX), organoids, cell lines, a screen, or data analysed "
                "computationally. Reviews (and only reviews) are “Not applicable”.",
                max_length=24,
                verbose_name="model system",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_model_systems, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="evidence",
            constraint=models.CheckConstraint(
                condition=Q(
                    model_system__in=[
                        "patient-cohort",
                        "clinical-trial",
                        "case-report",
                        "syngeneic-mouse",
                        "engineered-mouse",
                        "xenograft-pdx",
                        "organoid",
                        "cell-line",
                        "screen",
                        "computational",
                        "not-applicable",
                    ]
                ),
                name="evidence_model_system_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="evidence",
            constraint=models.CheckConstraint(
                condition=(REVIEW & Q(model_system="not-applicable")) | (~REVIEW & ~Q(model_system="not-applicable")),
                name="evidence_model_system_of_reviews",
                violation_error_message="A review's model system is “Not applicable”, and only a review's is.",
            ),
        ),
    ]
