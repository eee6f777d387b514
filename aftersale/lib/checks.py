"""Which of Django's system checks a command runs before it starts."""

from django.core.checks import Tags

# Every check but the URL configuration's: importing every URL pattern loads each email
# service's webhook code (boto3 for Amazon SES alone is ~0.2 s), and only `serve`, which
# answers HTTP, needs the URLs; `aftersale check` still checks them all. Database checks
# run only when asked for, as with Django's default.
CHECKS_BUT_URLS = [
    tag
    for name, tag in vars(Tags).items()
    if not name.startswith("_") and tag not in (Tags.urls, Tags.database)
]
