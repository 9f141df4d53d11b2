"""Staff members and their tokens: managed by admins, and a token follows its member."""

import httpx


def add(api, **overrides) -> dict:
    body = {"name": "Marco Bianchi", "email": "Marco@agency.example", "role": "agent"}
    body.update(overrides)
    response = api.admin.post("/api/v1/staff", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def token_for(api, staff_id: int) -> str:
    response = api.admin.post("/api/v1/tokens", json={"staff_id": staff_id})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def client(api, token: str) -> httpx.Client:
    return httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {token}"})


def test_a_staff_member_gets_a_token_and_me_says_who_they_are(api):
    marco = add(api)
    assert marco["email"] == "marco@agency.example" and marco["active"] is True
    issued = api.admin.post("/api/v1/tokens", json={"staff_id": marco["id"]}).json()
    assert issued["role"] == "agent" and issued["staff_id"] == marco["id"]
    with client(api, issued["token"]) as marco_api:
        me = marco_api.get("/api/v1/me").json()
    assert me["name"] == "Marco Bianchi" and me["role"] == "agent"
    assert me["staff"]["id"] == marco["id"] and me["token_id"] == issued["id"]
    listed = api.admin.get("/api/v1/tokens").json()["items"]
    assert issued["token"] not in str(listed)
    assert api.viewer.get("/api/v1/staff").json()["items"][0]["name"]


def test_a_demoted_or_deactivated_member_s_tokens_follow_at_once(api):
    marco = add(api)
    token = token_for(api, marco["id"])
    with client(api, token) as marco_api:
        assert marco_api.post("/api/v1/staff", json={}).status_code == 403
        api.admin.patch(f"/api/v1/staff/{marco['id']}", json={"role": "viewer"})
        assert marco_api.get("/api/v1/me").json()["role"] == "viewer"
        assert marco_api.post("/api/v1/tickets", json={}).status_code == 403
        api.admin.patch(f"/api/v1/staff/{marco['id']}", json={"active": False})
        assert marco_api.get("/api/v1/me").status_code == 401
        api.admin.patch(f"/api/v1/staff/{marco['id']}", json={"active": True})
        assert marco_api.get("/api/v1/me").status_code == 200
        revoked = api.admin.get("/api/v1/tokens").json()["items"][0]["id"]
        api.admin.post(f"/api/v1/tokens/{revoked}/revoke")
        assert marco_api.get("/api/v1/me").status_code == 401


def test_existing_tokens_belong_to_a_staff_member_made_from_their_name(api):
    me = api.agent.get("/api/v1/me").json()
    assert me["name"] == "test-agent" and me["staff"]["email"] is None
    bootstrap = api.admin.get("/api/v1/me").json()
    assert bootstrap["staff"] is None and bootstrap["role"] == "admin"


def test_one_address_per_member_staff_roles_only_and_feed_tokens_by_name(api):
    add(api)
    taken = api.admin.post(
        "/api/v1/staff", json={"name": "Altro", "email": "marco@agency.example", "role": "agent"}
    )
    assert taken.status_code == 409
    feed_member = api.admin.post(
        "/api/v1/staff", json={"name": "Cal", "email": "cal@agency.example", "role": "feed"}
    )
    assert feed_member.status_code == 422
    feed = api.admin.post("/api/v1/tokens", json={"name": "Calendario", "role": "feed"})
    assert feed.status_code == 201 and feed.json()["staff_id"] is None
    assert api.admin.post("/api/v1/tokens", json={"role": "agent"}).status_code == 422
    with client(api, feed.json()["token"]) as feed_api:
        assert feed_api.get("/api/v1/me").status_code == 403
    assert api.agent.post("/api/v1/tokens", json={"staff_id": 1}).status_code == 403
    assert api.admin.post("/api/v1/tokens", json={"staff_id": 2147483647}).status_code == 422
