"""Webhook URLs against server-side request forgery (API.md: 400 ``invalid_url``): checked when
an endpoint is saved and again before each delivery (DNS may answer differently later)."""

from __future__ import annotations

import pytest

from notifications.models import WebhookEndpoint
from notifications.ssrf import check_url
from tests.notifications.conftest import drain
from tests.support import assert_problem

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"

ALWAYS_REFUSED = [
    "ftp://127.0.0.1/hook",
    "file:///etc/passwd",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata: link-local
    "http://169.254.169.254/",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",  # multicast
    "https://240.0.0.1/hook",  # reserved
    "https://user:pass@127.0.0.1/hook",
    "https://no-such-host.invalid/hook",
    "https:///no-host",
    "https://127.0.0.1:99999/hook",
    "not a url",
]
PRIVATE = [
    "http://127.0.0.1:8080/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
]


def post(client, url):
    return client.post(WEBHOOKS, {"url": url, "event_types": ["auction.won"]}, format="json")


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_never_allowed(bidder_client, url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True

    response = post(bidder_client, url)

    assert_problem(response, 400, "invalid_url", with_errors=True)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_addresses_only_when_the_setting_allows(bidder_client, url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert_problem(post(bidder_client, url), 400, "invalid_url")
    assert not WebhookEndpoint.objects.exists()

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert post(bidder_client, url).status_code == 201


def test_http_to_a_public_address_is_refused_even_when_private_ones_are_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True

    with pytest.raises(Exception) as refused:
        check_url("http://8.8.8.8/hook")

    assert getattr(refused.value, "code", "") == "invalid_url"


def test_https_to_a_public_address_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    target = check_url("https://8.8.8.8:8443/hooks?x=1")

    assert (target.address, target.port, target.path) == ("8.8.8.8", 8443, "/hooks?x=1")


def test_a_patch_to_a_forbidden_url_is_refused_and_changes_nothing(bidder_client, receiver):
    created = post(bidder_client, receiver().url).json()

    response = bidder_client.patch(
        f"{WEBHOOKS}{created['id']}/", {"url": "https://169.254.169.254/"}, format="json"
    )

    assert_problem(response, 400, "invalid_url")
    assert WebhookEndpoint.objects.get().url == created["url"]


def test_the_url_is_checked_again_before_each_delivery(
    bidder_client, compliance_user, receiver, settings
):
    """A URL accepted when saved but forbidden at delivery time (here: the setting turned off,
    as a host whose DNS now answers a private address would be) is never requested."""
    from marketplace.accounts import services as accounts
    from tests.factories import OrganizationFactory
    from tests.support import client_for

    r = receiver()
    compliance_client = client_for(compliance_user)
    post_ok = compliance_client.post(
        WEBHOOKS, {"url": r.url, "event_types": ["organization.approved"]}, format="json"
    )
    assert post_ok.status_code == 201
    org = OrganizationFactory(kind="buyer", eligibility="pending")
    accounts.organization_approve(actor=compliance_user, organization_id=org.pk)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    (delivery,) = drain()

    assert delivery.status == "pending" and delivery.attempts == 1
    assert "private or loopback" in delivery.last_error or "https" in delivery.last_error
    assert r.requests == []
