"""Which of Django's system checks a command runs before it starts."""

from django.core.checks import Tags

# Every check but the URL configuration's: importing the URL patterns loads the whole
# web app, and only `serve`, which answers HTTP, needs them; `aftersale check` still
# checks them all. Database checks run only when asked for, as with Django's default.
# The security checks do run: among them the ESP webhooks' (tracking/webhooks.py), so
# that a worker with an ESP transport refuses to start without the webhook secret.
CHECKS_BUT_URLS = [
    tag
    for name, tag in vars(Tags).items()
    if not name.startswith("_") and tag not in (Tags.urls, Tags.database)
]
