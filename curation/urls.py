from django.urls import path

from curation import dashboard, views

urlpatterns = [
    path("", views.home, name="home"),
    path("mechanisms/", views.mechanism_list, name="mechanism-list"),
    path("mechanisms/<slug:slug>/", views.mechanism_detail, name="mechanism-detail"),
    path("references/<int:pmid>/", views.reference_detail, name="reference-detail"),
    path("references/<int:pmid>/cite.<slug:fmt>", views.reference_export, name="reference-export"),
    path("genes/<str:symbol>/", views.gene_detail, name="gene-detail"),
    path("curation/dashboard/", dashboard.dashboard, name="curation-dashboard"),
]
