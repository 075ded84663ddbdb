from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.security.decorators import permission_name

from app.core.api import API_METHOD_PERMISSIONS, BaseApi, handle_domain_errors
from app.core.datamodel import ScopedInterface
from app.network.models import Outlet, ProductCategory, Region
from app.security import permissions as p

TIMESTAMPS = ["created_at", "updated_at"]


class RegionApi(BaseApi):
    resource_name = "region"
    class_permission_name = p.REGION
    datamodel = ScopedInterface(Region)
    list_columns = ["id", "code", "name", "users"]
    show_columns = ["id", "code", "name", "users"] + TIMESTAMPS
    add_columns = ["code", "name", "users"]
    edit_columns = add_columns
    search_columns = ["code", "name"]
    order_columns = ["code", "name"]


class ProductCategoryApi(BaseApi):
    resource_name = "product_category"
    class_permission_name = p.PRODUCT_CATEGORY
    datamodel = ScopedInterface(ProductCategory)
    list_columns = ["id", "code", "name"]
    show_columns = list_columns + TIMESTAMPS
    add_columns = ["code", "name"]
    edit_columns = add_columns
    search_columns = ["code", "name"]
    order_columns = ["code", "name"]


class OutletApi(BaseApi):
    resource_name = "outlet"
    class_permission_name = p.OUTLET
    datamodel = ScopedInterface(Outlet)
    _fields = [
        "code", "name", "region", "address", "contact", "phone", "email", "licence_no",
        "has_fixed_premises", "product_categories", "status", "last_qualified_on", "next_audit_due_on",
    ]
    list_columns = ["id"] + _fields + ["flagged_on", "flag_reasons"]
    show_columns = ["id"] + _fields + ["notes", "flagged_on", "flag_reasons"] + TIMESTAMPS
    add_columns = _fields + ["notes"]
    edit_columns = add_columns
    search_columns = ["code", "name", "region", "status", "has_fixed_premises", "next_audit_due_on",
                      "product_categories"]
    order_columns = ["code", "name", "status", "next_audit_due_on", "last_qualified_on"]
    method_permission_name = {**API_METHOD_PERMISSIONS, "qualification": "read"}

    @expose("/<int:pk>/qualification", methods=["GET"])
    @protect()
    @safe
    @permission_name("read")
    @handle_domain_errors
    def qualification(self, pk):
        """The live qualification evidence: ``{"certified_engineers", "required_engineers",
        "stock_rate", "required_stock_rate", "has_fixed_premises", "qualifies", "items": [...]}``;
        the items carry the drill-down (engineers and why they count or not, short common parts).

        ---
        get:
          responses:
            200:
              description: The outlet's live qualification evidence
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      result:
                        type: object
                        properties:
                          certified_engineers: {type: integer}
                          required_engineers: {type: integer}
                          stock_rate: {type: number, nullable: true}
                          required_stock_rate: {type: number, nullable: true}
                          has_fixed_premises: {type: boolean, nullable: true}
                          qualifies: {type: boolean}
                          items: {type: array, items: {type: object}}
        """
        from app.qualification import services

        outlet = self.datamodel.get(pk, self._base_filters)
        if outlet is None:
            return self.response_404()
        return self.response(200, result=services.outlet_qualification(outlet), id=pk)

    def derived(self, ids):
        from app.qualification import evidence

        found = evidence.for_outlets(ids)
        return {
            oid: {
                "certified_engineers": e.certified_engineers,
                "common_stock_rate": float(e.stock_rate) if e.stock_rate is not None else None,
                "meets_engineer_threshold": e.meets_engineers,
                "meets_stock_threshold": e.meets_stock,
                "qualifies": e.qualifies,
            }
            for oid, e in found.items()
        }
