"""The served OpenAPI spec is valid and complete: every custom action documents its path
parameters, its request body and its answers; ids are integers; decimal bounds are numbers."""
from openapi_spec_validator.validation import OpenAPIV30SpecValidator

CUSTOM_ACTIONS = [
    ("post", "/api/v1/complaint/{pk}/respond"), ("post", "/api/v1/complaint/{pk}/escalate"),
    ("post", "/api/v1/complaint/{pk}/reveal_phone"), ("get", "/api/v1/complaint/{pk}/timeline"),
    ("post", "/api/v1/qualification_audit/{pk}/submit"), ("post", "/api/v1/qualification_audit/{pk}/evidence"),
    ("get", "/api/v1/qualification_audit/{pk}/evidence/{file_id}"), ("post", "/api/v1/escalation/{pk}/approve"),
    ("post", "/api/v1/engineer/{pk}/activate"), ("get", "/api/v1/outlet/{pk}/qualification"),
    ("get", "/api/v1/audit_event/verify"), ("post", "/api/v1/audit_event/verify"), ("get", "/api/v1/dashboard/{name}"),
]


def served_spec(api):
    response = api("admin").get("/api/v1/_openapi")
    assert response.status_code == 200
    return response.get_json()


def test_the_served_spec_is_valid(api):
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}"
              for e in OpenAPIV30SpecValidator(served_spec(api)).iter_errors()]
    assert errors == []


def test_every_operation_documents_its_path_parameters_and_answers(api):
    spec = served_spec(api)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            names = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert names == set(__import__("re").findall(r"{([^}]+)}", path)), (method, path)
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            assert {"400", "401", "403", "404", "422"} <= set(op["responses"]), (method, path)


def test_custom_actions_document_their_body_and_result(api):
    spec = served_spec(api)
    for method, path in CUSTOM_ACTIONS:
        op = spec["paths"][path][method]
        success = [r for code, r in op["responses"].items() if code.startswith("2")]
        assert success, (method, path)
        answer = success[0]
        if "$ref" in answer:  # a shared answer (``openapi.action_doc``): the record after the action
            answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        assert "content" in answer, (method, path)
        if method == "post" and not path.endswith(("reveal_phone", "verify")):  # actions without a body
            assert "requestBody" in op, path


def test_ids_are_integers_and_info_columns_are_arrays(api, world):
    spec = served_spec(api)
    item = spec["paths"]["/api/v1/complaint/{pk}"]["get"]["responses"]["200"]
    assert item["content"]["application/json"]["schema"]["properties"]["id"]["type"] == "integer"
    info = spec["paths"]["/api/v1/complaint/_info"]["get"]["responses"]["200"]
    props = info["content"]["application/json"]["schema"]["properties"]
    assert props["add_columns"]["type"] == "array"
    hq = api("hq")
    assert isinstance(hq.get("/api/v1/complaint/_info").get_json()["add_columns"], list)
    part = spec["components"]["schemas"]["PartApi.post"]["properties"]["unit_price"]
    assert part["type"] == "string" and "minimum" not in part
    answer = hq.get(f"/api/v1/part/{world.part.id}").get_json()
    assert isinstance(answer["id"], int) and isinstance(answer["result"]["unit_price"], str)
