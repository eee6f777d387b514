"""Which transport the environment chooses, and the options of the email service's
django-anymail backend, read from AFTERSALE_* variables. Imports nothing from Django:
settings.py calls it.

    AFTERSALE_EMAIL_TRANSPORT=smtp              the relay of AFTERSALE_SMTP_* (default)
    AFTERSALE_EMAIL_TRANSPORT=anymail:postmark  any ESP django-anymail has a backend for
    AFTERSALE_ESP_API_KEY=...                   the ESP's key, token or secret
    AFTERSALE_ESP_<NAME>=...                    any other anymail setting of that ESP, e.g.
                                                AFTERSALE_ESP_SENDER_DOMAIN for Mailgun
    AFTERSALE_ESP_<NAME>_FILE=/run/secrets/...  any of them read from a file instead
"""

from __future__ import annotations

import importlib.util
import os

from aftersale.lib.env import ConfigurationError, env_secret, env_str

TRANSPORT_VARIABLE = "AFTERSALE_EMAIL_TRANSPORT"
_ESP_PREFIX = "AFTERSALE_ESP_"
# What each ESP's anymail backend calls its credential, where it is not API_KEY.
_CREDENTIAL_NAME = {
    "postmark": "server_token",
    "mailersend": "api_token",
    "mailtrap": "api_token",
    "scaleway": "secret_key",
}


def email_transport() -> str:
    """ "smtp" or "anymail:<esp>" from AFTERSALE_EMAIL_TRANSPORT; an unknown value, or an
    ESP django-anymail has no backend for, is a ConfigurationError naming the variable."""
    value = env_str(TRANSPORT_VARIABLE, "smtp").strip().lower()
    if value == "smtp":
        return value
    kind, _, esp = value.partition(":")
    if kind != "anymail" or not esp.isidentifier():
        raise ConfigurationError(
            f"{TRANSPORT_VARIABLE}={value!r} is neither 'smtp' nor 'anymail:<esp>' "
            "(e.g. anymail:postmark)"
        )
    if importlib.util.find_spec(f"anymail.backends.{esp}") is None:
        raise ConfigurationError(
            f"{TRANSPORT_VARIABLE}={value!r}: django-anymail has no backend {esp!r}"
        )
    return value


def esp_options(transport: str) -> dict[str, str]:
    """The options for `transport`'s anymail backend from AFTERSALE_ESP_* variables, by
    the names the backend takes them (AFTERSALE_ESP_API_KEY becomes "server_token" for
    Postmark, "api_key" for most), each read from the file AFTERSALE_ESP_<NAME>_FILE names
    where that is set (env_secret); none for smtp. Passed to the backend directly, they
    win over any ANYMAIL setting of the same name."""
    if not transport.startswith("anymail:"):
        return {}
    esp = transport.removeprefix("anymail:")
    variables = {
        variable.removesuffix("_FILE")
        for variable, value in os.environ.items()
        if variable.startswith(_ESP_PREFIX) and value
    }
    options = {}
    for variable in sorted(variables):
        name = variable.removeprefix(_ESP_PREFIX).lower()
        options[_CREDENTIAL_NAME.get(esp, name) if name == "api_key" else name] = env_secret(
            variable
        )
    return options


def credential_option(esp: str) -> str:
    """The name under which `esp`'s anymail backend takes its API key (or token)."""
    return _CREDENTIAL_NAME.get(esp, "api_key")


def esp_settings(transport: str, options: dict[str, str]) -> dict[str, str]:
    """`options` (see esp_options) as ANYMAIL settings of `transport`'s ESP, named
    "<ESP>_<NAME>" (e.g. MAILGUN_WEBHOOK_SIGNING_KEY), which is where anymail's webhook
    views look for them: the backend is given the options directly, the views are not.
    None for smtp."""
    esp = transport.removeprefix("anymail:").upper() if transport.startswith("anymail:") else ""
    return {f"{esp}_{name.upper()}": value for name, value in options.items()} if esp else {}
