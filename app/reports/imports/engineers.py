"""Importing engineers (key: employee no.), each with an optional onboarding training record.

The onboarding columns import the engineer's onboarding training record with the row, through the
training records' own rules — the only way a new engineer can be created on duty
(``engineers.rules``' status table).
"""
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from app.reports.imports.columns import Attached, Col, Spec
from app.security import permissions as p


def spec():
    from app.engineers.enums import ENGINEER_STATUS

    return Spec("engineer", _l("Engineers"), p.ENGINEER, "app.engineers.models:Engineer", [
        Col("employee_no", _l("Employee no."), required=True, example="007001", max_length=30),
        Col("name", _l("Name"), required=True, example="王工", max_length=100),
        Col("phone", _l("Phone"), example="13900001111", max_length=30),
        Col("email", _l("Email"), width=24, example="wang@example.com", max_length=200),
        Col("outlet", _l("Outlet code"), "ref", required=True, ref="outlet", example="SH001"),
        Col("hire_date", _l("Hire date"), "date", required=True, example=date(2025, 3, 1)),
        Col("status", _l("Status"), "enum", enum=ENGINEER_STATUS, example="trainee",
            hint=_l("A new engineer is a trainee; on duty only with a passed onboarding training in the "
                    "onboarding columns.")),
        Col("onboarding_taken_on", _l("Onboarding date"), "date", attached="taken_on",
            hint=_l("Optional: the onboarding training record imported with the engineer (date, hours, "
                    "mentored orders, scores).")),
        Col("onboarding_theory_hours", _l("Onboarding theory hours"), "decimal", attached="theory_hours"),
        Col("onboarding_practical_hours", _l("Onboarding practical hours"), "decimal",
            attached="practical_hours"),
        Col("onboarding_mentored_orders", _l("Onboarding mentored orders"), "int", attached="mentored_orders"),
        Col("onboarding_theory_score", _l("Onboarding theory score"), "decimal", attached="theory_score"),
        Col("onboarding_practical_score", _l("Onboarding practical score"), "decimal",
            attached="practical_score"),
    ], ("employee_no",),
        attached=Attached("app.engineers.models:TrainingRecord", "engineer", {"kind": "onboarding"}, ("taken_on",)),
        defaults={"status": "trainee"},
        more_examples=[{"employee_no": "007002", "name": "李工", "phone": "13900002222", "outlet": "SH001",
                        "hire_date": date(2025, 1, 6), "status": "active", "onboarding_taken_on": date(2025, 2, 20),
                        "onboarding_theory_hours": Decimal("30"), "onboarding_practical_hours": Decimal("50"),
                        "onboarding_mentored_orders": 10, "onboarding_theory_score": Decimal("85"),
                        "onboarding_practical_score": Decimal("92")}])
