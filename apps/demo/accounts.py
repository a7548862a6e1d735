"""The demo's accounts: all with the demo password, an example.org address."""

from django.contrib.auth import get_user_model


def demo_user(username: str, first: str, last: str, password: str):
    """The demo account `username`, created with `password` the first time (a password
    changed since is kept); not saved again here."""
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={
            "first_name": first,
            "last_name": last,
            "email": f"{username}@demo.ocsge.example.org",
        },
    )
    if created:
        user.set_password(password)
        user.save()
    return user
