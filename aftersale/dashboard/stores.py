"""Sign-in and stores: the first run of a new installation (its first login and store),
creating another store, a store's settings (with a test email) and its members, and the
invitation link that makes someone a member. Owners change settings and members;
marketers get a 403 that says so."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from aftersale.dashboard.views import _page, _store
from aftersale.integrations.csv_import import NON_PRODUCT_CODES
from aftersale.lib import clock
from aftersale.messaging.delivery.sending import send_store_notice
from aftersale.messaging.delivery.transports.base import Outcome, SendResult
from aftersale.messaging.delivery.transports.configured import describe_transport
from aftersale.stores.credentials import masked
from aftersale.stores.models import EmailTransport, MemberRole, SmtpSecurity, Store
from aftersale.stores.selectors import installation_is_new, role_in_store, store_members
from aftersale.stores.services import (
    EDITABLE_SETTINGS,
    InstallationNotNew,
    InvalidInput,
    InvitationError,
    LastOwner,
    accept_invitation,
    create_owned_store,
    invite_member,
    read_invitation,
    remove_member,
    set_up_installation,
    store_settings_problems,
    update_store_settings,
)

# Offered as the merchant types (any Babel locale is accepted).
COMMON_LOCALES = [
    "en_US",
    "en_GB",
    "en_AU",
    "en_CA",
    "de_DE",
    "de_AT",
    "de_CH",
    "fr_FR",
    "fr_CA",
    "fr_BE",
    "es_ES",
    "es_MX",
    "it_IT",
    "nl_NL",
    "nl_BE",
    "pt_PT",
    "pt_BR",
    "sv_SE",
    "da_DK",
    "nb_NO",
    "fi_FI",
    "pl_PL",
    "cs_CZ",
    "ja_JP",
    "ko_KR",
    "zh_CN",
    "ar_SA",
    "he_IL",
    "tr_TR",
]


def _text(label: str, *, required: bool = False, help_text: str = "", **attrs: Any) -> Any:
    widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", **attrs})
    return forms.CharField(
        label=label, required=required, help_text=help_text, widget=widget, strip=True
    )


class _StoreBasics(forms.Form):
    """What a new store needs: its name, currency, time zone and locale."""

    name = _text("Store name", required=True)
    currency = _text("Currency", required=True, help_text="ISO 4217 code, e.g. USD or EUR.")
    time_zone = _text("Time zone", required=True, help_text="e.g. Europe/Paris.", list="time-zones")
    locale = _text("Locale", required=True, help_text="e.g. en_US or fr_FR.", list="locales")


class SetupForm(_StoreBasics):
    """The first login and the first store of a new installation."""

    field_order = ["username", "email", "password", "name", "currency", "time_zone", "locale"]
    username = _text("Username", required=True, autocomplete="username")
    email = forms.CharField(
        label="Your email", required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    # Shown again after a refusal elsewhere in the form, so nothing typed is lost (the
    # page is never cached).
    password = forms.CharField(
        label="Password",
        help_text="At least 8 characters.",
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
    )


class SettingsForm(forms.Form):
    """A store's settings as typed; the stores services check what they mean."""

    name = _text("Store name", required=True)
    from_name = _text("Sender name", help_text="Empty: the store's name.")
    from_email = _text("Sender address", required=True, inputmode="email")
    reply_to = _text("Reply-to address", inputmode="email")
    reply_domain = _text(
        "Reply domain",
        help_text="Replies to each email come back to an address on this domain, matched to "
        "the email they answer (its MX must point at Aftersale). Empty: replies go to the "
        "reply-to address.",
    )
    website_url = _text("Shop address", required=True, inputmode="url")
    brand_color = _text("Brand colour", required=True, help_text="Hex, e.g. #1f6feb.")
    logo_url = _text("Logo URL", inputmode="url")
    physical_address = forms.CharField(
        label="Postal address",
        required=False,
        help_text="Shown in every marketing email's footer, as the law (CAN-SPAM, the EU's "
        "rules) wants: marketing emails wait until it is set.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    time_zone = _text("Time zone", required=True, list="time-zones")
    locale = _text("Locale", required=True, list="locales")
    currency = _text("Currency", required=True)
    quiet_hours_start = forms.TimeField(
        label="Quiet hours from",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_hours_end = forms.TimeField(
        label="until",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    smart_sending_hours = forms.IntegerField(
        label="Smart-sending window (hours)",
        min_value=0,
        help_text="A customer gets no second marketing email within this many hours (0: off).",
    )
    attribution_click_days = forms.IntegerField(
        label="Credit an order to an email clicked within (days)",
        min_value=0,
        help_text="The last email the customer clicked this many days before the order "
        "earns it (0: clicks earn nothing).",
    )
    attribution_open_days = forms.IntegerField(
        label="or, failing that, read within (days)",
        min_value=0,
        help_text="Else the last email they read (a person's open; a mail privacy proxy's "
        "never counts) this many days before. A flow's coupon code always earns the order.",
    )
    non_product_codes = _text(
        "Order lines that are no product",
        help_text="The product codes of postage, fees and other lines in your imported "
        "files that are no product, comma-separated: their amounts count in the order, "
        "they are never recommended. Empty: " + ", ".join(sorted(NON_PRODUCT_CODES)) + ".",
    )
    email_transport = forms.ChoiceField(
        label="Send through", choices=EmailTransport.choices, widget=forms.RadioSelect
    )
    smtp_host = _text("SMTP host")
    smtp_port = forms.IntegerField(
        label="SMTP port", required=False, min_value=1, max_value=65535, help_text="Often 587."
    )
    smtp_security = forms.ChoiceField(label="Security", choices=SmtpSecurity.choices)
    smtp_username = _text("SMTP username", autocomplete="off")
    smtp_password = forms.CharField(
        label="SMTP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    esp_name = _text("Email service", help_text="Its django-anymail name, e.g. postmark.")
    esp_api_key = forms.CharField(
        label="Email service API key",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class InviteForm(forms.Form):
    email = forms.CharField(label="Email of the person to invite", widget=forms.EmailInput)
    role = forms.ChoiceField(
        label="Role",
        choices=[
            (MemberRole.MARKETER, "Marketer: flows, templates, reports"),
            (MemberRole.OWNER, "Owner: also settings and members"),
        ],
    )


class JoinForm(forms.Form):
    username = _text("Choose a username", required=True, autocomplete="username")
    password = forms.CharField(
        label="Choose a password",
        help_text="At least 8 characters.",
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
    )


# --- the first run and new stores ------------------------------------------------------


class FirstRunLoginView(LoginView):
    """Django's login page, which on an installation with no login yet leads to the first
    run instead (there is nobody to log in as)."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if installation_is_new():
            return redirect("dashboard:setup")
        return super().dispatch(request, *args, **kwargs)


@never_cache
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Create the installation's first login (a superuser) and first store, log in and
    go to the store's settings; 404 once any login exists."""
    if not installation_is_new():
        raise Http404("this installation is set up: log in")
    form = SetupForm(request.POST or None, initial=_NEW_STORE)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            user, store = set_up_installation(
                username=data.pop("username"),
                email=data.pop("email"),
                password=data.pop("password"),
                store_name=data.pop("name"),
                now=clock.now(),
                **data,
            )
        except InstallationNotNew as error:
            raise Http404(str(error)) from error
        except InvalidInput as error:
            _add_errors(form, error.errors)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("dashboard:settings", slug=store.slug)
    status = 400 if form.errors else 200
    return render(
        request, "dashboard/stores/setup.html", _with_lists({"form": form}), status=status
    )


_NEW_STORE = {"currency": "USD", "time_zone": "UTC", "locale": "en_US"}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def store_create(request: HttpRequest) -> HttpResponse:
    """Create another store, which the signed-in user owns, and go to its settings."""
    form = _StoreBasics(request.POST or None, initial=_NEW_STORE)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            store = create_owned_store(
                user=request.user,  # type: ignore[arg-type]  # login_required
                name=data.pop("name"),
                now=clock.now(),
                **data,
            )
        except InvalidInput as error:
            _add_errors(form, error.errors)
        else:
            return redirect("dashboard:settings", slug=store.slug)
    context = _with_lists({"form": form, "section": "overview"})
    response = _page(request, "dashboard/stores/create.html", context)
    response.status_code = 400 if form.errors else 200
    return response


# --- settings ---------------------------------------------------------------------------


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The store's settings for an owner to change (403 for a marketer): each refused
    field says why next to it, and everything typed stays in the form."""
    store = _store(request, slug)
    if (refused := _owners_only(request, store)) is not None:
        return refused
    if request.method != "POST":
        return _settings_page(request, store, SettingsForm(initial=_current(store)))
    form = SettingsForm(request.POST)
    form.is_valid()
    typed = {name: value for name, value in form.cleaned_data.items() if name in form.fields}
    if typed.get("smtp_port", 0) is None:  # left empty: the usual submission port
        typed["smtp_port"] = 587
    # A refused form shows no password or key back, not even one just typed: it says so.
    dropped = bool(request.POST.get("smtp_password") or request.POST.get("esp_api_key"))
    if form.errors:
        _add_errors(form, store_settings_problems(store=store, **_known(form, typed)))
        return _settings_page(request, store, form, status=400, secret_dropped=dropped)
    try:
        update_store_settings(store=store, **typed)
    except InvalidInput as error:
        _add_errors(form, error.errors)
        return _settings_page(request, store, form, status=400, secret_dropped=dropped)
    return _settings_page(request, store, SettingsForm(initial=_current(store)), saved=True)


@login_required
@require_POST
def settings_test_email(request: HttpRequest, slug: str) -> HttpResponse:
    """Send a short test email through the store's transport to the address typed (the
    user's own by default) and say what happened: delivered to the relay, the relay's
    refusal, or that it could not be reached. An htmx request gets only the answer."""
    store = _store(request, slug)
    if (refused := _owners_only(request, store)) is not None:
        return refused
    to = request.POST.get("to", "").strip() or request.user.email  # type: ignore[union-attr]
    result = None
    if to:
        result = send_store_notice(
            store=store,
            to=to,
            subject=f"Test email from {store.sender_name}",
            text=f"This is a test email from {store.name}'s Aftersale, sent through "
            f"{describe_transport(store)}.\n\nIf you can read this, sending works.",
            now=clock.now(),
        )
    context = {"store": store, "to": to, "outcome": _test_outcome(store, to, result)}
    if getattr(request, "htmx", False):
        return render(request, "dashboard/stores/test_email_result.html", context)
    return _settings_page(request, store, SettingsForm(initial=_current(store)), test_email=context)


def _test_outcome(store: Store, to: str, result: SendResult | None) -> dict[str, str]:
    where = describe_transport(store)
    if result is None:
        return {"ok": "", "text": "Type the address to send the test email to."}
    if result.outcome is Outcome.ACCEPTED and "email service" in where:
        return {"ok": "yes", "text": f"Handed to {where} for {to}; it reports delivery later."}
    if result.outcome is Outcome.ACCEPTED:
        return {"ok": "yes", "text": f"Delivered to {where} for {to}."}
    if result.outcome is Outcome.UNAVAILABLE:
        if "ConnectionRefused" in result.detail and store.email_transport == EmailTransport.SMTP:
            text = (
                f"Connection refused at {store.smtp_host}:{store.smtp_port}: nothing "
                "accepts SMTP there. Check the host and port."
            )
        elif "ConnectionRefused" in result.detail:
            text = f"Connection refused by {where}: nothing accepts SMTP there."
        else:
            text = f"Could not use {where}: {result.detail}"
        return {"ok": "", "text": text}
    return {"ok": "", "text": f"{where.capitalize()} did not take it: {result.detail}"}


def _settings_page(
    request: HttpRequest, store: Store, form: SettingsForm, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = _with_lists(
        {
            "section": "settings",
            "store": store,
            "form": form,
            "smtp_password_stored": masked(store.smtp_password),
            "esp_api_key_stored": masked(store.esp_api_key),
            "transport": describe_transport(store),
            **extra,
        }
    )
    response = _page(request, "dashboard/stores/settings.html", context)
    response.status_code = status
    return response


def _current(store: Store) -> dict[str, Any]:
    fields = [name for name in EDITABLE_SETTINGS if name in SettingsForm.base_fields]
    return {name: getattr(store, name) for name in fields}


def _known(form: forms.Form, typed: dict[str, Any]) -> dict[str, Any]:
    """The fields the form could read, without those it refused."""
    return {name: value for name, value in typed.items() if name not in form.errors}


# --- members ----------------------------------------------------------------------------


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, slug: str) -> HttpResponse:
    """The store's members; an owner invites one (POST): the signed link is shown to
    copy, and emailed when the store's sending works."""
    store = _store(request, slug)
    if (refused := _owners_only(request, store)) is not None:
        return refused
    form = InviteForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            invitation = invite_member(store=store, now=clock.now(), **form.cleaned_data)
        except InvalidInput as error:
            _add_errors(form, error.errors)
        else:
            link = request.build_absolute_uri(
                reverse("dashboard:invitation", args=[invitation.token])
            )
            sent = send_store_notice(
                store=store,
                to=invitation.email,
                subject=f"You are invited to {store.name} on Aftersale",
                text=f"{request.user.get_username()} invites you to work on {store.name} "
                f"as {invitation.role.label.lower()}.\n\nOpen this link to accept "
                f"(valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}",
                now=clock.now(),
            )
            context = {
                "form": InviteForm(),
                "invitation": invitation,
                "link": link,
                "emailed": sent.outcome is Outcome.ACCEPTED,
                "email_problem": sent.detail,
            }
    return _members_page(request, store, status=400 if form.errors else 200, **context)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
    """Take a member off the store (an owner only; never its last owner)."""
    store = _store(request, slug)
    if (refused := _owners_only(request, store)) is not None:
        return refused
    try:
        remove_member(store=store, member_id=member_id)
    except LastOwner as error:
        return _members_page(request, store, form=InviteForm(), refusal=str(error), status=409)
    return redirect("dashboard:members", slug=store.slug)


def _members_page(
    request: HttpRequest, store: Store, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "section": "settings",
        "store": store,
        "members": store_members(store=store),
        **extra,
    }
    response = _page(request, "dashboard/stores/members.html", context)
    response.status_code = status
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation link: signed in, accept it; otherwise choose a username and password
    (or log in first). An expired or altered link says so."""
    now = clock.now()
    try:
        invited = read_invitation(token=token, now=now)
    except InvitationError as error:
        return render(
            request, "dashboard/stores/invitation.html", {"problem": str(error)}, status=410
        )
    signed_in = request.user.is_authenticated
    form = None if signed_in else JoinForm(request.POST or None)
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if form is None:
                accept_invitation(token=token, now=now, user=request.user)  # type: ignore[arg-type]
            else:
                member = accept_invitation(token=token, now=now, **form.cleaned_data)
                login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
        except InvalidInput as error:
            assert form is not None
            _add_errors(form, error.errors)
        except InvitationError as error:
            return render(
                request, "dashboard/stores/invitation.html", {"problem": str(error)}, status=410
            )
        else:
            return redirect("dashboard:recommendations", slug=invited.store.slug)
    context = {
        "invitation": invited,
        "form": form,
        "login_url": f"{reverse('dashboard:login')}?next={request.path}",
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "dashboard/stores/invitation.html", context, status=status)


# --- shared -----------------------------------------------------------------------------


def _owners_only(request: HttpRequest, store: Store) -> HttpResponse | None:
    """A 403 page for a member who is not an owner of `store`; None for an owner."""
    if role_in_store(user=request.user, store=store) == MemberRole.OWNER:
        return None
    owners = [m.user.get_username() for m in store_members(store=store) if m.role == "owner"]
    context = {"section": "settings", "store": store, "owners": owners}
    response = _page(request, "dashboard/stores/owners_only.html", context)
    response.status_code = 403
    return response


def _add_errors(form: forms.Form, errors: dict[str, str]) -> None:
    """Show each of `errors` next to its field (the form's top when it has no such field),
    once: a field the form refused already keeps its own message."""
    for field, problem in errors.items():
        name = field if field in form.fields else None
        if name is not None and name in form.errors:
            continue
        form.add_error(name, problem[:1].upper() + problem[1:])


def _with_lists(context: dict[str, Any]) -> dict[str, Any]:
    """`context` with the time zones and locales the form's fields suggest."""
    return {**context, "time_zones": _TIME_ZONES, "locales": COMMON_LOCALES}


_TIME_ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})
