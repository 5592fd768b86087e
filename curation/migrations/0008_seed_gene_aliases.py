"""Give the genes an earlier seed created the aliases the seed now has.

The aliases field is new in 0003, so no curator can have written one yet: filling the empty
field overwrites nothing. Later seeds only create missing genes (curation/seeding.py), so
from here on the curators own every gene's aliases. The table is frozen here, not read from
the seed file, so that this migration means the same thing whenever it runs.
"""

from django.db import migrations

SEED_ALIASES = {
    "ADORA2A": "A2AR",
    "ADORA2B": "A2BR",
    "ARID2": "BAF200",
    "B2M": "beta-2-microglobulin",
    "CD226": "DNAM-1",
    "CD274": "PD-L1, B7-H1, PDL1",
    "CEACAM1": "CD66a",
    "CSF1R": "CD115",
    "CTLA4": "CTLA-4, CD152",
    "CTNNB1": "beta-catenin",
    "CXCL8": "IL-8, IL8",
    "ENTPD1": "CD39",
    "FCGR2B": "CD32B",
    "HAVCR2": "TIM-3, TIM3",
    "IDO1": "IDO",
    "IFNG": "IFN-gamma",
    "IL2RA": "CD25",
    "LAG3": "LAG-3, CD223",
    "LGALS9": "galectin-9",
    "MAP2K1": "MEK1",
    "MAPK1": "ERK2",
    "MAPK3": "ERK1",
    "NOS2": "iNOS",
    "NT5E": "CD73",
    "PBRM1": "BAF180",
    "PDCD1": "PD-1, PD1, CD279",
    "PVR": "CD155",
    "STK11": "LKB1",
    "TAPBP": "tapasin",
    "TCF7": "TCF-1",
    "TDO2": "TDO",
    "TIGIT": "VSIG9, VSTM3",
    "VSIR": "VISTA, PD-1H, C10orf54",
}


def fill_empty_aliases(apps, schema_editor):
    Gene = apps.get_model("curation", "Gene")
    for gene in Gene.objects.filter(symbol__in=SEED_ALIASES, aliases=""):
        gene.aliases = SEED_ALIASES[gene.symbol]
        gene.save(update_fields=["aliases"])


class Migration(migrations.Migration):
    dependencies = [("curation", "0007_search_vectors")]

    operations = [migrations.RunPython(fill_empty_aliases, migrations.RunPython.noop)]
