from django.contrib.auth import views as auth_views
from django.urls import path

from curation import browse_views, cite_views, dashboard, release_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("evidence/", views.evidence_list, name="evidence-list"),
    path("evidence/cite.<str:fmt>", cite_views.evidence_export, name="evidence-export"),
    path("mechanisms/", views.mechanism_list, name="mechanism-list"),
    path("mechanisms/<slug:slug>/", views.mechanism_detail, name="mechanism-detail"),
    # Citing: exports, published versions and their permalinks (curation/cite_views.py).
    path("mechanisms/<slug:slug>/cite.<str:fmt>", cite_views.mechanism_export, name="mechanism-export"),
    path("mechanisms/<slug:slug>/versions/", cite_views.mechanism_versions, name="mechanism-versions"),
    path("mechanisms/<slug:slug>/versions/<int:number>/", cite_views.mechanism_version, name="mechanism-version"),
    path(
        "mechanisms/<slug:slug>/versions/<int:number>/entry.<str:fmt>",
        cite_views.mechanism_version_entry,
        name="mechanism-version-entry",
    ),
    path(
        "mechanisms/<slug:slug>/versions/<int:number>/cite.<str:fmt>",
        cite_views.mechanism_version_references,
        name="mechanism-version-references",
    ),
    path("mechanisms/<slug:slug>/suggest/", views.suggest_paper, name="suggest-paper"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="curation/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="home"), name="logout"),
    path("references/", browse_views.reference_list, name="reference-list"),
    path("references/<int:pmid>/", views.reference_detail, name="reference-detail"),
    path("references/<int:pmid>/cite.<str:fmt>", cite_views.reference_export, name="reference-export"),
    path("genes/", browse_views.gene_list, name="gene-list"),
    path("genes/<str:symbol>/", views.gene_detail, name="gene-detail"),
    path("therapies/<str:slug>/", browse_views.therapy_detail, name="therapy-detail"),
    path("cancer-types/<str:slug>/", browse_views.cancer_type_detail, name="cancer-type-detail"),
    path("curation/dashboard/", dashboard.dashboard, name="curation-dashboard"),
    path("downloads/", release_views.downloads, name="downloads"),
    path("downloads/<int:number>/<str:name>", release_views.release_file, name="release-file"),
]
