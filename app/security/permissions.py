"""Permission names as constants: every business resource has read / write / delete.

Pages (ModelView) and the REST API (ModelRestApi) of one entity share its resource name, so a
role's rights are the same whichever way a user comes in.
"""
READ = "can_read"
WRITE = "can_write"
DELETE = "can_delete"
MENU = "menu_access"

REGION = "Region"
OUTLET = "Outlet"
PRODUCT_CATEGORY = "ProductCategory"
ENGINEER = "Engineer"
CERTIFICATION_TYPE = "CertificationType"
CERTIFICATION = "Certification"
TRAINING_RECORD = "TrainingRecord"
PART = "Part"
STOCK = "Stock"
SERVICE_ORDER = "ServiceOrder"
SETTING = "Setting"
SLA_POLICY = "SlaPolicy"
COMPLAINT = "Complaint"
ESCALATION = "Escalation"
ESCALATION_DELEGATION = "EscalationDelegation"
BUSINESS_CALENDAR = "BusinessCalendar"
QUALIFICATION_AUDIT = "QualificationAudit"
AUDIT_TEMPLATE = "AuditTemplateItem"
AUDIT_EVENT = "AuditEvent"  # the audit trail: read-only for everyone (no write routes exist)
DECIDE = "can_decide"  # approve or reject an escalation (who may decide which is a service rule)
APPROVE = "can_approve"  # approve or return a qualification audit (not one's own: a service rule)
# Personal data (PIPL): customers' phone numbers on complaints and service orders. No view owns
# this resource; ``flask roles sync`` creates its pairs. READ sees full numbers; REVEAL sees them
# masked and may reveal one at a time, each reveal logged (``core/personal.py``).
CUSTOMER_PHONE = "CustomerPhone"
REVEAL = "can_reveal"
# My jobs (``reports.my_jobs``): every business role follows its own imports and exports.
MY_JOBS = "MyJobs"
# Queue health (``reports.queue_health``): no business role holds it; Admin holds every permission.
QUEUE_HEALTH = "QueueHealth"
# The Excel import pages (``reports.import_views``); each entity also needs can_write on its own resource.
IMPORT = "Import"
# The dashboard (home page charts and ``/api/v1/dashboard/<panel>``): aggregates within the region scope.
DASHBOARD = "Dashboard"

REFERENCE_RESOURCES = (REGION, PRODUCT_CATEGORY, CERTIFICATION_TYPE, PART, SLA_POLICY, BUSINESS_CALENDAR)
NETWORK_RESOURCES = (OUTLET, ENGINEER, CERTIFICATION, TRAINING_RECORD, STOCK, SERVICE_ORDER)
COMPLAINT_RESOURCES = (COMPLAINT, ESCALATION, ESCALATION_DELEGATION)
BUSINESS_RESOURCES = REFERENCE_RESOURCES + NETWORK_RESOURCES + COMPLAINT_RESOURCES + (SETTING,)

# Menu entries (FAB names them by the label given to add_view / category).
MENU_NETWORK = "Service network"
MENU_ENGINEERS = "Engineers"
MENU_PARTS = "Parts"
MENU_ORDERS = "Service orders"
MENU_COMPLAINTS = "Complaints"
MENU_QUALIFICATION = "Qualification"
MENU_AUDIT = "Audit trail"
MENU_SYSTEM = "System settings"
