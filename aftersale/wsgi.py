"""The WSGI entry point (`aftersale serve` uses it; so can any WSGI server)."""

import os

from django.core.wsgi import get_wsgi_application

from aftersale.lib import installation

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
# A WSGI server imports this module to start: prepare the home as `aftersale` does.
installation.prepare()
application = get_wsgi_application()
