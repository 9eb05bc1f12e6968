def test_healthz(api, db):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_broker(api, db):
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_me(bidder_client, bidder_user):
    response = bidder_client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == bidder_user.username
    assert body["role"] == "bidder"
    assert body["organization"]["kind"] == "buyer"
