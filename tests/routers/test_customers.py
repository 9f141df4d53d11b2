"""Customers with their contacts and email domains (API.md)."""


def test_create_read_update_customer(api):
    created = api.admin.post(
        "/api/v1/customers",
        json={
            "name": "Rossi Arredamenti",
            "email_domains": ["Rossi.IT", "@shop.rossi.it"],
            "contacts": [{"email": "Mario@Rossi.it", "name": "Mario"}],
            "language": "it",
        },
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["email_domains"] == ["rossi.it", "shop.rossi.it"]
    assert customer["contacts"] == [{"email": "mario@rossi.it", "name": "Mario"}]
    assert api.viewer.get(f"/api/v1/customers/{customer['id']}").json() == customer

    patched = api.admin.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"language": "en", "email_domains": ["rossi.com"]},
    )
    assert patched.status_code == 200
    assert patched.json()["language"] == "en"
    assert patched.json()["email_domains"] == ["rossi.com"]
    assert patched.json()["contacts"] == customer["contacts"]


def test_a_domain_belongs_to_one_customer(api):
    api.admin.post("/api/v1/customers", json={"name": "A", "email_domains": ["a.it"]})
    clash = api.admin.post("/api/v1/customers", json={"name": "B", "email_domains": ["A.it"]})
    assert clash.status_code == 409
    assert "a.it" in clash.json()["detail"]


def test_a_contact_belongs_to_one_customer(api):
    api.admin.post("/api/v1/customers", json={"name": "A", "contacts": [{"email": "x@a.it"}]})
    clash = api.admin.post(
        "/api/v1/customers", json={"name": "B", "contacts": [{"email": "X@a.it"}]}
    )
    assert clash.status_code == 409


def test_bad_contact_email_names_the_field(api):
    response = api.admin.post(
        "/api/v1/customers", json={"name": "A", "contacts": [{"email": "not-an-email"}]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contacts.0.email"


def test_customers_are_paginated(api):
    for name in "CAB":
        api.admin.post("/api/v1/customers", json={"name": name})
    page = api.viewer.get("/api/v1/customers", params={"limit": 2}).json()
    assert [c["name"] for c in page["items"]] == ["A", "B"]
    assert page["total"] == 3
    rest = api.viewer.get("/api/v1/customers", params={"limit": 2, "offset": 2}).json()
    assert [c["name"] for c in rest["items"]] == ["C"]
