"""The client's address, the same for lockouts (django-axes), API throttles (DRF's
NUM_PROXIES) and password-reset limits.

Behind `TRUSTED_PROXY_COUNT` proxies, each appending the address it saw to X-Forwarded-For,
the client is the entry that many places from the right; anything further left was written
by the client and is ignored. Without the header (or with fewer entries), REMOTE_ADDR.
"""

from django.conf import settings


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    return hops[-proxies]
