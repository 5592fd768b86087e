"""The anonymous request rate of the API: past API_THROTTLE_RATE a client gets 429 with Retry-After."""

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import AnonRateThrottle


class AnonymousReaderThrottle(AnonRateThrottle):
    """Counts requests per client address in the `api-throttle` cache (Redis when API_THROTTLE_CACHE_URL is set).

    The rate is read on each request rather than once at import, so a changed
    setting (a test's, or a reload) takes effect at once.
    """

    def __init__(self):
        self.cache = caches["api-throttle"]
        super().__init__()

    def get_rate(self):
        return settings.API_THROTTLE_RATE
