from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Resistance Atlas curation"
admin.site.site_title = "Resistance Atlas"
admin.site.index_title = "Curation"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("curation.api.urls")),
    path("", include("curation.urls")),
]

# A database that does not answer gives 503 with Retry-After, not 500 (resistance_atlas/errors.py).
handler500 = "resistance_atlas.errors.server_error"
