"""The demo logins, one per role (the README lists the same)."""
DEMO_USERS = [
    # username, password, role
    ("admin", "admin123", "Admin"),
    ("hq", "hq123456", "HQ Admin"),
    ("manager", "manager123", "Regional Manager"),
    ("agent", "agent123", "Service Agent"),
    ("auditor", "auditor123", "Auditor"),
]
