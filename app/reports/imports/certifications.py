"""Importing engineers' certifications (key: certificate no.)."""
from datetime import date

from flask_babel import lazy_gettext as _l

from app.reports.imports.columns import Col, Spec
from app.security import permissions as p


def spec():
    return Spec("certification", _l("Certifications"), p.CERTIFICATION, "app.engineers.models:Certification", [
        Col("number", _l("Certificate no."), required=True, example="T2025-0001", max_length=50),
        Col("engineer", _l("Employee no."), "ref", required=True, ref="engineer", example="007001"),
        Col("certification_type", _l("Certification type"), "ref", required=True, ref="cert_type", width=24,
            example="制冷与空调作业操作证"),
        Col("issuer", _l("Issuer"), width=20, example="应急管理局", max_length=200),
        Col("issued_on", _l("Issued on"), "date", required=True, example=date(2025, 1, 10)),
        Col("expires_on", _l("Expires on"), "date", required=True, example=date(2031, 1, 9)),
        Col("revoked", _l("Revoked"), "bool", example="no"),
    ], ("number",), defaults={"revoked": False})
