"""The Members page through Django's test client: an owner invites someone with a role
(a signed, expiring link shown to copy, and emailed through the store's relay when it
works), the invitee opens it and becomes a member, by a new login or the one they are
signed in with; marketers may not manage members; the last owner stays."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.stores.models import EmailTransport, MemberRole, Store, StoreMember
from aftersale.stores.selectors import role_in_store
from aftersale.stores.services import add_member, update_store_settings

pytestmark = pytest.mark.django_db
LINK = re.compile(r'id="invitation-link"[^>]*value="([^"]+)"')


@pytest.fixture
def owner(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


def _invite(client: Client, store: Store, email: str, role: str) -> tuple[str, str]:
    """Invite `email` as `role`: the page, and the link's path."""
    answer = client.post(
        f"/dashboard/{store.slug}/settings/members/", {"email": email, "role": role}
    )
    page = answer.content.decode()
    found = LINK.search(page)
    assert found, page
    return page, found.group(1).removeprefix("http://testserver")


def test_an_invitation_is_emailed_through_the_stores_relay_and_makes_a_new_login_a_member(
    owner: Client, store: Store, tmp_path: Path
) -> None:
    with CaptureServer(tmp_path) as relay:
        update_store_settings(
            store=store,
            email_transport=EmailTransport.SMTP,
            smtp_host="127.0.0.1",
            smtp_port=relay.port,
            smtp_security="none",
        )
        page, link = _invite(owner, store, "mia@example.com", "marketer")
    assert "It was emailed to them" in page
    sent = message_from_bytes((tmp_path / "000001.eml").read_bytes(), policy=policy.default)
    assert sent["To"] == "mia@example.com"
    assert link in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    owner.logout()
    invited = owner.get(link)
    assert "You are invited to work on Test Shop as" in invited.content.decode()
    refused = owner.post(link, {"username": "mia", "password": "short"})
    assert refused.status_code == 400 and 'value="mia"' in refused.content.decode()
    joined = owner.post(link, {"username": "mia", "password": "mia's long password"})
    assert joined.headers["Location"] == f"/dashboard/{store.slug}/recommendations/"
    mia = User.objects.get(username="mia")
    assert mia.email == "mia@example.com"
    assert role_in_store(user=mia, store=store) == MemberRole.MARKETER


def test_an_invitation_not_emailed_says_so_and_still_gives_the_link(
    owner: Client, store: Store
) -> None:
    update_store_settings(
        store=store,
        email_transport=EmailTransport.SMTP,
        smtp_host="127.0.0.1",
        smtp_port=9,  # discard: nothing listens
        smtp_security="none",
    )
    page, link = _invite(owner, store, "bob@example.com", "owner")
    assert "It could not be" in page and "send them this link yourself" in page
    assert link.startswith("/dashboard/invitations/")


def test_a_signed_in_user_accepts_an_invitation_with_their_login(
    owner: Client, store: Store, django_user_model: type[User]
) -> None:
    _, link = _invite(owner, store, "zoe@example.com", "owner")
    zoe = django_user_model.objects.create_user(username="zoe", password="x")
    owner.force_login(zoe)
    assert "Join Test Shop as zoe" in owner.get(link).content.decode()
    owner.post(link)
    assert role_in_store(user=zoe, store=store) == MemberRole.OWNER


def test_an_expired_or_altered_invitation_says_it_cannot_be_used(
    owner: Client, store: Store, clock: VirtualClock
) -> None:
    with use_clock(clock):
        _, link = _invite(owner, store, "late@example.com", "marketer")
        clock.advance(dt.timedelta(days=8))
        expired = owner.get(link)
    assert expired.status_code == 410 and "This invitation expired on" in expired.content.decode()
    altered = owner.get(link.rstrip("/") + "x/")
    assert altered.status_code == 410 and "is not valid" in altered.content.decode()


def test_the_last_owner_cannot_be_removed_and_a_marketer_can(
    owner: Client, store: Store, merchant: User, django_user_model: type[User]
) -> None:
    mia = add_member(
        store=store,
        user=django_user_model.objects.create_user(username="mia"),
        role=MemberRole.MARKETER,
    )
    me = StoreMember.objects.get(store=store, user=merchant)
    refused = owner.post(f"/dashboard/{store.slug}/settings/members/{me.pk}/remove/")
    assert refused.status_code == 409
    assert "is the only owner of Test Shop" in refused.content.decode()
    owner.post(f"/dashboard/{store.slug}/settings/members/{mia.pk}/remove/")
    assert list(
        StoreMember.objects.filter(store=store).values_list("user__username", flat=True)
    ) == ["merchant"]


def test_a_marketer_may_not_list_invite_or_remove_members(
    client: Client, store: Store, merchant: User, django_user_model: type[User]
) -> None:
    marketer = django_user_model.objects.create_user(username="mia")
    add_member(store=store, user=marketer, role=MemberRole.MARKETER)
    client.force_login(marketer)
    me = StoreMember.objects.get(store=store, user=merchant)
    for answer in (
        client.get(f"/dashboard/{store.slug}/settings/members/"),
        client.post(
            f"/dashboard/{store.slug}/settings/members/",
            {"email": "x@example.com", "role": "owner"},
        ),
        client.post(f"/dashboard/{store.slug}/settings/members/{me.pk}/remove/"),
    ):
        assert answer.status_code == 403
        assert "You are a marketer of Test Shop" in answer.content.decode()
    assert StoreMember.objects.filter(store=store).count() == 2
