"""Rate limit on filing, per user, on top of the API's general per-user rate."""

from rest_framework.throttling import UserRateThrottle


class FilingRateThrottle(UserRateThrottle):
    """`FILING_RATE` signalements per user (default 120 an hour): a town planner files a few
    dozen in a session; a script filing thousands is stopped with 429 and Retry-After."""

    scope = "filing"
