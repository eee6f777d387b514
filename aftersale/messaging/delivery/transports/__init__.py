"""Ways to hand emails over: SMTP to a relay, or an email service through django-anymail.

`base.Transport` runs the same steps for every transport (build, send, classify into one
`Outcome`); `configured.configured_transport()` makes the one the settings choose, as read from the
environment by `config` (which imports nothing from Django: settings.py uses it)."""
