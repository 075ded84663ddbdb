def test_outlet_api_scoped(world, api):
    hq = api("hq")
    assert hq.get("/api/v1/outlet/").get_json()["count"] == 2
    east = api("manager_e")
    body = east.get("/api/v1/outlet/").get_json()
    assert body["count"] == 1
    assert body["result"][0]["code"] == "SH001"
    assert east.get(f"/api/v1/outlet/{world.outlet_w.id}").status_code == 404


def test_pages_login(world, login):
    c = login("manager_e")
    r = c.get("/outletview/list/")
    assert r.status_code == 200
    assert "SH001" in r.get_data(as_text=True)
    assert "CD001" not in r.get_data(as_text=True)
